/*
 * kernels.c -- instantiates kernels.inc for float32 and float64, and holds
 * the BLAS entry points handed over by the Cython module.
 */
#include "ad_impl.h"

#define AD_CAT_(a, b) a##b
#define AD_CAT(a, b) AD_CAT_(a, b)

static ad_sgemm_fn blas_sgemm;
static ad_dgemm_fn blas_dgemm;

void
ad_set_blas(ad_sgemm_fn sgemm, ad_dgemm_fn dgemm)
{
    blas_sgemm = sgemm;
    blas_dgemm = dgemm;
}

int
ad_blas_ready(void)
{
    return blas_sgemm != NULL && blas_dgemm != NULL;
}

static void *lapack_fns[AD_LAPACK_COUNT][2];
#define AD_X_LP(name) #name,
static const char *const lapack_names[] = {AD_LAPACK_FNS(AD_X_LP)};
#undef AD_X_LP

const char *
ad_lapack_name(int which)
{
    return which >= 0 && which < AD_LAPACK_COUNT ? lapack_names[which] : NULL;
}

void
ad_set_lapack(int which, void *f32, void *f64)
{
    if (which >= 0 && which < AD_LAPACK_COUNT) {
        lapack_fns[which][0] = f32;
        lapack_fns[which][1] = f64;
    }
}

void *
ad_lapack_fn(int which, int dt)
{
    return lapack_fns[which][dt == AD_F64];
}

int
ad_lapack_ready(void)
{
    for (int i = 0; i < AD_LAPACK_COUNT; i++) {
        if (!lapack_fns[i][0] || !lapack_fns[i][1]) {
            return 0;
        }
    }
    return 1;
}

static ad_unlock_fn hook_unlock;
static ad_relock_fn hook_relock;
#define AD_NOGIL_WORK 200000    /* ~ 100 us of work; below, keep the lock */

void
ad_set_lock_hooks(ad_unlock_fn unlock, ad_relock_fn relock)
{
    hook_unlock = unlock;
    hook_relock = relock;
}

void *
ad_nogil_begin(int64_t work)
{
    if (work < AD_NOGIL_WORK || !hook_unlock) {
        return NULL;
    }
    return hook_unlock();
}

void
ad_nogil_end(void *state)
{
    if (state) {
        hook_relock(state);
    }
}

/* ---- float32 tanh: our own algorithm, the same bits on every path ---- *
 *
 * glibc's tanhf has no vector form with its bits, so float32 tanh is ours
 * (as PyTorch's, which is SLEEF's vector tanhf), in float lanes: with
 * a = min(|x|, 9.125) (tanh rounds to 1 from 9.0109 on), k = round(4a) by
 * the 1.5*2^23 shift (clamped to 31), c = k/4 and r = a - c (exact),
 *   tanh a = c0 + r (c1 + r (c2 + ... + r c5))      (k >= 3)
 *   tanh a = a + a (g0 + r (c1 + ... + r c5))      (k <= 2, a < 0.625)
 * by Horner in fused multiply-adds, one polynomial of degree 5 per
 * interval of width 1/4 (minimax-fitted, coefficients rounded to float one
 * at a time with the rest refitted); tanh(c) = c0 is a float pair (hi + lo)
 * so that it costs no rounding of its own, and below 0.625 the relative
 * form keeps subnormals and tiny x exact.  The sign goes back by or-ing
 * x's sign bit (tanh(-0) = -0), NaN returns x + x (the lanes get the same
 * bits by NaN propagation), +-inf gives +-1.  Max error 0.62 ulp over all
 * 2^32 inputs (see docs/ARCHITECTURE.md, "Kernels").  ad_tanhf is the
 * portable version (C's fmaf() where the lanes fuse; -std=c11 keeps gcc
 * from contracting the rest); the AVX2+FMA and AVX-512F lanes below do
 * exactly the same operations, so every path gives the same bits (checked
 * on all 2^32 inputs per path, pinned by tests/c). */
#define VT_W 4
#define VT_NK 32
#define VT_KG 2
/* row k: c0 hi, c0 lo (g0 for k <= VT_KG), c1 .. c5, 0 */
static const float vt_tab[VT_NK][8] __attribute__((aligned(32))) = {
    {0.0f, 0x1.a5925p-34f, -0x1.dc085ap-25f, -0x1.5553f8p-2f,
     -0x1.767a24p-13f, 0x1.16bdc4p-3f, -0x1.45b7aep-6f, 0.0f},
    {0.0f, -0x1.4d02b6p-6f, -0x1.44e4a2p-3f, -0x1.2538a8p-2f,
     0x1.e1aep-4f, 0x1.678916p-4f, -0x1.024bc8p-4f, 0.0f},
    {0.0f, -0x1.365614p-4f, -0x1.1a2fdap-2f, -0x1.67dee8p-3f,
     0x1.4de072p-3f, 0x1.eda078p-9f, -0x1.f0cd2p-5f, 0.0f},
    {0x1.45323ep-1f, 0x1.54bc8ap-27f, 0x1.3173b2p-1f, -0x1.8403cep-2f,
     0x1.5678a8p-5f, 0x1.987e3ap-4f, -0x1.03faecp-4f, 0.0f},
    {0x1.85efacp-1f, -0x1.5d618ep-26f, 0x1.ae0dc2p-2f, -0x1.47874p-2f,
     0x1.a85a38p-4f, 0x1.cc9dcap-6f, -0x1.7a15ep-5f, 0.0f},
    {0x1.b2523cp-1f, -0x1.253484p-27f, 0x1.1f2512p-2f, -0x1.e729ep-3f,
     0x1.bba79ap-4f, -0x1.91e4ecp-7f, -0x1.3e1a66p-6f, 0.0f},
    {0x1.cf6f98p-1f, -0x1.e482a2p-27f, 0x1.721652p-3f, -0x1.4efc3cp-3f,
     0x1.67b35p-4f, -0x1.967f5ep-6f, -0x1.6d7bdcp-9f, 0.0f},
    {0x1.e1fbfap-1f, -0x1.03995cp-26f, 0x1.d22ca2p-4f, -0x1.b6d88ep-4f,
     0x1.01ba3ap-4f, -0x1.80a6ecp-6f, 0x1.de47ep-9f, 0.0f},
    {0x1.ed9506p-1f, -0x1.e43c2cp-29f, 0x1.2162c2p-4f, -0x1.16f9d2p-4f,
     0x1.58f5b6p-5f, -0x1.252aaap-6f, 0x1.37a096p-8f, 0.0f},
    {0x1.f4bfd6p-1f, 0x1.85bfa4p-26f, 0x1.64108ap-5f, -0x1.5c3d6cp-5f,
     0x1.bbcdb2p-6f, -0x1.944798p-7f, 0x1.04be96p-8f, 0.0f},
    {0x1.f92582p-1f, 0x1.829c7p-27f, 0x1.b3afe2p-6f, -0x1.adda94p-6f,
     0x1.16df36p-6f, -0x1.0838c6p-7f, 0x1.76c65p-9f, 0.0f},
    {0x1.fbd50ap-1f, -0x1.46147p-27f, 0x1.09a7a6p-6f, -0x1.077dcep-6f,
     0x1.599712p-7f, -0x1.4f0356p-8f, 0x1.f40bacp-10f, 0.0f},
    {0x1.fd77d2p-1f, -0x1.dcbeap-26f, 0x1.434a52p-7f, -0x1.41b0b8p-7f,
     0x1.a8abc8p-8f, -0x1.a14788p-9f, 0x1.4095e6p-10f, 0.0f},
    {0x1.fe767ap-1f, -0x1.45958cp-26f, 0x1.88ef68p-8f, -0x1.87c0fcp-8f,
     0x1.03991ep-8f, -0x1.0126cp-9f, 0x1.91dedap-11f, 0.0f},
    {0x1.ff112cp-1f, 0x1.8ea41ep-27f, 0x1.dd37d2p-9f, -0x1.dc58aep-9f,
     0x1.3c67eap-9f, -0x1.3af7a6p-10f, 0x1.f0a938p-12f, 0.0f},
    {0x1.ff6f18p-1f, -0x1.62ae24p-27f, 0x1.21a7aep-9f, -0x1.21556p-9f,
     0x1.80ed26p-10f, -0x1.804bb2p-11f, 0x1.306caap-12f, 0.0f},
    {0x1.ffa818p-1f, -0x1.eebe98p-26f, 0x1.5f85aep-10f, -0x1.5f48ecp-10f,
     0x1.d3bfacp-11f, -0x1.d3d0bcp-12f, 0x1.749b5cp-13f, 0.0f},
    {0x1.ffcaacp-1f, 0x1.f90732p-28f, 0x1.aa87dp-11f, -0x1.aa5ae4p-11f,
     0x1.1c011ap-11f, -0x1.1c5a96p-12f, 0x1.c5c442p-14f, 0.0f},
    {0x1.ffdfa8p-1f, -0x1.bd58dp-26f, 0x1.02bec8p-11f, -0x1.02ae28p-11f,
     0x1.58bd8ep-12f, -0x1.595c94p-13f, 0x1.132dd4p-14f, 0.0f},
    {0x1.ffec62p-1f, -0x1.b0cb8cp-26f, 0x1.39e782p-12f, -0x1.39db2p-12f,
     0x1.a25a24p-13f, -0x1.a34a08p-14f, 0x1.4e9628p-15f, 0.0f},
    {0x1.fff41ap-1f, -0x1.32e41ep-26f, 0x1.7ccec2p-13f, -0x1.7cc578p-13f,
     0x1.fb9998p-14f, -0x1.fcde46p-15f, 0x1.9732dep-16f, 0.0f},
    {0x1.fff8c8p-1f, 0x1.c6dc34p-29f, 0x1.cdf5a4p-14f, -0x1.cdee98p-14f,
     0x1.33eb2p-14f, -0x1.34bbf8p-15f, 0x1.ee69ap-17f, 0.0f},
    {0x1.fffbap-1f, -0x1.a07c2ep-26f, 0x1.1832dcp-14f, -0x1.183028p-14f,
     0x1.759042p-15f, -0x1.7690fep-16f, 0x1.2ae49ep-17f, 0.0f},
    {0x1.fffd58p-1f, 0x1.80a412p-28f, 0x1.53e714p-15f, -0x1.53e4eap-15f,
     0x1.c52cc6p-16f, -0x1.c672c4p-17f, 0x1.6b50b2p-18f, 0.0f},
    {0x1.fffe64p-1f, -0x1.5076b2p-27f, 0x1.9c5378p-16f, -0x1.9c51aep-16f,
     0x1.12df42p-16f, -0x1.13a80cp-17f, 0x1.b9214ep-19f, 0.0f},
    {0x1.ffff06p-1f, -0x1.72ce6ep-29f, 0x1.f42dep-17f, -0x1.f42c52p-17f,
     0x1.4d717cp-17f, -0x1.4e6748p-18f, 0x1.0b90cap-19f, 0.0f},
    {0x1.ffff68p-1f, 0x1.3fb26ep-27f, 0x1.2f5ffap-17f, -0x1.2f5f42p-17f,
     0x1.947e02p-18f, -0x1.95aa6ep-19f, 0x1.448a64p-20f, 0.0f},
    {0x1.ffffa4p-1f, -0x1.bb1efap-34f, 0x1.700356p-18f, -0x1.7002a8p-18f,
     0x1.eaacaep-19f, -0x1.ec12e2p-20f, 0x1.8a19d8p-21f, 0.0f},
    {0x1.ffffc8p-1f, 0x1.93a878p-28f, 0x1.be6c4p-19f, -0x1.be6b8ap-19f,
     0x1.299c64p-19f, -0x1.2a775p-20f, 0x1.ddef48p-22f, 0.0f},
    {0x1.ffffdep-1f, 0x1.3b052p-28f, 0x1.0ec4f2p-19f, -0x1.0ec48cp-19f,
     0x1.6905f4p-20f, -0x1.6a1352p-21f, 0x1.219032p-22f, 0.0f},
    {0x1.ffffecp-1f, -0x1.0eb872p-26f, 0x1.4875bep-20f, -0x1.48755p-20f,
     0x1.b5f082p-21f, -0x1.b7314cp-22f, 0x1.5ff62ap-23f, 0.0f},
    {0x1.fffff4p-1f, -0x1.ce2666p-27f, 0x1.8eaacap-21f, -0x1.8cbc62p-21f,
     0x1.f4e488p-22f, -0x1.86d08ep-23f, 0x1.19f3acp-25f, 0.0f},
};
#define VT_A 9.125f
#define VT_S 0x1.8p23f
#define VT_TMAX (VT_S + (VT_NK - 1))
#define VT_TG (VT_S + VT_KG)

static inline float
ad_tanhf(float x)
{
    if (x != x) {
        return x + x;
    }
    uint32_t ux, ut;
    memcpy(&ux, &x, 4);
    const uint32_t sgn = ux & 0x80000000u;
    ux ^= sgn;
    float a;
    memcpy(&a, &ux, 4);
    a = VT_A < a ? VT_A : a;
    float t = fmaf(a, (float)VT_W, VT_S);
    t = VT_TMAX < t ? VT_TMAX : t;
    const float c = fmaf(t, 1.0f / VT_W, -VT_S / VT_W);
    memcpy(&ut, &t, 4);
    const int k = (int)(ut & (VT_NK - 1));
    const float r = a - c;
    float q = vt_tab[k][6];
    q = fmaf(q, r, vt_tab[k][5]);
    q = fmaf(q, r, vt_tab[k][4]);
    q = fmaf(q, r, vt_tab[k][3]);
    q = fmaf(q, r, vt_tab[k][2]);
    q = fmaf(q, r, vt_tab[k][1]);
    const int g = t <= VT_TG;
    float y = fmaf(g ? a : 1.0f, q, g ? a : vt_tab[k][0]);
    uint32_t uy;
    memcpy(&uy, &y, 4);
    uy |= sgn;
    memcpy(&y, &uy, 4);
    return y;
}

/* ---- expf in AVX2+FMA lanes, bit for bit glibc's ----------------------- *
 *
 * glibc (2.27 and later) computes expf in double: k = round(x 32/ln2) by
 * the 1.5*2^52 shift, r = x 32/ln2 - k, 2^(k/32) from a 32-entry table
 * and 2^(r/32) by a cubic, and rounds once to float.  On x86-64 with FMA
 * and AVX2 it runs its FMA build (ifunc), where r is one fused
 * multiply-subtract.  vexpf_avx2 does those operations in 4 double lanes;
 * it was checked against the host's expf on every non-special float (all
 * 2^32 bit patterns with |x| < 88 and not NaN: 2,237,661,184 inputs, 0
 * differing bits) -- elements at or beyond |x| >= 88, infinities and NaNs
 * take libm's own expf.  It is used only where glibc itself would run its
 * FMA build (cpu has avx2 and fma) and only after a self-check against
 * this process's expf passes (so another libm turns it off rather than
 * silently changing a bit); otherwise the scalar loop runs. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(AD_NO_VEXP)
#include <immintrin.h>

static uint64_t vexp_tab[32];
static pthread_once_t vexp_once = PTHREAD_ONCE_INIT;

__attribute__((target("avx2,fma"), noinline, noclone)) static void
vexpf_avx2(const float *x, float *y, int64_t n)
{
    const __m256d invln2n = _mm256_set1_pd(0x1.71547652b82fep+0 * 32);
    const __m256d shift = _mm256_set1_pd(0x1.8p+52);
    const __m256d c0 = _mm256_set1_pd(0x1.c6af84b912394p-5 / 32 / 32 / 32);
    const __m256d c1 = _mm256_set1_pd(0x1.ebfce50fac4f3p-3 / 32 / 32);
    const __m256d c2 = _mm256_set1_pd(0x1.62e42ff0c52d6p-1 / 32);
    const __m256d one = _mm256_set1_pd(1.0);
    const __m256i m31 = _mm256_set1_epi64x(31);
    const __m128i m7ff = _mm_set1_epi32(0x7ff), big = _mm_set1_epi32(0x42a);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m128 xf = _mm_loadu_ps(x + i);
        __m128i top = _mm_and_si128(_mm_srli_epi32(_mm_castps_si128(xf), 20),
                                    m7ff);
        if (_mm_movemask_epi8(_mm_cmpgt_epi32(top, big))) {
            /* |x| >= 88 or not finite: glibc's special cases */
            for (int k = 0; k < 4; k++) {
                y[i + k] = expf(x[i + k]);
            }
            continue;
        }
        __m256d xd = _mm256_cvtps_pd(xf);
        __m256d z = _mm256_mul_pd(invln2n, xd);
        __m256d kd = _mm256_add_pd(z, shift);
        __m256i ki = _mm256_castpd_si256(kd);
        kd = _mm256_sub_pd(kd, shift);
        __m256d r = _mm256_fmsub_pd(invln2n, xd, kd);
        __m256i t = _mm256_i64gather_epi64((const long long *)vexp_tab,
                                           _mm256_and_si256(ki, m31), 8);
        t = _mm256_add_epi64(t, _mm256_slli_epi64(ki, 47));
        __m256d p = _mm256_fmadd_pd(c0, r, c1);
        __m256d r2 = _mm256_mul_pd(r, r);
        __m256d q = _mm256_fmadd_pd(c2, r, one);
        q = _mm256_fmadd_pd(p, r2, q);
        q = _mm256_mul_pd(q, _mm256_castsi256_pd(t));
        _mm_storeu_ps(y + i, _mm256_cvtpd_ps(q));
    }
    for (; i < n; i++) {
        y[i] = expf(x[i]);
    }
}

/* The same operations eight lanes at a time with AVX-512F; the table
 * lookup is two two-source permutes and a blend instead of a gather. */
__attribute__((target("avx512f"), noinline, noclone)) static void
vexpf_avx512(const float *x, float *y, int64_t n)
{
    const __m512d invln2n = _mm512_set1_pd(0x1.71547652b82fep+0 * 32);
    const __m512d shift = _mm512_set1_pd(0x1.8p+52);
    const __m512d c0 = _mm512_set1_pd(0x1.c6af84b912394p-5 / 32 / 32 / 32);
    const __m512d c1 = _mm512_set1_pd(0x1.ebfce50fac4f3p-3 / 32 / 32);
    const __m512d c2 = _mm512_set1_pd(0x1.62e42ff0c52d6p-1 / 32);
    const __m512d one = _mm512_set1_pd(1.0);
    const __m512i t0 = _mm512_loadu_si512(vexp_tab),
                  t1 = _mm512_loadu_si512(vexp_tab + 8),
                  t2 = _mm512_loadu_si512(vexp_tab + 16),
                  t3 = _mm512_loadu_si512(vexp_tab + 24),
                  b16 = _mm512_set1_epi64(16);
    const __m256i m7ff = _mm256_set1_epi32(0x7ff),
                  big = _mm256_set1_epi32(0x42a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 xf = _mm256_loadu_ps(x + i);
        __m256i top = _mm256_and_si256(
            _mm256_srli_epi32(_mm256_castps_si256(xf), 20), m7ff);
        if (_mm256_movemask_epi8(_mm256_cmpgt_epi32(top, big))) {
            for (int k = 0; k < 8; k++) {
                y[i + k] = expf(x[i + k]);
            }
            continue;
        }
        __m512d xd = _mm512_cvtps_pd(xf);
        __m512d z = _mm512_mul_pd(invln2n, xd);
        __m512d kd = _mm512_add_pd(z, shift);
        __m512i ki = _mm512_castpd_si512(kd);
        kd = _mm512_sub_pd(kd, shift);
        __m512d r = _mm512_fmsub_pd(invln2n, xd, kd);
        __m512i lo = _mm512_permutex2var_epi64(t0, ki, t1);
        __m512i hi = _mm512_permutex2var_epi64(t2, ki, t3);
        __m512i t = _mm512_mask_blend_epi64(_mm512_test_epi64_mask(ki, b16),
                                            lo, hi);
        t = _mm512_add_epi64(t, _mm512_slli_epi64(ki, 47));
        __m512d p = _mm512_fmadd_pd(c0, r, c1);
        __m512d r2 = _mm512_mul_pd(r, r);
        __m512d q = _mm512_fmadd_pd(c2, r, one);
        q = _mm512_fmadd_pd(p, r2, q);
        q = _mm512_mul_pd(q, _mm512_castsi512_pd(t));
        _mm256_storeu_ps(y + i, _mm512_cvtpd_ps(q));
    }
    for (; i < n; i++) {
        y[i] = expf(x[i]);
    }
}

typedef void (*vkern_fn)(const float *, float *, int64_t);

/* A kernel against libm on a sweep of [lo, hi] and scattered bit patterns
 * of every exponent and sign: 1 when every bit agrees. */
static int
vkern_selfcheck(vkern_fn k, float (*ref)(float), float lo, float hi)
{
    enum { M = 4096 };
    float xs[M], a[M];
    uint32_t h = 0x9e3779b9u;
    for (int i = 0; i < M; i++) {
        if (i < M / 2) {
            xs[i] = lo + (hi - lo) * (float)i / (M / 2);
        }
        else {
            h ^= h << 13;
            h ^= h >> 17;
            h ^= h << 5;
            memcpy(&xs[i], &h, 4);
        }
    }
    k(xs, a, M);
    for (int i = 0; i < M; i++) {
        float b = ref(xs[i]);
        if (memcmp(&a[i], &b, 4) != 0) {
            return 0;
        }
    }
    return 1;
}

/* logf the same way: glibc's logf (2.28 and later) splits x = 2^k z with
 * z near one of 16 centres c, and evaluates log1p(z/c - 1) + log c + k ln2
 * by a cubic in double; its FMA build fuses every a*b+c.  The table and
 * coefficients are glibc's (__logf_data); checked on all 2^32 inputs
 * against the host's logf (0 differing bits).  Subnormals, zero, negative
 * numbers, infinities, NaN and x == 1 take libm's logf. */
static const double vlog_invc[16] = {
    0x1.661ec79f8f3bep+0, 0x1.571ed4aaf883dp+0,
    0x1.49539f0f010b0p+0, 0x1.3c995b0b80385p+0,
    0x1.30d190c8864a5p+0, 0x1.25e227b0b8ea0p+0,
    0x1.1bb4a4a1a343fp+0, 0x1.12358f08ae5bap+0,
    0x1.0953f419900a7p+0, 0x1.0000000000000p+0,
    0x1.e608cfd9a47acp-1, 0x1.ca4b31f026aa0p-1,
    0x1.b2036576afce6p-1, 0x1.9c2d163a1aa2dp-1,
    0x1.886e6037841edp-1, 0x1.767dcf5534862p-1
};
static const double vlog_logc[16] = {
    -0x1.57bf7808caadep-2, -0x1.2bef0a7c06ddbp-2,
    -0x1.01eae7f513a67p-2, -0x1.b31d8a68224e9p-3,
    -0x1.6574f0ac07758p-3, -0x1.1aa2bc79c8100p-3,
    -0x1.a4e76ce8c0e5ep-4, -0x1.1973c5a611cccp-4,
    -0x1.252f438e10c1ep-5, 0x0.0p+0,
    0x1.aa5aa5df25984p-5, 0x1.c5e53aa362eb4p-4,
    0x1.526e57720db08p-3, 0x1.bc2860d224770p-3,
    0x1.1058bc8a07ee1p-2, 0x1.4043057b6ee09p-2
};

__attribute__((target("avx2,fma"), noinline, noclone)) static void
vlogf_avx2(const float *x, float *y, int64_t n)
{
    const __m256d ln2 = _mm256_set1_pd(0x1.62e42fefa39efp-1);
    const __m256d a0 = _mm256_set1_pd(-0x1.00ea348b88334p-2),
                  a1 = _mm256_set1_pd(0x1.5575b0be00b6ap-2),
                  a2 = _mm256_set1_pd(-0x1.ffffef20a4123p-2),
                  one = _mm256_set1_pd(1.0);
    const __m128i lo = _mm_set1_epi32(0x00800000),
                  flip = _mm_set1_epi32((int)0x80000000u),
                  lim = _mm_set1_epi32((int)0xfeffffffu),
                  onef = _mm_set1_epi32(0x3f800000),
                  off = _mm_set1_epi32(0x3f330000),
                  m15 = _mm_set1_epi32(15),
                  mexp = _mm_set1_epi32((int)0xff800000u);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m128i ix = _mm_loadu_si128((const __m128i *)(x + i));
        /* ix - 0x00800000 >= 0x7f000000 unsigned, or x == 1 */
        __m128i sp = _mm_cmpgt_epi32(
            _mm_xor_si128(_mm_sub_epi32(ix, lo), flip), lim);
        sp = _mm_or_si128(sp, _mm_cmpeq_epi32(ix, onef));
        if (_mm_movemask_epi8(sp)) {
            for (int k = 0; k < 4; k++) {
                y[i + k] = logf(x[i + k]);
            }
            continue;
        }
        __m128i tmp = _mm_sub_epi32(ix, off);
        __m128i idx = _mm_and_si128(_mm_srli_epi32(tmp, 19), m15);
        __m128i k = _mm_srai_epi32(tmp, 23);
        __m128i iz = _mm_sub_epi32(ix, _mm_and_si128(tmp, mexp));
        __m256d invc = _mm256_i32gather_pd(vlog_invc, idx, 8);
        __m256d logc = _mm256_i32gather_pd(vlog_logc, idx, 8);
        __m256d z = _mm256_cvtps_pd(_mm_castsi128_ps(iz));
        __m256d r = _mm256_fmsub_pd(z, invc, one);
        __m256d y0 = _mm256_fmadd_pd(_mm256_cvtepi32_pd(k), ln2, logc);
        __m256d r2 = _mm256_mul_pd(r, r);
        __m256d p = _mm256_fmadd_pd(a1, r, a2);
        p = _mm256_fmadd_pd(a0, r2, p);
        p = _mm256_fmadd_pd(p, r2, _mm256_add_pd(y0, r));
        _mm_storeu_ps(y + i, _mm256_cvtpd_ps(p));
    }
    for (; i < n; i++) {
        y[i] = logf(x[i]);
    }
}

/* The same operations for AVX-512F, sixteen floats a step: the integer
 * work (special-case test, index, exponent, z) once on all sixteen, the
 * double work on two halves of eight lanes; the tables are looked up by
 * two-source permutes instead of gathers. */
__attribute__((target("avx512f"), always_inline)) static inline __m256
vlogf_half512(__m256i idx, __m256i k, __m256i iz, __m512d ic0, __m512d ic1,
              __m512d lc0, __m512d lc1)
{
    const __m512d ln2 = _mm512_set1_pd(0x1.62e42fefa39efp-1);
    const __m512d a0 = _mm512_set1_pd(-0x1.00ea348b88334p-2),
                  a1 = _mm512_set1_pd(0x1.5575b0be00b6ap-2),
                  a2 = _mm512_set1_pd(-0x1.ffffef20a4123p-2),
                  one = _mm512_set1_pd(1.0);
    /* permutex2var reads the low four bits of each index */
    __m512i ix64 = _mm512_cvtepu32_epi64(idx);
    __m512d invc = _mm512_permutex2var_pd(ic0, ix64, ic1);
    __m512d logc = _mm512_permutex2var_pd(lc0, ix64, lc1);
    __m512d z = _mm512_cvtps_pd(_mm256_castsi256_ps(iz));
    __m512d r = _mm512_fmsub_pd(z, invc, one);
    __m512d y0 = _mm512_fmadd_pd(_mm512_cvtepi32_pd(k), ln2, logc);
    __m512d r2 = _mm512_mul_pd(r, r);
    __m512d p = _mm512_fmadd_pd(a1, r, a2);
    p = _mm512_fmadd_pd(a0, r2, p);
    p = _mm512_fmadd_pd(p, r2, _mm512_add_pd(y0, r));
    return _mm512_cvtpd_ps(p);
}

__attribute__((target("avx512f"), noinline, noclone)) static void
vlogf_avx512(const float *x, float *y, int64_t n)
{
    const __m512d ic0 = _mm512_loadu_pd(vlog_invc),
                  ic1 = _mm512_loadu_pd(vlog_invc + 8),
                  lc0 = _mm512_loadu_pd(vlog_logc),
                  lc1 = _mm512_loadu_pd(vlog_logc + 8);
    const __m512i lo = _mm512_set1_epi32(0x00800000),
                  lim = _mm512_set1_epi32(0x7f000000),
                  onef = _mm512_set1_epi32(0x3f800000),
                  off = _mm512_set1_epi32(0x3f330000),
                  mexp = _mm512_set1_epi32((int)0xff800000u);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i ix = _mm512_loadu_si512(x + i);
        /* ix - 0x00800000 >= 0x7f000000 unsigned, or x == 1 */
        __mmask16 sp = _mm512_cmpge_epu32_mask(_mm512_sub_epi32(ix, lo), lim)
                       | _mm512_cmpeq_epi32_mask(ix, onef);
        if (sp) {
            for (int k = 0; k < 16; k++) {
                y[i + k] = logf(x[i + k]);
            }
            continue;
        }
        __m512i tmp = _mm512_sub_epi32(ix, off);
        __m512i idx = _mm512_srli_epi32(tmp, 19);
        __m512i k = _mm512_srai_epi32(tmp, 23);
        __m512i iz = _mm512_sub_epi32(ix, _mm512_and_si512(tmp, mexp));
        __m256 y0 = vlogf_half512(_mm512_castsi512_si256(idx),
                                  _mm512_castsi512_si256(k),
                                  _mm512_castsi512_si256(iz), ic0, ic1, lc0,
                                  lc1);
        __m256 y1 = vlogf_half512(_mm512_extracti64x4_epi64(idx, 1),
                                  _mm512_extracti64x4_epi64(k, 1),
                                  _mm512_extracti64x4_epi64(iz, 1), ic0, ic1,
                                  lc0, lc1);
        _mm512_storeu_ps(y + i, _mm512_castpd_ps(_mm512_insertf64x4(
            _mm512_castpd256_pd512(_mm256_castps_pd(y0)),
            _mm256_castps_pd(y1), 1)));
    }
    for (; i < n; i++) {
        y[i] = logf(x[i]);
    }
}

/* ad_tanhf in lanes: VTANH_CHAIN is the arithmetic both widths share (P:
 * the intrinsics' prefix; LOOK(j): coefficient j of each lane's row).  The
 * AVX2 loop fetches the eight rows and transposes them (cheaper than seven
 * gathers), the AVX-512F loop looks the columns up by two-source permutes
 * of 32 entries. */
#define VTANH_CHAIN(P, a, t, LOOK, q)                                        \
    do {                                                                     \
        q = LOOK(6);                                                         \
        const __typeof__(a) r_ = P##_sub_ps(                                 \
            a, P##_fmadd_ps(t, P##_set1_ps(1.0f / VT_W),                     \
                            P##_set1_ps(-VT_S / VT_W)));                     \
        q = P##_fmadd_ps(q, r_, LOOK(5));                                    \
        q = P##_fmadd_ps(q, r_, LOOK(4));                                    \
        q = P##_fmadd_ps(q, r_, LOOK(3));                                    \
        q = P##_fmadd_ps(q, r_, LOOK(2));                                    \
        q = P##_fmadd_ps(q, r_, LOOK(1));                                    \
    } while (0)

__attribute__((target("avx2,fma"), noinline, noclone)) static void
vtanhf_avx2(const float *x, float *y, int64_t n)
{
    const __m256 A = _mm256_set1_ps(VT_A), S = _mm256_set1_ps(VT_S),
                 TM = _mm256_set1_ps(VT_TMAX), TG = _mm256_set1_ps(VT_TG),
                 W = _mm256_set1_ps((float)VT_W), one = _mm256_set1_ps(1.0f),
                 sg = _mm256_set1_ps(-0.0f);
    const __m256i m31 = _mm256_set1_epi32(VT_NK - 1);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 xf = _mm256_loadu_ps(x + i);
        __m256 a = _mm256_min_ps(A, _mm256_andnot_ps(sg, xf));
        __m256 t = _mm256_min_ps(TM, _mm256_fmadd_ps(a, W, S));
        __m256i ki = _mm256_and_si256(_mm256_castps_si256(t), m31);
        int idx[8];
        _mm256_storeu_si256((__m256i *)idx, ki);
        /* the eight lanes' rows, transposed: col[j] holds coefficient j */
        __m256 u[8], col[8];
        for (int l = 0; l < 4; l++) {
            /* u[l] = [lane l's c0..3 | lane l+4's], u[l+4] their c4..7 */
            const float *p0 = vt_tab[idx[l]], *p4 = vt_tab[idx[l + 4]];
            u[l] = _mm256_insertf128_ps(
                _mm256_castps128_ps256(_mm_load_ps(p0)), _mm_load_ps(p4), 1);
            u[l + 4] = _mm256_insertf128_ps(
                _mm256_castps128_ps256(_mm_load_ps(p0 + 4)),
                _mm_load_ps(p4 + 4), 1);
        }
        for (int h = 0; h < 2; h++) {
            __m256 t0 = _mm256_unpacklo_ps(u[4 * h], u[4 * h + 1]);
            __m256 t1 = _mm256_unpackhi_ps(u[4 * h], u[4 * h + 1]);
            __m256 t2 = _mm256_unpacklo_ps(u[4 * h + 2], u[4 * h + 3]);
            __m256 t3 = _mm256_unpackhi_ps(u[4 * h + 2], u[4 * h + 3]);
            col[4 * h] = _mm256_shuffle_ps(t0, t2, 0x44);
            col[4 * h + 1] = _mm256_shuffle_ps(t0, t2, 0xee);
            col[4 * h + 2] = _mm256_shuffle_ps(t1, t3, 0x44);
            col[4 * h + 3] = _mm256_shuffle_ps(t1, t3, 0xee);
        }
        __m256 q;
#define LOOK2(j) col[j]
        VTANH_CHAIN(_mm256, a, t, LOOK2, q);
        __m256 g = _mm256_cmp_ps(t, TG, _CMP_LE_OQ);
        __m256 yv = _mm256_fmadd_ps(_mm256_blendv_ps(one, a, g), q,
                                    _mm256_blendv_ps(LOOK2(0), a, g));
        _mm256_storeu_ps(y + i, _mm256_or_ps(yv, _mm256_and_ps(xf, sg)));
#undef LOOK2
    }
    for (; i < n; i++) {
        y[i] = ad_tanhf(x[i]);
    }
}

__attribute__((target("avx512f"), noinline, noclone)) static void
vtanhf_avx512(const float *x, float *y, int64_t n)
{
    const __m512 A = _mm512_set1_ps(VT_A), S = _mm512_set1_ps(VT_S),
                 TM = _mm512_set1_ps(VT_TMAX), TG = _mm512_set1_ps(VT_TG),
                 W = _mm512_set1_ps((float)VT_W), one = _mm512_set1_ps(1.0f);
    const __m512i sg = _mm512_set1_epi32((int)0x80000000u);
    __m512 lo[7], hi[7];
    const __m512i i8 = _mm512_mullo_epi32(
        _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1,
                         0), _mm512_set1_epi32(8));
    for (int j = 0; j < 7; j++) {   /* the columns */
        lo[j] = _mm512_i32gather_ps(i8, &vt_tab[0][j], 4);
        hi[j] = _mm512_i32gather_ps(i8, &vt_tab[16][j], 4);
    }
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 xf = _mm512_loadu_ps(x + i);
        __m512 a = _mm512_min_ps(A, _mm512_castsi512_ps(_mm512_andnot_si512(
                                        sg, _mm512_castps_si512(xf))));
        __m512 t = _mm512_min_ps(TM, _mm512_fmadd_ps(a, W, S));
        __m512i ki = _mm512_castps_si512(t);
        __m512 q;
#define LOOK5(j) _mm512_permutex2var_ps(lo[j], ki, hi[j])
        VTANH_CHAIN(_mm512, a, t, LOOK5, q);
        __mmask16 g = _mm512_cmp_ps_mask(t, TG, _CMP_LE_OQ);
        __m512 yv = _mm512_fmadd_ps(_mm512_mask_mov_ps(one, g, a), q,
                                    _mm512_mask_mov_ps(LOOK5(0), g, a));
        _mm512_storeu_ps(y + i, _mm512_castsi512_ps(_mm512_ternarylogic_epi32(
            _mm512_castps_si512(yv), _mm512_castps_si512(xf), sg, 0xf8)));
#undef LOOK5
    }
    for (; i < n; i++) {
        y[i] = ad_tanhf(x[i]);
    }
}

/* Which kernels to use: the AVX-512 ones where the cpu has AVX-512F (and
 * AVX2 and FMA, where glibc runs its FMA build) and they pass the
 * self-check, else the AVX2 ones if they pass, else none (libm's loop). */
static vkern_fn vexp_kern, vlog_kern, vtanh_kern;

static vkern_fn
vkern_pick(vkern_fn k2, vkern_fn k512, float (*ref)(float), float lo,
           float hi)
{
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
        return NULL;
    }
    if (__builtin_cpu_supports("avx512f") && vkern_selfcheck(k512, ref, lo,
                                                             hi)) {
        return k512;
    }
    return vkern_selfcheck(k2, ref, lo, hi) ? k2 : NULL;
}

static void
vexp_setup(void)
{
    for (int i = 0; i < 32; i++) {
        double v = exp2(i / 32.0);
        uint64_t b;
        memcpy(&b, &v, 8);
        vexp_tab[i] = b - ((uint64_t)i << 47);
    }
    vexp_kern = vkern_pick(vexpf_avx2, vexpf_avx512, expf, -110.0f, 110.0f);
    vlog_kern = vkern_pick(vlogf_avx2, vlogf_avx512, logf, 1e-3f, 4.0f);
    /* checked against ad_tanhf: a compiler that broke either turns the
     * lanes off */
    vtanh_kern = vkern_pick(vtanhf_avx2, vtanhf_avx512, ad_tanhf, -10.0f,
                            10.0f);
}

/* y = ad_tanhf(x) elementwise, in lanes when the cpu has them. */
static void
ad_vtanhf(const float *x, float *y, int64_t n)
{
    pthread_once(&vexp_once, vexp_setup);
    if (vtanh_kern) {
        vtanh_kern(x, y, n);
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        y[i] = ad_tanhf(x[i]);
    }
}

int
ad_tanhf_path(int path, const float *x, float *y, int64_t n)
{
    if (path == 1 && __builtin_cpu_supports("avx2")
        && __builtin_cpu_supports("fma")) {
        vtanhf_avx2(x, y, n);
        return 1;
    }
    if (path == 2 && __builtin_cpu_supports("avx512f")) {
        vtanhf_avx512(x, y, n);
        return 1;
    }
    if (path != 0) {
        return 0;
    }
    for (int64_t i = 0; i < n; i++) {
        y[i] = ad_tanhf(x[i]);
    }
    return 1;
}

/* y = logf(x) elementwise if the vector kernel is on; 0 if not. */
static int
ad_vlogf(const float *x, float *y, int64_t n)
{
    pthread_once(&vexp_once, vexp_setup);
    if (!vlog_kern) {
        return 0;
    }
    vlog_kern(x, y, n);
    return 1;
}

/* y = expf(x) elementwise if the vector kernel is on; 0 if not. */
static int
ad_vexpf(const float *x, float *y, int64_t n)
{
    pthread_once(&vexp_once, vexp_setup);
    if (!vexp_kern) {
        return 0;
    }
    vexp_kern(x, y, n);
    return 1;
}
#else
static void
ad_vtanhf(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        y[i] = ad_tanhf(x[i]);
    }
}

int
ad_tanhf_path(int path, const float *x, float *y, int64_t n)
{
    if (path != 0) {
        return 0;
    }
    ad_vtanhf(x, y, n);
    return 1;
}

static int
ad_vlogf(const float *x, float *y, int64_t n)
{
    (void)x;
    (void)y;
    (void)n;
    return 0;
}

static int
ad_vexpf(const float *x, float *y, int64_t n)
{
    (void)x;
    (void)y;
    (void)n;
    return 0;
}
#endif
#define AD_VEXP(x, y, n) ad_vexpf((x), (y), (n))
#define AD_VLOG(x, y, n) ad_vlogf((x), (y), (n))
#define AD_VTANH(x, y, n) ad_vtanhf((x), (y), (n))
#define TANH1(v) ad_tanhf(v)

#define T float
#define UT uint32_t                 /* an unsigned integer of T's size */
#define SIGN_BIT 0x80000000u
#define SFX _f32
#define MATH(fn) fn##f
#define BLAS_GEMM blas_sgemm
#define KERN_TABLE ad_kern_f32
#include "kernels.inc"
#undef AD_VEXP
#undef AD_VLOG
#undef AD_VTANH
#undef TANH1
#undef T
#undef UT
#undef SIGN_BIT
#undef SFX
#undef MATH
#undef BLAS_GEMM
#undef KERN_TABLE

#define TANH1(v) tanh(v)
#define T double
#define UT uint64_t
#define SIGN_BIT 0x8000000000000000u
#define SFX _f64
#define MATH(fn) fn
#define BLAS_GEMM blas_dgemm
#define KERN_TABLE ad_kern_f64
#include "kernels.inc"
#undef TANH1
#undef T
#undef UT
#undef SIGN_BIT
#undef SFX
#undef MATH
#undef BLAS_GEMM
#undef KERN_TABLE

#define ASFX _f32
#define AK_INT 0
#define AK_BOOL 0
#define AKERN_TABLE ad_kany_f32
#define T float
#include "kernels_any.inc"
#undef T
#undef ASFX
#undef AKERN_TABLE
#define ASFX _f64
#define AKERN_TABLE ad_kany_f64
#define T double
#include "kernels_any.inc"
#undef T
#undef ASFX
#undef AKERN_TABLE
#undef AK_INT
#define AK_INT 1
#define ASFX _i64
#define AKERN_TABLE ad_kany_i64
#define T int64_t
#include "kernels_any.inc"
#undef T
#undef ASFX
#undef AKERN_TABLE
#undef AK_BOOL
#define AK_BOOL 1
#define ASFX _b8
#define AKERN_TABLE ad_kany_b8
#define T uint8_t
#include "kernels_any.inc"
#undef T
#undef ASFX
#undef AKERN_TABLE
#undef AK_BOOL
#undef AK_INT

const ad_kernels_any *const ad_kany_tables[AD_DTYPE_COUNT] = {
    [AD_F32] = &ad_kany_f32, [AD_F64] = &ad_kany_f64,
    [AD_I64] = &ad_kany_i64, [AD_BOOL] = &ad_kany_b8,
};

#define CAST_LOOP(ST, DT, EXPR)                                           \
    do {                                                                  \
        const ST *s_ = src;                                               \
        DT *d_ = dst;                                                     \
        for (int64_t i = 0; i < n; i++) {                                 \
            ST v = s_[i];                                                 \
            d_[i] = (DT)(EXPR);                                           \
        }                                                                 \
    } while (0)

/* dst (ddt) = src (sdt), elementwise, for every pair of dtypes. */
void
ad_cast_buf(const void *src, int sdt, void *dst, int ddt, int64_t n)
{
    if (sdt == ddt) {
        memmove(dst, src, (size_t)n * ad_itemsize(sdt));
        return;
    }
    switch (sdt * AD_DTYPE_COUNT + ddt) {
    case AD_F32 * AD_DTYPE_COUNT + AD_F64: CAST_LOOP(float, double, v); break;
    case AD_F32 * AD_DTYPE_COUNT + AD_I64: CAST_LOOP(float, int64_t, ad_f2i(v)); break;
    case AD_F32 * AD_DTYPE_COUNT + AD_BOOL: CAST_LOOP(float, uint8_t, v != 0); break;
    case AD_F64 * AD_DTYPE_COUNT + AD_F32: CAST_LOOP(double, float, v); break;
    case AD_F64 * AD_DTYPE_COUNT + AD_I64: CAST_LOOP(double, int64_t, ad_f2i(v)); break;
    case AD_F64 * AD_DTYPE_COUNT + AD_BOOL: CAST_LOOP(double, uint8_t, v != 0); break;
    case AD_I64 * AD_DTYPE_COUNT + AD_F32: CAST_LOOP(int64_t, float, v); break;
    case AD_I64 * AD_DTYPE_COUNT + AD_F64: CAST_LOOP(int64_t, double, v); break;
    case AD_I64 * AD_DTYPE_COUNT + AD_BOOL: CAST_LOOP(int64_t, uint8_t, v != 0); break;
    case AD_BOOL * AD_DTYPE_COUNT + AD_F32: CAST_LOOP(uint8_t, float, v != 0); break;
    case AD_BOOL * AD_DTYPE_COUNT + AD_F64: CAST_LOOP(uint8_t, double, v != 0); break;
    case AD_BOOL * AD_DTYPE_COUNT + AD_I64: CAST_LOOP(uint8_t, int64_t, v != 0); break;
    }
}

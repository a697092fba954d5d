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
 * (as PyTorch's, which is SLEEF's vector tanhf): in double, with x clamped
 * to [-10, 10] (tanh rounds to +-1 from |x| > 9.01),
 *   em = e^(2x) - 1 = 2^(k/16) (1 + p) - 1 = T p + (T - 1),  T = 2^(k/16),
 * k = round(x 32/ln2), r = x 32/ln2 - k (fused multiply-adds), p =
 * 2^(r/16) - 1 by its degree-5 Taylor polynomial (|r ln2/16| < 0.0217,
 * truncation < 2^-42), T from glibc's exp2 table (every other entry of its
 * 32), and
 *   tanh x = em / (em + 2).
 * em keeps its relative accuracy down to the smallest subnormal (k = 0
 * gives T - 1 = 0, em = p ~ 2x), so no separate small-x branch is needed,
 * and the one formula serves both signs (em -> -1 for x -> -10).  The double
 * result is within ~2^-37 relative of tanh and is rounded once to float.
 * +-0 and NaN return x + x (tanh(-0) = -0, NaN stays NaN), +-inf gives +-1.
 * Checked on all 2^32 inputs against tanh in double rounded to float (see
 * docs/ARCHITECTURE.md, "Kernels").  ad_tanhf is the portable version (C's
 * fma() where the lanes fuse; -std=c11 keeps gcc from contracting the
 * rest); the AVX2+FMA and AVX-512F lanes below do exactly the same
 * operations, so every path gives the same bits (checked on all 2^32
 * inputs per path, pinned by tests/c). */
static const uint64_t vtanh_tab[16] = {     /* bits of 2^(i/16) - i<<48 */
    0x3ff0000000000000, 0x3fefb5586cf9890f, 0x3fef72b83c7d517b,
    0x3fef387a6e756238, 0x3fef06fe0a31b715, 0x3feedea64c123422,
    0x3feebfdad5362a27, 0x3feeab07dd485429, 0x3feea09e667f3bcd,
    0x3feea11473eb0187, 0x3feeace5422aa0db, 0x3feec49182a3f090,
    0x3feee89f995ad3ad, 0x3fef199bdd85529c, 0x3fef5818dcfba487,
    0x3fefa4afa2a490da,
};
#define VT_MAX 10.0f
#define VT_C 0x1.71547652b82fep+5           /* 32/ln2 */
#define VT_SHIFT 0x1.8p+52
#define VT_C1 0x1.62e42fefa39efp-5          /* (ln2/16)^j / j! */
#define VT_C2 0x1.ebfbdff82c58fp-11
#define VT_C3 0x1.c6b08d704a0c0p-17
#define VT_C4 0x1.3b2ab6fba4e77p-23
#define VT_C5 0x1.5d87fe78a6731p-30

static inline float
ad_tanhf(float x)
{
    if (x != x || x == 0) {
        return x + x;
    }
    float xc = x < VT_MAX ? x : VT_MAX;
    xc = xc > -VT_MAX ? xc : -VT_MAX;
    const double xd = xc;
    double kd = fma(xd, VT_C, VT_SHIFT);
    uint64_t ki, tb;
    memcpy(&ki, &kd, 8);
    kd -= VT_SHIFT;
    const double r = fma(xd, VT_C, -kd);
    tb = vtanh_tab[ki & 15] + (ki << 48);
    double t, p;
    memcpy(&t, &tb, 8);
    p = fma(VT_C5, r, VT_C4);
    p = fma(p, r, VT_C3);
    p = fma(p, r, VT_C2);
    p = fma(p, r, VT_C1);
    p = p * r;
    const double em = fma(t, p, t - 1.0);
    return (float)(em / (em + 2.0));
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

/* ad_tanhf in lanes: one step for both widths (B: the double vector's
 * bits, P: its intrinsics' prefix, HB: the bits of the float half it
 * returns) on x already clamped to [-10, 10]; the loops add the widths'
 * own loads, table lookup (a gather for AVX2, a two-source permute for
 * AVX-512F) and the +-0/NaN patch (x + x where x == 0 or unordered). */
#define VTANH_STEP(B, HB, P, TGT, LOOKUP)                                   \
__attribute__((target(TGT), always_inline)) static inline __m##HB          \
vtanh_step##B(__m##B##d xd)                                                 \
{                                                                           \
    const __m##B##d c = P##_set1_pd(VT_C), shift = P##_set1_pd(VT_SHIFT);  \
    __m##B##d kd = P##_fmadd_pd(xd, c, shift);                              \
    __m##B##i ki = P##_castpd_si##B(kd);                                    \
    kd = P##_sub_pd(kd, shift);                                             \
    __m##B##d r = P##_fmsub_pd(xd, c, kd);                                  \
    __m##B##d t = P##_castsi##B##_pd(                                       \
        P##_add_epi64(LOOKUP, P##_slli_epi64(ki, 48)));                     \
    __m##B##d p = P##_fmadd_pd(P##_set1_pd(VT_C5), r, P##_set1_pd(VT_C4)); \
    p = P##_fmadd_pd(p, r, P##_set1_pd(VT_C3));                             \
    p = P##_fmadd_pd(p, r, P##_set1_pd(VT_C2));                             \
    p = P##_fmadd_pd(p, r, P##_set1_pd(VT_C1));                             \
    p = P##_mul_pd(p, r);                                                   \
    __m##B##d em = P##_fmadd_pd(t, p, P##_sub_pd(t, P##_set1_pd(1.0)));     \
    return P##_cvtpd_ps(                                                    \
        P##_div_pd(em, P##_add_pd(em, P##_set1_pd(2.0))));                  \
}
VTANH_STEP(256, 128, _mm256, "avx2,fma",
           _mm256_i64gather_epi64((const long long *)vtanh_tab,
                                  _mm256_and_si256(ki,
                                                   _mm256_set1_epi64x(15)),
                                  8))
VTANH_STEP(512, 256, _mm512, "avx512f",
           _mm512_permutex2var_epi64(_mm512_loadu_si512(vtanh_tab), ki,
                                     _mm512_loadu_si512(vtanh_tab + 8)))

__attribute__((target("avx2,fma"), noinline, noclone)) static void
vtanhf_avx2(const float *x, float *y, int64_t n)
{
    const __m256 hi = _mm256_set1_ps(VT_MAX), lo = _mm256_set1_ps(-VT_MAX),
                 zero = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 xf = _mm256_loadu_ps(x + i);
        __m256 xc = _mm256_max_ps(_mm256_min_ps(xf, hi), lo);
        __m128 y0 = vtanh_step256(_mm256_cvtps_pd(_mm256_castps256_ps128(xc)));
        __m128 y1 = vtanh_step256(_mm256_cvtps_pd(_mm256_extractf128_ps(xc,
                                                                        1)));
        __m256 yf = _mm256_insertf128_ps(_mm256_castps128_ps256(y0), y1, 1);
        /* unordered or == 0 as two legacy predicates: valgrind's
         * emulation of _CMP_EQ_UQ missed the NaNs */
        yf = _mm256_blendv_ps(yf, _mm256_add_ps(xf, xf),
                              _mm256_or_ps(_mm256_cmp_ps(xf, xf, _CMP_UNORD_Q),
                                           _mm256_cmp_ps(xf, zero,
                                                         _CMP_EQ_OQ)));
        _mm256_storeu_ps(y + i, yf);
    }
    for (; i < n; i++) {
        y[i] = ad_tanhf(x[i]);
    }
}

__attribute__((target("avx512f"), noinline, noclone)) static void
vtanhf_avx512(const float *x, float *y, int64_t n)
{
    const __m512 hi = _mm512_set1_ps(VT_MAX), lo = _mm512_set1_ps(-VT_MAX),
                 zero = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 xf = _mm512_loadu_ps(x + i);
        __m512d xc = _mm512_castps_pd(
            _mm512_max_ps(_mm512_min_ps(xf, hi), lo));
        __m256 y0 = vtanh_step512(_mm512_cvtps_pd(
            _mm256_castpd_ps(_mm512_castpd512_pd256(xc))));
        __m256 y1 = vtanh_step512(_mm512_cvtps_pd(
            _mm256_castpd_ps(_mm512_extractf64x4_pd(xc, 1))));
        __m512 yf = _mm512_castpd_ps(_mm512_insertf64x4(
            _mm512_castpd256_pd512(_mm256_castps_pd(y0)),
            _mm256_castps_pd(y1), 1));
        yf = _mm512_mask_add_ps(yf, _mm512_cmp_ps_mask(xf, zero, _CMP_EQ_UQ),
                                xf, xf);
        _mm512_storeu_ps(y + i, yf);
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

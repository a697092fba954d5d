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
static int vexp_state;          /* 1 use, -1 do not (set once) */
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

static int
vexp_init(void)
{
    for (int i = 0; i < 32; i++) {
        double v = exp2(i / 32.0);
        uint64_t b;
        memcpy(&b, &v, 8);
        vexp_tab[i] = b - ((uint64_t)i << 47);
    }
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
        return -1;
    }
    /* self-check: a sweep of [-110, 110] and scattered bit patterns */
    enum { M = 4096 };
    float xs[M], a[M];
    uint32_t h = 0x9e3779b9u;
    for (int i = 0; i < M; i++) {
        if (i < M / 2) {
            xs[i] = -110.0f + 220.0f * (float)i / (M / 2);
        }
        else {
            h ^= h << 13;
            h ^= h >> 17;
            h ^= h << 5;
            memcpy(&xs[i], &h, 4);
        }
    }
    vexpf_avx2(xs, a, M);
    for (int i = 0; i < M; i++) {
        float b = expf(xs[i]);
        if (memcmp(&a[i], &b, 4) != 0) {
            return -1;
        }
    }
    return 1;
}

static void
vexp_setup(void)
{
    vexp_state = vexp_init();
}

/* y = expf(x) elementwise if the vector kernel is on; 0 if not. */
static int
ad_vexpf(const float *x, float *y, int64_t n)
{
    pthread_once(&vexp_once, vexp_setup);
    if (vexp_state < 0) {
        return 0;
    }
    vexpf_avx2(x, y, n);
    return 1;
}
#else
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

#define T float
#define UT uint32_t                 /* an unsigned integer of T's size */
#define SIGN_BIT 0x80000000u
#define SFX _f32
#define MATH(fn) fn##f
#define BLAS_GEMM blas_sgemm
#define KERN_TABLE ad_kern_f32
#include "kernels.inc"
#undef AD_VEXP
#undef T
#undef UT
#undef SIGN_BIT
#undef SFX
#undef MATH
#undef BLAS_GEMM
#undef KERN_TABLE

#define T double
#define UT uint64_t
#define SIGN_BIT 0x8000000000000000u
#define SFX _f64
#define MATH(fn) fn
#define BLAS_GEMM blas_dgemm
#define KERN_TABLE ad_kern_f64
#include "kernels.inc"
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

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

#define T float
#define UT uint32_t                 /* an unsigned integer of T's size */
#define SIGN_BIT 0x80000000u
#define SFX _f32
#define MATH(fn) fn##f
#define BLAS_GEMM blas_sgemm
#define KERN_TABLE ad_kern_f32
#include "kernels.inc"
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

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
#define SFX _f32
#define MATH(fn) fn##f
#define BLAS_GEMM blas_sgemm
#define KERN_TABLE ad_kern_f32
#include "kernels.inc"
#undef T
#undef SFX
#undef MATH
#undef BLAS_GEMM
#undef KERN_TABLE

#define T double
#define SFX _f64
#define MATH(fn) fn
#define BLAS_GEMM blas_dgemm
#define KERN_TABLE ad_kern_f64
#include "kernels.inc"
#undef T
#undef SFX
#undef MATH
#undef BLAS_GEMM
#undef KERN_TABLE

void
ad_cast_buf(const void *src, int sdt, void *dst, int ddt, int64_t n)
{
    if (sdt == ddt) {
        memmove(dst, src, (size_t)n * ad_itemsize(sdt));
    }
    else if (sdt == AD_F32) {
        const float *s = src;
        double *d = dst;
        for (int64_t i = 0; i < n; i++) d[i] = s[i];
    }
    else {
        const double *s = src;
        float *d = dst;
        for (int64_t i = 0; i < n; i++) d[i] = (float)s[i];
    }
}

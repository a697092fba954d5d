/*
 * gemm.c -- a float32 GEMM whose right operand is packed once and used
 * many times: the recurrent layers multiply every time step's state by the
 * same W_hh (lstm_seq / gru_seq, forward and backward).  BLAS repacks W_hh
 * at each of those calls -- a third of their time for a (32, 128) x
 * (128, 512) product -- so the sequence packs it once per sweep and the
 * steps run this kernel on the packed panels.
 *
 *   ad_sgemm_pack(tb, k, n, b, ldb, packed)
 *       B (k x n) = b (tb = 0: row-major k x n; tb = 1: b is n x k, used
 *       transposed) into panels of 32 columns: packed[p][kk][0..31], the
 *       last panel padded with zeros.
 *   ad_sgemm_packed(m, n, k, a, lda, packed, bias, beta, c, ldc)
 *       C (m x n) = A (m x k, row-major) B + bias + beta C, bias a row of
 *       n (added to every row; NULL: none).
 *
 * The micro-kernel keeps an 8 x 32 block of C in sixteen AVX-512 registers
 * and walks k once: each C element is one chain of fused multiply-adds in
 * k order, the same on every call, so an eager step and its compiled
 * replay agree to the bit.  Only where the cpu has AVX-512F
 * (ad_sgemm_packed_ok); elsewhere, and for float64, the callers use BLAS.
 */
#include "ad_impl.h"

#include <string.h>

#define NR 32                   /* columns per panel: two zmm registers */
#define MR 8                    /* rows per block */

size_t
ad_sgemm_packed_size(int64_t k, int64_t n)
{
    return (size_t)((n + NR - 1) / NR) * (size_t)k * NR;
}

void
ad_sgemm_pack(int tb, int64_t k, int64_t n, const float *b, int64_t ldb,
              float *packed)
{
    int64_t np = (n + NR - 1) / NR;
    for (int64_t p = 0; p < np; p++) {
        float *dst = packed + p * k * NR;
        int64_t j0 = p * NR, nc = n - j0 < NR ? n - j0 : NR;
        for (int64_t kk = 0; kk < k; kk++) {
            float *row = dst + kk * NR;
            if (tb) {
                for (int64_t j = 0; j < nc; j++) {
                    row[j] = b[(j0 + j) * ldb + kk];
                }
            }
            else {
                memcpy(row, b + kk * ldb + j0, (size_t)nc * sizeof(float));
            }
            for (int64_t j = nc; j < NR; j++) {
                row[j] = 0.0f;
            }
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define KERN_ATTR __attribute__((target("avx512f"), always_inline)) \
    static inline

/* C[0:mr, 0:nc] = A[0:mr, :] . panel + beta C, mr <= MR (a constant where
 * inlined, so the loops over rows unroll into registers). */
KERN_ATTR void
block(const int mr, int64_t k, const float *a, int64_t lda,
      const float *bp, const float *bias, float *c, int64_t ldc, int nc,
      float beta)
{
    __m512 c0[MR], c1[MR];
    for (int r = 0; r < mr; r++) {
        c0[r] = _mm512_setzero_ps();
        c1[r] = _mm512_setzero_ps();
    }
    for (int64_t kk = 0; kk < k; kk++) {
        __m512 b0 = _mm512_loadu_ps(bp + kk * NR);
        __m512 b1 = _mm512_loadu_ps(bp + kk * NR + 16);
        for (int r = 0; r < mr; r++) {
            __m512 av = _mm512_set1_ps(a[r * lda + kk]);
            c0[r] = _mm512_fmadd_ps(av, b0, c0[r]);
            c1[r] = _mm512_fmadd_ps(av, b1, c1[r]);
        }
    }
    __mmask16 m0 = nc >= 16 ? (__mmask16)0xFFFF
                            : (__mmask16)((1u << nc) - 1);
    __mmask16 m1 = nc >= 32 ? (__mmask16)0xFFFF
                 : nc > 16 ? (__mmask16)((1u << (nc - 16)) - 1)
                           : (__mmask16)0;
    __m512 bv = _mm512_set1_ps(beta);
    if (bias) {
        __m512 r0 = _mm512_maskz_loadu_ps(m0, bias);
        __m512 r1 = _mm512_maskz_loadu_ps(m1, bias + 16);
        for (int r = 0; r < mr; r++) {
            c0[r] = _mm512_add_ps(c0[r], r0);
            c1[r] = _mm512_add_ps(c1[r], r1);
        }
    }
    for (int r = 0; r < mr; r++) {
        float *cr = c + r * ldc;
        if (beta != 0.0f) {
            c0[r] = _mm512_fmadd_ps(bv, _mm512_maskz_loadu_ps(m0, cr), c0[r]);
            c1[r] = _mm512_fmadd_ps(bv, _mm512_maskz_loadu_ps(m1, cr + 16),
                                    c1[r]);
        }
        _mm512_mask_storeu_ps(cr, m0, c0[r]);
        _mm512_mask_storeu_ps(cr + 16, m1, c1[r]);
    }
}

#define BLOCK_FN(R)                                                        \
    __attribute__((target("avx512f"), noinline)) static void                \
    block##R(int64_t k, const float *a, int64_t lda, const float *bp,     \
             const float *bias, float *c, int64_t ldc, int nc, float beta) \
    {                                                                      \
        block(R, k, a, lda, bp, bias, c, ldc, nc, beta);                   \
    }
BLOCK_FN(1)
BLOCK_FN(2)
BLOCK_FN(3)
BLOCK_FN(4)
BLOCK_FN(5)
BLOCK_FN(6)
BLOCK_FN(7)
BLOCK_FN(8)

typedef void (*block_fn)(int64_t, const float *, int64_t, const float *,
                         const float *, float *, int64_t, int, float);
static const block_fn blocks[MR + 1] = {
    NULL, block1, block2, block3, block4, block5, block6, block7, block8,
};

int
ad_sgemm_packed_ok(void)
{
    return __builtin_cpu_supports("avx512f");
}

void
ad_sgemm_packed(int64_t m, int64_t n, int64_t k, const float *a,
                int64_t lda, const float *packed, const float *bias,
                float beta, float *c, int64_t ldc)
{
    int64_t np = (n + NR - 1) / NR;
    for (int64_t p = 0; p < np; p++) {
        /* one panel (k x 32, 16 KB at k = 128) stays in L1 for every row
         * block */
        const float *bp = packed + p * k * NR;
        int nc = (int)(n - p * NR < NR ? n - p * NR : NR);
        for (int64_t i = 0; i < m; i += MR) {
            int mr = (int)(m - i < MR ? m - i : MR);
            blocks[mr](k, a + i * lda, lda, bp, bias ? bias + p * NR : NULL,
                       c + i * ldc + p * NR, ldc, nc, beta);
        }
    }
}

#else

int
ad_sgemm_packed_ok(void)
{
    return 0;
}

void
ad_sgemm_packed(int64_t m, int64_t n, int64_t k, const float *a,
                int64_t lda, const float *packed, const float *bias,
                float beta, float *c, int64_t ldc)
{
    (void)m; (void)n; (void)k; (void)a; (void)lda; (void)packed;
    (void)bias; (void)beta; (void)c; (void)ldc;
}

#endif

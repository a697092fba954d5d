/*
 * gemm.c -- the engine's own float32 GEMM, for products where OpenBLAS
 * does badly or does work twice:
 *   - the recurrent layers multiply every time step's state by the same
 *     W_hh (lstm_seq / gru_seq, forward and backward).  BLAS repacks W_hh
 *     at each of those calls -- a third of their time for a (32, 128) x
 *     (128, 512) product -- so the sequence packs it once per sweep and
 *     the steps run this kernel on the packed panels;
 *   - linear's float32 backward (ops_linalg.c): dx = g W and dW = g^T x,
 *     where OpenBLAS zeroes C before a beta = 0 product, packs W through
 *     a slow copy for g W, and runs a 10-class head's narrow products at
 *     a fifth of its peak; the bias gradient is summed while g^T is
 *     packed (bench/RESULTS.md, "Where the large MLP's time goes");
 *   - linear's float32 forward y = x W^T + b, computed as its transpose
 *     W x^T: W (the larger operand) is read in place and only x packed,
 *     the bias added in the kernel's output pass, no prefill copy; 8%
 *     faster than OpenBLAS for a 256 x 1024 x 1024 layer and about 2x for
 *     a 32 x 256 x 256 one (small products, where OpenBLAS's own packing
 *     and call overhead weigh most).
 *
 *   ad_sgemm_pack(tb, k, n, b, ldb, packed)
 *       B (k x n) = b (tb = 0: row-major k x n; tb = 1: b is n x k, used
 *       transposed) into panels of 32 columns: packed[p][kk][0..31], the
 *       last panel padded with zeros.
 *   ad_sgemm_pack_a(m, k, a, lda, packed, colsum)
 *       A (m x k) given as its transpose a (k x m, row-major) into blocks
 *       of 8 rows: packed[i / 8][kk][0..7]; colsum (NULL: none) += the sum
 *       of each row of A, a chain over kk in order.
 *   ad_sgemm_packed(ta, m, n, k, a, lda, packed, bias, beta, c, ldc)
 *       C (m x n) = A B + bias + beta C, A row-major m x k (ta = 0) or
 *       packed by ad_sgemm_pack_a (ta = 1), bias a row of n (added to
 *       every row; NULL: none).  The panels are shared out over the
 *       engine's thread pool.
 *   ad_sgemm_rows(m, n, k, a, lda, packed, bias, beta, c, ldc)
 *       ad_sgemm_packed (ta = 0) on the calling thread, for callers that
 *       share out pieces of their own (ops_rnn.c's recurrent sequences
 *       run each block of batch rows through every step on one thread).
 *   ad_sgemm_atb(k, m, n, a, lda, b, ldb, c, colsum)
 *       C (m x n) = A^T B for a (k x m) and b (k x n), both row-major:
 *       the weight gradients g^T x of linear and of the LSTM's W_hh; A's
 *       row blocks and B's panels packed; colsum (NULL: none) += a's
 *       column sums (the bias gradient), each a chain over k in order.
 *   ad_sgemm_xwt(n, m, k, x, ldx, w, ldw, bias, act, y, ldy)
 *       y (n x m) = act(x W^T + bias), W m x k row-major: 8-row blocks of
 *       W (kept in L1) against every 32-sample panel of x^T (in L2), each
 *       8 x 32 tile of y^T transposed in registers on its way out.
 *
 * The micro-kernel keeps an 8 x 32 block of C in sixteen AVX-512 registers
 * and walks k once: each C element is one chain of fused multiply-adds in
 * k order, the same on every call and whichever thread computes it, so an
 * eager step and its compiled replay agree to the bit at any thread count.
 * Only where the cpu has AVX-512F (ad_sgemm_packed_ok); elsewhere, and for
 * float64, the callers use BLAS.
 */
#include "ad_impl.h"

#include <string.h>

#define NR AD_SGEMM_NR            /* columns per panel: two zmm registers */
#define MR 8                    /* rows per block */

size_t
ad_sgemm_packed_size(int64_t k, int64_t n)
{
    return (size_t)((n + NR - 1) / NR) * (size_t)k * NR;
}

static void pack_bt(int64_t k, int64_t n, const float *b, int64_t ldb,
                    float *packed, int64_t p0, int64_t p1);
static void pack_a(int64_t m, int64_t k, const float *a, int64_t lda,
                   float *packed, float *colsum, int64_t i0, int64_t i1);

/* Units of per floats each a packing piece takes, of units in all: an
 * operand of 1 MB or more (a 1024 x 1024 weight, a 256 x 1024 batch)
 * packs over the pool in pieces of at least 256 KB, not serially between
 * two of the products' parallel loops; a smaller one on the calling
 * thread: split, the small MLP's 256 KB weight, packed half on the other
 * core, cost more (its product, one piece, then read that half from
 * there) than the copy.  No bit depends on it. */
static int64_t
copy_grain(int64_t per, int64_t units)
{
    if (per * units < ((int64_t)1 << 18)) {
        return units;
    }
    return (((int64_t)1 << 16) + per - 1) / per;
}

typedef struct {
    int64_t m, k, n, ld;
    const float *b;
    float *packed, *colsum;
} pack_job;

/* Panels [lo, hi) of b (row-major k x n): b's rows in order (each piece
 * read whole, so the prefetchers follow it), every row cut into the
 * panels' 32-float pieces. */
static void
pack_rows_range(void *ctx, int64_t lo, int64_t hi)
{
    const pack_job *j = ctx;
    for (int64_t kk = 0; kk < j->k; kk++) {
        const float *src = j->b + kk * j->ld;
        for (int64_t p = lo; p < hi; p++) {
            float *row = j->packed + (p * j->k + kk) * NR;
            int64_t j0 = p * NR, nc = j->n - j0 < NR ? j->n - j0 : NR;
            if (nc == NR) {     /* a fixed size: inlined moves */
                memcpy(row, src + j0, NR * sizeof(float));
                continue;
            }
            memcpy(row, src + j0, (size_t)nc * sizeof(float));
            for (int64_t c = nc; c < NR; c++) {
                row[c] = 0.0f;
            }
        }
    }
}

static void
pack_bt_range(void *ctx, int64_t lo, int64_t hi)
{
    const pack_job *j = ctx;
    pack_bt(j->k, j->n, j->b, j->ld, j->packed, lo, hi);
}

void
ad_sgemm_pack(int tb, int64_t k, int64_t n, const float *b, int64_t ldb,
              float *packed)
{
    pack_job j = {0, k, n, ldb, b, packed, NULL};
    int64_t np = (n + NR - 1) / NR;
    ad_parallel_for(np, copy_grain(k * NR, np), tb ? pack_bt_range
                                               : pack_rows_range, &j);
}

/* Pairs [lo, hi) of A's 8-row blocks (16 rows: whole 64-byte loads of a);
 * each row's column sum stays one chain over kk in order, in one piece. */
static void
pack_a_range(void *ctx, int64_t lo, int64_t hi)
{
    const pack_job *j = ctx;
    int64_t i1 = hi * 2 * MR < j->m ? hi * 2 * MR : j->m;
    pack_a(j->m, j->k, j->b, j->ld, j->packed, j->colsum, lo * 2 * MR, i1);
}

void
ad_sgemm_pack_a(int64_t m, int64_t k, const float *a, int64_t lda,
                float *packed, float *colsum)
{
    pack_job j = {m, k, 0, lda, a, packed, colsum};
    int64_t units = (m + 2 * MR - 1) / (2 * MR);
    ad_parallel_for(units, copy_grain(2 * MR * k, units), pack_a_range,
                    &j);
}

/* B = b^T (b is n x k, row-major): panel p's row kk holds b's rows
 * p*32 .. p*32+31 at column kk, zeros past n. */
static void
pack_bt_generic(int64_t k, int64_t n, const float *b, int64_t ldb,
                float *packed, int64_t p0, int64_t p1)
{
    for (int64_t p = p0; p < p1; p++) {
        float *dst = packed + p * k * NR;
        int64_t j0 = p * NR, nc = n - j0 < NR ? n - j0 : NR;
        for (int64_t kk = 0; kk < k; kk++) {
            float *row = dst + kk * NR;
            for (int64_t j = 0; j < nc; j++) {
                row[j] = b[(j0 + j) * ldb + kk];
            }
            for (int64_t j = nc; j < NR; j++) {
                row[j] = 0.0f;
            }
        }
    }
}

size_t
ad_sgemm_apacked_size(int64_t m, int64_t k)
{
    return (size_t)((m + MR - 1) / MR) * (size_t)k * MR;
}

static void
pack_a_generic(int64_t m, int64_t k, const float *a, int64_t lda,
               float *packed, float *colsum, int64_t i0, int64_t i1)
{
    for (int64_t i = i0; i < i1; i += MR) {
        int mr = (int)(m - i < MR ? m - i : MR);
        float *dst = packed + i * k;
        for (int64_t kk = 0; kk < k; kk++) {
            const float *src = a + kk * lda + i;
            for (int r = 0; r < mr; r++) {
                dst[kk * MR + r] = src[r];
            }
            for (int r = mr; r < MR; r++) {
                dst[kk * MR + r] = 0.0f;
            }
            if (colsum) {
                for (int r = 0; r < mr; r++) {
                    colsum[i + r] += src[r];
                }
            }
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define KERN_ATTR __attribute__((target("avx512f"), always_inline)) \
    static inline

/* ad_sgemm_pack_a sixteen columns of a (two row blocks of A) at a time,
 * over tiles of KT rows of a: within a tile the loads walk KT rows side by
 * side, 64 bytes from each, so they stay on KT pages and the prefetchers
 * follow every row (a walk down a whole column block touched a new page
 * at every kk and waited on each load); each load's halves go to the two
 * blocks, written in order.  The column sums are the same chain over kk
 * in order as the generic loop's. */
#define KT 32
__attribute__((target("avx512f"))) static void
pack_a_avx512(int64_t m, int64_t k, const float *a, int64_t lda,
              float *packed, float *colsum, int64_t i0, int64_t i1)
{
    for (int64_t k0 = 0; k0 < k; k0 += KT) {
        int64_t k1 = k - k0 < KT ? k : k0 + KT;
        for (int64_t i = i0; i < i1; i += 2 * MR) {
            int64_t w = m - i < 2 * MR ? m - i : 2 * MR;
            __mmask16 mk = (__mmask16)(w >= 16 ? 0xFFFFu : (1u << w) - 1);
            float *d0 = packed + i * k;
            float *d1 = d0 + k * MR;    /* past the matrix when w <= 8 */
            __m512 sum = colsum ? _mm512_maskz_loadu_ps(mk, colsum + i)
                                : _mm512_setzero_ps();
            const float *src = a + k0 * lda + i;
            for (int64_t kk = k0; kk < k1; kk++, src += lda) {
                __m512 v = _mm512_maskz_loadu_ps(mk, src);
                sum = _mm512_add_ps(sum, v);
                _mm256_storeu_ps(d0 + kk * MR, _mm512_castps512_ps256(v));
                if (w > MR) {
                    _mm256_storeu_ps(d1 + kk * MR, _mm256_castpd_ps(
                        _mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
                }
            }
            if (colsum) {
                _mm512_mask_storeu_ps(colsum + i, mk, sum);
            }
        }
    }
}
#undef KT

static void
pack_a(int64_t m, int64_t k, const float *a, int64_t lda, float *packed,
       float *colsum, int64_t i0, int64_t i1)
{
    if (ad_sgemm_packed_ok()) {
        pack_a_avx512(m, k, a, lda, packed, colsum, i0, i1);
    }
    else {
        pack_a_generic(m, k, a, lda, packed, colsum, i0, i1);
    }
}

/* The 8 x 32 tile's sums: c0/c1[r] = A[r, :] . panel (columns 0-15 and
 * 16-31), each element one chain of fused multiply-adds in k order from
 * 0; A row-major (ta = 0) or given as A^T (ta = 1).  mr <= MR, a constant
 * where inlined, so the loops over rows unroll into registers. */
KERN_ATTR void
tile_sums(const int mr, const int ta, int64_t k, const float *a, int64_t lda,
          const float *bp, __m512 *c0, __m512 *c1)
{
    for (int r = 0; r < mr; r++) {
        c0[r] = _mm512_setzero_ps();
        c1[r] = _mm512_setzero_ps();
    }
    /* unrolled by 4: fewer loop and address updates per 16 FMAs (10%
     * at k = 1024); each element's chain is the same */
#pragma GCC unroll 4
    for (int64_t kk = 0; kk < k; kk++) {
        __m512 b0 = _mm512_loadu_ps(bp + kk * NR);
        __m512 b1 = _mm512_loadu_ps(bp + kk * NR + 16);
        for (int r = 0; r < mr; r++) {
            __m512 av = _mm512_set1_ps(ta ? a[kk * lda + r]
                                          : a[r * lda + kk]);
            c0[r] = _mm512_fmadd_ps(av, b0, c0[r]);
            c1[r] = _mm512_fmadd_ps(av, b1, c1[r]);
        }
    }
}

/* C[0:mr, 0:nc] = A[0:mr, :] . panel + beta C. */
KERN_ATTR void
block(const int mr, const int ta, int64_t k, const float *a, int64_t lda,
      const float *bp, const float *bias, float *c, int64_t ldc, int nc,
      float beta)
{
    __m512 c0[MR], c1[MR];
    tile_sums(mr, ta, k, a, lda, bp, c0, c1);
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
        block(R, 0, k, a, lda, bp, bias, c, ldc, nc, beta);                \
    }                                                                      \
    __attribute__((target("avx512f"), noinline)) static void                \
    block##R##t(int64_t k, const float *a, int64_t lda, const float *bp,  \
                const float *bias, float *c, int64_t ldc, int nc,         \
                float beta)                                                \
    {                                                                      \
        block(R, 1, k, a, lda, bp, bias, c, ldc, nc, beta);                \
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
static const block_fn blocks[2][MR + 1] = {
    {NULL, block1, block2, block3, block4, block5, block6, block7, block8},
    {NULL, block1t, block2t, block3t, block4t, block5t, block6t, block7t,
     block8t},
};

int
ad_sgemm_packed_ok(void)
{
    return __builtin_cpu_supports("avx512f");
}

/* Units of work (per multiply-adds each; 0: none) a pool piece takes:
 * at least about 2^21 multiply-adds (~20 us), so a small product stays on
 * one thread.  Every output element is one block's chain whichever piece
 * runs it, so the thread count never changes a bit. */
static int64_t
grain(int64_t per, int64_t units)
{
    return per ? (((int64_t)1 << 21) + per - 1) / per : units;
}

typedef struct {
    int ta;
    int64_t m, n, k, lda, ldc;
    const float *a, *packed, *bias;
    float beta;
    float *c;
} gemm_job;

/* Units of a product shared out over the pool: (panel, group of RG rows),
 * panel-major, so a piece's units walk its panels' row groups in order and
 * one panel (k x 32 floats, 32 KB at k = 256) stays in L1 (or L2) while
 * the rows pass it; at 2 threads a piece is whole panels, as when the
 * units were panels, and on more cores a product of few panels still
 * splits. */
#define RG 64

static void
panels_range(void *ctx, int64_t lo, int64_t hi)
{
    const gemm_job *j = ctx;
    int64_t ng = (j->m + RG - 1) / RG;
    for (int64_t u = lo; u < hi; u++) {
        int64_t p = u / ng, i1 = (u % ng + 1) * RG;
        const float *bp = j->packed + p * j->k * NR;
        int nc = (int)(j->n - p * NR < NR ? j->n - p * NR : NR);
        for (int64_t i = (u % ng) * RG; i < i1 && i < j->m; i += MR) {
            int mr = (int)(j->m - i < MR ? j->m - i : MR);
            blocks[j->ta][mr](j->k, j->a + (j->ta ? i * j->k : i * j->lda),
                              j->ta ? MR : j->lda,
                              bp, j->bias ? j->bias + p * NR : NULL,
                              j->c + i * j->ldc + p * NR, j->ldc, nc,
                              j->beta);
        }
    }
}

void
ad_sgemm_packed(int ta, int64_t m, int64_t n, int64_t k, const float *a,
                int64_t lda, const float *packed, const float *bias,
                float beta, float *c, int64_t ldc)
{
    gemm_job j = {ta, m, n, k, lda, ldc, a, packed, bias, beta, c};
    int64_t units = (n + NR - 1) / NR * ((m + RG - 1) / RG);
    int64_t rows = m < RG ? m : RG;
    ad_parallel_for(units, grain(rows * k * NR, units), panels_range, &j);
}

void
ad_sgemm_rows(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
              const float *packed, const float *bias, float beta, float *c,
              int64_t ldc)
{
    gemm_job j = {0, m, n, k, lda, ldc, a, packed, bias, beta, c};
    panels_range(&j, 0, (n + NR - 1) / NR * ((m + RG - 1) / RG));
}

/* The eight rows of r (each 16 columns of C^T) stored as the first ncols
 * of their 16 columns, each column 8 floats at y + j ldy: a transpose in
 * registers (unpack, shuffle, then 128-bit lane moves), no gather. */
KERN_ATTR void
store_t8x16(const __m512 *r, float *y, int64_t ldy, int ncols)
{
    __m512 t0 = _mm512_unpacklo_ps(r[0], r[1]);
    __m512 t1 = _mm512_unpackhi_ps(r[0], r[1]);
    __m512 t2 = _mm512_unpacklo_ps(r[2], r[3]);
    __m512 t3 = _mm512_unpackhi_ps(r[2], r[3]);
    __m512 t4 = _mm512_unpacklo_ps(r[4], r[5]);
    __m512 t5 = _mm512_unpackhi_ps(r[4], r[5]);
    __m512 t6 = _mm512_unpacklo_ps(r[6], r[7]);
    __m512 t7 = _mm512_unpackhi_ps(r[6], r[7]);
    /* u[q], 128-bit lane L: rows 0-3 (q < 4) or 4-7 of column 4L + q % 4 */
    __m512 u[8] = {
        _mm512_shuffle_ps(t0, t2, 0x44), _mm512_shuffle_ps(t0, t2, 0xEE),
        _mm512_shuffle_ps(t1, t3, 0x44), _mm512_shuffle_ps(t1, t3, 0xEE),
        _mm512_shuffle_ps(t4, t6, 0x44), _mm512_shuffle_ps(t4, t6, 0xEE),
        _mm512_shuffle_ps(t5, t7, 0x44), _mm512_shuffle_ps(t5, t7, 0xEE),
    };
    for (int q = 0; q < 4; q++) {
        /* lanes (0, 1) and (2, 3) of u[q] and u[q + 4], interleaved:
         * columns q, 4 + q, 8 + q, 12 + q, each 8 rows */
        __m512 lo = _mm512_shuffle_f32x4(u[q], u[q + 4], 0x44);
        __m512 hi = _mm512_shuffle_f32x4(u[q], u[q + 4], 0xEE);
        lo = _mm512_shuffle_f32x4(lo, lo, 0xD8);
        hi = _mm512_shuffle_f32x4(hi, hi, 0xD8);
        __m256 col[4] = {
            _mm512_castps512_ps256(lo),
            _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(lo), 1)),
            _mm512_castps512_ps256(hi),
            _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(hi), 1)),
        };
        for (int h = 0; h < 4; h++) {
            if (4 * h + q < ncols) {
                _mm256_storeu_ps(y + (4 * h + q) * ldy, col[h]);
            }
        }
    }
}

/* pack_bt with the transpose above: 8 rows of b by 16 columns at a time
 * (rows past n read as zeros, columns past k not stored). */
__attribute__((target("avx512f"))) static void
pack_bt_avx512(int64_t k, int64_t n, const float *b, int64_t ldb,
               float *packed, int64_t p0, int64_t p1)
{
    for (int64_t p = p0; p < p1; p++) {
        float *dst = packed + p * k * NR;
        for (int64_t k0 = 0; k0 < k; k0 += 16) {
            int kc = (int)(k - k0 < 16 ? k - k0 : 16);
            __mmask16 mk = (__mmask16)(kc == 16 ? 0xFFFFu : (1u << kc) - 1);
            for (int jb = 0; jb < NR / MR; jb++) {
                __m512 rows[MR];
                for (int r = 0; r < MR; r++) {
                    int64_t j = p * NR + jb * MR + r;
                    rows[r] = j < n ? _mm512_maskz_loadu_ps(
                                          mk, b + j * ldb + k0)
                                    : _mm512_setzero_ps();
                }
                store_t8x16(rows, dst + k0 * NR + jb * MR, NR, kc);
            }
        }
    }
}

static void
pack_bt(int64_t k, int64_t n, const float *b, int64_t ldb, float *packed,
        int64_t p0, int64_t p1)
{
    if (ad_sgemm_packed_ok()) {
        pack_bt_avx512(k, n, b, ldb, packed, p0, p1);
    }
    else {
        pack_bt_generic(k, n, b, ldb, packed, p0, p1);
    }
}

/* Rows [0, mr) of W against one panel of x^T (nc samples): an 8 x 32
 * tile of C^T = W x^T, each element one chain of fused multiply-adds in k
 * order from 0, then + bias, then the activation; stored transposed into
 * y (sample rows). */
KERN_ATTR void
yblock(const int mr, int64_t k, const float *w, int64_t ldw, const float *bp,
       const float *bias, int act, float *y, int64_t ldy, int nc)
{
    __m512 c0[MR], c1[MR];
    tile_sums(mr, 0, k, w, ldw, bp, c0, c1);
    for (int r = 0; r < mr; r++) {
        if (bias) {
            __m512 bv = _mm512_set1_ps(bias[r]);
            c0[r] = _mm512_add_ps(c0[r], bv);
            c1[r] = _mm512_add_ps(c1[r], bv);
        }
        if (act == AD_GEMM_RELU) {
            /* x > 0 or NaN keeps x, else +0: relu's own bits */
            __m512 z = _mm512_setzero_ps();
            c0[r] = _mm512_maskz_mov_ps(
                _mm512_cmp_ps_mask(c0[r], z, _CMP_NLE_UQ), c0[r]);
            c1[r] = _mm512_maskz_mov_ps(
                _mm512_cmp_ps_mask(c1[r], z, _CMP_NLE_UQ), c1[r]);
        }
    }
    if (mr == MR) {
        store_t8x16(c0, y, ldy, nc < 16 ? nc : 16);
        if (nc > 16) {
            store_t8x16(c1, y + 16 * ldy, ldy, nc - 16);
        }
        return;
    }
    float t[MR][NR];
    for (int r = 0; r < mr; r++) {
        _mm512_storeu_ps(t[r], c0[r]);
        _mm512_storeu_ps(t[r] + 16, c1[r]);
    }
    for (int j = 0; j < nc; j++) {
        for (int r = 0; r < mr; r++) {
            y[j * ldy + r] = t[r][j];
        }
    }
}

#define YBLOCK_FN(R)                                                       \
    __attribute__((target("avx512f"), noinline)) static void                \
    yblock##R(int64_t k, const float *w, int64_t ldw, const float *bp,    \
              const float *bias, int act, float *y, int64_t ldy, int nc)  \
    {                                                                      \
        yblock(R, k, w, ldw, bp, bias, act, y, ldy, nc);                   \
    }
YBLOCK_FN(1)
YBLOCK_FN(2)
YBLOCK_FN(3)
YBLOCK_FN(4)
YBLOCK_FN(5)
YBLOCK_FN(6)
YBLOCK_FN(7)
YBLOCK_FN(8)

typedef void (*yblock_fn)(int64_t, const float *, int64_t, const float *,
                          const float *, int, float *, int64_t, int);
static const yblock_fn yblocks[MR + 1] = {
    NULL, yblock1, yblock2, yblock3, yblock4, yblock5, yblock6, yblock7,
    yblock8,
};

typedef struct {
    int64_t n, m, k, ldw, ldy;
    const float *w, *packed, *bias;
    int act;
    float *y;
} xwt_job;

/* Units: (pair of W's 8-row blocks, panel of x^T), pair-major: 16
 * outputs (whole 64-byte lines of y) against 32 samples, a piece's units
 * walking each pair's panels in order: the pair's rows of W (64 KB at
 * k = 1024) stay in L1/L2 while x^T's panels stream from L2. */
static void
xwt_range(void *ctx, int64_t lo, int64_t hi)
{
    const xwt_job *j = ctx;
    int64_t np = (j->n + NR - 1) / NR;
    for (int64_t u = lo; u < hi; u++) {
        int64_t p = u % np, i1 = (u / np + 1) * 2 * MR;
        int nc = (int)(j->n - p * NR < NR ? j->n - p * NR : NR);
        for (int64_t i = (u / np) * 2 * MR; i < i1 && i < j->m; i += MR) {
            int mr = (int)(j->m - i < MR ? j->m - i : MR);
            yblocks[mr](j->k, j->w + i * j->ldw, j->ldw,
                        j->packed + p * j->k * NR,
                        j->bias ? j->bias + i : NULL, j->act,
                        j->y + p * NR * j->ldy + i, j->ldy, nc);
        }
    }
}

int
ad_sgemm_xwt(int64_t n, int64_t m, int64_t k, const float *x, int64_t ldx,
             const float *w, int64_t ldw, const float *bias, int act,
             float *y, int64_t ldy)
{
    ad_buffer *pk = ad_buf_alloc(ad_sgemm_packed_size(k, n) * sizeof(float));
    if (!pk) {
        return -1;
    }
    ad_sgemm_pack(1, k, n, x, ldx, AD_BUF_DATA(pk));
    xwt_job j = {n, m, k, ldw, ldy, w, AD_BUF_DATA(pk), bias, act, y};
    int64_t units = (m + 2 * MR - 1) / (2 * MR) * ((n + NR - 1) / NR);
    int64_t cols = n < NR ? n : NR;
    ad_parallel_for(units, grain(2 * MR * cols * k, units), xwt_range, &j);
    ad_buf_decref(pk);
    return 0;
}

#else

int
ad_sgemm_packed_ok(void)
{
    return 0;
}

static void
pack_a(int64_t m, int64_t k, const float *a, int64_t lda, float *packed,
       float *colsum, int64_t i0, int64_t i1)
{
    pack_a_generic(m, k, a, lda, packed, colsum, i0, i1);
}

static void
pack_bt(int64_t k, int64_t n, const float *b, int64_t ldb, float *packed,
        int64_t p0, int64_t p1)
{
    pack_bt_generic(k, n, b, ldb, packed, p0, p1);
}

int
ad_sgemm_xwt(int64_t n, int64_t m, int64_t k, const float *x, int64_t ldx,
             const float *w, int64_t ldw, const float *bias, int act,
             float *y, int64_t ldy)
{
    (void)n; (void)m; (void)k; (void)x; (void)ldx; (void)w; (void)ldw;
    (void)bias; (void)act; (void)y; (void)ldy;
    return -1;
}

void
ad_sgemm_packed(int ta, int64_t m, int64_t n, int64_t k, const float *a,
                int64_t lda, const float *packed, const float *bias,
                float beta, float *c, int64_t ldc)
{
    (void)ta; (void)m; (void)n; (void)k; (void)a; (void)lda; (void)packed;
    (void)bias; (void)beta; (void)c; (void)ldc;
}

void
ad_sgemm_rows(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
              const float *packed, const float *bias, float beta, float *c,
              int64_t ldc)
{
    (void)m; (void)n; (void)k; (void)a; (void)lda; (void)packed;
    (void)bias; (void)beta; (void)c; (void)ldc;
}

#endif

int
ad_sgemm_atb(int64_t k, int64_t m, int64_t n, const float *a, int64_t lda,
             const float *b, int64_t ldb, float *c, float *colsum)
{
    size_t na = ad_sgemm_apacked_size(m, k);
    ad_buffer *pk = ad_buf_alloc((na + ad_sgemm_packed_size(k, n)) *
                                 sizeof(float));
    if (!pk) {
        return -1;
    }
    float *pa = AD_BUF_DATA(pk);
    ad_sgemm_pack_a(m, k, a, lda, pa, colsum);
    ad_sgemm_pack(0, k, n, b, ldb, pa + na);
    ad_sgemm_packed(1, m, n, k, pa, k, pa + na, NULL, 0.0f, c, n);
    ad_buf_decref(pk);
    return 0;
}

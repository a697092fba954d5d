/*
 * ad_impl.h -- engine internals shared by the csrc/ files.  Not installed.
 */
#ifndef AD_IMPL_H
#define AD_IMPL_H

#include "autodiff.h"

#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>

#if defined(__GNUC__)
#define AD_TLS __thread
#define AD_LIKELY(x) __builtin_expect(!!(x), 1)
#define AD_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define AD_TLS _Thread_local
#define AD_LIKELY(x) (x)
#define AD_UNLIKELY(x) (x)
#endif

/* ---- buffers and the pool (pool.c) --------------------------------- */

/* Header and data share one allocation; data starts 64 bytes in.
 * refcnt and version are shared between threads: always touched through
 * the atomic helpers below (relaxed increments, acq_rel decrements). */
struct ad_buffer {
    int64_t refcnt;
    size_t capacity;            /* usable bytes (the size class) */
    uint32_t version;           /* bumped by in-place writes */
    int32_t size_class;         /* -1: not pooled (returned to the system) */
    struct ad_buffer *next;     /* free-list link */
};
#define AD_BUF_HEADER 64
#define AD_BUF_DATA(b) ((void *)((char *)(b) + AD_BUF_HEADER))

ad_buffer *ad_buf_alloc(size_t nbytes);          /* refcnt 1; NULL on OOM */
ad_buffer *ad_buf_zeros(size_t nbytes);
void ad_buf_decref(ad_buffer *b);
static inline void
ad_buf_incref(ad_buffer *b)
{
    __atomic_add_fetch(&b->refcnt, 1, __ATOMIC_RELAXED);
}
/* Is b referenced from more than one place (so a write must copy)? */
static inline int
ad_buf_shared(const ad_buffer *b)
{
    return __atomic_load_n(&b->refcnt, __ATOMIC_ACQUIRE) > 1;
}
static inline uint32_t
ad_buf_version(const ad_buffer *b)
{
    return __atomic_load_n(&b->version, __ATOMIC_RELAXED);
}
static inline void
ad_buf_bump(ad_buffer *b)
{
    __atomic_add_fetch(&b->version, 1, __ATOMIC_RELAXED);
}
/* A new reference to a tensor (ad_incref without the NULL check). */
static inline void
ad_ref(ad_tensor *t)
{
    __atomic_add_fetch(&t->refcnt, 1, __ATOMIC_RELAXED);
}

/* Double the capacity *cap (64 at first) of the array *p of item-sized
 * elements; -1 (nothing changed) when out of memory. */
int ad_grow(void **p, int64_t *cap, size_t item);
/* The pool's counters (the tape fields are left to tape.c). */
void ad_pool_stats(ad_memory_stats *out);
ad_tensor *ad_tensor_struct_alloc(void);
void ad_tensor_struct_free(ad_tensor *t);

/* ---- errors (tensor.c) --------------------------------------------- */
ad_status ad_error(ad_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Writes "(3, 4)" into buf. */
const char *ad_shape_str(int ndim, const int64_t *shape, char *buf,
                         size_t n);
#define AD_SHAPE_BUF 160
const char *ad_dtype_name(int dt);

static inline size_t
ad_itemsize(int dt)
{
    return dt == AD_F32 ? 4 : dt == AD_BOOL ? 1 : 8;
}
static inline int ad_is_float(int dt) { return dt == AD_F32 || dt == AD_F64; }

/* A float converted to int64 as torch's CPU kernel does on x86 (cvttsd2si):
 * truncation toward zero, and INT64_MIN for NaN and values out of range
 * (where a plain C conversion would be undefined). */
static inline int64_t
ad_f2i(double v)
{
    if (v >= -9223372036854775808.0 && v < 9223372036854775808.0) {
        return (int64_t)v;
    }
    return INT64_MIN;
}
static inline size_t ad_nbytes(const ad_tensor *t)
{
    return (size_t)t->size * ad_itemsize(t->dtype);
}

/* Whether a has nd dims of these sizes. */
int ad_same_shape(const ad_tensor *a, int nd, const int64_t *shape);
/* A new tensor (refcnt 1) with a fresh buffer, data uninitialised. */
ad_status ad_new(int dt, int ndim, const int64_t *shape, ad_tensor **out);
/* A new tensor sharing buf (which is increfed). */
ad_status ad_new_view(ad_buffer *buf, int dt, int ndim,
                      const int64_t *shape, ad_tensor **out);
ad_status ad_check_size(int ndim, const int64_t *shape, int64_t *size);

/* Contiguous element strides of a shape. */
void ad_strides(int ndim, const int64_t *shape, int64_t *st);
/* View x as (outer, n, inner) around axis: the layout that softmax, concat
 * and cumsum walk (a 0-d tensor is (1, 1, 1)). */
void ad_split_axis(const ad_tensor *x, int axis, int64_t *outer, int64_t *n,
                   int64_t *inner);
/* numpy broadcast of two shapes. */
ad_status ad_broadcast_shapes(int na, const int64_t *a, int nb,
                              const int64_t *b, int *nout, int64_t *out);

/* ---- strided iteration ---------------------------------------------- */
/*
 * Walks an output shape in rows of its last dimension, keeping the offsets
 * of up to three operands whose (element) strides are given; a stride of
 * 0 broadcasts.  Adjacent dimensions are merged where every operand allows
 * it, so the inner row is as long as possible.
 */
typedef struct {
    int nd;
    int nops;
    int64_t shape[AD_MAX_DIMS];
    int64_t st[3][AD_MAX_DIMS];
    int64_t ctr[AD_MAX_DIMS];
    int64_t off[3];
    int64_t rows;               /* number of rows to visit */
    int64_t n;                  /* row length */
    int64_t s[3];               /* strides along the row */
} ad_iter;

void ad_iter_init(ad_iter *it, int nd, const int64_t *shape, int nops,
                  int64_t st[][AD_MAX_DIMS]);
static inline void
ad_iter_next(ad_iter *it)
{
    for (int d = it->nd - 2; d >= 0; d--) {
        it->ctr[d]++;
        for (int k = 0; k < it->nops; k++) {
            it->off[k] += it->st[k][d];
        }
        if (it->ctr[d] < it->shape[d]) {
            return;
        }
        for (int k = 0; k < it->nops; k++) {
            it->off[k] -= it->st[k][d] * it->shape[d];
        }
        it->ctr[d] = 0;
    }
}
/* A freshly initialised iterator moved to row r (0 <= r < rows). */
static inline void
ad_iter_seek(ad_iter *it, int64_t r)
{
    for (int k = 0; k < it->nops; k++) {
        it->off[k] = 0;
    }
    for (int d = it->nd - 2; d >= 0; d--) {
        it->ctr[d] = r % it->shape[d];
        r /= it->shape[d];
        for (int k = 0; k < it->nops; k++) {
            it->off[k] += it->ctr[d] * it->st[k][d];
        }
    }
}
/* Strides of a tensor of shape (nd_in, in) seen through broadcasting to an
 * output of nd dimensions (0 where broadcast). */
void ad_bcast_strides(int nd, const int64_t *out_shape, int nd_in,
                      const int64_t *in, int64_t *st);

/* AD_AVX2_CLONE before a kernel (kernels.inc, optim.inc): gcc builds it
 * twice, for AVX2 and for the baseline (SSE2), and the loader picks the
 * clone the cpu runs (ifunc).
 * Plain "avx2" enables no FMA, so no a * b + c is contracted and each
 * element's operations and rounding are the baseline's: the clones give
 * the same bits, only wider.  Not under the sanitizers (their runtimes
 * and ifunc resolvers do not mix) nor clang (target_clones differs). */
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) \
    && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__) \
    && !defined(__SANITIZE_THREAD__)
#define AD_AVX2_CLONE __attribute__((target_clones("avx2", "default")))
#else
#define AD_AVX2_CLONE
#endif

/* The thread pool's split (kernels_par.inc, optim.c): pieces of at least
 * AD_PAR_ELEMS elements (below 2 AD_PAR_ELEMS a kernel runs on the calling
 * thread alone), cut at multiples of AD_PAR_BLOCK elements. */
#define AD_PAR_ELEMS 65536
#define AD_PAR_BLOCK 64

/* The backward of layer / group / RMS norm over R rows of K sums the
 * affine parameters' gradients over the rows: in this many fixed pieces
 * of rows (set by the shape, never the thread count; 1 below 2
 * AD_PAR_ELEMS elements, at most 8), each into its own 2 C sums, added in
 * piece order.  *per: rows per piece. */
static inline int64_t
ad_norm_pieces(int64_t R, int64_t K, int64_t *per)
{
    int64_t P = R * K >= 2 * AD_PAR_ELEMS ? R * K / AD_PAR_ELEMS : 1;
    if (P > 8) {
        P = 8;
    }
    if (P > R) {
        P = R;
    }
    if (P < 1) {
        P = 1;
    }
    *per = (R + P - 1) / P;
    return *per > 0 ? (R + *per - 1) / *per : 1;
}

/* ---- kernels (kernels.c: a template instantiated per dtype) --------- */
/* The geometry of a convolution's input (N, C, H, W), kernel (kh, kw),
 * stride, padding, dilation and output size (OH, OW). */
typedef struct {
    int64_t N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW;
} ad_conv_geom;

typedef struct {
    void (*unary_fwd)(int k, const void *x, void *y, int64_t n, double a,
                      double b);
    void (*unary_bwd)(int k, const void *x, const void *y, const void *g,
                      void *gx, int64_t n, double a, double b);
    void (*binary_fwd)(int k, ad_iter *it, void *o, const void *a,
                       const void *b);
    /* d(out)/d(operand which) * g over the output shape, into gx
     * (contiguous, output-shaped); it has operands (g, a, b). */
    void (*binary_bwd)(int k, int which, ad_iter *it, void *gx,
                       const void *g, const void *a, const void *b);
    /* o (iter operand 0, stride 0 on reduced dims) += x (operand 1). */
    void (*sum_into)(ad_iter *it, void *o, const void *x);
    void (*maxmin_into)(int is_max, ad_iter *it, void *o, const void *x);
    /* gx = g * (x == y) / count, iter operands (gx/x, g/y/count). */
    void (*maxmin_bwd)(ad_iter *it, void *gx, const void *x, const void *g,
                       const void *y, void *cnt);
    void (*add_strided)(ad_iter *it, void *dst, const void *src);
    void (*scale)(void *x, int64_t n, double a);
    void (*axpy)(void *y, const void *x, int64_t n, double a);
    void (*where_bwd)(const void *c, const void *g, void *gx, int64_t n,
                      int for_x);
    void (*softmax_fwd)(int log, const void *x, void *y, int64_t outer,
                        int64_t n, int64_t inner);
    void (*softmax_bwd)(int log, const void *y, const void *g, void *gx,
                        int64_t outer, int64_t n, int64_t inner);
    int (*loss_fwd)(int k, const void *p, const void *t, void *o,
                    int64_t n, double a);
    void (*loss_bwd)(int k, int which, const void *p, const void *t,
                     const void *g, void *gx, int64_t n, double a);
    /* x is (N, C, D); per (n, d): out = -w[label] logp[label] (w NULL:
     * 1), mixed with eps / C sum_c -w_c logp_c when eps != 0; with
     * from_logits also stores the log-sum-exp in lse. */
    void (*nll_fwd)(int from_logits, const void *x, const int64_t *lab,
                    int64_t ignore, const void *w, double eps, void *o,
                    double *lse, int64_t N, int64_t C, int64_t D);
    void (*nll_bwd)(int from_logits, const void *x, const int64_t *lab,
                    int64_t ignore, const void *w, double eps,
                    const double *lse, const void *g, void *gx, int64_t N,
                    int64_t C, int64_t D);
    void (*scatter_add)(void *gx, const int64_t *idx, const void *g,
                        int64_t n);
    void (*gemm)(int ta, int tb, int64_t m, int64_t n, int64_t k,
                 const void *a, int64_t lda, const void *b, int64_t ldb,
                 double beta, void *c, int64_t ldc);
    /* running sums along n of (outer, n, inner); from the end: reverse */
    void (*cumsum)(const void *x, void *y, int64_t outer, int64_t n,
                   int64_t inner, int reverse);
    /* o (iter operand 0, stride 0 on reduced dims) *= x (operand 1) */
    void (*prod_into)(ad_iter *it, void *o, const void *x);
    /* torch's prod_backward, iter operands (gx/x, g/y/aux[0..5]): six
     * output-shaped (m entries) scratch arrays, the first four 0, the
     * last two 1; full: every axis reduced (torch's prod(x)) */
    void (*prod_bwd)(int full, ad_iter *it, void *gx, const void *x,
                     const void *g, const void *y, void *const *aux,
                     int64_t m);
    /* running products (double accumulator) and torch's cumprod_backward */
    void (*cumprod)(const void *x, void *y, int64_t outer, int64_t n,
                    int64_t inner, int reverse);
    void (*cumprod_bwd)(const void *x, const void *y, const void *g,
                        void *gx, int64_t outer, int64_t n, int64_t inner,
                        int reverse);
    /* convolution's lowering (ad_conv_geom): im2col writes the patches of
     * x (N, C, H, W) as col[row, n, l] at row * rs + n * ns + l, row =
     * (c * kh + i) * kw + j, l = oh * OW + ow (zero where the patch hangs
     * over the padding); col2im adds them back into x (its transpose). */
    void (*im2col)(const ad_conv_geom *g, const void *x, void *col,
                   int64_t rs, int64_t ns);
    void (*col2im)(const ad_conv_geom *g, const void *col, void *x,
                   int64_t rs, int64_t ns);
    /* depthwise convolution (groups == C, multiplier m) as a direct
     * kernel; which 0: out = conv(x, w); 1: out (gx, zeroed) += the
     * input's gradient from (w, g); 2: out = the weight's gradient from
     * (x, g).  See kernels.inc for the fixed summation orders. */
    void (*depthwise)(const ad_conv_geom *g, int64_t m, int which,
                      const void *x, const void *w, const void *g_,
                      void *out);
    /* pooling windows over x (N C, H, W) (ad_conv_geom, N counting
     * images and channels; adaptive: torch's adaptive bins): the flat
     * index (ih W + iw) of each window's maximum (the first, or the last
     * NaN: torch's rule); the average of each window (avg) or its
     * transpose, adding g / divisor back over the window (avg_bwd). */
    void (*pool_argmax)(const ad_conv_geom *g, int adaptive, const void *x,
                        int64_t *idx, void *y);      /* y: the maxima too */
    void (*max_pool_bwd)(int64_t planes, int64_t HW, int64_t OHW,
                         const int64_t *idx, const void *g, void *gx);
    void (*avg_pool)(const ad_conv_geom *g, int adaptive,
                     int count_include_pad, int64_t divisor, const void *x,
                     void *y, int adjoint);
    /* interpolation (ad_upsample) of x (NC, ih, iw) into y (NC, oh, ow)
     * by the record's upsample attributes, or (adjoint) x (NC, oh, ow)
     * added back into y (NC, ih, iw), zeroed by the caller. */
    void (*upsample)(int64_t NC, const ad_attrs *a, const void *x, void *y,
                     int adjoint);
    /* normalization (ad_norm) over R rows of K: stats gets (mean, rstd)
     * per row in double; w, b may be NULL.  norm_bwd: gx (may be NULL)
     * and the per-index sums of g xhat and g into acc[0..C) and
     * acc[C..2C) (C = G K / S; acc holds 2 C ad_norm_pieces(R, K)
     * doubles, zeroed by the caller: the pieces' partial sums). */
    void (*norm_fwd)(int64_t R, int64_t K, int64_t G, int64_t S, int rms,
                     double eps, const void *x, const void *w,
                     const void *b, void *y, double *stats);
    void (*norm_bwd)(int64_t R, int64_t K, int64_t G, int64_t S, int rms,
                     const void *x, const void *w, const double *stats,
                     const void *g, void *gx, double *acc);
    /* batch norm over x (N, C, S), per channel: stats gets (mean,
     * invstd) per channel (training: the batch's, and rm / rv, if not
     * NULL, updated with momentum and the unbiased variance; else from
     * rm / rv).  bn_bwd: gx (may be NULL), acc[0..C) += sum g xhat,
     * acc[C..2C) += sum g. */
    void (*bn_fwd)(int64_t N, int64_t C, int64_t S, int training,
                   double eps, double momentum, const void *x,
                   const void *w, const void *b, void *rm, void *rv,
                   void *y, double *stats);
    void (*bn_bwd)(int64_t N, int64_t C, int64_t S, int training,
                   const void *x, const void *w, const double *stats,
                   const void *g, void *gx, double *acc);
    /* Recurrent cells over B rows of H units (ops_rnn.c).  lstm_fwd:
     * out (B, 2H) = (h', c'), act (B, 5H) = the activated gates i, f, g,
     * o and tanh(c'), pre (B, 4H) scratch; lstm_bwd: dgates (B, 4H) and
     * dc (B, H, may be NULL) from g (B, 2H).  gru_fwd: out (B, H), act
     * (B, 4H) = r, z, n and gh_n, pre (B, 3H) scratch; gru_bwd: dgi, dgh
     * (B, 3H) and dh (B, H, may be NULL). */
    void (*lstm_fwd)(int64_t B, int64_t H, const void *gi, const void *gh,
                     const void *c, void *out, void *act, void *pre);
    void (*lstm_bwd)(int64_t B, int64_t H, const void *c, const void *act,
                     const void *g, void *dgates, void *dc);
    void (*gru_fwd)(int64_t B, int64_t H, const void *gi, const void *gh,
                    const void *h, void *out, void *act, void *pre);
    void (*gru_bwd)(int64_t B, int64_t H, const void *h, const void *act,
                    const void *g, void *dgi, void *dgh, void *dh);
} ad_kernels;

extern const ad_kernels ad_kern_f32, ad_kern_f64;
static inline const ad_kernels *
ad_k(int dt)
{
    return dt == AD_F64 ? &ad_kern_f64 : &ad_kern_f32;
}
void ad_cast_buf(const void *src, int sdt, void *dst, int ddt, int64_t n);

/* float32 GEMM with the right operand packed once, for operands used at
 * many calls (gemm.c): C (m x n) = A (m x k) B + bias + beta C (bias: a
 * row of n, or NULL); pack B (k x n; tb: b is n x k) into
 * ad_sgemm_packed_size floats first.  Only where ad_sgemm_packed_ok()
 * (AVX-512F, autodiff.h); else use the BLAS gemm. */
#define AD_SGEMM_NR 32          /* columns per packed panel */
size_t ad_sgemm_packed_size(int64_t k, int64_t n);
void ad_sgemm_pack(int tb, int64_t k, int64_t n, const float *b, int64_t ldb,
                   float *packed);
/* A^T given (a is k x m, row-major): its row blocks packed for
 * ad_sgemm_packed(ta = 1, ...) into ad_sgemm_apacked_size floats; colsum
 * (m floats, or NULL) += the sum of each of A's rows, in k order. */
size_t ad_sgemm_apacked_size(int64_t m, int64_t k);
void ad_sgemm_pack_a(int64_t m, int64_t k, const float *a, int64_t lda,
                     float *packed, float *colsum);
void ad_sgemm_packed(int ta, int64_t m, int64_t n, int64_t k,
                     const float *a, int64_t lda, const float *packed,
                     const float *bias, float beta, float *c, int64_t ldc);
/* C (m x n) = A (m x k, row-major, lda) B + bias (a row of n, or NULL)
 * + beta C with B ad_sgemm_pack'ed, on the calling thread (for callers
 * that share out pieces of their own): each element ad_sgemm_packed's
 * chain. */
void ad_sgemm_rows(int64_t m, int64_t n, int64_t k, const float *a,
                   int64_t lda, const float *packed, const float *bias,
                   float beta, float *c, int64_t ldc);
/* C (m x n) = a^T b, a (k x m) and b (k x n) row-major (weight
 * gradients); colsum (m floats, or NULL) += a's column sums, each a chain
 * over k in order.  0, or -1 out of memory. */
int ad_sgemm_atb(int64_t k, int64_t m, int64_t n, const float *a,
                 int64_t lda, const float *b, int64_t ldb, float *c,
                 float *colsum);
/* y (n x m) = act(x (n x k) W^T + bias) for linear's float32 forward, W
 * (m x k, row-major) read in place and x packed (computed as C^T = W x^T,
 * stored transposed): each element one chain of fused multiply-adds in k
 * order from 0, then + bias, then act (AD_GEMM_NONE or AD_GEMM_RELU: relu's
 * bits).  0, or -1 out of memory.  Only where ad_sgemm_packed_ok(). */
enum { AD_GEMM_NONE = 0, AD_GEMM_RELU = 1 };
int ad_sgemm_xwt(int64_t n, int64_t m, int64_t k, const float *x,
                 int64_t ldx, const float *w, int64_t ldw, const float *bias,
                 int act, float *y, int64_t ldy);
/* float32 tanh through one path: 0 the portable C, 1 the AVX2+FMA lanes,
 * 2 the AVX-512F lanes (whatever the one-time pick chose); 0 returned when
 * the cpu lacks that path.  For tests/c, which pins their bits equal. */
int ad_tanhf_path(int path, const float *x, float *y, int64_t n);

/* The loops every dtype has (kernels_any.inc, instantiated for float32,
 * float64, int64 and bool); int_binary and bitwise only for the two
 * integer dtypes (NULL for floats). */
typedef struct {
    void (*copy_strided)(ad_iter *it, void *dst, const void *src);
    void (*gather)(const void *x, const int64_t *idx, void *o, int64_t n);
    void (*fill)(void *x, int64_t n, double v);
    void (*where)(const void *c, const void *x, const void *y, void *o,
                  int64_t n);
    void (*compare)(int k, ad_iter *it, uint8_t *o, const void *a,
                    const void *b);
    void (*argreduce)(int is_max, const void *x, int64_t *o, int64_t outer,
                      int64_t n, int64_t inner);
    /* tmp: 2n int64 of scratch */
    void (*argsort)(int descending, const void *x, int64_t *o, int64_t *tmp,
                    int64_t outer, int64_t n, int64_t inner);
    void (*int_binary)(int k, ad_iter *it, void *o, const void *a,
                       const void *b);
    void (*bitwise)(int k, ad_iter *it, void *o, const void *a,
                    const void *b);
    void (*int_reduce_into)(int k, ad_iter *it, void *o, const void *x);
    /* running sums (prod 0) or products of an integer tensor (wrapping);
     * NULL for floats */
    void (*int_scan)(int prod, const void *x, void *y, int64_t outer,
                     int64_t n, int64_t inner, int reverse);
    /* torch.cummax/cummin's indices along n of (outer, n, inner) */
    void (*cumarg)(int is_max, const void *x, int64_t *o, int64_t outer,
                   int64_t n, int64_t inner);
} ad_kernels_any;

extern const ad_kernels_any *const ad_kany_tables[AD_DTYPE_COUNT];
static inline const ad_kernels_any *
ad_kany(int dt)
{
    return ad_kany_tables[dt];
}
int ad_blas_ready(void);
/* The registered LAPACK routine (ad_set_lapack) for dtype dt, or NULL. */
void *ad_lapack_fn(int which, int dt);
int ad_lapack_ready(void);

/* Release the caller's lock (the GIL) around a kernel doing `work` units,
 * when it is worth it; a no-op below the threshold or without hooks. */
void *ad_nogil_begin(int64_t work);
void ad_nogil_end(void *state);

/* ---- the tape (tape.c) ---------------------------------------------- */

/* ---- the op registry: what every op defines beside itself ------------ */

typedef struct ad_record ad_record;

/* A kind of a kinded op (AD_UNARY_KINDS, ...). */
typedef struct {
    const char *name;
    unsigned flags;             /* AD_K_* */
    const char *param[2];       /* unary: names of attributes a, b */
} ad_kinddef;

/*
 * An op, defined once in its ops_*.c beside its forward and backward
 * (AD_OPDEF there); csrc/registry.c collects them in AD_OPS order.
 *
 * forward computes r->out from r's inputs, attributes and saved buffer
 * into r->out's existing buffer: the eager call runs it on a record
 * built on its stack (ad_call_run), a compiled replay on the recorded
 * one -- one body for both.  backward adds the input gradients for the
 * output gradient *g (ad_acc_grad).  The sweep and the replay call them
 * through the record and never name an op.
 */
typedef struct ad_opdef {
    int code;                   /* ad_op */
    const char *name;
    int arity;                  /* inputs; -1 for any number */
    unsigned flags;             /* AD_K_* for the op as a whole */
    int saved;                  /* ad_saved_kind */
    const ad_kinddef *kinds;
    int nkinds;
    const ad_attrdef *attrs;
    int nattrs;
    ad_status (*forward)(ad_record *r);
    ad_status (*backward)(ad_record *r, ad_buffer **g);
} ad_opdef;

#define AD_X_OP(code, name) extern const ad_opdef ad_def_##name;
AD_OPS(AD_X_OP)
#undef AD_X_OP

/* Attribute table entries: AD_ATTR(softmax, axis, AD_ATTR_I32). */
#define AD_ATTR(op, field, type) {#field, type, offsetof(ad_attrs, op.field)}

enum { AD_REC_DEAD = 0, AD_REC_LIVE = 1, AD_REC_CONSUMED = 2 };
#define AD_REC_INLINE 3

/*
 * One record per differentiable op.  It owns references to its inputs and
 * to whatever it saved; its output tensor owns the record (a tensor's
 * death releases its producer), so a graph lives exactly as long as some
 * live tensor reaches it.  Running a record needs no Python object.
 */
struct ad_record {
    const ad_opdef *def;        /* the op */
    uint8_t kind;               /* sub-kind of the op */
    uint8_t state;              /* AD_REC_* */
    int32_t nin;
    ad_tensor *in[AD_REC_INLINE];
    ad_tensor **ins;            /* nin > AD_REC_INLINE: heap array */
    uint32_t ver[AD_REC_INLINE];/* input buffer versions at record time */
    ad_tensor *out;             /* weak */
    ad_buffer *gacc;            /* out's pending gradient during a sweep */
    ad_buffer *saved;           /* op-specific saved data */
    uint32_t saved_ver;         /* saved's version at record time */
    ad_attrs at;                /* the op's named attributes */
    void *ext;                  /* custom op: the caller's context */
};

/* What a tape belongs to; error messages name it. */
typedef enum {
    AD_TAPE_THREAD = 0,         /* a thread's own tape */
    AD_TAPE_PROGRAM = 1,        /* a compiled program's (ad.compile) */
    AD_TAPE_SCRATCH = 2         /* ops recorded by a custom Function's
                                   backward during the C sweep */
} ad_tape_kind;

/*
 * Only the owning thread appends to, sweeps or compacts a tape.  A record
 * whose output dies on another thread is queued on `foreign` (under lock)
 * and torn down by the owner at its next record, sweep or release.  An
 * orphan tape (its owner exited or released it) and a program tape have
 * no owner: their records are killed by whichever thread frees them,
 * under lock.
 */
struct ad_tape {
    ad_record *recs;
    int64_t n, cap;
    int64_t live;
    int kind;                   /* ad_tape_kind */
    int orphan;                 /* owner exited or released it */
    const void *owner;          /* the owner's thread token; NULL: none */
    ad_tensor *foreign;         /* dead outputs queued by other threads */
    pthread_mutex_t lock;       /* guards foreign, orphan, owner, and the
                                   records of an ownerless tape */
};

static inline ad_tensor *
ad_rec_input(ad_record *r, int i)
{
    return r->nin > AD_REC_INLINE ? r->ins[i] : r->in[i];
}

/* Should an op on these inputs be recorded? */
int ad_needs_record(int n, ad_tensor **xs);

/*
 * An eager op call: validate, allocate the output, describe the call in
 * a record on the stack, then ad_call_run:
 *
 *     ad_record c;
 *     ad_call_init(&c, &ad_def_unary, k, 1, &x, y);
 *     c.at.unary.a = a;
 *     return ad_call_run(&c, work, out);
 *
 * ad_call_run runs c->def->forward (without the caller's lock when work
 * is large), then records the call when grad mode is on and an input
 * requires grad (or a capture is active): the tape's record takes
 * references to the inputs, c->saved (moved in) and, for kinds or ops
 * flagged AD_K_SAVES_OUT, the output.  On success *out = c->out; on
 * failure c->out and c->saved are released.  ad_call_commit is the
 * second half alone (an op whose output was computed elsewhere: custom);
 * it also takes c->ext.  ad_call_abandon releases what c holds.
 */
void ad_call_init(ad_record *c, const ad_opdef *def, int kind, int n,
                  ad_tensor **xs, ad_tensor *out);
ad_status ad_call_run(ad_record *c, int64_t work, ad_tensor **out);
ad_status ad_call_commit(ad_record *c, ad_tensor **out);
void ad_call_abandon(ad_record *c);

/* Within a backward rule: add g (shaped like input i) into that input's
 * pending gradient.  With steal, *g's reference moves in; else g is
 * copied or added. */
ad_status ad_acc_grad(ad_record *r, int i, ad_buffer **g, int steal);

/* Four Philox4x32-10 words for block ctr under key seed. */
void ad_philox(uint64_t seed, uint64_t ctr, uint32_t out[4]);
/* Release a custom record's context: queued while a release loop or a
 * sweep is active on this thread, run at once otherwise (tape.c), with
 * the hook ops_custom.c installs. */
void ad_custom_release(void *ctx);
void ad_set_release_hook(void (*release)(void *ctx));

/* ---- tapes and capture (tape.c, program.c) ------------------------- */
ad_tape *ad_tape_new(int kind);         /* owned by this thread, except a
                                           program tape (no owner) */
ad_tape *ad_tape_swap(ad_tape *tp);     /* make tp current; returns old */
void ad_tape_release(ad_tape *tp);      /* free once its records die */
/* The process-wide lock of every tensor's .grad field (tape.c): taken by
 * the sweep's deposit, ad_set_grad, ad_zero_grad, ad_get_grad and
 * ad_optim_step.  Innermost: never held while waiting for anything else
 * (the GIL), and no tensor is freed while it is held. */
void ad_grad_lock(void);
void ad_grad_unlock(void);
/* The sweep of a replay; alias holds nalias (leaf, grad) pairs: a leaf
 * whose .grad is None gets that grad tensor back, refilled. */
ad_status ad_sweep_replay(ad_tensor *root, ad_tensor *grad,
                          ad_tensor **alias, int64_t nalias);
/* Is a backward sweep running on this thread? */
int ad_sweep_active(void);

typedef enum {
    AD_I_FWD, AD_I_BACKWARD, AD_I_OPTIM, AD_I_SET_GRAD, AD_I_FILL,
    AD_I_AXPY, AD_I_COPY, AD_I_COPY_IN, AD_I_INPUT, AD_I_ZERO_GRAD
} ad_instr_kind;

/*
 * The recorder: how the layers below capture and replay (tensors, the
 * tape, the sweep, ops, optimizer updates) report what they do to an
 * active capture without calling up into program.c.  The program layer
 * installs its table on the thread for the length of a capture
 * (ad_recorder_set, in tensor.c with the rest of the thread state); NULL
 * means no capture.  The functions below forward to it.
 */
typedef struct {
    /* The program keeps t (an op output of the capture) alive. */
    ad_status (*own)(ad_tensor *t);
    /* Append an instruction (AD_I_*) on t0, t1 with scalar a. */
    ad_status (*instr)(int kind, ad_tensor *t0, ad_tensor *t1, double a);
    ad_status (*optim)(const ad_optim_cfg *cfg, int n, ad_tensor **params,
                       ad_tensor **state, int64_t *steps);
    /* A capture's sweep created t->grad = g (remembered for the BACKWARD
     * instruction that backward appends; ok = 0 drops them). */
    ad_status (*grad)(ad_tensor *t, ad_tensor *g);
    ad_status (*backward)(ad_tensor *root, ad_tensor *grad, int ok);
    /* Bind dst (saved data of out's record, the capture's last) to src: a
     * replay copies src's current contents in before that record runs
     * when src lies in a registered input, or always when src_t (the
     * tensor whose data src is; the program keeps a reference) is given:
     * a tensor's buffer stays put across replays.  1: bound; 0: frozen;
     * -1: no memory. */
    int (*labels)(const ad_tensor *out, void *dst, const void *src,
                  size_t nbytes, ad_tensor *src_t);
} ad_recorder;

const ad_recorder *ad_capture_current(void);
void ad_recorder_set(const ad_recorder *r);

static inline ad_status
ad_capture_own(ad_tensor *t)
{
    return ad_capture_current()->own(t);
}
static inline ad_status
ad_capture_instr(int kind, ad_tensor *t0, ad_tensor *t1, double a)
{
    return ad_capture_current()->instr(kind, t0, t1, a);
}
static inline ad_status
ad_capture_optim(const ad_optim_cfg *cfg, int n, ad_tensor **params,
                 ad_tensor **state, int64_t *steps)
{
    return ad_capture_current()->optim(cfg, n, params, state, steps);
}
static inline ad_status
ad_capture_grad(ad_tensor *t, ad_tensor *g)
{
    return ad_capture_current()->grad(t, g);
}
static inline ad_status
ad_capture_backward(ad_tensor *root, ad_tensor *grad, int ok)
{
    return ad_capture_current()->backward(root, grad, ok);
}
static inline int
ad_capture_labels(const ad_tensor *out, void *dst, const void *src,
                  size_t nbytes, ad_tensor *src_t)
{
    return ad_capture_current()->labels(out, dst, src, nbytes, src_t);
}

/* Sum a gradient over the output shape down to an input's shape
 * (tensor.c). */
ad_status ad_reduce_to_shape(int dt, const void *g, int nd,
                             const int64_t *shape, const ad_tensor *x,
                             ad_buffer **out);

#endif /* AD_IMPL_H */

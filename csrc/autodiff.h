/*
 * autodiff.h -- the public interface of the autodiff C engine.
 *
 * The engine is plain C11 with no Python in it.  It knows three things:
 *
 *   buffers  contiguous, 64-byte aligned, reference counted blocks of
 *            float32 or float64 served from a per-thread size-class pool;
 *   tensors  a shape, a dtype and a buffer (views such as reshape share
 *            the buffer);
 *   tapes    one per thread: a flat array of op records appended as each
 *            differentiable op runs.  ad_backward() sweeps the tape in
 *            reverse, accumulating gradients.
 *
 * A worked example, f(x) = a*x^2 + b at x = 3 with a = 2, b = 1:
 *
 *     ad_tensor *x, *x2, *ax2, *f;
 *     ad_full(AD_F64, 0, NULL, 3.0, &x);  ad_set_requires_grad(x, 1);
 *     ad_unary(AD_U_POWC, x, 2.0, 0, &x2);       records x2 = x^2
 *     ad_unary(AD_U_MULC, x2, 2.0, 0, &ax2);     records ax2 = 2 * x2
 *     ad_unary(AD_U_ADDC, ax2, 1.0, 0, &f);      records f = ax2 + 1
 *     ad_backward(f, NULL, 0);                  x->grad now holds 12
 *
 * Every fallible function returns an ad_status; on failure it leaves a
 * message naming the shapes, dtypes or values involved in a thread-local
 * buffer that ad_last_error() returns.  Nothing aborts.
 *
 * Thread model (docs/ARCHITECTURE.md, "Thread model"):
 *
 *   - Tensors and buffers may be shared between threads and freed on any
 *     thread: reference counts and version counters are atomic.
 *   - Each thread records on its own tape.  An op whose input was
 *     recorded on another tape (another thread's, a compiled program's,
 *     a custom backward's scratch tape) fails with AD_ERR_STATE saying
 *     which; detach() the input first.  backward() and the graph reader
 *     (ad_node) run on the thread that recorded the graph.
 *   - Threads may run backward() at the same time on graphs that share
 *     leaves: pending leaf gradients live in each sweep's own storage and
 *     are added to .grad under one process-wide grad lock, which
 *     ad_set_grad, ad_zero_grad, ad_get_grad and ad_optim_step also take;
 *     a deposit lands whole, before or after any of them.
 *   - A record whose output dies on another thread is handed to the
 *     owning thread (torn down at its next record, sweep or release), or
 *     killed under the tape's lock once that thread has exited.
 *   - A compiled program runs one call at a time (AD_ERR_STATE otherwise).
 *   - Other in-place writes (ad_fill_, ad_axpy_, ad_copy_data, optimizer
 *     updates of the parameter values) to a tensor another thread is
 *     reading are the caller's race, as in PyTorch.
 *
 * The Cython module calls everything with the GIL held except the sweep
 * (ad_backward_sweep), a program replay and large kernels, which release
 * it; the engine never waits for the GIL while holding one of its locks.
 */
#ifndef AUTODIFF_H
#define AUTODIFF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AD_MAX_DIMS 8

typedef enum {
    AD_RERECORD = 1,       /* ad_program_run: the program is stale (state it
                              depends on changed); nothing ran: record again */
    AD_OK = 0,
    AD_ERR_NOMEM = -1,     /* allocation failed or size absurd -> MemoryError */
    AD_ERR_SHAPE = -2,     /* incompatible shapes                -> ValueError */
    AD_ERR_VALUE = -3,     /* bad value (axis, label, size)      -> ValueError */
    AD_ERR_INDEX = -4,     /* index or label out of range        -> IndexError */
    AD_ERR_TYPE = -5,      /* wrong dtype                        -> TypeError */
    AD_ERR_STATE = -6,     /* graph freed, modified in place ... -> RuntimeError */
    AD_ERR_NOBLAS = -7,    /* no BLAS / LAPACK registered        -> RuntimeError */
    AD_ERR_LINALG = -8     /* singular, not positive definite, no
                              convergence       -> ad.linalg.LinAlgError */
} ad_status;

/* float32 and float64 tensors are differentiable; int64 and bool tensors
 * (indices, labels, masks, comparison results) never require grad. */
typedef enum { AD_F32 = 0, AD_F64 = 1, AD_I64 = 2, AD_BOOL = 3 } ad_dtype;
#define AD_DTYPE_COUNT 4

/* ---- the op registry ------------------------------------------------
 *
 * Every differentiable op is one line of AD_OPS, and the ops that come in
 * kinds (unary, binary, reduce, loss) list their kinds in X-macros below.
 * Each line expands to an enum code here and, in csrc/ops_*.c, to an
 * ad_opdef defined beside the op's forward and backward; names, counts,
 * attributes and flags are read back through ad_op_* below, so nothing
 * else (the Cython module, the Python rules, the tests) keeps a list.
 *
 * X(CODE, name)
 */
#define AD_OPS(X)                                                         \
    X(UNARY, unary) X(BINARY, binary) X(WHERE, where) X(REDUCE, reduce)   \
    X(RESHAPE, reshape) X(PERMUTE, permute) X(BROADCAST, broadcast)       \
    X(CONCAT, concat) X(GATHER, gather) X(CAST, cast) X(MATMUL, matmul)   \
    X(SOFTMAX, softmax) X(LOSS, loss) X(NLL, nll) X(LINEAR, linear)       \
    X(SCATTER, scatter) X(CUSTOM, custom) X(DROPOUT, dropout)             \
    X(CUMSUM, cumsum) X(COMPARE, compare) X(BITWISE, bitwise)            \
    X(ARGREDUCE, argreduce) X(TAKE, take) X(PUT_ADD, put_add)             \
    X(ARGSORT, argsort) X(LINALG, linalg) X(CUMPROD, cumprod)         \
    X(CUMARG, cumarg) X(CONV, conv) X(UNFOLD, unfold) X(FOLD, fold)      \
    X(POOL_ARGMAX, pool_argmax) X(MAX_POOL, max_pool) X(AVG_POOL, avg_pool) \
    X(NORM, norm) X(BATCH_NORM, batch_norm) X(LSTM_CELL, lstm_cell)         \
    X(GRU_CELL, gru_cell) X(LSTM_SEQ, lstm_seq) X(GRU_SEQ, gru_seq)         \
    X(UPSAMPLE, upsample) X(LINEAR_RELU, linear_relu)

/* Kind flags: AD_K_SAVES_OUT -- the backward reads the output y (the
 * record keeps it); AD_K_READS_X -- the backward reads the input x. */
#define AD_K_SAVES_OUT 1u
#define AD_K_READS_X 2u
/* Op flag AD_OP_ANY_DTYPE -- the op takes int64 and bool inputs too (the
 * others refuse them with AD_ERR_TYPE before running). */
#define AD_OP_ANY_DTYPE 4u

/* Elementwise one-input ops: X(CODE, name, flags, a, b), where a and b
 * name the op's scalar attributes ("-" for none). */
#define AD_UNARY_KINDS(X)                                                 \
    X(NEG, neg, 0, -, -)                                                  \
    X(EXP, exp, AD_K_SAVES_OUT, -, -)                                     \
    X(LOG, log, AD_K_READS_X, -, -)                                       \
    X(SQRT, sqrt, AD_K_SAVES_OUT, -, -)                                   \
    X(ABS, abs, AD_K_READS_X, -, -)                                       \
    X(SIN, sin, AD_K_READS_X, -, -)                                       \
    X(COS, cos, AD_K_READS_X, -, -)                                       \
    X(SIGMOID, sigmoid, AD_K_SAVES_OUT, -, -)                             \
    X(TANH, tanh, AD_K_SAVES_OUT, -, -)                                   \
    X(RELU, relu, AD_K_READS_X, -, -)                                     \
    X(LEAKY_RELU, leaky_relu, AD_K_READS_X, negative_slope, -)            \
    X(ELU, elu, AD_K_READS_X | AD_K_SAVES_OUT, alpha, -)                  \
    X(SELU, selu, AD_K_READS_X | AD_K_SAVES_OUT, -, -)                    \
    X(SOFTPLUS, softplus, AD_K_READS_X, beta, threshold)                  \
    X(GELU, gelu, AD_K_READS_X, -, -)                                     \
    X(SILU, silu, AD_K_READS_X, -, -)                                     \
    X(CLIP, clip, AD_K_READS_X, min, max)                                 \
    X(ADDC, addc, 0, c, -)          /* x + c */                           \
    X(MULC, mulc, 0, c, -)          /* x * c */                           \
    X(RSUBC, rsubc, 0, c, -)        /* c - x */                           \
    X(RDIVC, rdivc, AD_K_READS_X, c, -)     /* c / x */                   \
    X(POWC, powc, AD_K_READS_X, c, -)       /* x ** c */                  \
    X(RPOWC, rpowc, AD_K_SAVES_OUT, c, -)   /* c ** x */                  \
    X(SQUARE, square, AD_K_READS_X, -, -)                                 \
    X(DIVC, divc, 0, c, -)          /* x / c */                           \
    X(ERF, erf, AD_K_READS_X, -, -)                                       \
    X(TAN, tan, AD_K_SAVES_OUT, -, -)                                     \
    X(ATAN, atan, AD_K_READS_X, -, -)                                     \
    X(ASIN, asin, AD_K_READS_X, -, -)                                     \
    X(ACOS, acos, AD_K_READS_X, -, -)                                     \
    X(SINH, sinh, AD_K_READS_X, -, -)                                     \
    X(COSH, cosh, AD_K_READS_X, -, -)                                     \
    X(ASINH, asinh, AD_K_READS_X, -, -)                                   \
    X(ACOSH, acosh, AD_K_READS_X, -, -)                                   \
    X(ATANH, atanh, AD_K_READS_X, -, -)                                   \
    X(LOG1P, log1p, AD_K_READS_X, -, -)                                   \
    X(EXPM1, expm1, AD_K_SAVES_OUT, -, -)                                 \
    X(LOG2, log2, AD_K_READS_X, -, -)                                     \
    X(LOG10, log10, AD_K_READS_X, -, -)                                   \
    X(EXP2, exp2, AD_K_SAVES_OUT, -, -)                                   \
    X(RECIPROCAL, reciprocal, AD_K_SAVES_OUT, -, -)                       \
    X(RSQRT, rsqrt, AD_K_SAVES_OUT, -, -)                                 \
    X(SIGN, sign, 0, -, -)                                                \
    X(FLOOR, floor, 0, -, -)                                              \
    X(CEIL, ceil, 0, -, -)                                                \
    X(ROUND, round, 0, decimals, -)  /* half to even */                   \
    X(TRUNC, trunc, 0, -, -)                                              \
    X(FRAC, frac, 0, -, -)          /* x - trunc(x) */                    \
    X(HARDTANH, hardtanh, AD_K_READS_X, min_val, max_val) /* relu6 */     \
    X(HARDSIGMOID, hardsigmoid, AD_K_READS_X, -, -)                       \
    X(HARDSWISH, hardswish, AD_K_READS_X, -, -)                           \
    X(MISH, mish, AD_K_READS_X, -, -)                                     \
    X(LOGSIGMOID, logsigmoid, AD_K_READS_X, -, -)                         \
    X(SOFTSIGN, softsign, AD_K_READS_X, -, -)                             \
    X(TANHSHRINK, tanhshrink, AD_K_READS_X, -, -)                         \
    X(CELU, celu, AD_K_READS_X, alpha, -)

/* Elementwise two-input ops with numpy broadcasting: X(CODE, name). */
#define AD_BINARY_KINDS(X)                                                \
    X(ADD, add) X(SUB, sub) X(MUL, mul) X(DIV, div) X(POW, pow)           \
    X(MAXIMUM, maximum) X(MINIMUM, minimum) X(ATAN2, atan2)               \
    X(HYPOT, hypot) X(FMOD, fmod)                                         \
    X(REMAINDER, remainder)         /* sign of the divisor, as Python */  \
    X(LOGADDEXP, logaddexp)                                               \
    X(XLOGY, xlogy)                 /* 0 where x == 0 unless y is NaN */

/* Reductions over a set of axes: X(CODE, name, flags). */
#define AD_REDUCE_KINDS(X)                                                \
    X(SUM, sum, 0) X(MEAN, mean, 0) X(MAX, max, AD_K_SAVES_OUT)           \
    X(MIN, min, AD_K_SAVES_OUT) X(PROD, prod, AD_K_SAVES_OUT)

/* Elementwise losses between a prediction and a target of equal shape;
 * the result has the same shape (reduction is a separate op). */
#define AD_LOSS_KINDS(X)                                                  \
    X(MSE, mse) X(L1, l1) X(BCE, bce) X(BCE_LOGITS, bce_logits)            \
    X(HUBER, huber) X(SMOOTH_L1, smooth_l1)     /* a: delta, beta */

/* Comparisons into a bool tensor (not differentiable): X(CODE, name). */
#define AD_COMPARE_KINDS(X)                                               \
    X(EQ, eq) X(NE, ne) X(LT, lt) X(LE, le) X(GT, gt) X(GE, ge)

/* Bitwise ops of int64 and bool tensors: X(CODE, name). */
#define AD_BITWISE_KINDS(X) X(AND, and) X(OR, or) X(XOR, xor)

/* LAPACK decompositions of (batches of) matrices, ad_linalg: X(CODE,
 * name, flags).  Multi-output kinds pack their outputs along the last
 * axis (batch + (total,)); the Python layer unpacks them. */
#define AD_LINALG_KINDS(X)                                                \
    X(INV, inv, AD_K_SAVES_OUT)     /* A^-1 */                            \
    X(SOLVE, solve, 0)              /* X with A X = B (saves LU, X) */    \
    X(DET, det, AD_K_READS_X)       /* det A (saves LU) */                \
    X(SLOGDET, slogdet, 0)          /* (sign, log|det|) (saves LU) */     \
    X(CHOLESKY, cholesky, AD_K_SAVES_OUT)   /* L, A = L L^T */        \
    X(EIGH, eigh, AD_K_SAVES_OUT)   /* (L, V) packed, L ascending */      \
    X(EIGVALSH, eigvalsh, 0)        /* L (saves V) */                     \
    X(QR, qr, AD_K_SAVES_OUT | AD_K_READS_X)    /* (Q, R) packed */     \
    X(SVD, svd, AD_K_SAVES_OUT)     /* (U, S, Vh) packed, S descending */ \
    X(SVDVALS, svdvals, 0)          /* S (saves U, Vh) */

/* Index of the largest or smallest entry along one axis: X(CODE, name). */
#define AD_ARGREDUCE_KINDS(X) X(ARGMAX, argmax) X(ARGMIN, argmin)

#define AD_X_OP(code, name) AD_OP_##code,
typedef enum { AD_OPS(AD_X_OP) AD_OP_COUNT } ad_op;
#undef AD_X_OP
#define AD_X_KIND(code, ...) AD_U_##code,
typedef enum { AD_UNARY_KINDS(AD_X_KIND) AD_U_COUNT } ad_unary_kind;
#undef AD_X_KIND
#define AD_X_KIND(code, ...) AD_B_##code,
typedef enum { AD_BINARY_KINDS(AD_X_KIND) AD_B_COUNT } ad_binary_kind;
#undef AD_X_KIND
#define AD_X_KIND(code, ...) AD_R_##code,
typedef enum { AD_REDUCE_KINDS(AD_X_KIND) AD_R_COUNT } ad_reduce_kind;
#undef AD_X_KIND
#define AD_X_KIND(code, ...) AD_L_##code,
typedef enum { AD_LOSS_KINDS(AD_X_KIND) AD_L_COUNT } ad_loss_kind;
#undef AD_X_KIND
#define AD_X_KIND(code, ...) AD_C_##code,
typedef enum { AD_COMPARE_KINDS(AD_X_KIND) AD_C_COUNT } ad_compare_kind;
#undef AD_X_KIND
#define AD_X_KIND(code, ...) AD_W_##code,
typedef enum { AD_BITWISE_KINDS(AD_X_KIND) AD_W_COUNT } ad_bitwise_kind;
#undef AD_X_KIND
#define AD_X_KIND(code, ...) AD_A_##code,
typedef enum { AD_ARGREDUCE_KINDS(AD_X_KIND) AD_A_COUNT } ad_argreduce_kind;
#undef AD_X_KIND
#define AD_X_KIND(code, ...) AD_LA_##code,
typedef enum { AD_LINALG_KINDS(AD_X_KIND) AD_LA_COUNT } ad_linalg_kind;
#undef AD_X_KIND

/* Reductions of nll (ad_nll). */
enum { AD_NLL_NONE = 0, AD_NLL_MEAN = 1, AD_NLL_SUM = 2 };

/* The attributes of a record, one named struct per op that has any. */
typedef union {
    struct { double a, b; } unary;          /* named per kind: AD_UNARY_KINDS */
    struct { uint32_t axes; int32_t keepdims; int64_t count; } reduce;
    struct { int32_t perm[AD_MAX_DIMS]; } permute;
    struct { int32_t axis; } concat;
    struct { int32_t axis; int32_t log; } softmax;
    struct { double a; } loss;              /* huber delta, smooth_l1 beta */
    struct {
        int64_t ignore_index; int32_t from_logits, reduction;
        double label_smoothing;
    } nll;
    struct { double p; } dropout;
    struct { int32_t axis, reverse; } cumsum;
    struct { int32_t axis, keepdim; } argreduce;    /* axis -1: flattened */
    struct { int32_t axis, wrap; } take;            /* take and put_add */
    struct { int32_t axis, descending; } argsort;
    struct { int32_t upper, full; } linalg;   /* eigh UPLO, qr/svd mode */
    struct { int32_t axis, is_max; } cumarg;
    /* conv: 2-d (conv1d has H = 1); transposed: conv_transpose, whose
     * output size adds output padding oph, opw */
    struct {
        int32_t sh, sw, ph, pw, dh, dw, groups, transposed, oph, opw;
    } conv;
    /* unfold and fold (torch.nn.functional): H, W is fold's output size */
    struct { int32_t kh, kw, sh, sw, ph, pw, dh, dw, H, W; } unfold;
    /* pool_argmax and avg_pool: window, output size, adaptive bins, avg's
     * divisor rule and direction (adjoint: the transpose, its backward) */
    struct {
        int32_t kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, adaptive,
            count_include_pad;
        int64_t divisor;
        int32_t adjoint;
    } pool;
    /* upsample: kind (AD_UP_*), the image's size ih, iw and the
     * resized one oh, ow, the user's scale factors sh, sw (0: none, the
     * size ratio), one_d (linear: no interpolation along H); adjoint:
     * the transpose, (N, C, oh, ow) added back into (N, C, ih, iw) */
    struct {
        int32_t kind, align_corners, one_d, adjoint;
        int64_t ih, iw, oh, ow;
        double sh, sw;
    } upsample;
    /* norm: x viewed as rows of K (layer / group norm, RMS norm); the
     * affine index of element k of row r is ((r % G) K + k) / S */
    struct { double eps; int64_t K, G, S; int32_t rms, has_w, has_b; } norm;
    /* batch_norm: training (batch statistics; the running ones updated
     * in place when present), momentum (cumulative: 1 / the int64
     * num_batches_tracked input) */
    struct {
        double eps, momentum;
        int32_t training, has_w, has_b, has_running, cumulative;
    } batch_norm;
    /* lstm_seq / gru_seq: steps taken from the last to the first
     * (reverse), whether b_hh is an input */
    struct { int32_t reverse, has_b; } rnn_seq;
    /* gather whose indices are rows of len consecutive elements, row r
     * starting at base + r stride (a slice: basic indexing): copied and
     * added back row by row; len 0: any indices */
    struct { int64_t base, stride, len, rows; } gather;
} ad_attrs;

/* One attribute, for readers that go by name (the Python graph view):
 * its name, type and offset in ad_attrs. */
typedef enum {
    AD_ATTR_F64, AD_ATTR_I64, AD_ATTR_I32, AD_ATTR_U32,
    AD_ATTR_DIMS                /* int32 per dimension of the output */
} ad_attr_type;
typedef struct {
    const char *name;
    int type;                   /* ad_attr_type */
    int offset;
} ad_attrdef;

/* What a record saves besides its inputs, as the graph reader sees it
 * (ad_node_info.saved). */
typedef enum {
    AD_SAVED_NONE,
    AD_SAVED_OUT,               /* the output's values (not exported) */
    AD_SAVED_LIKE_OUT,          /* values shaped and typed like the output
                                   (where's condition, dropout's mask) */
    AD_SAVED_IDX_OUT,           /* int64 per output element (gather) */
    AD_SAVED_IDX_IN,            /* int64 per input element (scatter) */
    AD_SAVED_LABELS             /* int64 per row of input 0 (nll) */
} ad_saved_kind;

int ad_op_count(void);
/* NULL for an unknown code. */
const char *ad_op_name(int op);
/* Inputs of op: >= 0, or -1 for any number. */
int ad_op_arity(int op);
int ad_op_saved(int op);                /* ad_saved_kind */
/* Kinds of op (0 for an op without kinds), their names and AD_K_* flags;
 * ad_kind_param names a unary kind's attribute a (i = 0) or b (i = 1),
 * NULL when the kind does not use it. */
int ad_op_kinds(int op);
/* 0 for an op without a gradient (its output is int64 or bool). */
int ad_op_differentiable(int op);
const char *ad_kind_name(int op, int kind);
unsigned ad_kind_flags(int op, int kind);
const char *ad_kind_param(int op, int kind, int i);
/* Attributes of op: their count, and each one (NULL out of range). */
int ad_op_nattrs(int op);
const ad_attrdef *ad_op_attr(int op, int i);

typedef struct ad_buffer ad_buffer;
typedef struct ad_tape ad_tape;

/* A tensor.  Fields are read by the Cython layer; only the engine writes. */
typedef struct ad_tensor {
    int64_t refcnt;             /* Python handles + records using it */
    ad_buffer *buf;             /* contiguous data, possibly shared */
    int64_t size;               /* product of shape */
    int32_t ndim;
    uint8_t dtype;              /* ad_dtype */
    uint8_t requires_grad;
    uint8_t retains_grad;       /* keep .grad on a non-leaf */
    uint8_t flags;              /* AD_T_* bits */
    int64_t shape[AD_MAX_DIMS];
    ad_tape *tape;              /* tape holding the producing record, */
    int64_t rec;                /* and its index; NULL/-1 for a leaf */
    struct ad_tensor *link;     /* engine-private: release queues */
    struct ad_tensor *grad;     /* accumulated gradient (.grad); read it
                                   through ad_get_grad */
} ad_tensor;

/* flags: the tensor is a copy of what PyTorch would return as a view
 * (permute, broadcast_to, basic indexing): an in-place write into it
 * would not reach the tensor it was taken from, so the Python layer
 * refuses one.  reshape and detach share the buffer and keep the bit. */
#define AD_T_COPY_OF_VIEW 1

/* ---- errors -------------------------------------------------------- */
const char *ad_last_error(void);
const char *ad_status_name(ad_status s);

/* ---- BLAS: the Cython module hands these over at import ------------ */
typedef void (*ad_sgemm_fn)(char *, char *, int *, int *, int *, float *,
                            float *, int *, float *, int *, float *,
                            float *, int *);
typedef void (*ad_dgemm_fn)(char *, char *, int *, int *, int *, double *,
                            double *, int *, double *, int *, double *,
                            double *, int *);
void ad_set_blas(ad_sgemm_fn sgemm, ad_dgemm_fn dgemm);

/* LAPACK routines (Fortran calling convention, as scipy's cython_lapack
 * exports them), one float32 and one float64 pointer per name:
 * ad_set_lapack(AD_LAPACK_getrf, sgetrf, dgetrf).  The signatures are
 * LAPACK's; the Cython module checks each capsule's before handing it on. */
#define AD_LAPACK_FNS(X) X(getrf) X(getrs) X(potrf) X(trtrs) X(syevd)       \
    X(geqrf) X(orgqr) X(gesdd)
#define AD_X_LP(name) AD_LAPACK_##name,
typedef enum { AD_LAPACK_FNS(AD_X_LP) AD_LAPACK_COUNT } ad_lapack_fn_id;
#undef AD_X_LP
const char *ad_lapack_name(int which);  /* "getrf"; NULL when unknown */
void ad_set_lapack(int which, void *f32, void *f64);

/* Hooks to drop and retake the caller's lock (the GIL) around kernels
 * over large buffers; the engine calls them only in pure compute. */
typedef void *(*ad_unlock_fn)(void);
typedef void (*ad_relock_fn)(void *);
void ad_set_lock_hooks(ad_unlock_fn unlock, ad_relock_fn relock);

/* ---- threads (threads.c) ------------------------------------------ */
/* The engine's thread pool: ad_parallel_for(n, grain, fn, ctx) runs
 * fn(ctx, lo, hi) over contiguous chunks of [0, n), at most one chunk per
 * thread and none shorter than grain (except the last), the calling thread
 * running the first; it returns when every chunk is done.  Serial (one
 * fn(ctx, 0, n)) for one thread, n < 2 grain, a nested call, or when the
 * pool is busy with another thread's job.  fn must only compute: no
 * allocation from the per-thread pools, no tape, no error. */
typedef void (*ad_range_fn)(void *ctx, int64_t lo, int64_t hi);
void ad_parallel_for(int64_t n, int64_t grain, ad_range_fn fn, void *ctx);
void ad_set_num_threads(int n);         /* n >= 1 (checked by the caller) */
int ad_get_num_threads(void);
/* Flush subnormal floats to zero (FTZ) and read subnormal inputs as zero
 * (DAZ) on the calling thread, on = 1, or not (0): 1 where the cpu has
 * the mode (x86), else 0 and nothing changes.  The pool's and the crew's
 * threads take their caller's mode for each job.  ad_flush_denormal: the
 * calling thread's mode. */
int ad_set_flush_denormal(int on);
int ad_flush_denormal(void);
void ad_set_blas_threads(int n);        /* as ad.set_num_threads set it */
int ad_get_blas_threads(void);
/* Whether this thread's m x n x k product runs on one BLAS thread: the
 * BLAS set to one, this thread alone (ad_alone_swap, a crew task), or
 * fewer than 2^22 multiply-adds.  ad_blas_begin / ad_blas_end bracket
 * every BLAS product: pinned to one thread where so, else counted as a
 * threaded call (spinning pool and crew threads give up their cores). */
int ad_blas_one_thread(int64_t m, int64_t n, int64_t k);
/* Whether the engine's own float32 GEMM kernel (csrc/gemm.c) runs on this
 * cpu (AVX-512F): linear's float32 products then run it at any thread
 * count, with the same bits at each. */
int ad_sgemm_packed_ok(void);
int ad_blas_begin(int64_t m, int64_t n, int64_t k);
void ad_blas_end(int how);
/* This thread runs alone (1) or not (0) from now; the previous setting.
 * Alone: its ad_parallel_for runs inline and its BLAS products on one
 * thread (a replica among replicas on the other cores). */
int ad_alone_swap(int on);
/* How long an idle pool or crew thread polls before it sleeps, in
 * microseconds: AUTODIFF_SPIN_US (0 to 1000000) read at first use, else
 * 500. */
int ad_spin_us(void);
/* ad_parallel_for whose pieces call BLAS (the convolution's per-sample
 * GEMMs): while the job runs, split or not, every registered BLAS runs
 * single-threaded (its own threads would compete with the pool's for the
 * cores, OpenBLAS serializes concurrent threaded calls, and its threaded
 * dgemm's bits differ from one thread's), and gets its previous thread
 * count back after the last such job.  The BLAS's setters and
 * getters (OpenBLAS's openblas_set_num_threads / _get_num_threads, n <=
 * 4 libraries) are registered once, at import. */
typedef void (*ad_blas_set_threads_fn)(int);
typedef int (*ad_blas_get_threads_fn)(void);
void ad_parallel_for_blas(int64_t n, int64_t grain, ad_range_fn fn,
                          void *ctx);
int ad_set_blas_thread_fns(int n, ad_blas_set_threads_fn *set,
                           ad_blas_get_threads_fn *get);

/* The crew: ad_run_each(n, fn, ctx) runs fn(ctx, i) for every i in
 * [0, n) at once, i = 0 on the calling thread and each other i on a crew
 * thread of its own (created at first use, then kept: crew thread i - 1
 * always runs task i, so its per-thread pool stays warm).  Unlike the
 * pool's workers, crew threads are ordinary engine threads: fn may
 * allocate, record, sweep, replay and fail (its error is its thread's).
 * Runs every task serially on the caller when the crew is busy with
 * another thread's call, from inside a task, or for n > AD_MAX_CREW + 1
 * (fn's results must not depend on the thread).  Returns when all are
 * done. */
#define AD_MAX_CREW 63
typedef void (*ad_each_fn)(void *ctx, int i);
void ad_run_each(int n, ad_each_fn fn, void *ctx);

/* ---- memory -------------------------------------------------------- */
typedef struct {
    int64_t bytes_in_use;       /* bytes held by live buffers */
    int64_t bytes_pooled;       /* bytes cached in free lists */
    int64_t allocations;        /* calls to the system allocator */
    int64_t frees;              /* blocks returned to the system */
    int64_t tape_records;       /* records on this thread's tape */
    int64_t tape_live;          /* of which alive */
} ad_memory_stats;
void ad_get_memory_stats(ad_memory_stats *out);
void ad_pool_trim(void);        /* return this thread's cache to the OS */

/* ---- tensors ------------------------------------------------------- */
ad_status ad_empty(ad_dtype dt, int ndim, const int64_t *shape,
                   ad_tensor **out);
ad_status ad_full(ad_dtype dt, int ndim, const int64_t *shape, double v,
                  ad_tensor **out);
void *ad_data(const ad_tensor *t);
void ad_incref(ad_tensor *t);
void ad_decref(ad_tensor *t);
void ad_set_requires_grad(ad_tensor *t, int flag);
int ad_is_leaf(const ad_tensor *t);
/* New leaf sharing nothing with the graph: a copy of the data. */
ad_status ad_detach(ad_tensor *t, ad_tensor **out);
/* 1 when another tensor (a reshape view, a detach) shares t's buffer;
 * the record that produced t saving its output does not count. */
int ad_shares_buffer(const ad_tensor *t);
/* Bump the version of t's buffer after writing into it in place. */
void ad_mark_modified(ad_tensor *t);
/* The version counter of t's buffer (bumped by every in-place write). */
uint32_t ad_version(const ad_tensor *t);
ad_status ad_copy_data(ad_tensor *dst, const ad_tensor *src);

/* ---- the state epoch ----------------------------------------------- */
/*
 * A process-wide counter bumped whenever state that a compiled program may
 * have baked in changes: a tensor's requires_grad flag while something
 * else references it, and (from the Python layer) a module's attributes or
 * an optimizer's structure.  A program remembers the epoch at the end of
 * its capture and refuses to replay under another one (AD_RERECORD).
 */
uint64_t ad_epoch(void);
void ad_bump_epoch(void);

/* ---- grad mode (per thread) ---------------------------------------- */
int ad_grad_enabled(void);
void ad_set_grad_enabled(int flag);

/* ---- ops: each records itself when a grad-requiring input is present */
ad_status ad_unary(ad_unary_kind k, ad_tensor *x, double a, double b,
                   ad_tensor **out);
ad_status ad_binary(ad_binary_kind k, ad_tensor *x, ad_tensor *y,
                    ad_tensor **out);
/* out = cond ? x : y; cond is a 0/1 tensor, not differentiated. */
ad_status ad_where(ad_tensor *cond, ad_tensor *x, ad_tensor *y,
                   ad_tensor **out);
/* x < y etc. (broadcast, any equal dtypes) into a bool tensor. */
ad_status ad_compare(ad_compare_kind k, ad_tensor *x, ad_tensor *y,
                     ad_tensor **out);
/* x & y, x | y, x ^ y of int64 or bool tensors (equal dtypes). */
ad_status ad_bitwise(ad_bitwise_kind k, ad_tensor *x, ad_tensor *y,
                     ad_tensor **out);
/* The int64 index of the first largest/smallest entry along axis (-1:
 * over the flattened tensor), NaN counting as largest and smallest. */
ad_status ad_argreduce(ad_argreduce_kind k, ad_tensor *x, int axis,
                       int keepdim, ad_tensor **out);
/* torch.gather: out[..., j, ...] = x[..., idx[..., j, ...], ...] along
 * axis, idx an int64 tensor of x's ndim whose other dims are at most x's;
 * out has idx's shape.  Differentiable in x (idx is data: a compiled
 * replay reads its new values).  wrap: negative indices count from the
 * end (x[t]'s rule; errors in torch's indexing words). */
ad_status ad_take(ad_tensor *x, ad_tensor *idx, int axis, int wrap,
                  ad_tensor **out);
/* take's transpose: zeros of shape (nd, shape) with g added at the
 * positions idx names along axis (torch.scatter_add into zeros). */
ad_status ad_put_add(ad_tensor *g, ad_tensor *idx, int axis, int nd,
                     const int64_t *shape, ad_tensor **out);
/* The int64 permutation that sorts x along axis, stably (NaN after every
 * number ascending, before descending, as torch). */
ad_status ad_argsort(ad_tensor *x, int axis, int descending,
                     ad_tensor **out);
/* Convolution geometry: stride, padding, dilation per spatial dim (H, W),
 * groups, and for a transposed convolution its output padding. */
typedef struct {
    int stride[2], pad[2], dil[2], groups, transposed, outpad[2];
} ad_conv_params;
/* torch.nn.functional.conv2d (x (N, C, H, W), w (O, C / groups, kh, kw))
 * and, with p->transposed, conv_transpose2d (w (C, O / groups, kh, kw));
 * b (O) or NULL.  Lowered to im2col and BLAS GEMMs per group. */
ad_status ad_conv(ad_tensor *x, ad_tensor *w, ad_tensor *b,
                  const ad_conv_params *p, ad_tensor **out);
/* torch.nn.functional.unfold: x (N, C, H, W) -> (N, C kh kw, L), the
 * sliding patches; fold: its transpose, (N, C kh kw, L) -> (N, C, H, W)
 * summing overlaps.  k, st, pad, dil: (h, w) pairs. */
ad_status ad_unfold(ad_tensor *x, const int *k, const int *st,
                    const int *pad, const int *dil, ad_tensor **out);
ad_status ad_fold(ad_tensor *x, int H, int W, const int *k, const int *st,
                  const int *pad, const int *dil, ad_tensor **out);
/* Pooling windows over the last two dims of x (N, C, H, W): kernel k,
 * stride, padding, dilation (max only), the output size out (the caller
 * applies ceil_mode), or adaptive bins (torch's floor/ceil split); avg's
 * divisor: divisor if nonzero, else the window with padding
 * (count_include_pad) or without. */
typedef struct {
    int k[2], stride[2], pad[2], dil[2];
    int64_t out[2];
    int adaptive, count_include_pad;
    int64_t divisor;
} ad_pool_params;
/* The int64 flat index (ih W + iw) of each window's maximum (the first;
 * a NaN wins, the last one): (N, C, OH, OW), no gradient. */
ad_status ad_pool_argmax(ad_tensor *x, const ad_pool_params *p,
                         ad_tensor **out);
/* Max pooling: each window's maximum (N, C, OH, OW), its index kept for
 * the backward, which adds the gradient at it (pool_argmax and take in
 * one op). */
ad_status ad_max_pool(ad_tensor *x, const ad_pool_params *p,
                      ad_tensor **out);
/* Window averages (N, C, OH, OW); adjoint: the transpose, a gradient of
 * shape (N, C, OH, OW) spread back over an (H, W) image. */
ad_status ad_avg_pool(ad_tensor *x, const ad_pool_params *p, int adjoint,
                      int H, int W, ad_tensor **out);
/* torch.nn.functional.interpolate over the last two dims of x (N, C, H,
 * W) (1-d: H = 1 and one_d): nearest (torch's nearest_idx: floor(o *
 * scale), exact copies at 1x and 2x), nearest-exact (floor((o + 0.5)
 * scale)) or (bi)linear (area_pixel_compute_source_index, align_corners);
 * scale is 1 / the user's scale factor when it is positive, else in /
 * out.  adjoint: the transpose, x of shape (N, C, *out) added back into
 * an (N, C, *in) image (the backward). */
enum { AD_UP_NEAREST = 0, AD_UP_LINEAR = 1, AD_UP_NEAREST_EXACT = 2 };
typedef struct {
    int kind, align_corners, one_d;
    int64_t image[2], out[2];
    double scale[2];
} ad_upsample_params;
ad_status ad_upsample(ad_tensor *x, const ad_upsample_params *p,
                      int adjoint, ad_tensor **out);
/* Normalization over rows of K contiguous elements of x (x->size / K
 * rows): y = (x - mean) / sqrt(var + eps) * w + b, statistics per row
 * (biased variance; rms: no mean, the mean square), accumulated in
 * double.  w and b (either may be NULL) hold G K / S values: element k
 * of row r takes index ((r % G) K + k) / S (layer norm: G = S = 1;
 * group norm: rows of (C / G) S, one weight per channel). */
ad_status ad_norm(ad_tensor *x, ad_tensor *w, ad_tensor *b, int64_t K,
                  int64_t G, int64_t S, int rms, double eps, ad_tensor **out);
/* torch's batch_norm over x (N, C, *): statistics per channel over N and
 * the other dims (training: the batch's, biased variance to normalize;
 * else the running ones); w, b, running_mean, running_var may be NULL
 * (training without running stats).  In training the running stats are
 * updated in place: r = momentum new + (1 - momentum) r, with the
 * unbiased variance; nbt non-NULL (int64, one value): momentum is 1 /
 * nbt, read when the op runs (torch's cumulative average). */
ad_status ad_batch_norm(ad_tensor *x, ad_tensor *w, ad_tensor *b,
                        ad_tensor *running_mean, ad_tensor *running_var,
                        ad_tensor *nbt, int training, double momentum,
                        double eps, ad_tensor **out);
/* One LSTM step (torch's gate order i, f, g, o): gi and gh (B, 4H) the
 * input and hidden projections (biases included), c (B, H) the previous
 * cell state.  gates = gi + gh; c' = sigmoid(f) c + sigmoid(i) tanh(g),
 * h' = sigmoid(o) tanh(c').  The output packs (h', c') as (B, 2H). */
ad_status ad_lstm_cell(ad_tensor *gi, ad_tensor *gh, ad_tensor *c,
                       ad_tensor **out);
/* One GRU step (torch's gate order r, z, n): gi and gh (B, 3H) the input
 * and hidden projections (biases included), h (B, H) the previous state.
 * r = sigmoid(gi_r + gh_r), z = sigmoid(gi_z + gh_z),
 * n = tanh(gi_n + r gh_n), h' = (h - n) z + n: (B, H). */
ad_status ad_gru_cell(ad_tensor *gi, ad_tensor *gh, ad_tensor *h,
                      ad_tensor **out);
/* One direction of a recurrent layer over a whole sequence, one record:
 * xp (T, B, G H) the input projections of every step (x W_ih^T + b_ih),
 * h0 (and c0) (B, H), w_hh (G H, H), b_hh (G H) or NULL.  Each step is
 * one GEMM (h W_hh^T + b_hh) and the cell's gate kernel; reverse takes
 * the steps from T - 1 down to 0.  lstm_seq returns (T, B, 2H): (h_t,
 * c_t) of every step; gru_seq (T, B, H): h_t.  The backward is one
 * reverse sweep over the steps (one GEMM each for the hidden state's
 * gradient), then one GEMM over all steps for W_hh's gradient. */
ad_status ad_lstm_seq(ad_tensor *xp, ad_tensor *h0, ad_tensor *c0,
                      ad_tensor *w_hh, ad_tensor *b_hh, int reverse,
                      ad_tensor **out);
ad_status ad_gru_seq(ad_tensor *xp, ad_tensor *h0, ad_tensor *w_hh,
                     ad_tensor *b_hh, int reverse, ad_tensor **out);
/* axes_mask bit i set: reduce axis i. */
ad_status ad_reduce(ad_reduce_kind k, ad_tensor *x, uint32_t axes_mask,
                    int keepdims, ad_tensor **out);
ad_status ad_reshape(ad_tensor *x, int ndim, const int64_t *shape,
                     ad_tensor **out);
ad_status ad_permute(ad_tensor *x, const int *perm, ad_tensor **out);
ad_status ad_broadcast_to(ad_tensor *x, int ndim, const int64_t *shape,
                          ad_tensor **out);
ad_status ad_concat(int n, ad_tensor **xs, int axis, ad_tensor **out);
/* out.flat[i] = x.flat[idx[i]]; out has the given shape. */
ad_status ad_gather(ad_tensor *x, const int64_t *idx, int ndim,
                    const int64_t *shape, ad_tensor **out);
ad_status ad_cast(ad_tensor *x, ad_dtype dt, ad_tensor **out);
/* A copy with its own buffer (cast to dt), recorded like a cast. */
ad_status ad_clone(ad_tensor *x, ad_dtype dt, ad_tensor **out);
/* The transpose of gather: out (of the given shape) starts at zero and
 * out.flat[idx[i]] += g.flat[i]; repeated indices accumulate. */
ad_status ad_scatter_add(ad_tensor *g, const int64_t *idx, int ndim,
                         const int64_t *shape, ad_tensor **out);
/* Matrix product of 2-D or batched 3-D tensors (batch may broadcast). */
ad_status ad_matmul(ad_tensor *x, ad_tensor *y, ad_tensor **out);
/* The dense layer x W^T + b in one record: x (N, in), W (out, in), b (out)
 * or NULL; no transposed copy of W is made. */
ad_status ad_linear(ad_tensor *x, ad_tensor *w, ad_tensor *b,
                    ad_tensor **out);
/* relu(x W^T + b) in one record (nn.Sequential's Linear then ReLU): the
 * two ops' bits, the ReLU in the product's output pass. */
ad_status ad_linear_relu(ad_tensor *x, ad_tensor *w, ad_tensor *b,
                         ad_tensor **out);
/* A LAPACK decomposition of the square matrices in the last two dims of
 * xs[0] (batched over the leading dims; float32 or float64), n inputs:
 * SOLVE takes B (batch + (n, k), the batch dims equal to A's) as xs[1].
 * Outputs: INV, CHOLESKY batch + (n, n); SOLVE batch + (n, k); DET
 * batch; SLOGDET batch + (2,) = (sign, log|det|); EIGH batch + (n + n*n,)
 * = (eigenvalues, eigenvectors as columns, row-major), EIGVALSH batch +
 * (n,), reading A's lower triangle (upper: its upper one); QR of m x n
 * matrices batch + (m*c + c*n,) = (Q m x c, R c x n), c = min(m, n), or
 * m when full (mode='complete'); SVD batch + (m*uc + k + vr*n,) = (U m x
 * uc, S (k,), Vh vr x n), k = min(m, n), uc = vr = k, or m and n when
 * full (full_matrices); SVDVALS batch + (k,).  A singular matrix (inv,
 * solve; slogdet's backward), a matrix that is not positive definite
 * (cholesky) fails with AD_ERR_LINALG and torch's message. */
ad_status ad_linalg(ad_linalg_kind k, int n, ad_tensor **xs, int upper,
                    int full, ad_tensor **out);
ad_status ad_softmax(ad_tensor *x, int axis, int log, ad_tensor **out);
/* Running sums along axis (from the end when reverse): torch.cumsum;
 * float tensors accumulate in double, int64 wraps (bool refused). */
ad_status ad_cumsum(ad_tensor *x, int axis, int reverse, ad_tensor **out);
/* Running products along axis (from the end when reverse): torch.cumprod.
 * Float tensors accumulate in double (torch's CPU kernel does), int64
 * wraps as torch's; the backward is torch's cumprod_backward (zeros
 * handled in O(n), no division by zero). */
ad_status ad_cumprod(ad_tensor *x, int axis, int reverse, ad_tensor **out);
/* The int64 indices of torch.cummax (is_max) / cummin along axis: an
 * entry takes over when it is >= (<=) the running extreme or NaN (ties
 * take the later index; after a NaN, only a later NaN takes over).  Any
 * dtype, no gradient (the values are take(x, indices)). */
ad_status ad_cumarg(ad_tensor *x, int axis, int is_max, ad_tensor **out);
ad_status ad_loss(ad_loss_kind k, ad_tensor *pred, ad_tensor *target,
                  ad_tensor **out);
/* The same with the kind's attribute a (huber: delta, smooth_l1: beta). */
ad_status ad_loss_a(ad_loss_kind k, ad_tensor *pred, ad_tensor *target,
                    double a, ad_tensor **out);
/* Negative log-likelihood of integer labels: logits (N, C), labels of
 * length N.  With from_logits the log-softmax is fused in (cross
 * entropy); otherwise x holds log-probs.  reduction: AD_NLL_NONE gives
 * the (N,) per-sample losses, AD_NLL_SUM their sum, AD_NLL_MEAN the sum
 * over the count of labels that are not ignore_index (NaN when none). */
ad_status ad_nll(ad_tensor *x, const int64_t *labels, int64_t ignore_index,
                 int from_logits, int reduction, ad_tensor **out);
/* The same with the labels an int64 tensor of shape (N,): a compiled
 * replay reads the tensor's current values (an argument, an earlier op's
 * output or a constant tensor). */
ad_status ad_nll_labels(ad_tensor *x, ad_tensor *labels,
                        int64_t ignore_index, int from_logits, int reduction,
                        ad_tensor **out);
/* torch's full form: x (N, C, d1, ...) with labels (N, d1, ...) (the
 * caller's memory, or the int64 tensor lt when labels is NULL); weight
 * NULL or (C,) class weights (no gradient; the mean divides by the sum
 * of the weights of the labels that are not ignored); label_smoothing
 * in [0, 1] (torch's: (1 - e) nll + e / C sum_c -w_c logp_c). */
ad_status ad_nll_full(ad_tensor *x, const int64_t *labels, ad_tensor *lt,
                      ad_tensor *weight, int64_t ignore_index,
                      int from_logits, double label_smoothing,
                      int reduction, ad_tensor **out);

/* ---- randomness (ops_random.c) ------------------------------------ */
/* One process-wide Philox4x32-10 stream: key = seed, counter = offset,
 * advanced atomically by every draw. */
void ad_manual_seed(uint64_t seed);
void ad_get_rng_state(uint64_t *seed, uint64_t *offset);
void ad_set_rng_state(uint64_t seed, uint64_t offset);
/* Replica streams (Trainer(replicas=N)): a step of N replicas starts
 * them all at the global offset, replica 0 keyed by the seed itself (its
 * draws are those of a one-replica step), replica r > 0 by a key mixed
 * from (seed, r); ad_rng_stream_swap() makes one the calling thread's
 * stream (NULL: back to the global one) and returns the previous, and
 * ad_rng_replicas_end() moves the global offset past the most blocks
 * any replica drew, so every key's blocks are drawn once. */
typedef struct {
    uint64_t seed, offset;
} ad_rng_stream;
void ad_rng_replicas_begin(ad_rng_stream *s, int n);
void ad_rng_replicas_end(const ad_rng_stream *s, int n);
ad_rng_stream *ad_rng_stream_swap(ad_rng_stream *s);
/* out = x * mask / (1 - p), each mask element 0 with probability p, drawn
 * from the stream (again at every replay); 0 <= p < 1. */
ad_status ad_dropout(ad_tensor *x, double p, ad_tensor **out);

/* ---- the recorded graph, for the differentiable backward ------------ */
/* What the record that produced a tensor holds: its op and kind, its
 * attributes (by name: ad_op_attr), and what it saved (ad_op_saved says
 * the layout; NULL when nothing is exported). */
typedef struct {
    int op;                     /* ad_op; -1 for a leaf */
    int kind, nin;
    ad_attrs attrs;
    const void *saved;
    void *ext;                  /* a custom op's context */
} ad_node_info;
/* Describe t's record.  Fails (AD_ERR_STATE) when the graph was freed by
 * a backward() or a tensor it needs was modified in place. */
ad_status ad_node(const ad_tensor *t, ad_node_info *info);
/* Input i of t's record (borrowed). */
ad_tensor *ad_node_input(const ad_tensor *t, int i);

/* Custom differentiable ops (autodiff.Function).  The backward hook gets
 * the op's context and the gradient of the output, and fills gin[i] with
 * a new reference (or NULL for none) shaped like input i; it runs inside
 * backward(), so it must take the caller's lock itself.  release drops a
 * context when its record dies. */
typedef ad_status (*ad_custom_bw_fn)(void *ctx, ad_tensor *gout, int nin,
                                     ad_tensor **gin);
typedef void (*ad_custom_release_fn)(void *ctx);
void ad_set_custom_hooks(ad_custom_bw_fn backward,
                         ad_custom_release_fn release);
/* Record out = a view of y (computed without recording) as a custom op on
 * inputs xs; ctx is owned by the record from here on (released with it,
 * also on failure). */
ad_status ad_custom(int n, ad_tensor **xs, ad_tensor *y, void *ctx,
                    ad_tensor **out);

/* ---- reverse mode -------------------------------------------------- */
/* Seed root with grad (or ones when NULL and root has one element) and
 * sweep the tape.  Leaf gradients accumulate into ->grad. */
ad_status ad_backward(ad_tensor *root, ad_tensor *grad, int retain_graph);
/* The two halves of ad_backward: the sweep only computes (safe without the
 * GIL: it changes no reference count of an existing tensor); release then
 * consumes the swept records when the graph is not retained. */
ad_status ad_backward_sweep(ad_tensor *root, ad_tensor *grad);
void ad_backward_release(ad_tensor *root);

/* ---- fused in-place updates (no graph) ----------------------------- */
/* y += alpha * x over equal-size tensors. */
ad_status ad_axpy_(ad_tensor *y, double alpha, const ad_tensor *x);
ad_status ad_fill_(ad_tensor *t, double v);

/* ---- optimizers: one call updates every parameter ------------------ */
typedef enum {
    AD_OPT_SGD, AD_OPT_ADAM, AD_OPT_ADAMW, AD_OPT_RMSPROP,
    AD_OPT_ADAGRAD, AD_OPT_ADADELTA, AD_OPT_ADAMAX, AD_OPT_NADAM,
    AD_OPT_RADAM,
    /* gradient clipping (torch.nn.utils): the grads change, not the
     * parameters; no state, no step counted */
    AD_OPT_CLIP_NORM, AD_OPT_CLIP_VALUE
} ad_optim_kind;

typedef struct {
    int kind;                   /* ad_optim_kind */
    double lr, weight_decay;
    double momentum, dampening; /* SGD, RMSprop (momentum) */
    int nesterov;               /* SGD */
    double beta1, beta2, eps;   /* Adam(W); eps also RMSprop */
    int amsgrad;                /* Adam(W) */
    double alpha;               /* RMSprop */
    int centered;               /* RMSprop */
    int maximize;               /* every kind: step along +grad */
    double lr_decay;            /* Adagrad */
    double rho;                 /* Adadelta */
    double momentum_decay;      /* NAdam */
    int decoupled;              /* NAdam, RAdam: decoupled weight decay */
    double clip;                /* CLIP_NORM: max_norm; CLIP_VALUE: value */
    double norm_type;           /* CLIP_NORM (inf: HUGE_VAL) */
    int error_if_nonfinite;     /* CLIP_NORM */
    ad_tensor *total;           /* CLIP_NORM: receives the total norm (one
                                   float32/float64 element) */
} ad_optim_cfg;

/* Update params[i] from params[i]->grad (skipped when NULL) using state
 * tensors state[3*i + 0..2] shaped like the parameter:
 *   SGD: momentum buffer;  Adam/AdamW: exp_avg, exp_avg_sq, max_exp_avg_sq;
 *   RMSprop: square_avg, grad_avg (centered), momentum buffer;
 *   Adagrad: sum;  Adadelta: square_avg, acc_delta;  Adamax: exp_avg,
 *   exp_inf;  RAdam: exp_avg, exp_avg_sq;  NAdam: exp_avg, exp_avg_sq and
 *   mu_product (one element, float32 or float64, updated in its dtype).
 * CLIP_NORM (torch's clip_grad_norm_): the total norm of order norm_type
 * of every present grad (each grad's norm in its dtype, then the norm of
 * those) goes to cfg->total; each grad is multiplied by
 * min(clip / (total + 1e-6), 1); a non-finite total with
 * error_if_nonfinite fails (AD_ERR_STATE) before anything changes.
 * CLIP_VALUE clamps every grad to [-clip, clip].
 * steps[i] counts the updates of params[i] and is incremented. */
/* While capturing, the program keeps the pointers cfg, params, state and
 * steps (not copies): they must outlive it, and a replay uses the
 * configuration as it is then (a changed learning rate applies). */
ad_status ad_optim_step(const ad_optim_cfg *cfg, int n, ad_tensor **params,
                        ad_tensor **state, int64_t *steps);

/* Gradients to and from one contiguous buffer (autodiff.distributed's
 * fused allreduce): every params[i] is of dtype dt (float32 or float64)
 * and buf holds nbuf >= sum(sizes) + n elements of it.  Pack writes
 * scale * params[i]->grad (zeros without a grad) one after the other,
 * then n flags (1: has a grad, 0: none); unpack sets each existing grad
 * to scale * its segment, in place.  Both run without the GIL and refuse
 * (AD_ERR_STATE) while capturing: a collective cannot be replayed. */
ad_status ad_grads_pack(int n, ad_tensor **params, int dt, void *buf,
                        int64_t nbuf, double scale);
ad_status ad_grads_unpack(int n, ad_tensor **params, int dt,
                          const void *buf, int64_t nbuf, double scale);

/* ---- overlapped gradient reduction (tape.c, overlap.c) -------------- */
/*
 * A watch (autodiff.distributed's DistributedOptimizer(overlap=True),
 * PyTorch DDP's reducer) hands gradient buckets to a communication thread
 * while the backward sweep still runs.  Leaves (float32/float64, one dtype
 * per bucket) are grouped in nbuckets buckets: bucket b holds leaves
 * start[b] .. start[b+1]-1 and a buffer (owned by the watch, ad_watch_buf)
 * of sum(sizes) + n + 2 elements of its dtype, laid out as ad_grads_pack
 * lays it out (scale * grad, zeros without one; n flags) followed by the
 * weight and a failure flag (1: this rank's sweep failed).
 *
 * ad_watch_arm(w, weight) installs w on the calling thread: the next
 * backward sweep on that thread whose tape consumes a watched leaf
 * computes, for each watched leaf, the lowest record that consumes it; as
 * the downward walk passes below it the leaf's gradient is final, and a
 * bucket whose leaves are all final is packed (weight * (.grad + what the
 * sweep adds), i.e. weight * the .grad the sweep will leave) and handed to
 * ready(ctx, b), from the sweeping thread, without the GIL.  The last
 * bucket is packed after the deposit, with the sweep's outcome in its
 * failure flag; a failed sweep hands every remaining bucket over with the
 * failure flag set (nothing is deposited, as always), so the other ranks'
 * collectives still complete.  Every bucket is handed over exactly once
 * per arming.  A sweep on that thread consuming a watched leaf after the
 * buckets were handed over (and before the next arm) fails with
 * AD_ERR_STATE, changing nothing; a sweep consuming none leaves w alone.
 *
 * ad_watch_flush() hands over (from the current .grad) every bucket not
 * handed over yet: a step without a backward on the arming thread.
 * ad_watch_check() returns the first watched leaf whose .grad was
 * replaced or written after the sweep handed its bucket over (it would
 * differ from the reduced value), -1 when none.  Sweeps of ad.compile replays and
 * recordings refuse (AD_ERR_STATE) while a watch is armed on the thread.
 * ad_watch_close() (any thread) retires w at once: the arming thread's
 * next arm or sweep lets go of it as if it were idle, so a new watch can be
 * armed there before w's owner frees it.  ad_watch_free() closes and may
 * run on any thread; the memory lives until the arming thread's next sweep
 * (or exit) lets go of it.
 */
typedef struct ad_watch ad_watch;
typedef void (*ad_ready_fn)(void *ctx, int bucket);
ad_status ad_watch_new(int n, ad_tensor **leaves, int nbuckets,
                       const int *start, ad_ready_fn ready, void *ctx,
                       void (*ctx_free)(void *ctx), ad_watch **out);
/* Bucket b's buffer and its length in elements. */
void *ad_watch_buf(ad_watch *w, int b, int64_t *len);
ad_status ad_watch_arm(ad_watch *w, double weight);
void ad_watch_disarm(ad_watch *w);      /* the arming thread only */
/* 0: idle (not armed), 1: armed, 2: every bucket handed over */
int ad_watch_state(const ad_watch *w);
ad_status ad_watch_flush(ad_watch *w);
int ad_watch_check(ad_watch *w);
void ad_watch_close(ad_watch *w);
void ad_watch_free(ad_watch *w);

/* A mailbox of n slots: ad_mailbox_post (an ad_ready_fn) marks slot b,
 * ad_mailbox_take blocks until slot b is marked, clears it and returns 0,
 * or returns -1 once the mailbox is closed.  Call take without the GIL. */
typedef struct ad_mailbox ad_mailbox;
ad_mailbox *ad_mailbox_new(int n);
void ad_mailbox_post(void *mb, int b);
int ad_mailbox_take(ad_mailbox *mb, int b);
void ad_mailbox_close(ad_mailbox *mb);
void ad_mailbox_free(void *mb);

/* ---- compiled steps (program.c) ------------------------------------ */
/*
 * ad_capture_begin() starts recording everything this thread does --
 * every op (with or without grad), backward sweeps, optimizer steps,
 * .grad assignments and in-place writes -- into a program, until
 * ad_capture_end().  ad_program_run() replays it on the same buffers.
 * Data copied into a registered input (ad_capture_input) before a run is
 * seen by the replay; everything Python read during the capture is
 * frozen.
 */
typedef struct ad_program ad_program;
ad_status ad_capture_begin(ad_program **out);
ad_status ad_capture_input(ad_program *p, const void *ptr, size_t nbytes);
ad_status ad_capture_end(ad_program *p);
int ad_capturing(void);
ad_status ad_program_run(ad_program *p);
/* Replay n programs (at most AD_MAX_CREW + 1) at once on the crew
 * (ad_run_each), program i with streams[i] as its thread's random
 * stream (streams may be NULL).  Every program is checked first: when
 * any is stale, AD_RERECORD and none runs; a program that is running, or
 * given twice, is an error.  A failing replay does not stop the others;
 * the first failure (in program order) is returned with its message,
 * prefixed by its index. */
ad_status ad_programs_run(ad_program **ps, int n, ad_rng_stream *streams);
int64_t ad_program_size(const ad_program *p, int64_t *records);
/* Elements written by the program's forward records: a size hint. */
int64_t ad_program_work(const ad_program *p);
void ad_program_free(ad_program *p);

/* Fill dst (any dtype) from dst->size values at src, of kind src_kind:
 * AD_F32, AD_F64 or AD_SRC_I64 (int64; converted as ad_cast converts).
 * While capturing, src must lie in a registered input, and every replay
 * repeats the conversion with the input's current contents. */
#define AD_SRC_I64 AD_I64
ad_status ad_fill_from(ad_tensor *dst, const void *src, int src_kind);

/* Zero t->grad in place if t has one (recorded when capturing: a replay
 * zeroes whatever grad t has then). */
ad_status ad_zero_grad(ad_tensor *t);
/* Replace t->grad (NULL clears it); recorded when capturing.  Refuses
 * (AD_ERR_VALUE, nothing changed) a g whose own .grad chain leads back to
 * t: that cycle could never be freed. */
ad_status ad_set_grad(ad_tensor *t, ad_tensor *g);
/* A new reference to t->grad (NULL when none), taken under the grad lock
 * so that a backward() depositing on another thread is never half seen. */
ad_tensor *ad_get_grad(ad_tensor *t);

#ifdef __cplusplus
}
#endif
#endif /* AUTODIFF_H */

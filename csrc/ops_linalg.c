/*
 * ops_linalg.c -- matrix products through the BLAS handed to ad_set_blas.
 */
#include "ad_impl.h"

#include <limits.h>

static ad_status fw_matmul(ad_record *r), fw_linear(ad_record *r);

typedef struct {
    int64_t B, bx, by, m, k, n;
} mm_dims;

static ad_status
mm_check(const ad_tensor *x, const ad_tensor *y, mm_dims *d)
{
    char s1[AD_SHAPE_BUF], s2[AD_SHAPE_BUF];
    int nd = x->ndim;
    if (!ad_blas_ready()) {
        return ad_error(AD_ERR_NOBLAS, "matmul: no BLAS was registered "
                        "with the engine");
    }
    if (x->dtype != y->dtype) {
        return ad_error(AD_ERR_TYPE, "matmul: dtypes %s and %s differ",
                        ad_dtype_name(x->dtype), ad_dtype_name(y->dtype));
    }
    int ok = (nd == 2 || nd == 3) && y->ndim == nd &&
             x->shape[nd - 1] == y->shape[nd - 2];
    d->bx = nd == 3 ? x->shape[0] : 1;
    d->by = nd == 3 ? y->shape[0] : 1;
    ok = ok && (d->bx == d->by || d->bx == 1 || d->by == 1);
    if (!ok) {
        return ad_error(AD_ERR_SHAPE, "matmul: shapes %s and %s are not "
                        "aligned (the last dimension of the first must equal "
                        "the second-to-last of the second)",
                        ad_shape_str(x->ndim, x->shape, s1, sizeof(s1)),
                        ad_shape_str(y->ndim, y->shape, s2, sizeof(s2)));
    }
    /* numpy broadcasting: a batch of 1 takes the other's size, even 0
     * (max() would make (1, m, k) @ (0, k, n) read the empty operand). */
    d->B = d->bx == 1 ? d->by : d->bx;
    d->m = x->shape[nd - 2];
    d->k = x->shape[nd - 1];
    d->n = y->shape[nd - 1];
    if (d->m > INT_MAX || d->k > INT_MAX || d->n > INT_MAX) {
        return ad_error(AD_ERR_VALUE, "matmul: dimensions above %d are not "
                        "supported by the BLAS interface", INT_MAX);
    }
    return AD_OK;
}

ad_status
ad_matmul(ad_tensor *x, ad_tensor *y, ad_tensor **out)
{
    mm_dims d = {0};
    ad_tensor *o, *xs[2] = {x, y};
    ad_record c;
    ad_status s = mm_check(x, y, &d);
    if (s) {
        return s;
    }
    int64_t shape[3] = {d.B, d.m, d.n};
    int nd = x->ndim;
    if ((s = ad_new(x->dtype, nd, nd == 3 ? shape : shape + 1, &o))) {
        return s;
    }
    ad_call_init(&c, &ad_def_matmul, 0, 2, xs, o);
    return ad_call_run(&c, d.B * d.m * d.n * d.k, out);
}

static ad_status
fw_matmul(ad_record *r)
{
    mm_dims d = {0};
    ad_tensor *x = r->in[0], *y = r->in[1], *o = r->out;
    ad_status s = mm_check(x, y, &d);
    if (s) {
        return s;
    }
    const ad_kernels *K = ad_k(x->dtype);
    size_t isz = ad_itemsize(x->dtype);
    for (int64_t b = 0; b < d.B; b++) {
        const char *X = (const char *)ad_data(x) +
                        (size_t)((d.bx == 1 ? 0 : b) * d.m * d.k) * isz;
        const char *Y = (const char *)ad_data(y) +
                        (size_t)((d.by == 1 ? 0 : b) * d.k * d.n) * isz;
        char *O = (char *)ad_data(o) + (size_t)(b * d.m * d.n) * isz;
        K->gemm(0, 0, d.m, d.n, d.k, X, d.k, Y, d.n, 0.0, O, d.n);
    }
    return AD_OK;
}

/* dX = dC Y^T, dY = X^T dC; a broadcast batch sums over the batch. */
static ad_status
bw_matmul(ad_record *r, ad_buffer **g)
{
    mm_dims d = {0};
    ad_tensor *x = r->in[0], *y = r->in[1];
    ad_status s = mm_check(x, y, &d);
    if (s) {
        return s;
    }
    const ad_kernels *K = ad_k(x->dtype);
    size_t isz = ad_itemsize(x->dtype);
    const char *G = AD_BUF_DATA(*g);
    for (int which = 0; which < 2; which++) {
        ad_tensor *t = which ? y : x;
        if (!t->requires_grad) {
            continue;
        }
        ad_buffer *gt = ad_buf_alloc(ad_nbytes(t));
        if (!gt) {
            return ad_error(AD_ERR_NOMEM, "out of memory in backward");
        }
        int64_t bt = which ? d.by : d.bx;
        for (int64_t b = 0; b < d.B; b++) {
            const char *X = (const char *)ad_data(x) +
                            (size_t)((d.bx == 1 ? 0 : b) * d.m * d.k) * isz;
            const char *Y = (const char *)ad_data(y) +
                            (size_t)((d.by == 1 ? 0 : b) * d.k * d.n) * isz;
            const char *Gb = G + (size_t)(b * d.m * d.n) * isz;
            double beta = (bt == 1 && b > 0) ? 1.0 : 0.0;
            char *D = (char *)AD_BUF_DATA(gt) +
                      (size_t)((bt == 1 ? 0 : b) *
                               (which ? d.k * d.n : d.m * d.k)) * isz;
            if (which == 0) {
                K->gemm(0, 1, d.m, d.k, d.n, Gb, d.n, Y, d.n, beta, D, d.k);
            }
            else {
                K->gemm(1, 0, d.k, d.n, d.m, X, d.k, Gb, d.n, beta, D, d.n);
            }
        }
        if (d.B == 0) {
            ad_kany(t->dtype)->fill(AD_BUF_DATA(gt), t->size, 0.0);
        }
        if ((s = ad_acc_grad(r, which, &gt, 1))) {
            return s;
        }
    }
    return AD_OK;
}

const ad_opdef ad_def_matmul = {
    .name = "matmul",
    .code = AD_OP_MATMUL, .arity = 2, .flags = AD_K_READS_X,
    .forward = fw_matmul, .backward = bw_matmul,
};

/* ---- linear: x W^T + b, the dense layer in one record ------------------ */

static ad_status
linear_call(const ad_opdef *def, ad_tensor *x, ad_tensor *w, ad_tensor *b,
            ad_tensor **out)
{
    char s1[AD_SHAPE_BUF], s2[AD_SHAPE_BUF];
    ad_tensor *o, *xs[3] = {x, w, b};
    ad_record c;
    ad_status s;
    if (!ad_blas_ready()) {
        return ad_error(AD_ERR_NOBLAS, "linear: no BLAS was registered "
                        "with the engine");
    }
    if (x->ndim != 2 || w->ndim != 2 || x->shape[1] != w->shape[1] ||
        (b && (b->ndim != 1 || b->shape[0] != w->shape[0]))) {
        char s3[AD_SHAPE_BUF] = "None";
        if (b) {
            ad_shape_str(b->ndim, b->shape, s3, sizeof(s3));
        }
        return ad_error(AD_ERR_SHAPE, "linear: input %s, weight %s and bias "
                        "%s do not fit (expected (N, in), (out, in), (out,))",
                        ad_shape_str(x->ndim, x->shape, s1, sizeof(s1)),
                        ad_shape_str(w->ndim, w->shape, s2, sizeof(s2)), s3);
    }
    if (x->dtype != w->dtype || (b && b->dtype != w->dtype)) {
        return ad_error(AD_ERR_TYPE, "linear: dtypes differ (input %s, "
                        "weight %s)", ad_dtype_name(x->dtype),
                        ad_dtype_name(w->dtype));
    }
    int64_t N = x->shape[0], in = x->shape[1], M = w->shape[0];
    if (N > INT_MAX || in > INT_MAX || M > INT_MAX) {
        return ad_error(AD_ERR_VALUE, "linear: dimensions above %d are not "
                        "supported by the BLAS interface", INT_MAX);
    }
    int64_t shape[2] = {N, M};
    if ((s = ad_new(x->dtype, 2, shape, &o))) {
        return s;
    }
    ad_call_init(&c, def, 0, b ? 3 : 2, xs, o);
    return ad_call_run(&c, N * M * in, out);
}

ad_status
ad_linear(ad_tensor *x, ad_tensor *w, ad_tensor *b, ad_tensor **out)
{
    return linear_call(&ad_def_linear, x, w, b, out);
}

ad_status
ad_linear_relu(ad_tensor *x, ad_tensor *w, ad_tensor *b, ad_tensor **out)
{
    return linear_call(&ad_def_linear_relu, x, w, b, out);
}

/* linear's float32 forward through gemm.c's kernel (ad_sgemm_xwt: W read
 * in place, x packed, the bias added in the kernel's output pass) rather
 * than BLAS after a bias prefill, where it measured faster (C harness,
 * bench/RESULTS.md): at least 16 outputs, or 8 to 15 over at least 128
 * samples (a 10-class head over 256 x 1024 inputs: 61 us against BLAS's
 * 82, and split over the pool; over 32 or 64 samples BLAS's 1.4 and 4.5
 * us beat the kernel's 1.9 and 6.5; fewer than 8 outputs run in BLAS's
 * matrix-vector path), at most 1024 samples and x's packed copy within
 * 1 MB (it stays in L2 while W's row blocks pass it; 2048 x 128 inputs
 * and 512 x 768 ones ran 10-20% slower than BLAS).  8% faster than
 * OpenBLAS for the large MLP's 256 x 1024 x 1024 product, about 2x for
 * the small MLP's 32 x 256 x 256. */
static int
linear_fw_packs(const ad_tensor *x, int64_t N, int64_t M, int64_t in)
{
    return x->dtype == AD_F32 && (M >= 16 || (M >= 8 && N >= 128)) &&
           N > 0 && in > 0 && N <= 1024 && N * in <= 262144 &&
           ad_sgemm_packed_ok();
}

/* linear's float32 forward over more than 1024 samples (past what
 * ad_sgemm_xwt takes) where BLAS would run it on its own threads: W^T
 * packed (W within 1 MB, at least 16 outputs), x read in place, the
 * product shared over the pool as the backward's products are.  Each
 * element is the same chain as ad_sgemm_xwt's.  Alone it runs at
 * OpenBLAS's speed at two threads (1600 x 32 -> 512, 2048 x 128 -> 512,
 * 2048 x 512 -> 128: within 5%; the transformer's step even); what it
 * buys is that OpenBLAS's own threads are not woken (they spin for a
 * while after each call, on the cores the pool then needs): the LSTM's
 * input projection over 1600 rows ran there, and its sequence, shared
 * over the pool by rows, lost to them at two threads (bench/RESULTS.md).
 * At one thread BLAS keeps it (10% faster for k = 32), as before. */
static int
linear_fw_panels(const ad_tensor *x, int64_t N, int64_t M, int64_t in)
{
    return x->dtype == AD_F32 && M >= 16 && N > 1024 && in > 0 &&
           in * M <= 262144 && ad_sgemm_packed_ok() &&
           !ad_blas_one_thread(N, M, in);
}

/* y = act(x W^T + b), act AD_GEMM_NONE or AD_GEMM_RELU: in the kernel's
 * output pass, or after the product (BLAS's, or the panels' over more
 * than 1024 samples) as the relu op's own pass (relu's
 * bits either way: tests/c pins the kernel's). */
static ad_status
linear_forward(ad_record *r, int act)
{
    ad_tensor *x = r->in[0], *w = r->in[1], *o = r->out;
    ad_tensor *b = r->nin > 2 ? r->in[2] : NULL;
    int64_t N = x->shape[0], in = x->shape[1], M = w->shape[0];
    size_t isz = ad_itemsize(x->dtype);
    if (linear_fw_packs(x, N, M, in)) {
        if (ad_sgemm_xwt(N, M, in, ad_data(x), in, ad_data(w), in,
                         b ? ad_data(b) : NULL, act, ad_data(o), M)) {
            return ad_error(AD_ERR_NOMEM, "out of memory in linear");
        }
        return AD_OK;
    }
    if (linear_fw_panels(x, N, M, in)) {
        ad_buffer *pk = ad_buf_alloc(ad_sgemm_packed_size(in, M) *
                                     sizeof(float));
        if (!pk) {
            return ad_error(AD_ERR_NOMEM, "out of memory in linear");
        }
        ad_sgemm_pack(1, in, M, ad_data(w), in, AD_BUF_DATA(pk));
        ad_sgemm_packed(0, N, M, in, ad_data(x), in, AD_BUF_DATA(pk),
                        b ? ad_data(b) : NULL, 0.0f, ad_data(o), M);
        ad_buf_decref(pk);
    }
    else {
        if (b) {
            for (int64_t i = 0; i < N; i++) {
                memcpy((char *)ad_data(o) + (size_t)(i * M) * isz,
                       ad_data(b), (size_t)M * isz);
            }
        }
        ad_k(x->dtype)->gemm(0, 1, N, M, in, ad_data(x), in, ad_data(w), in,
                             b ? 1.0 : 0.0, ad_data(o), M);
    }
    if (act == AD_GEMM_RELU) {
        ad_k(x->dtype)->unary_fwd(AD_U_RELU, ad_data(o), ad_data(o), o->size,
                                  0.0, 0.0);
    }
    return AD_OK;
}

static ad_status
fw_linear(ad_record *r)
{
    return linear_forward(r, AD_GEMM_NONE);
}

/* float32 products of linear's backward through gemm.c's kernel (AVX-512
 * cpus) rather than BLAS, from about 2^20 multiply-adds with at least one
 * 8-row block: OpenBLAS zeroes C before a beta = 0 product, copies W
 * through a slow path for dx = g W, and runs the narrow products of a
 * 10-class head (g^T x with 10 rows) at a fifth of its peak
 * (bench/RESULTS.md).  The kernel shares a product out over the pool
 * (gemm.c), with the same bits at any thread count.  It runs a layer's
 * backward products where its forward runs in the kernel too, or on one
 * BLAS thread (ad_blas_one_thread: the BLAS set to one, a replica's
 * thread, a small product): at 2 threads the large MLP's step ran 1.2-1.4x
 * faster with all its products in the kernel than in OpenBLAS's threads,
 * but the transformer's 2048-sample layers (forward in OpenBLAS's
 * threads, which spin after the call and took the cores from the pool's
 * pieces) ran 40 -> 52 ms with the backward alone in the kernel.  The
 * choice reads the shapes, the BLAS count set and whether this thread is a
 * replica, not what other threads do, so an eager step and its replay take
 * the same path.  layer: the layer's condition (bw_layer_packs), then the
 * product's own shape. */
static int
bw_layer_packs(const ad_tensor *x, int64_t N, int64_t in, int64_t M)
{
    return x->dtype == AD_F32 && ad_sgemm_packed_ok() &&
           (linear_fw_packs(x, N, M, in) || linear_fw_panels(x, N, M, in) ||
            ad_blas_one_thread(N, M, in));
}

static int
linear_packs(int layer, int64_t m, int64_t n, int64_t k)
{
    return layer && m >= 8 && n > 0 && k > 0 &&
           m * n * k >= ((int64_t)1 << 20);
}

/* dx (N x in) = g (N x M) W (M x in): W packed in panels, then the
 * kernel writes dx (no zeroing pass). */
static ad_status
dx_packed(int64_t N, int64_t in, int64_t M, const float *g, const float *w,
          float *dx)
{
    ad_buffer *pk = ad_buf_alloc(ad_sgemm_packed_size(M, in) *
                                 sizeof(float));
    if (!pk) {
        return ad_error(AD_ERR_NOMEM, "out of memory in backward");
    }
    ad_sgemm_pack(0, M, in, w, in, AD_BUF_DATA(pk));
    ad_sgemm_packed(0, N, in, M, g, M, AD_BUF_DATA(pk), NULL, 0.0f, dx, in);
    ad_buf_decref(pk);
    return AD_OK;
}

/* dx = g W, dW = g^T x, db = sum of g over rows. */
static ad_status
linear_grads(ad_record *r, const void *G)
{
    ad_tensor *x = r->in[0], *w = r->in[1];
    ad_tensor *b = r->nin > 2 ? r->in[2] : NULL;
    int64_t N = x->shape[0], in = x->shape[1], M = w->shape[0];
    const ad_kernels *K = ad_k(x->dtype);
    int layer = bw_layer_packs(x, N, in, M);
    ad_buffer *gb = NULL;       /* db, summed while dW's product packs g */
    ad_status s = AD_OK;
    for (int which = 0; which < r->nin && !s; which++) {
        ad_tensor *t = r->in[which];
        if (!t->requires_grad) {
            continue;
        }
        int summed = which == 2 && gb != NULL;
        ad_buffer *gt = summed ? gb : ad_buf_alloc(ad_nbytes(t));
        if (summed) {
            gb = NULL;
        }
        if (!gt) {
            s = ad_error(AD_ERR_NOMEM, "out of memory in backward");
            break;
        }
        if (which == 0 && linear_packs(layer, N, in, M)) {
            s = dx_packed(N, in, M, G, ad_data(w), AD_BUF_DATA(gt));
        }
        else if (which == 0) {
            K->gemm(0, 0, N, in, M, G, M, ad_data(w), in, 0.0,
                    AD_BUF_DATA(gt), in);
        }
        else if (which == 1 && linear_packs(layer, M, in, N)) {
            if (b && b->requires_grad) {
                if (!(gb = ad_buf_alloc(ad_nbytes(b)))) {
                    ad_buf_decref(gt);
                    s = ad_error(AD_ERR_NOMEM, "out of memory in backward");
                    break;
                }
                memset(AD_BUF_DATA(gb), 0, ad_nbytes(b));
            }
            /* dW (M x in) = g^T x: g's column sums (db) formed while
             * g^T is packed, each a chain over the rows in order from 0,
             * as sum_into's */
            if (ad_sgemm_atb(N, M, in, G, M, ad_data(x), in,
                             AD_BUF_DATA(gt), gb ? AD_BUF_DATA(gb) : NULL)) {
                s = ad_error(AD_ERR_NOMEM, "out of memory in backward");
            }
        }
        else if (which == 1) {
            K->gemm(1, 0, M, in, N, G, M, ad_data(x), in, 0.0,
                    AD_BUF_DATA(gt), in);
        }
        else if (!summed) {
            int64_t shp[2] = {N, M}, st[3][AD_MAX_DIMS];
            ad_iter it;
            ad_kany(t->dtype)->fill(AD_BUF_DATA(gt), M, 0.0);
            st[0][0] = 0;
            st[0][1] = 1;
            st[1][0] = M;
            st[1][1] = 1;
            ad_iter_init(&it, 2, shp, 2, st);
            K->sum_into(&it, AD_BUF_DATA(gt), G);
        }
        if (s) {
            ad_buf_decref(gt);
            break;
        }
        s = ad_acc_grad(r, which, &gt, 1);
    }
    if (gb) {
        ad_buf_decref(gb);
    }
    return s;
}

static ad_status
bw_linear(ad_record *r, ad_buffer **g)
{
    return linear_grads(r, AD_BUF_DATA(*g));
}

const ad_opdef ad_def_linear = {
    .name = "linear",
    .code = AD_OP_LINEAR, .arity = -1, .flags = AD_K_READS_X,
    .forward = fw_linear, .backward = bw_linear,
};

/* ---- linear_relu: relu(x W^T + b), a dense layer and its ReLU --------- *
 * nn.Sequential's Linear then ReLU as one record: the ReLU applied in the
 * product's output pass (no pass over the pre-activation, which is never
 * stored), and the backward's mask (g where y > 0: relu's rule, which
 * reads x > 0, the same test as y > 0 since relu keeps x > 0 and NaN and
 * maps the rest to 0) formed once before linear's own products.  Every bit
 * is the two ops' (tests/test_linear_relu.py). */

static ad_status
fw_linear_relu(ad_record *r)
{
    return linear_forward(r, AD_GEMM_RELU);
}

static ad_status
bw_linear_relu(ad_record *r, ad_buffer **g)
{
    ad_tensor *y = r->out;
    ad_buffer *gm = ad_buf_alloc(ad_nbytes(y));
    if (!gm) {
        return ad_error(AD_ERR_NOMEM, "out of memory in backward");
    }
    ad_k(y->dtype)->unary_bwd(AD_U_RELU, AD_BUF_DATA(r->saved), NULL,
                              AD_BUF_DATA(*g), AD_BUF_DATA(gm), y->size,
                              0.0, 0.0);
    ad_status s = linear_grads(r, AD_BUF_DATA(gm));
    ad_buf_decref(gm);
    return s;
}

const ad_opdef ad_def_linear_relu = {
    .name = "linear_relu",
    .code = AD_OP_LINEAR_RELU, .arity = -1,
    .flags = AD_K_READS_X | AD_K_SAVES_OUT, .saved = AD_SAVED_OUT,
    .forward = fw_linear_relu, .backward = bw_linear_relu,
};

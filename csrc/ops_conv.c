/*
 * ops_conv.c -- convolution (conv2d and conv_transpose2d; conv1d is H = 1)
 * lowered to im2col and BLAS GEMMs, and unfold / fold (im2col and col2im
 * as ops of their own: torch.nn.functional.unfold and fold, and the
 * recorded derivative of a convolution).
 *
 * Layouts.  x (N, C, H, W) row-major; the patches of the whole batch go
 * to one column matrix col (C kh kw, N L), L = OH OW (the record's saved
 * buffer, read back by the weight's gradient).  Each sample and group is
 * one GEMM that reads its block of columns in place (leading dimension
 * N L) and writes its rows of the output (N, O, L) in place; the backward
 * reads the output's gradient in place the same way, accumulating the
 * weight's gradient over the samples (beta 1 after the first).  Measured
 * against one GEMM over the whole batch followed by copying (O, N L) to
 * (N, O, L): the per-sample GEMMs avoid two passes over the activations
 * and were 1.6x faster for a 3->16 channel 32x32 batch (forward +
 * backward), equal for 16->32 at 16x16.  Transposes inside a GEMM are BLAS
 * flags, never copies; scratch (the gradient's columns) comes from the
 * pool, so a steady loop allocates nothing.
 *
 * Pointwise convolutions (1x1, stride 1, no padding) skip the columns:
 * per-sample GEMMs on x, g and the output in place.  Depthwise ones
 * (groups == C > 1) run a direct kernel (kernels.inc FN(depthwise)).
 *
 * conv_transpose2d is the adjoint: its forward is the input gradient of a
 * convolution (GEMM then col2im over the output), its backward im2col of
 * the output's gradient and GEMMs.
 */
#include "ad_impl.h"

#include <limits.h>

static ad_status
nomem(void)
{
    return ad_error(AD_ERR_NOMEM, "out of memory");
}

/* dst[b, a, :] = src[a, b, :] for (A, B) blocks of L items of isz bytes. */
static void
swap_blocks(const void *src, void *dst, int64_t A, int64_t B, int64_t L,
            size_t isz)
{
    size_t row = (size_t)L * isz;
    for (int64_t a = 0; a < A; a++) {
        for (int64_t b = 0; b < B; b++) {
            memcpy((char *)dst + (size_t)(b * A + a) * row,
                   (const char *)src + (size_t)(a * B + b) * row, row);
        }
    }
}

/* out (N, O, L) += b[o], out of dtype dt */
static void
add_bias_at(void *out, int dt, const ad_tensor *b, int64_t N, int64_t O,
            int64_t L)
{
    int64_t shp[3] = {N, O, L}, st[2][AD_MAX_DIMS] = {{O * L, L, 1},
                                                      {0, 1, 0}};
    ad_iter it;
    ad_iter_init(&it, 3, shp, 2, st);
    ad_k(dt)->add_strided(&it, out, ad_data(b));
}

static void
add_bias(ad_tensor *out, const ad_tensor *b, int64_t N, int64_t O, int64_t L)
{
    add_bias_at(ad_data(out), out->dtype, b, N, O, L);
}

/* gb[o] = sum of g (N, O, L) over n and l */
static ad_buffer *
bias_grad(const void *g, int dt, int64_t N, int64_t O, int64_t L)
{
    ad_buffer *gb = ad_buf_alloc((size_t)O * ad_itemsize(dt));
    if (!gb) {
        return NULL;
    }
    int64_t shp[3] = {N, O, L}, st[2][AD_MAX_DIMS] = {{0, 1, 0},
                                                      {O * L, L, 1}};
    ad_iter it;
    ad_kany(dt)->fill(AD_BUF_DATA(gb), O, 0.0);
    ad_iter_init(&it, 3, shp, 2, st);
    ad_k(dt)->sum_into(&it, AD_BUF_DATA(gb), g);
    return gb;
}

/* The im2col geometry of a record: for a convolution the input's; for a
 * transposed one the output's (its "input" side is the output). */
static void
conv_geom(const ad_record *r, ad_conv_geom *g)
{
    const ad_tensor *x = r->in[0], *w = r->in[1], *o = r->out;
    const ad_tensor *big = r->at.conv.transposed ? o : x;
    const ad_tensor *small = r->at.conv.transposed ? x : o;
    g->N = x->shape[0];
    g->C = big->shape[1];
    g->H = big->shape[2];
    g->W = big->shape[3];
    g->kh = w->shape[2];
    g->kw = w->shape[3];
    g->sh = r->at.conv.sh;
    g->sw = r->at.conv.sw;
    g->ph = r->at.conv.ph;
    g->pw = r->at.conv.pw;
    g->dh = r->at.conv.dh;
    g->dw = r->at.conv.dw;
    g->OH = small->shape[2];
    g->OW = small->shape[3];
}

/* ---- conv --------------------------------------------------------------- */

/* A pointwise convolution (kernel 1x1, stride 1, no padding, and for a
 * transposed one no output padding; dilation does not matter) is a plain
 * GEMM per sample and group on the (C, L) planes of x, g and the output in
 * place: no im2col, no col2im, no saved columns.  For a convolution the
 * weight is (O, Cg) and out_n = W_g x_n; for a transposed one (Cin, Og)
 * and out_n = W_g^T x_n. */
static int
pointwise(const ad_record *r)
{
    const ad_tensor *w = r->in[1];
    return w->shape[2] == 1 && w->shape[3] == 1 && r->at.conv.sh == 1 &&
           r->at.conv.sw == 1 && r->at.conv.ph == 0 && r->at.conv.pw == 0 &&
           r->at.conv.oph == 0 && r->at.conv.opw == 0;
}

/* A depthwise convolution: groups == input channels > 1 (output channels
 * a multiple m of them), not transposed, not pointwise.  A direct kernel
 * (kernels.inc FN(depthwise)) for the forward and both gradients: per
 * group the GEMMs would be 1 x kh kw by kh kw x L, all overhead. */
static int
depthwise(const ad_record *r)
{
    return !r->at.conv.transposed && r->at.conv.groups > 1 &&
           r->at.conv.groups == r->in[0]->shape[1] && !pointwise(r);
}

/* The GEMMs of a pointwise record.  Cx, Co: channels of x and the
 * output; the weight holds G blocks of (Cxg, Cog) (transposed) or
 * (Cog, Cxg).  which: 0 the forward (o = W x), 1 the weight's gradient
 * (accumulated over samples [n0, n1) into dst), 2 the input's gradient
 * (gx = W^T g), each over samples [n0, n1). */
static void
pointwise_gemms(const ad_record *r, int which, const void *src,
                const void *g, void *dst, int64_t n0, int64_t n1)
{
    const ad_tensor *x = r->in[0], *w = r->in[1], *o = r->out;
    const ad_kernels *K = ad_k(x->dtype);
    size_t isz = ad_itemsize(x->dtype);
    int tr = r->at.conv.transposed;
    int64_t G = r->at.conv.groups;
    int64_t L = x->shape[2] * x->shape[3];
    int64_t Cx = x->shape[1], Co = o->shape[1], Cxg = Cx / G, Cog = Co / G;
    const char *W = ad_data(w), *X = src, *Gy = g;
    char *D = dst;
    for (int64_t n = n0; n < n1; n++) {
        for (int64_t gi = 0; gi < G; gi++) {
            size_t xo = (size_t)((n * Cx + gi * Cxg) * L) * isz;
            size_t oo = (size_t)((n * Co + gi * Cog) * L) * isz;
            size_t wo = (size_t)(gi * Cxg * Cog) * isz;
            if (which == 0) {           /* o_n = W_g (or W_g^T) x_n */
                K->gemm(tr, 0, Cog, L, Cxg, W + wo, tr ? Cog : Cxg, X + xo,
                        L, 0.0, D + oo, L);
            }
            else if (which == 1 && !tr) { /* gW_g += g_n x_n^T (Cog, Cxg) */
                K->gemm(0, 1, Cog, Cxg, L, Gy + oo, L, X + xo, L,
                        n > n0 ? 1.0 : 0.0, D + wo, Cxg);
            }
            else if (which == 1) {      /* gW_g += x_n g_n^T (Cxg, Cog) */
                K->gemm(0, 1, Cxg, Cog, L, X + xo, L, Gy + oo, L,
                        n > n0 ? 1.0 : 0.0, D + wo, Cog);
            }
            else {                      /* gx_n = W_g^T (or W_g) g_n */
                K->gemm(!tr, 0, Cxg, L, Cog, W + wo, tr ? Cog : Cxg,
                        Gy + oo, L, 0.0, D + xo, L);
            }
        }
    }
}

/* ---- the batch over the thread pool -------------------------------------
 *
 * A convolution (not transposed) runs over pieces of the batch
 * (ad_parallel_for_blas: the BLAS single-threaded meanwhile).  The
 * forward and the input's gradient are per sample (im2col, the GEMMs and
 * col2im of a sample in one piece), so their bits do not depend on the
 * pieces.  The weight's gradient sums over the samples: the batch is cut
 * into P fixed pieces of `per` samples (set by the shape alone, never by
 * the thread count: conv_pieces), each piece's chain of GEMMs (beta 1
 * after its first sample) writes a partial sum, and the partials are added
 * in piece order -- the same bits for any thread count, and one piece (the
 * plain chain over the batch) below the threshold. */

/* Multiply-adds a piece should have at least, and the most pieces the
 * weight's gradient is cut into. */
#define CONV_PIECE_MACS 262144
#define CONV_MAX_PIECES 8

typedef struct {
    const ad_record *r;
    ad_conv_geom g;
    const void *gy;             /* backward: the output's gradient */
    void *col;                  /* forward: the saved columns; backward:
                                   the columns' gradient (scratch) */
    void *gx;                   /* backward: x's gradient, or NULL */
    char *gw;                   /* backward: piece 0's partial (the
                                   weight's gradient), or NULL */
    char *parts;                /* pieces 1..P-1's partials */
    int64_t per;                /* samples per piece */
} conv_job;

/* The multiply-adds of one sample's forward GEMMs. */
static int64_t
conv_sample_macs(const ad_record *r, const ad_conv_geom *g)
{
    const ad_tensor *w = r->in[1];
    int64_t O = r->out->shape[1], L = g->OH * g->OW;
    int64_t CgK = w->shape[1] * w->shape[2] * w->shape[3];
    return O * CgK * L > 0 ? O * CgK * L : 1;
}

/* The backward's pieces: *per samples each (the last shorter); P. */
static int64_t
conv_pieces(const ad_record *r, const ad_conv_geom *g, int64_t *per)
{
    int64_t N = g->N, grain = (CONV_PIECE_MACS + conv_sample_macs(r, g) - 1)
                              / conv_sample_macs(r, g);
    int64_t P = N / grain;
    if (P > CONV_MAX_PIECES) {
        P = CONV_MAX_PIECES;
    }
    if (P < 1) {
        P = 1;
    }
    *per = N > 0 ? (N + P - 1) / P : 1;
    return N > 0 ? (N + *per - 1) / *per : 0;
}

/* The forward of samples [n0, n1). */
static void
conv_fwd_range(void *cv, int64_t n0, int64_t n1)
{
    const conv_job *j = cv;
    const ad_record *r = j->r;
    const ad_tensor *x = r->in[0], *w = r->in[1], *o = r->out;
    const ad_tensor *b = r->nin > 2 ? r->in[2] : NULL;
    const ad_kernels *K = ad_k(x->dtype);
    size_t isz = ad_itemsize(x->dtype);
    int64_t G = r->at.conv.groups, O = o->shape[1];
    int64_t L = j->g.OH * j->g.OW, NL = j->g.N * L;
    int64_t CHW = j->g.C * j->g.H * j->g.W;
    int64_t CgK = j->g.C * j->g.kh * j->g.kw / G, Og = O / G;
    ad_conv_geom sub = j->g;
    sub.N = n1 - n0;
    const char *X = (const char *)ad_data(x) + (size_t)(n0 * CHW) * isz;
    char *Y = (char *)ad_data(o) + (size_t)(n0 * O * L) * isz;
    if (pointwise(r)) {
        pointwise_gemms(r, 0, ad_data(x), NULL, ad_data(o), n0, n1);
    }
    else if (depthwise(r)) {
        K->depthwise(&sub, O / G, 0, X, ad_data(w), NULL, Y);
    }
    else {
        const char *col = j->col;
        K->im2col(&sub, X, (char *)j->col + (size_t)(n0 * L) * isz, NL, L);
        /* per sample and group: out[n] rows of the group = W_g times the
         * sample's block of columns (leading dimension N L), written in
         * place -- no (O, N L) scratch and no row copies */
        for (int64_t n = n0; n < n1; n++) {
            for (int64_t gi = 0; gi < G; gi++) {
                K->gemm(0, 0, Og, L, CgK,
                        (const char *)ad_data(w) + (size_t)(gi * Og * CgK) * isz,
                        CgK, col + (size_t)(gi * CgK * NL + n * L) * isz,
                        NL, 0.0,
                        (char *)ad_data(o) + (size_t)((n * O + gi * Og) * L) * isz,
                        L);
            }
        }
    }
    if (b) {
        add_bias_at(Y, o->dtype, b, n1 - n0, O, L);
    }
}

/* Pieces [p0, p1) of the backward: the weight's partial sums over each
 * piece's samples and the input's gradient of those samples. */
static void
conv_bwd_range(void *cv, int64_t p0, int64_t p1)
{
    const conv_job *j = cv;
    const ad_record *r = j->r;
    const ad_tensor *x = r->in[0], *w = r->in[1], *o = r->out;
    const ad_kernels *K = ad_k(x->dtype);
    size_t isz = ad_itemsize(x->dtype);
    int64_t G = r->at.conv.groups, O = o->shape[1], Og = O / G;
    int64_t L = j->g.OH * j->g.OW, NL = j->g.N * L;
    int64_t CHW = j->g.C * j->g.H * j->g.W;
    int64_t CgK = j->g.C * j->g.kh * j->g.kw / G;
    const char *W = ad_data(w), *Gy = j->gy, *col = AD_BUF_DATA(r->saved);
    for (int64_t p = p0; p < p1; p++) {
        int64_t n0 = p * j->per;
        int64_t n1 = n0 + j->per < j->g.N ? n0 + j->per : j->g.N;
        ad_conv_geom sub = j->g;
        sub.N = n1 - n0;
        char *part = !j->gw ? NULL
            : p ? j->parts + (size_t)((p - 1) * w->size) * isz : j->gw;
        if (part && pointwise(r)) {
            pointwise_gemms(r, 1, ad_data(x), Gy, part, n0, n1);
        }
        else if (part) {
            /* g_n col_n^T over the piece's samples, beta 1 after its
             * first */
            for (int64_t n = n0; n < n1; n++) {
                for (int64_t gi = 0; gi < G; gi++) {
                    K->gemm(0, 1, Og, CgK, L,
                            Gy + (size_t)((n * O + gi * Og) * L) * isz, L,
                            col + (size_t)(gi * CgK * NL + n * L) * isz, NL,
                            n > n0 ? 1.0 : 0.0,
                            part + (size_t)(gi * Og * CgK) * isz, CgK);
                }
            }
        }
        if (!j->gx) {
            continue;
        }
        char *GX = (char *)j->gx + (size_t)(n0 * CHW) * isz;
        if (pointwise(r)) {
            pointwise_gemms(r, 2, NULL, Gy, j->gx, n0, n1);
        }
        else if (depthwise(r)) {
            K->depthwise(&sub, O / G, 1, NULL, W, Gy + (size_t)(n0 * O * L)
                         * isz, GX);
        }
        else {
            /* the columns' gradient of sample n is W^T g_n, then col2im */
            char *gc = j->col;
            for (int64_t n = n0; n < n1; n++) {
                for (int64_t gi = 0; gi < G; gi++) {
                    K->gemm(1, 0, CgK, L, Og,
                            W + (size_t)(gi * Og * CgK) * isz, CgK,
                            Gy + (size_t)((n * O + gi * Og) * L) * isz, L,
                            0.0, gc + (size_t)(gi * CgK * NL + n * L) * isz,
                            NL);
                }
            }
            K->col2im(&sub, gc + (size_t)(n0 * L) * isz, GX, NL, L);
        }
    }
}

static ad_status
fw_conv(ad_record *r)
{
    ad_conv_geom g;
    conv_geom(r, &g);
    if (!r->at.conv.transposed) {
        conv_job j = {.r = r, .g = g,
                      .col = r->saved ? AD_BUF_DATA(r->saved) : NULL};
        int64_t sm = conv_sample_macs(r, &g);
        ad_parallel_for_blas(g.N, (CONV_PIECE_MACS + sm - 1) / sm,
                             conv_fwd_range, &j);
        return AD_OK;
    }
    ad_tensor *x = r->in[0], *w = r->in[1], *o = r->out;
    ad_tensor *b = r->nin > 2 ? r->in[2] : NULL;
    const ad_kernels *K = ad_k(x->dtype);
    size_t isz = ad_itemsize(x->dtype);
    int64_t G = r->at.conv.groups, N = g.N;
    int64_t CK = g.C * g.kh * g.kw, CgK = CK / G;
    /* transposed: x (N, Cin, H, W), w (Cin, Og, kh, kw); col = W^T x */
    int64_t Cin = x->shape[1], Cig = Cin / G, O = o->shape[1];
    int64_t Lx = x->shape[2] * x->shape[3], NLx = N * Lx;
    ad_buffer *col = ad_buf_alloc((size_t)(CK * NLx) * isz), *xt = NULL;
    if (!col) {
        return nomem();
    }
    const void *xs = ad_data(x);
    if (N > 1) {
        if (!(xt = ad_buf_alloc((size_t)(Cin * NLx) * isz))) {
            ad_buf_decref(col);
            return nomem();
        }
        swap_blocks(xs, AD_BUF_DATA(xt), N, Cin, Lx, isz);
        xs = AD_BUF_DATA(xt);
    }
    for (int64_t gi = 0; gi < G; gi++) {
        K->gemm(1, 0, CgK, NLx, Cig,
                (const char *)ad_data(w) + (size_t)(gi * Cig * CgK) * isz,
                CgK, (const char *)xs + (size_t)(gi * Cig * NLx) * isz, NLx,
                0.0, (char *)AD_BUF_DATA(col) + (size_t)(gi * CgK * NLx) * isz,
                NLx);
    }
    memset(ad_data(o), 0, ad_nbytes(o));
    K->col2im(&g, AD_BUF_DATA(col), ad_data(o), NLx, Lx);
    ad_buf_decref(col);
    ad_buf_decref(xt);
    if (b) {
        add_bias(o, b, N, O, o->shape[2] * o->shape[3]);
    }
    return AD_OK;
}

static ad_status
bw_conv(ad_record *r, ad_buffer **gout)
{
    ad_tensor *x = r->in[0], *w = r->in[1], *o = r->out;
    ad_tensor *b = r->nin > 2 ? r->in[2] : NULL;
    const ad_kernels *K = ad_k(x->dtype);
    size_t isz = ad_itemsize(x->dtype);
    int64_t G = r->at.conv.groups;
    ad_conv_geom g;
    conv_geom(r, &g);
    int64_t N = g.N, L = g.OH * g.OW, NL = N * L;
    int64_t CK = g.C * g.kh * g.kw, CgK = CK / G;
    int64_t O = o->shape[1], Lo = o->shape[2] * o->shape[3];
    ad_buffer *gx = NULL, *gw = NULL, *gb = NULL, *t1 = NULL, *t2 = NULL;
    ad_status s = AD_OK;
    const void *gy = AD_BUF_DATA(*gout);
    if (b && b->requires_grad && !(gb = bias_grad(gy, o->dtype, N, O, Lo))) {
        return nomem();
    }
    if (!r->at.conv.transposed) {
        /* pieces of the batch (see conv_job); every element of gx is
         * written by the pointwise GEMMs, added by col2im and the
         * depthwise kernel (zeroed), and of gw when N > 0 */
        conv_job j = {.r = r, .g = g, .gy = gy};
        int64_t P = conv_pieces(r, &g, &j.per), wn = w->size;
        int dw = depthwise(r), pw = pointwise(r);
        if (w->requires_grad) {
            if (!(gw = N ? ad_buf_alloc(ad_nbytes(w))
                         : ad_buf_zeros(ad_nbytes(w)))) {
                goto oom;
            }
            if (dw) {
                /* its own fixed order over the batch (kernels.inc) */
                K->depthwise(&g, O / G, 2, ad_data(x), NULL, gy,
                             AD_BUF_DATA(gw));
            }
            else {
                j.gw = AD_BUF_DATA(gw);
                if (P > 1 && !(t1 = ad_buf_alloc((size_t)((P - 1) * wn)
                                                 * isz))) {
                    goto oom;
                }
                j.parts = t1 ? AD_BUF_DATA(t1) : NULL;
            }
        }
        if (x->requires_grad) {
            if (!(gx = pw ? ad_buf_alloc(ad_nbytes(x))
                          : ad_buf_zeros(ad_nbytes(x)))) {
                goto oom;
            }
            if (!pw && !dw
                && !(t2 = ad_buf_alloc((size_t)(CK * NL) * isz))) {
                goto oom;
            }
            j.gx = AD_BUF_DATA(gx);
            j.col = t2 ? AD_BUF_DATA(t2) : NULL;
        }
        if (P > 0 && (j.gw || j.gx)) {
            ad_parallel_for_blas(P, 1, conv_bwd_range, &j);
        }
        /* the partial sums in piece order */
        for (int64_t p = 1; j.gw && p < P; p++) {
            K->axpy(j.gw, j.parts + (size_t)((p - 1) * wn) * isz, wn, 1.0);
        }
    }
    else {
        /* gcol = im2col(gy) over the output; x's side is (Cin, N Lx) */
        int64_t Cin = x->shape[1], Cig = Cin / G, NLx = NL;
        if (!(t2 = ad_buf_alloc((size_t)(CK * NLx) * isz))) {
            goto oom;
        }
        K->im2col(&g, gy, AD_BUF_DATA(t2), NLx, L);
        const char *gcol = AD_BUF_DATA(t2);
        if (w->requires_grad) {
            const void *xs = ad_data(x);
            if (N > 1) {
                if (!(t1 = ad_buf_alloc((size_t)(Cin * NLx) * isz))) {
                    goto oom;
                }
                swap_blocks(xs, AD_BUF_DATA(t1), N, Cin, L, isz);
                xs = AD_BUF_DATA(t1);
            }
            if (!(gw = ad_buf_alloc(ad_nbytes(w)))) {
                goto oom;
            }
            for (int64_t gi = 0; gi < G; gi++) {
                K->gemm(0, 1, Cig, CgK, NLx,
                        (const char *)xs + (size_t)(gi * Cig * NLx) * isz, NLx,
                        gcol + (size_t)(gi * CgK * NLx) * isz, NLx, 0.0,
                        (char *)AD_BUF_DATA(gw) + (size_t)(gi * Cig * CgK) * isz,
                        CgK);
            }
        }
        if (x->requires_grad) {
            if (!(gx = ad_buf_alloc(ad_nbytes(x)))) {
                goto oom;
            }
            void *dst = AD_BUF_DATA(gx);
            ad_buf_decref(t1);
            t1 = NULL;
            if (N > 1) {
                if (!(t1 = ad_buf_alloc((size_t)(Cin * NLx) * isz))) {
                    goto oom;
                }
                dst = AD_BUF_DATA(t1);
            }
            for (int64_t gi = 0; gi < G; gi++) {
                K->gemm(0, 0, Cig, NLx, CgK,
                        (const char *)ad_data(w) + (size_t)(gi * Cig * CgK) * isz,
                        CgK, gcol + (size_t)(gi * CgK * NLx) * isz, NLx, 0.0,
                        (char *)dst + (size_t)(gi * Cig * NLx) * isz, NLx);
            }
            if (N > 1) {
                swap_blocks(dst, AD_BUF_DATA(gx), Cin, N, L, isz);
            }
        }
    }
    ad_buf_decref(t1);
    ad_buf_decref(t2);
    t1 = t2 = NULL;
    if (gx && (s = ad_acc_grad(r, 0, &gx, 1))) {
        goto out;
    }
    if (gw && (s = ad_acc_grad(r, 1, &gw, 1))) {
        goto out;
    }
    if (gb && (s = ad_acc_grad(r, 2, &gb, 1))) {
        goto out;
    }
    return AD_OK;
oom:
    s = nomem();
out:
    ad_buf_decref(t1);
    ad_buf_decref(t2);
    ad_buf_decref(gx);
    ad_buf_decref(gw);
    ad_buf_decref(gb);
    return s;
}

/* Output size along one dim; < 1 (or overflow) is an error the caller
 * words. */
static int64_t
conv_out(int64_t in, int64_t k, int s, int p, int d)
{
    int64_t span = (int64_t)d * (k - 1) + 1;
    if (in + 2 * (int64_t)p < span) {
        return 0;
    }
    return (in + 2 * (int64_t)p - span) / s + 1;
}

static ad_status
check_geometry(const char *what, const int *st, const int *pad,
               const int *dil)
{
    for (int i = 0; i < 2; i++) {
        if (st[i] < 1 || dil[i] < 1 || pad[i] < 0) {
            return ad_error(AD_ERR_VALUE, "%s: stride and dilation must be "
                            "positive and padding non-negative, got stride "
                            "(%d, %d), padding (%d, %d), dilation (%d, %d)",
                            what, st[0], st[1], pad[0], pad[1], dil[0],
                            dil[1]);
        }
    }
    return AD_OK;
}

ad_status
ad_conv(ad_tensor *x, ad_tensor *w, ad_tensor *b, const ad_conv_params *p,
        ad_tensor **out)
{
    char s1[AD_SHAPE_BUF], s2[AD_SHAPE_BUF];
    const char *what = p->transposed ? "conv_transpose2d" : "conv2d";
    ad_tensor *o, *xs[3] = {x, w, b};
    ad_record c;
    ad_status s;
    int G = p->groups;
    if (!ad_blas_ready()) {
        return ad_error(AD_ERR_NOBLAS, "%s: no BLAS was registered with the "
                        "engine", what);
    }
    if (x->ndim != 4 || w->ndim != 4) {
        return ad_error(AD_ERR_SHAPE, "%s: expected a 4-D input and weight, "
                        "got input of size %s and weight of size %s", what,
                        ad_shape_str(x->ndim, x->shape, s1, sizeof(s1)),
                        ad_shape_str(w->ndim, w->shape, s2, sizeof(s2)));
    }
    if (x->dtype != w->dtype || (b && b->dtype != w->dtype)) {
        return ad_error(AD_ERR_TYPE, "%s: expected input, weight and bias "
                        "of one dtype, got %s, %s and %s", what,
                        ad_dtype_name(x->dtype), ad_dtype_name(w->dtype),
                        b ? ad_dtype_name(b->dtype) : "None");
    }
    if ((s = check_geometry(what, p->stride, p->pad, p->dil))) {
        return s;
    }
    if (G < 1 || w->shape[0] % G) {
        return ad_error(AD_ERR_VALUE, "%s: Given groups=%d, expected weight "
                        "to be divisible by %d at dimension 0, but got "
                        "weight of size %s instead", what, G, G,
                        ad_shape_str(w->ndim, w->shape, s1, sizeof(s1)));
    }
    int64_t cin = p->transposed ? w->shape[0] : w->shape[1] * G;
    int64_t O = p->transposed ? w->shape[1] * G : w->shape[0];
    if (x->shape[1] != cin) {
        return ad_error(AD_ERR_SHAPE, "%s: Given groups=%d, weight of size "
                        "%s, expected input%s to have %lld channels, but got "
                        "%lld channels instead", what, G,
                        ad_shape_str(w->ndim, w->shape, s1, sizeof(s1)),
                        ad_shape_str(x->ndim, x->shape, s2, sizeof(s2)),
                        (long long)cin, (long long)x->shape[1]);
    }
    if (b && (b->ndim != 1 || b->shape[0] != O)) {
        return ad_error(AD_ERR_SHAPE, "%s: Given weight of size %s, expected "
                        "bias to be 1-dimensional with %lld elements, but "
                        "got bias of size %s instead", what,
                        ad_shape_str(w->ndim, w->shape, s1, sizeof(s1)),
                        (long long)O,
                        ad_shape_str(b->ndim, b->shape, s2, sizeof(s2)));
    }
    int64_t shape[4] = {x->shape[0], O, 0, 0};
    for (int i = 0; i < 2; i++) {
        int64_t in = x->shape[2 + i], k = w->shape[2 + i];
        if (p->transposed) {
            int op = p->outpad[i];
            if (op < 0 || (op >= p->stride[i] && op >= p->dil[i])) {
                return ad_error(AD_ERR_VALUE, "%s: output padding must be "
                                "smaller than either stride or dilation, "
                                "but got output_padding (%d, %d), stride "
                                "(%d, %d), dilation (%d, %d)", what,
                                p->outpad[0], p->outpad[1], p->stride[0],
                                p->stride[1], p->dil[0], p->dil[1]);
            }
            shape[2 + i] = (in - 1) * p->stride[i] - 2 * (int64_t)p->pad[i] +
                           (int64_t)p->dil[i] * (k - 1) + op + 1;
        }
        else {
            shape[2 + i] = conv_out(in, k, p->stride[i], p->pad[i],
                                    p->dil[i]);
        }
    }
    if (shape[2] < 1 || shape[3] < 1) {
        if (p->transposed) {
            return ad_error(AD_ERR_SHAPE, "%s: Given input size per channel "
                            "(%lld x %lld), calculated output size per "
                            "channel (%lld x %lld) is too small", what,
                            (long long)x->shape[2], (long long)x->shape[3],
                            (long long)shape[2], (long long)shape[3]);
        }
        return ad_error(AD_ERR_SHAPE, "%s: Calculated padded input size per "
                        "channel: (%lld x %lld). Kernel size: (%lld x %lld). "
                        "Kernel size can't be greater than actual input size",
                        what, (long long)(x->shape[2] + 2 * p->pad[0]),
                        (long long)(x->shape[3] + 2 * p->pad[1]),
                        (long long)((w->shape[2] - 1) * p->dil[0] + 1),
                        (long long)((w->shape[3] - 1) * p->dil[1] + 1));
    }
    int64_t CK = (p->transposed ? O : cin) * w->shape[2] * w->shape[3];
    int64_t L = p->transposed ? x->shape[2] * x->shape[3]
                              : shape[2] * shape[3];
    int64_t NL = x->shape[0] * L;
    if (CK > INT_MAX || NL > INT_MAX || O > INT_MAX) {
        return ad_error(AD_ERR_VALUE, "%s: dimensions above %d are not "
                        "supported by the BLAS interface", what, INT_MAX);
    }
    if ((s = ad_new(x->dtype, 4, shape, &o))) {
        return s;
    }
    ad_call_init(&c, &ad_def_conv, 0, b ? 3 : 2, xs, o);
    c.at.conv.sh = p->stride[0];
    c.at.conv.sw = p->stride[1];
    c.at.conv.ph = p->pad[0];
    c.at.conv.pw = p->pad[1];
    c.at.conv.dh = p->dil[0];
    c.at.conv.dw = p->dil[1];
    c.at.conv.groups = G;
    c.at.conv.transposed = p->transposed != 0;
    c.at.conv.oph = p->transposed ? p->outpad[0] : 0;
    c.at.conv.opw = p->transposed ? p->outpad[1] : 0;
    if (!p->transposed && !pointwise(&c) && !depthwise(&c) &&
        !(c.saved = ad_buf_alloc((size_t)(CK * NL) * ad_itemsize(x->dtype)))) {
        ad_decref(o);
        return nomem();
    }
    return ad_call_run(&c, (O / G) * CK * NL, out);
}

static const ad_attrdef conv_attrs[] = {
    AD_ATTR(conv, sh, AD_ATTR_I32), AD_ATTR(conv, sw, AD_ATTR_I32),
    AD_ATTR(conv, ph, AD_ATTR_I32), AD_ATTR(conv, pw, AD_ATTR_I32),
    AD_ATTR(conv, dh, AD_ATTR_I32), AD_ATTR(conv, dw, AD_ATTR_I32),
    AD_ATTR(conv, groups, AD_ATTR_I32),
    AD_ATTR(conv, transposed, AD_ATTR_I32),
    AD_ATTR(conv, oph, AD_ATTR_I32), AD_ATTR(conv, opw, AD_ATTR_I32),
};
const ad_opdef ad_def_conv = {
    .name = "conv",
    .code = AD_OP_CONV, .arity = -1, .flags = AD_K_READS_X,
    .attrs = conv_attrs, .nattrs = 10,
    .forward = fw_conv, .backward = bw_conv,
};

/* ---- unfold / fold ------------------------------------------------------ */

/* The im2col geometry of an unfold record (input x) or a fold record
 * (output x). */
static void
unfold_geom(const ad_record *r, const ad_tensor *img, ad_conv_geom *g)
{
    g->N = img->shape[0];
    g->C = img->shape[1];
    g->H = img->shape[2];
    g->W = img->shape[3];
    g->kh = r->at.unfold.kh;
    g->kw = r->at.unfold.kw;
    g->sh = r->at.unfold.sh;
    g->sw = r->at.unfold.sw;
    g->ph = r->at.unfold.ph;
    g->pw = r->at.unfold.pw;
    g->dh = r->at.unfold.dh;
    g->dw = r->at.unfold.dw;
    g->OH = conv_out(g->H, g->kh, (int)g->sh, (int)g->ph, (int)g->dh);
    g->OW = conv_out(g->W, g->kw, (int)g->sw, (int)g->pw, (int)g->dw);
}

/* unfold: (N, C kh kw, L) patches; fold: their sum back into (N, C, H, W).
 * In torch's layout the rows of one sample are contiguous: rs = L,
 * ns = C kh kw L. */
static void
lower(const ad_record *r, const ad_tensor *img, const void *src, void *dst,
      int to_cols)
{
    ad_conv_geom g;
    unfold_geom(r, img, &g);
    int64_t L = g.OH * g.OW, rows = g.C * g.kh * g.kw;
    if (to_cols) {
        ad_k(img->dtype)->im2col(&g, src, dst, L, rows * L);
    }
    else {
        ad_k(img->dtype)->col2im(&g, src, dst, L, rows * L);
    }
}

static ad_status
fw_unfold(ad_record *r)
{
    lower(r, r->in[0], ad_data(r->in[0]), ad_data(r->out), 1);
    return AD_OK;
}

static ad_status
bw_unfold(ad_record *r, ad_buffer **g)
{
    ad_buffer *gx = ad_buf_zeros(ad_nbytes(r->in[0]));
    if (!gx) {
        return nomem();
    }
    lower(r, r->in[0], AD_BUF_DATA(*g), AD_BUF_DATA(gx), 0);
    return ad_acc_grad(r, 0, &gx, 1);
}

static ad_status
fw_fold(ad_record *r)
{
    memset(ad_data(r->out), 0, ad_nbytes(r->out));
    lower(r, r->out, ad_data(r->in[0]), ad_data(r->out), 0);
    return AD_OK;
}

static ad_status
bw_fold(ad_record *r, ad_buffer **g)
{
    ad_buffer *gx = ad_buf_alloc(ad_nbytes(r->in[0]));
    if (!gx) {
        return nomem();
    }
    lower(r, r->out, AD_BUF_DATA(*g), AD_BUF_DATA(gx), 1);
    return ad_acc_grad(r, 0, &gx, 1);
}

static void
set_unfold(ad_record *c, const int *k, const int *st, const int *pad,
           const int *dil, int H, int W)
{
    c->at.unfold.kh = k[0];
    c->at.unfold.kw = k[1];
    c->at.unfold.sh = st[0];
    c->at.unfold.sw = st[1];
    c->at.unfold.ph = pad[0];
    c->at.unfold.pw = pad[1];
    c->at.unfold.dh = dil[0];
    c->at.unfold.dw = dil[1];
    c->at.unfold.H = H;
    c->at.unfold.W = W;
}

/* The number of patches (oh, ow) of an (H, W) image. */
static ad_status
patches(const char *what, int64_t H, int64_t W, const int *k, const int *st,
        const int *pad, const int *dil, int64_t *oh, int64_t *ow)
{
    if (k[0] < 1 || k[1] < 1) {
        return ad_error(AD_ERR_VALUE, "%s: kernel size must be positive, "
                        "got (%d, %d)", what, k[0], k[1]);
    }
    ad_status s = check_geometry(what, st, pad, dil);
    if (s) {
        return s;
    }
    *oh = conv_out(H, k[0], st[0], pad[0], dil[0]);
    *ow = conv_out(W, k[1], st[1], pad[1], dil[1]);
    if (*oh < 1 || *ow < 1) {
        return ad_error(AD_ERR_SHAPE, "%s: Given input with spatial size "
                        "(%lld, %lld), kernel_size=(%d, %d), dilation=(%d, "
                        "%d), padding=(%d, %d), calculated shape of the "
                        "array of sliding blocks as (%lld, %lld), but its "
                        "components must be at least one.", what,
                        (long long)H, (long long)W, k[0], k[1], dil[0],
                        dil[1], pad[0], pad[1], (long long)*oh,
                        (long long)*ow);
    }
    return AD_OK;
}

ad_status
ad_unfold(ad_tensor *x, const int *k, const int *st, const int *pad,
          const int *dil, ad_tensor **out)
{
    char s1[AD_SHAPE_BUF];
    ad_tensor *o;
    ad_record c;
    ad_status s;
    int64_t oh = 0, ow = 0;
    if (x->ndim != 4) {
        return ad_error(AD_ERR_SHAPE, "unfold: Expected 3D or 4D (batch "
                        "mode) tensor with possibly 0 batch size and other "
                        "non-zero dimensions for input, but got: %s",
                        ad_shape_str(x->ndim, x->shape, s1, sizeof(s1)));
    }
    if ((s = patches("unfold", x->shape[2], x->shape[3], k, st, pad, dil,
                     &oh, &ow))) {
        return s;
    }
    int64_t shape[3] = {x->shape[0], x->shape[1] * k[0] * k[1], oh * ow};
    if ((s = ad_new(x->dtype, 3, shape, &o))) {
        return s;
    }
    ad_call_init(&c, &ad_def_unfold, 0, 1, &x, o);
    set_unfold(&c, k, st, pad, dil, (int)x->shape[2], (int)x->shape[3]);
    return ad_call_run(&c, o->size, out);
}

ad_status
ad_fold(ad_tensor *x, int H, int W, const int *k, const int *st,
        const int *pad, const int *dil, ad_tensor **out)
{
    char s1[AD_SHAPE_BUF];
    ad_tensor *o;
    ad_record c;
    ad_status s;
    int64_t oh = 0, ow = 0;
    if (x->ndim != 3) {
        return ad_error(AD_ERR_SHAPE, "fold: Expected 2D or 3D (batch mode) "
                        "input tensor with possibly 0 batch size and "
                        "non-zero dimensions for input, but got: %s",
                        ad_shape_str(x->ndim, x->shape, s1, sizeof(s1)));
    }
    if (H < 1 || W < 1) {
        return ad_error(AD_ERR_VALUE, "fold: output_size must be positive, "
                        "got (%d, %d)", H, W);
    }
    if ((s = patches("fold", H, W, k, st, pad, dil, &oh, &ow))) {
        return s;
    }
    int64_t L = oh * ow, kk = (int64_t)k[0] * k[1];
    if (x->shape[1] % kk) {
        return ad_error(AD_ERR_SHAPE, "fold: Expected size of input's "
                        "dimension 1 to be divisible by the product of "
                        "kernel_size, but got input.size(1)=%lld and "
                        "kernel_size=(%d, %d)", (long long)x->shape[1], k[0],
                        k[1]);
    }
    if (x->shape[2] != L) {
        return ad_error(AD_ERR_SHAPE, "fold: Given output_size=(%d, %d), "
                        "kernel_size=(%d, %d), dilation=(%d, %d), "
                        "padding=(%d, %d), stride=(%d, %d), expected size of "
                        "input's dimension 2 to match the calculated number "
                        "of sliding blocks %lld * %lld = %lld, but got "
                        "input.size(2)=%lld.", H, W, k[0], k[1], dil[0],
                        dil[1], pad[0], pad[1], st[0], st[1], (long long)oh,
                        (long long)ow, (long long)L, (long long)x->shape[2]);
    }
    int64_t shape[4] = {x->shape[0], x->shape[1] / kk, H, W};
    if ((s = ad_new(x->dtype, 4, shape, &o))) {
        return s;
    }
    ad_call_init(&c, &ad_def_fold, 0, 1, &x, o);
    set_unfold(&c, k, st, pad, dil, H, W);
    return ad_call_run(&c, x->size, out);
}

static const ad_attrdef unfold_attrs[] = {
    AD_ATTR(unfold, kh, AD_ATTR_I32), AD_ATTR(unfold, kw, AD_ATTR_I32),
    AD_ATTR(unfold, sh, AD_ATTR_I32), AD_ATTR(unfold, sw, AD_ATTR_I32),
    AD_ATTR(unfold, ph, AD_ATTR_I32), AD_ATTR(unfold, pw, AD_ATTR_I32),
    AD_ATTR(unfold, dh, AD_ATTR_I32), AD_ATTR(unfold, dw, AD_ATTR_I32),
    AD_ATTR(unfold, H, AD_ATTR_I32), AD_ATTR(unfold, W, AD_ATTR_I32),
};
const ad_opdef ad_def_unfold = {
    .name = "unfold",
    .code = AD_OP_UNFOLD, .arity = 1,
    .attrs = unfold_attrs, .nattrs = 10,
    .forward = fw_unfold, .backward = bw_unfold,
};
const ad_opdef ad_def_fold = {
    .name = "fold",
    .code = AD_OP_FOLD, .arity = 1,
    .attrs = unfold_attrs, .nattrs = 10,
    .forward = fw_fold, .backward = bw_fold,
};

/*
 * ops_norm.c -- normalization over rows of contiguous elements, one op
 * for layer norm (rows of the normalized shape), group norm (rows of
 * (C / G) S per image and group, one affine value per channel) and RMS
 * norm (no mean, no bias): one pass for each row's statistics (in
 * double), one for the output; the record saves (mean, rstd) per row
 * (double) for a fused backward:
 *
 *   xhat = (x - mean) rstd,  gh = g w
 *   gx = rstd (gh - mean(gh) - xhat mean(gh xhat))   (rms: no mean(gh))
 *   gw = sum g xhat,  gb = sum g   (over every element of its index)
 *
 * Inputs: x, then w if has_w, then b if has_b.
 */
#include "ad_impl.h"

#include <stdlib.h>

static ad_status
nomem(void)
{
    return ad_error(AD_ERR_NOMEM, "out of memory");
}

static int64_t
norm_rows(const ad_record *r)
{
    return r->at.norm.K ? r->in[0]->size / r->at.norm.K : 0;
}

static ad_status
fw_norm(ad_record *r)
{
    ad_tensor *x = r->in[0];
    int iw = r->at.norm.has_w ? 1 : 0;
    const void *w = r->at.norm.has_w ? ad_data(r->in[1]) : NULL;
    const void *b = r->at.norm.has_b ? ad_data(r->in[1 + iw]) : NULL;
    ad_k(x->dtype)->norm_fwd(norm_rows(r), r->at.norm.K, r->at.norm.G,
                             r->at.norm.S, r->at.norm.rms, r->at.norm.eps,
                             ad_data(x), w, b, ad_data(r->out),
                             AD_BUF_DATA(r->saved));
    return AD_OK;
}

static void
to_dtype(int dt, const double *src, void *dst, int64_t n)
{
    if (dt == AD_F32) {
        float *d = dst;
        for (int64_t i = 0; i < n; i++) d[i] = (float)src[i];
    }
    else {
        memcpy(dst, src, (size_t)n * sizeof(double));
    }
}

/* The end of a normalization's backward: x's gradient gx (or NULL) to
 * input 0, then the affine parameters' gradients summed in acc (2 C
 * doubles: the weight's, then the bias's) to inputs iw and ib (-1: none),
 * in the input dtype; acc is freed. */
static ad_status
deposit(ad_record *r, ad_buffer *gx, int iw, int ib, int dt, double *acc,
        int64_t C)
{
    ad_status s = AD_OK;
    if (gx) {
        s = ad_acc_grad(r, 0, &gx, 1);
    }
    for (int j = 0; j < 2 && s == AD_OK; j++) {
        int i = j ? ib : iw;
        if (i < 0 || !ad_rec_input(r, i)->requires_grad) {
            continue;
        }
        ad_buffer *gt = ad_buf_alloc((size_t)C * ad_itemsize(dt));
        if (!gt) {
            s = nomem();
            break;
        }
        to_dtype(dt, acc + j * C, AD_BUF_DATA(gt), C);
        s = ad_acc_grad(r, i, &gt, 1);
    }
    free(acc);
    return s;
}

static ad_status
bw_norm(ad_record *r, ad_buffer **g)
{
    ad_tensor *x = r->in[0];
    int iw = r->at.norm.has_w ? 1 : 0, ib = r->at.norm.has_b ? 1 + iw : -1;
    ad_tensor *w = iw ? r->in[1] : NULL;
    int64_t K = r->at.norm.K, G = r->at.norm.G, S = r->at.norm.S;
    int64_t C = G * (K / S);
    ad_buffer *gx = NULL;
    if (x->requires_grad && !(gx = ad_buf_alloc(ad_nbytes(x)))) {
        return nomem();
    }
    int64_t per, P = ad_norm_pieces(norm_rows(r), K, &per);
    double *acc = calloc((size_t)(2 * C * P + 1), sizeof(double));
    if (!acc) {
        if (gx) {
            ad_buf_decref(gx);
        }
        return nomem();
    }
    ad_k(x->dtype)->norm_bwd(norm_rows(r), K, G, S, r->at.norm.rms,
                             ad_data(x), w ? ad_data(w) : NULL,
                             AD_BUF_DATA(r->saved), AD_BUF_DATA(*g),
                             gx ? AD_BUF_DATA(gx) : NULL, acc);
    return deposit(r, gx, iw ? 1 : -1, ib, x->dtype, acc, C);
}

ad_status
ad_norm(ad_tensor *x, ad_tensor *w, ad_tensor *b, int64_t K, int64_t G,
        int64_t S, int rms, double eps, ad_tensor **out)
{
    char s1[AD_SHAPE_BUF], s2[AD_SHAPE_BUF];
    ad_tensor *o, *xs[3];
    ad_record c;
    ad_status s;
    int n = 0;
    const char *what = rms ? "rms_norm" : G > 1 || S > 1 ? "group_norm"
                                                         : "layer_norm";
    if (!ad_is_float(x->dtype)) {
        return ad_error(AD_ERR_TYPE, "%s: expected a floating point input, "
                        "got %s", what, ad_dtype_name(x->dtype));
    }
    if (K < 0 || G < 1 || S < 1 || K % S != 0 || (K && x->size % K) ||
        (K == 0 && x->size) || (K / S) * G < 0) {
        return ad_error(AD_ERR_SHAPE, "%s: input %s does not split into rows "
                        "of %lld (groups %lld, %lld per channel)", what,
                        ad_shape_str(x->ndim, x->shape, s1, sizeof(s1)),
                        (long long)K, (long long)G, (long long)S);
    }
    if (!(eps >= 0)) {
        return ad_error(AD_ERR_VALUE, "%s: eps must be non-negative, got %g",
                        what, eps);
    }
    int64_t C = G * (K / S);
    xs[n++] = x;
    for (int j = 0; j < 2; j++) {
        ad_tensor *t = j ? b : w;
        if (!t) {
            continue;
        }
        if (t->size != C) {
            return ad_error(AD_ERR_SHAPE, "%s: %s of shape %s does not fit "
                            "input %s (expected %lld values)", what,
                            j ? "bias" : "weight",
                            ad_shape_str(t->ndim, t->shape, s2, sizeof(s2)),
                            ad_shape_str(x->ndim, x->shape, s1, sizeof(s1)),
                            (long long)C);
        }
        if (t->dtype != x->dtype) {
            return ad_error(AD_ERR_TYPE, "%s: expected %s of dtype %s like "
                            "the input, got %s", what, j ? "bias" : "weight",
                            ad_dtype_name(x->dtype), ad_dtype_name(t->dtype));
        }
        xs[n++] = t;
    }
    int64_t R = K ? x->size / K : 0;
    if ((s = ad_new(x->dtype, x->ndim, x->shape, &o))) {
        return s;
    }
    ad_call_init(&c, &ad_def_norm, 0, n, xs, o);
    if (!(c.saved = ad_buf_alloc((size_t)(2 * R + 1) * sizeof(double)))) {
        ad_call_abandon(&c);
        return nomem();
    }
    c.at.norm.eps = eps;
    c.at.norm.K = K;
    c.at.norm.G = G;
    c.at.norm.S = S;
    c.at.norm.rms = rms != 0;
    c.at.norm.has_w = w != NULL;
    c.at.norm.has_b = b != NULL;
    return ad_call_run(&c, x->size * 4, out);
}

static const ad_attrdef norm_attrs[] = {
    AD_ATTR(norm, eps, AD_ATTR_F64), AD_ATTR(norm, K, AD_ATTR_I64),
    AD_ATTR(norm, G, AD_ATTR_I64), AD_ATTR(norm, S, AD_ATTR_I64),
    AD_ATTR(norm, rms, AD_ATTR_I32), AD_ATTR(norm, has_w, AD_ATTR_I32),
    AD_ATTR(norm, has_b, AD_ATTR_I32),
};
const ad_opdef ad_def_norm = {
    .name = "norm",
    .code = AD_OP_NORM, .arity = -1, .flags = AD_K_READS_X,
    .attrs = norm_attrs, .nattrs = 7,
    .forward = fw_norm, .backward = bw_norm,
};

/* ---- batch_norm ------------------------------------------------------------
 *
 * Inputs: x, then w, b (if has_w, has_b), then running_mean, running_var
 * (if has_running), then num_batches_tracked (int64, if cumulative).  In
 * training the forward updates the running stats in place (and bumps
 * their versions, as torch's in-place update): a compiled replay runs the
 * same forward, so it updates them exactly as the eager call.  The
 * record saves (mean, invstd) per channel (double). */

static void
bn_dims(const ad_tensor *x, int64_t *N, int64_t *C, int64_t *S)
{
    *N = x->shape[0];
    *C = x->shape[1];
    *S = 1;
    for (int i = 2; i < x->ndim; i++) {
        *S *= x->shape[i];
    }
}

static ad_status
fw_batch_norm(ad_record *r)
{
    ad_tensor *x = ad_rec_input(r, 0);
    int i = 1;
    const void *w = NULL, *b = NULL;
    ad_tensor *rm = NULL, *rv = NULL;
    double momentum = r->at.batch_norm.momentum;
    int64_t N, C, S;
    if (r->at.batch_norm.has_w) {
        w = ad_data(ad_rec_input(r, i++));
    }
    if (r->at.batch_norm.has_b) {
        b = ad_data(ad_rec_input(r, i++));
    }
    if (r->at.batch_norm.has_running) {
        rm = ad_rec_input(r, i++);
        rv = ad_rec_input(r, i++);
    }
    if (r->at.batch_norm.cumulative) {
        int64_t nbt = *(const int64_t *)ad_data(ad_rec_input(r, i));
        momentum = nbt ? 1.0 / (double)nbt : 0.0;
    }
    int training = r->at.batch_norm.training;
    bn_dims(x, &N, &C, &S);
    ad_k(x->dtype)->bn_fwd(N, C, S, training, r->at.batch_norm.eps,
                           momentum, ad_data(x), w, b,
                           rm ? ad_data(rm) : NULL, rv ? ad_data(rv) : NULL,
                           ad_data(r->out), AD_BUF_DATA(r->saved));
    if (training && rm) {
        ad_buf_bump(rm->buf);
        ad_buf_bump(rv->buf);
    }
    return AD_OK;
}

static ad_status
bw_batch_norm(ad_record *r, ad_buffer **g)
{
    ad_tensor *x = ad_rec_input(r, 0);
    int iw = r->at.batch_norm.has_w ? 1 : -1;
    int ib = r->at.batch_norm.has_b ? (iw > 0 ? 2 : 1) : -1;
    ad_tensor *w = iw > 0 ? ad_rec_input(r, iw) : NULL;
    int64_t N, C, S;
    ad_buffer *gx = NULL;
    bn_dims(x, &N, &C, &S);
    if (x->requires_grad && !(gx = ad_buf_alloc(ad_nbytes(x)))) {
        return nomem();
    }
    double *acc = calloc((size_t)(2 * C + 1), sizeof(double));
    if (!acc) {
        if (gx) {
            ad_buf_decref(gx);
        }
        return nomem();
    }
    ad_k(x->dtype)->bn_bwd(N, C, S, r->at.batch_norm.training, ad_data(x),
                           w ? ad_data(w) : NULL, AD_BUF_DATA(r->saved),
                           AD_BUF_DATA(*g), gx ? AD_BUF_DATA(gx) : NULL,
                           acc);
    return deposit(r, gx, iw, ib, x->dtype, acc, C);
}

ad_status
ad_batch_norm(ad_tensor *x, ad_tensor *w, ad_tensor *b,
              ad_tensor *running_mean, ad_tensor *running_var,
              ad_tensor *nbt, int training, double momentum, double eps,
              ad_tensor **out)
{
    char s1[AD_SHAPE_BUF], s2[AD_SHAPE_BUF];
    ad_tensor *o, *xs[6];
    ad_record c;
    ad_status s;
    int n = 0;
    if (!ad_is_float(x->dtype)) {
        return ad_error(AD_ERR_TYPE, "batch_norm: expected a floating point "
                        "input, got %s", ad_dtype_name(x->dtype));
    }
    if (x->ndim < 2) {
        return ad_error(AD_ERR_SHAPE, "batch_norm: expected an input of at "
                        "least 2 dims (N, C, *), got %s",
                        ad_shape_str(x->ndim, x->shape, s1, sizeof(s1)));
    }
    if (!(eps >= 0)) {
        return ad_error(AD_ERR_VALUE, "batch_norm: eps must be "
                        "non-negative, got %g", eps);
    }
    if (!running_mean != !running_var) {
        return ad_error(AD_ERR_VALUE, "batch_norm: running_mean and "
                        "running_var must both be given or both be None");
    }
    if (!training && !running_mean) {
        return ad_error(AD_ERR_VALUE, "batch_norm: running_mean must be "
                        "defined in evaluation mode");
    }
    int64_t N, C, S;
    bn_dims(x, &N, &C, &S);
    if (training && N * S == 1) {
        return ad_error(AD_ERR_VALUE, "Expected more than 1 value per "
                        "channel when training, got input size %s",
                        ad_shape_str(x->ndim, x->shape, s1, sizeof(s1)));
    }
    xs[n++] = x;
    const char *names[4] = {"weight", "bias", "running_mean", "running_var"};
    ad_tensor *ts[4] = {w, b, running_mean, running_var};
    for (int j = 0; j < 4; j++) {
        ad_tensor *t = ts[j];
        if (!t) {
            continue;
        }
        if (t->size != C) {
            return ad_error(AD_ERR_SHAPE, "batch_norm: %s of shape %s does "
                            "not fit input %s (expected %lld values, one per "
                            "channel)", names[j],
                            ad_shape_str(t->ndim, t->shape, s2, sizeof(s2)),
                            ad_shape_str(x->ndim, x->shape, s1, sizeof(s1)),
                            (long long)C);
        }
        if (t->dtype != x->dtype) {
            return ad_error(AD_ERR_TYPE, "batch_norm: expected %s of dtype %s "
                            "like the input, got %s", names[j],
                            ad_dtype_name(x->dtype), ad_dtype_name(t->dtype));
        }
        if (j >= 2 && t->requires_grad) {
            return ad_error(AD_ERR_VALUE, "batch_norm: %s must not require "
                            "grad", names[j]);
        }
        if (j >= 2 && training && (t->flags & AD_T_COPY_OF_VIEW)) {
            return ad_error(AD_ERR_VALUE, "batch_norm: %s is a copy of a "
                            "view; the in-place update would miss the "
                            "original", names[j]);
        }
        xs[n++] = t;
    }
    int cumulative = training && running_mean && nbt;
    if (cumulative) {
        if (nbt->dtype != AD_I64 || nbt->size != 1) {
            return ad_error(AD_ERR_TYPE, "batch_norm: num_batches_tracked "
                            "must be one int64 value, got %s %s",
                            ad_dtype_name(nbt->dtype),
                            ad_shape_str(nbt->ndim, nbt->shape, s1,
                                         sizeof(s1)));
        }
        xs[n++] = nbt;
    }
    if ((s = ad_new(x->dtype, x->ndim, x->shape, &o))) {
        return s;
    }
    ad_call_init(&c, &ad_def_batch_norm, 0, n, xs, o);
    if (!(c.saved = ad_buf_alloc((size_t)(2 * C + 1) * sizeof(double)))) {
        ad_call_abandon(&c);
        return nomem();
    }
    c.at.batch_norm.eps = eps;
    c.at.batch_norm.momentum = momentum;
    c.at.batch_norm.training = training != 0;
    c.at.batch_norm.has_w = w != NULL;
    c.at.batch_norm.has_b = b != NULL;
    c.at.batch_norm.has_running = running_mean != NULL;
    c.at.batch_norm.cumulative = cumulative;
    return ad_call_run(&c, x->size * 4, out);
}

static const ad_attrdef batch_norm_attrs[] = {
    AD_ATTR(batch_norm, eps, AD_ATTR_F64),
    AD_ATTR(batch_norm, momentum, AD_ATTR_F64),
    AD_ATTR(batch_norm, training, AD_ATTR_I32),
    AD_ATTR(batch_norm, has_w, AD_ATTR_I32),
    AD_ATTR(batch_norm, has_b, AD_ATTR_I32),
    AD_ATTR(batch_norm, has_running, AD_ATTR_I32),
    AD_ATTR(batch_norm, cumulative, AD_ATTR_I32),
};
/* AD_OP_ANY_DTYPE: num_batches_tracked is int64 (ad_batch_norm checks
 * every dtype itself). */
const ad_opdef ad_def_batch_norm = {
    .name = "batch_norm",
    .code = AD_OP_BATCH_NORM, .arity = -1,
    .flags = AD_K_READS_X | AD_OP_ANY_DTYPE,
    .attrs = batch_norm_attrs, .nattrs = 7,
    .forward = fw_batch_norm, .backward = bw_batch_norm,
};

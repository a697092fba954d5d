/*
 * ops_nn.c -- softmax and log-softmax along an axis, and the negative
 * log-likelihood of integer labels (fused with log-softmax for
 * cross-entropy).
 */
#include "ad_impl.h"

static ad_status
fw_softmax(ad_record *r)
{
    int64_t outer, n, inner;
    ad_tensor *x = r->in[0];
    ad_split_axis(x, r->at.softmax.axis, &outer, &n, &inner);
    ad_k(x->dtype)->softmax_fwd(r->at.softmax.log, ad_data(x),
                                ad_data(r->out), outer, n, inner);
    return AD_OK;
}

ad_status
ad_softmax(ad_tensor *x, int axis, int log, ad_tensor **out)
{
    ad_tensor *o;
    ad_record c;
    ad_status s;
    char sb[AD_SHAPE_BUF];
    if (x->ndim == 0 || axis < 0 || axis >= x->ndim) {
        return ad_error(AD_ERR_VALUE, "%s: axis %d is out of range for a "
                        "tensor of shape %s", log ? "log_softmax" : "softmax",
                        axis, ad_shape_str(x->ndim, x->shape, sb, sizeof(sb)));
    }
    if ((s = ad_new(x->dtype, x->ndim, x->shape, &o))) {
        return s;
    }
    ad_call_init(&c, &ad_def_softmax, 0, 1, &x, o);
    c.at.softmax.axis = axis;
    c.at.softmax.log = log != 0;
    return ad_call_run(&c, x->size * 8, out);
}

static ad_status
bw_softmax(ad_record *r, ad_buffer **g)
{
    int64_t outer, n, inner;
    ad_tensor *x = r->in[0];
    ad_buffer *gx = ad_buf_alloc(ad_nbytes(x));
    if (!gx) {
        return ad_error(AD_ERR_NOMEM, "out of memory in backward");
    }
    ad_split_axis(x, r->at.softmax.axis, &outer, &n, &inner);
    ad_k(x->dtype)->softmax_bwd(r->at.softmax.log, AD_BUF_DATA(r->saved),
                                AD_BUF_DATA(*g), AD_BUF_DATA(gx), outer, n,
                                inner);
    return ad_acc_grad(r, 0, &gx, 1);
}

static const ad_attrdef softmax_attrs[] = {
    AD_ATTR(softmax, axis, AD_ATTR_I32), AD_ATTR(softmax, log, AD_ATTR_I32),
};
const ad_opdef ad_def_softmax = {
    .name = "softmax",
    .code = AD_OP_SOFTMAX, .arity = 1, .flags = AD_K_SAVES_OUT,
    .saved = AD_SAVED_OUT, .attrs = softmax_attrs, .nattrs = 2,
    .forward = fw_softmax, .backward = bw_softmax,
};

/* x as (N, C, D): D the product of the dims after the classes. */
static void
nll_dims(const ad_tensor *x, int64_t *N, int64_t *C, int64_t *D)
{
    *N = x->shape[0];
    *C = x->shape[1];
    *D = 1;
    for (int i = 2; i < x->ndim; i++) {
        *D *= x->shape[i];
    }
}

/* The mean's divisor: the number of labels that are not ignore_index,
 * or with class weights the sum of their weights (torch's) -- counted
 * from the labels at every run, so a replay divides by its own. */
static double
nll_divisor(const ad_record *r, const int64_t *lab, int64_t n)
{
    const ad_tensor *w = r->nin > 1 ? r->in[1] : NULL;
    int64_t ignore = r->at.nll.ignore_index;
    double total = 0;
    for (int64_t i = 0; i < n; i++) {
        if (lab[i] != ignore) {
            total += !w ? 1.0 : w->dtype == AD_F64
                ? ((const double *)ad_data(w))[lab[i]]
                : (double)((const float *)ad_data(w))[lab[i]];
        }
    }
    return total;
}

/* Per-sample losses (into per), reduced into out as the record's kind
 * says: the sum with the reduce kernel, the mean as that sum divided by
 * nll_divisor. */
static void
nll_compute(const ad_record *r, const int64_t *lab, double *lse, void *per)
{
    const ad_tensor *x = r->in[0];
    ad_tensor *out = r->out;
    int64_t N, C, D;
    nll_dims(x, &N, &C, &D);
    int red = r->at.nll.reduction;
    const ad_kernels *K = ad_k(x->dtype);
    K->nll_fwd(r->at.nll.from_logits, ad_data(x), lab,
               r->at.nll.ignore_index, r->nin > 1 ? ad_data(r->in[1]) : NULL,
               r->at.nll.label_smoothing, per, lse, N, C, D);
    if (red == AD_NLL_NONE) {
        return;
    }
    int64_t st[3][AD_MAX_DIMS] = {{0}, {1}};
    int64_t shape[1] = {N * D};
    ad_iter it;
    ad_iter_init(&it, 1, shape, 2, st);
    ad_kany(x->dtype)->fill(ad_data(out), 1, 0.0);
    K->sum_into(&it, ad_data(out), per);
    if (red == AD_NLL_MEAN) {
        K->unary_fwd(AD_U_DIVC, ad_data(out), ad_data(out), 1,
                     nll_divisor(r, lab, N * D), 0.0);
    }
}

static ad_status
check_labels(const char *name, const int64_t *labels, int64_t ignore,
             int64_t N, int64_t C)
{
    for (int64_t i = 0; i < N; i++) {
        if (labels[i] != ignore && (labels[i] < 0 || labels[i] >= C)) {
            return ad_error(AD_ERR_INDEX, "%s: target %lld is out of bounds "
                            "for %lld classes (sample %lld)", name,
                            (long long)labels[i], (long long)C, (long long)i);
        }
    }
    return AD_OK;
}

static const char *
nll_name(int from_logits)
{
    return from_logits ? "cross_entropy" : "nll_loss";
}

/* The labels are checked on every run: a replay reads new ones. */
static ad_status
fw_nll(ad_record *r)
{
    ad_tensor *x = r->in[0];
    int64_t N, C, D;
    nll_dims(x, &N, &C, &D);
    int64_t *lab = AD_BUF_DATA(r->saved);
    int red = r->at.nll.reduction, fl = r->at.nll.from_logits;
    ad_status s = check_labels(nll_name(fl), lab, r->at.nll.ignore_index,
                               N * D, C);
    if (s) {
        return s;
    }
    ad_buffer *per = red == AD_NLL_NONE ? NULL
        : ad_buf_alloc((size_t)(N * D) * ad_itemsize(x->dtype));
    if (red != AD_NLL_NONE && !per) {
        return ad_error(AD_ERR_NOMEM, "out of memory in %s", nll_name(fl));
    }
    nll_compute(r, lab, (double *)(lab + N * D),
                per ? AD_BUF_DATA(per) : ad_data(r->out));
    ad_buf_decref(per);
    return AD_OK;
}

ad_status
ad_nll_full(ad_tensor *x, const int64_t *labels, ad_tensor *lt,
            ad_tensor *weight, int64_t ignore, int from_logits,
            double smoothing, int reduction, ad_tensor **out)
{
    ad_tensor *o, *xs[2] = {x, weight};
    ad_record c;
    ad_status s;
    char sb[AD_SHAPE_BUF], sb2[AD_SHAPE_BUF];
    const char *name = nll_name(from_logits);
    if (x->ndim < 2) {
        return ad_error(AD_ERR_SHAPE, "%s: expected input of shape (N, C) "
                        "or (N, C, d1, ...), got %s", name,
                        ad_shape_str(x->ndim, x->shape, sb, sizeof(sb)));
    }
    if (reduction < AD_NLL_NONE || reduction > AD_NLL_SUM) {
        return ad_error(AD_ERR_VALUE, "%s: unknown reduction %d", name,
                        reduction);
    }
    if (!(smoothing >= 0.0 && smoothing <= 1.0)) {
        return ad_error(AD_ERR_VALUE, "%s: label_smoothing must be between "
                        "0.0 and 1.0, got %g", name, smoothing);
    }
    int64_t N, C, D;
    nll_dims(x, &N, &C, &D);
    /* the per-sample shape: x's without the class dim */
    int64_t shape[AD_MAX_DIMS];
    shape[0] = N;
    for (int i = 2; i < x->ndim; i++) {
        shape[i - 1] = x->shape[i];
    }
    if (lt) {
        if (lt->dtype != AD_I64 || !ad_same_shape(lt, x->ndim - 1, shape)) {
            return ad_error(AD_ERR_VALUE, "%s: expected int64 class labels "
                            "of shape %s for input of shape %s, got %s of "
                            "shape %s", name,
                            ad_shape_str(x->ndim - 1, shape, sb2,
                                         sizeof(sb2)),
                            ad_shape_str(x->ndim, x->shape, sb, sizeof(sb)),
                            ad_dtype_name(lt->dtype),
                            ad_shape_str(lt->ndim, lt->shape, sb2,
                                         sizeof(sb2)));
        }
        labels = ad_data(lt);
    }
    if (weight && (weight->dtype != x->dtype || weight->ndim != 1
                   || weight->shape[0] != C)) {
        return ad_error(AD_ERR_VALUE, "%s: expected weight of shape (%lld,) "
                        "and dtype %s, got %s of shape %s", name,
                        (long long)C, ad_dtype_name(x->dtype),
                        ad_dtype_name(weight->dtype),
                        ad_shape_str(weight->ndim, weight->shape, sb,
                                     sizeof(sb)));
    }
    if (weight && weight->requires_grad && ad_grad_enabled()) {
        return ad_error(AD_ERR_VALUE, "%s: the derivative for 'weight' is "
                        "not implemented (as in torch); pass "
                        "weight.detach()", name);
    }
    s = reduction == AD_NLL_NONE ? ad_new(x->dtype, x->ndim - 1, shape, &o)
                                 : ad_new(x->dtype, 0, NULL, &o);
    if (s) {
        return s;
    }
    /* saved = N D labels followed by N D log-sum-exps */
    size_t nl = (size_t)(N * D);
    ad_buffer *sv = ad_buf_alloc(nl * 16);
    if (!sv) {
        ad_decref(o);
        return ad_error(AD_ERR_NOMEM, "out of memory in %s", name);
    }
    int64_t *lab = AD_BUF_DATA(sv);
    if (nl) {                   /* labels may be NULL when there are none */
        memcpy(lab, labels, nl * sizeof(int64_t));
    }
    ad_call_init(&c, &ad_def_nll, 0, weight ? 2 : 1, xs, o);
    c.at.nll.ignore_index = ignore;
    c.at.nll.from_logits = from_logits != 0;
    c.at.nll.reduction = reduction;
    c.at.nll.label_smoothing = smoothing;
    c.saved = sv;
    if ((s = ad_call_run(&c, 0, out))) {
        return s;
    }
    if (o->rec >= 0 && ad_capture_current() &&
        ad_capture_labels(o, lab, labels, nl * sizeof(int64_t), lt) < 0) {
        ad_decref(o);
        return ad_error(AD_ERR_NOMEM, "out of memory in a capture");
    }
    return AD_OK;
}

/* ad_nll and ad_nll_labels take (N, C) only (labels of length N). */
static ad_status
nll_2d(const ad_tensor *x, const char *name)
{
    char sb[AD_SHAPE_BUF];
    if (x->ndim != 2) {
        return ad_error(AD_ERR_SHAPE, "%s: expected input of shape (N, C), "
                        "got %s", name,
                        ad_shape_str(x->ndim, x->shape, sb, sizeof(sb)));
    }
    return AD_OK;
}

ad_status
ad_nll(ad_tensor *x, const int64_t *labels, int64_t ignore, int from_logits,
       int reduction, ad_tensor **out)
{
    ad_status s = nll_2d(x, nll_name(from_logits));
    if (s) {
        return s;
    }
    return ad_nll_full(x, labels, NULL, NULL, ignore, from_logits, 0.0,
                       reduction, out);
}

ad_status
ad_nll_labels(ad_tensor *x, ad_tensor *labels, int64_t ignore,
              int from_logits, int reduction, ad_tensor **out)
{
    const char *name = nll_name(from_logits);
    char sb[AD_SHAPE_BUF];
    ad_status s;
    if (labels->dtype != AD_I64 || labels->ndim != 1) {
        return ad_error(AD_ERR_VALUE, "%s: expected 1-D int64 class labels, "
                        "got %s of shape %s", name,
                        ad_dtype_name(labels->dtype),
                        ad_shape_str(labels->ndim, labels->shape, sb,
                                     sizeof(sb)));
    }
    if (x->ndim == 2 && labels->shape[0] != x->shape[0]) {
        return ad_error(AD_ERR_VALUE, "%s: expected input batch_size (%lld) "
                        "to match target batch_size (%lld)", name,
                        (long long)x->shape[0], (long long)labels->shape[0]);
    }
    if ((s = nll_2d(x, name))) {
        return s;
    }
    return ad_nll_full(x, NULL, labels, NULL, ignore, from_logits, 0.0,
                       reduction, out);
}

static ad_status
bw_nll(ad_record *r, ad_buffer **g)
{
    ad_tensor *x = r->in[0];
    int64_t N, C, D;
    nll_dims(x, &N, &C, &D);
    const ad_kernels *K = ad_k(x->dtype);
    int64_t *lab = AD_BUF_DATA(r->saved);
    ad_buffer *gx = ad_buf_alloc(ad_nbytes(x));
    int red = r->at.nll.reduction;
    ad_buffer *gs = red == AD_NLL_NONE ? NULL
        : ad_buf_alloc((size_t)(N * D) * ad_itemsize(x->dtype));
    if (!gx || (red != AD_NLL_NONE && !gs)) {
        ad_buf_decref(gx);
        ad_buf_decref(gs);
        return ad_error(AD_ERR_NOMEM, "out of memory in backward");
    }
    const void *gper = AD_BUF_DATA(*g);
    if (gs) {
        /* d(sum)/d(per_i) = 1; d(mean)/d(per_i) = 1 / divisor (in T, as
         * the division the forward does) */
        double g0;
        ad_cast_buf(AD_BUF_DATA(*g), x->dtype, &g0, AD_F64, 1);
        if (red == AD_NLL_MEAN) {
            double count = nll_divisor(r, lab, N * D);
            if (x->dtype == AD_F32) {
                g0 = (float)g0 / (float)count;
            }
            else {
                g0 = g0 / count;
            }
        }
        ad_kany(x->dtype)->fill(AD_BUF_DATA(gs), N * D, g0);
        gper = AD_BUF_DATA(gs);
    }
    K->nll_bwd(r->at.nll.from_logits, ad_data(x), lab,
               r->at.nll.ignore_index, r->nin > 1 ? ad_data(r->in[1]) : NULL,
               r->at.nll.label_smoothing, (double *)(lab + N * D), gper,
               AD_BUF_DATA(gx), N, C, D);
    ad_buf_decref(gs);
    return ad_acc_grad(r, 0, &gx, 1);
}

static const ad_attrdef nll_attrs[] = {
    AD_ATTR(nll, ignore_index, AD_ATTR_I64),
    AD_ATTR(nll, from_logits, AD_ATTR_I32),
    AD_ATTR(nll, reduction, AD_ATTR_I32),
    AD_ATTR(nll, label_smoothing, AD_ATTR_F64),
};
const ad_opdef ad_def_nll = {
    .name = "nll",
    .code = AD_OP_NLL, .arity = -1, .flags = AD_K_READS_X,
    .saved = AD_SAVED_LABELS, .attrs = nll_attrs, .nattrs = 4,
    .forward = fw_nll, .backward = bw_nll,
};

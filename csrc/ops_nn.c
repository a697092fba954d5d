/*
 * ops_nn.c -- softmax and log-softmax along an axis, and the negative
 * log-likelihood of integer labels (fused with log-softmax for
 * cross-entropy).
 */
#include "ad_impl.h"

ad_status
ad_softmax(ad_tensor *x, int axis, int log, ad_tensor **out)
{
    int64_t outer, n, inner;
    ad_tensor *o;
    ad_record *r;
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
    ad_split_axis(x, axis, &outer, &n, &inner);
    void *nogil = ad_nogil_begin(x->size * 8);
    ad_k(x->dtype)->softmax_fwd(log, ad_data(x), ad_data(o), outer, n, inner);
    ad_nogil_end(nogil);
    if ((s = ad_finish(o, AD_OP_SOFTMAX, log, 1, &x, &r))) {
        return s;
    }
    if (r) {
        r->i0 = axis;
        ad_buf_incref(o->buf);
        r->saved = o->buf;
        r->saved_ver = ad_buf_version(o->buf);
    }
    *out = o;
    return AD_OK;
}

ad_status
ad_fw_softmax(ad_record *r)
{
    int64_t outer, n, inner;
    ad_tensor *x = r->in[0];
    ad_split_axis(x, (int)r->i0, &outer, &n, &inner);
    ad_k(x->dtype)->softmax_fwd(r->kind, ad_data(x), ad_data(r->out), outer,
                                n, inner);
    return AD_OK;
}

ad_status
ad_bw_softmax(ad_record *r, ad_buffer **g)
{
    int64_t outer, n, inner;
    ad_tensor *x = r->in[0];
    ad_buffer *gx = ad_buf_alloc(ad_nbytes(x));
    if (!gx) {
        return ad_error(AD_ERR_NOMEM, "out of memory in backward");
    }
    ad_split_axis(x, (int)r->i0, &outer, &n, &inner);
    ad_k(x->dtype)->softmax_bwd(r->kind, AD_BUF_DATA(r->saved),
                                AD_BUF_DATA(*g), AD_BUF_DATA(gx), outer, n,
                                inner);
    return ad_acc_grad(r, 0, &gx, 1);
}

/* Per-sample losses (into per), reduced into out as the record's kind
 * says: the sum with the reduce kernel, the mean as that sum divided by
 * the number of labels that are not ignore_index -- counted from the
 * labels at every run, so a replay with other labels divides by theirs. */
static void
nll_compute(int from_logits, int red, const ad_tensor *x,
            const int64_t *lab, int64_t ignore, double *lse, void *per,
            ad_tensor *out)
{
    int64_t N = x->shape[0], C = x->shape[1];
    const ad_kernels *K = ad_k(x->dtype);
    K->nll_fwd(from_logits, ad_data(x), lab, ignore, per, lse, N, C);
    if (red == AD_NLL_NONE) {
        return;
    }
    int64_t st[3][AD_MAX_DIMS] = {{0}, {1}};
    int64_t shape[1] = {N};
    ad_iter it;
    ad_iter_init(&it, 1, shape, 2, st);
    K->fill(ad_data(out), 1, 0.0);
    K->sum_into(&it, ad_data(out), per);
    if (red == AD_NLL_MEAN) {
        int64_t count = 0;
        for (int64_t i = 0; i < N; i++) {
            count += lab[i] != ignore;
        }
        K->unary_fwd(AD_U_DIVC, ad_data(out), ad_data(out), 1,
                     (double)count, 0.0);
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

ad_status
ad_nll(ad_tensor *x, const int64_t *labels, int64_t ignore, int from_logits,
       int reduction, ad_tensor **out)
{
    ad_tensor *o;
    ad_record *r;
    ad_status s;
    char sb[AD_SHAPE_BUF];
    const char *name = nll_name(from_logits);
    if (x->ndim != 2) {
        return ad_error(AD_ERR_SHAPE, "%s: expected input of shape (N, C), "
                        "got %s", name,
                        ad_shape_str(x->ndim, x->shape, sb, sizeof(sb)));
    }
    if (reduction < AD_NLL_NONE || reduction > AD_NLL_SUM) {
        return ad_error(AD_ERR_VALUE, "%s: unknown reduction %d", name,
                        reduction);
    }
    int64_t N = x->shape[0], C = x->shape[1];
    if ((s = check_labels(name, labels, ignore, N, C))) {
        return s;
    }
    /* saved = N labels followed by N log-sum-exps */
    ad_buffer *sv = ad_buf_alloc((size_t)N * 16);
    if (!sv) {
        return ad_error(AD_ERR_NOMEM, "out of memory in %s", name);
    }
    int64_t *lab = AD_BUF_DATA(sv);
    double *lse = (double *)(lab + N);
    if (N) {                    /* labels may be NULL when N == 0 */
        memcpy(lab, labels, (size_t)N * sizeof(int64_t));
    }
    int64_t shape[1] = {N};
    s = reduction == AD_NLL_NONE ? ad_new(x->dtype, 1, shape, &o)
                                 : ad_new(x->dtype, 0, NULL, &o);
    if (s) {
        ad_buf_decref(sv);
        return s;
    }
    ad_buffer *per = reduction == AD_NLL_NONE ? NULL
        : ad_buf_alloc((size_t)N * ad_itemsize(x->dtype));
    if (reduction != AD_NLL_NONE && !per) {
        ad_buf_decref(sv);
        ad_decref(o);
        return ad_error(AD_ERR_NOMEM, "out of memory in %s", name);
    }
    nll_compute(from_logits, reduction, x, lab, ignore, lse,
                per ? AD_BUF_DATA(per) : ad_data(o), o);
    ad_buf_decref(per);
    if ((s = ad_finish(o, AD_OP_NLL, reduction, 1, &x, &r))) {
        ad_buf_decref(sv);
        return s;
    }
    if (r) {
        r->saved = sv;
        r->i0 = ignore;
        r->flag = (uint8_t)from_logits;
        if (ad_capture_current() &&
            ad_capture_labels(r, labels, (size_t)N * sizeof(int64_t)) < 0) {
            ad_decref(o);
            return ad_error(AD_ERR_NOMEM, "out of memory in a capture");
        }
    }
    else {
        ad_buf_decref(sv);
    }
    *out = o;
    return AD_OK;
}

ad_status
ad_fw_nll(ad_record *r)
{
    ad_tensor *x = r->in[0];
    int64_t N = x->shape[0], C = x->shape[1];
    int64_t *lab = AD_BUF_DATA(r->saved);
    ad_status s = check_labels(nll_name(r->flag), lab, r->i0, N, C);
    if (s) {
        return s;
    }
    ad_buffer *per = r->kind == AD_NLL_NONE ? NULL
        : ad_buf_alloc((size_t)N * ad_itemsize(x->dtype));
    if (r->kind != AD_NLL_NONE && !per) {
        return ad_error(AD_ERR_NOMEM, "out of memory in %s",
                        nll_name(r->flag));
    }
    nll_compute(r->flag, r->kind, x, lab, r->i0, (double *)(lab + N),
                per ? AD_BUF_DATA(per) : ad_data(r->out), r->out);
    ad_buf_decref(per);
    return AD_OK;
}

ad_status
ad_bw_nll(ad_record *r, ad_buffer **g)
{
    ad_tensor *x = r->in[0];
    int64_t N = x->shape[0], C = x->shape[1];
    const ad_kernels *K = ad_k(x->dtype);
    int64_t *lab = AD_BUF_DATA(r->saved);
    ad_buffer *gx = ad_buf_alloc(ad_nbytes(x));
    ad_buffer *gs = r->kind == AD_NLL_NONE ? NULL
        : ad_buf_alloc((size_t)N * ad_itemsize(x->dtype));
    if (!gx || (r->kind != AD_NLL_NONE && !gs)) {
        ad_buf_decref(gx);
        return ad_error(AD_ERR_NOMEM, "out of memory in backward");
    }
    const void *gper = AD_BUF_DATA(*g);
    if (gs) {
        /* d(sum)/d(per_i) = 1; d(mean)/d(per_i) = 1 / count (in T, as
         * the division the forward does) */
        double g0;
        ad_cast_buf(AD_BUF_DATA(*g), x->dtype, &g0, AD_F64, 1);
        if (r->kind == AD_NLL_MEAN) {
            int64_t count = 0;
            for (int64_t i = 0; i < N; i++) {
                count += lab[i] != r->i0;
            }
            if (x->dtype == AD_F32) {
                g0 = (float)g0 / (float)count;
            }
            else {
                g0 = g0 / (double)count;
            }
        }
        K->fill(AD_BUF_DATA(gs), N, g0);
        gper = AD_BUF_DATA(gs);
    }
    K->nll_bwd(r->flag, ad_data(x), lab, r->i0, (double *)(lab + N), gper,
               AD_BUF_DATA(gx), N, C);
    ad_buf_decref(gs);
    return ad_acc_grad(r, 0, &gx, 1);
}

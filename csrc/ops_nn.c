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
        r->saved_ver = o->buf->version;
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

ad_status
ad_nll(ad_tensor *x, const int64_t *labels, int64_t ignore, int from_logits,
       ad_tensor **out)
{
    ad_tensor *o;
    ad_record *r;
    ad_status s;
    char sb[AD_SHAPE_BUF];
    const char *name = from_logits ? "cross_entropy" : "nll_loss";
    if (x->ndim != 2) {
        return ad_error(AD_ERR_SHAPE, "%s: expected input of shape (N, C), "
                        "got %s", name,
                        ad_shape_str(x->ndim, x->shape, sb, sizeof(sb)));
    }
    int64_t N = x->shape[0], C = x->shape[1];
    for (int64_t i = 0; i < N; i++) {
        if (labels[i] != ignore && (labels[i] < 0 || labels[i] >= C)) {
            return ad_error(AD_ERR_INDEX, "%s: target %lld is out of bounds "
                            "for %lld classes (sample %lld)", name,
                            (long long)labels[i], (long long)C, (long long)i);
        }
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
    if ((s = ad_new(x->dtype, 1, shape, &o))) {
        ad_buf_decref(sv);
        return s;
    }
    ad_k(x->dtype)->nll_fwd(from_logits, ad_data(x), lab, ignore, ad_data(o),
                            lse, N, C);
    if ((s = ad_finish(o, AD_OP_NLL, 0, 1, &x, &r))) {
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
    for (int64_t i = 0; i < N; i++) {
        if (lab[i] != r->i0 && (lab[i] < 0 || lab[i] >= C)) {
            return ad_error(AD_ERR_INDEX, "target %lld is out of bounds for "
                            "%lld classes (sample %lld)", (long long)lab[i],
                            (long long)C, (long long)i);
        }
    }
    ad_k(x->dtype)->nll_fwd(r->flag, ad_data(x), lab, r->i0, ad_data(r->out),
                            (double *)(lab + N), N, C);
    return AD_OK;
}

ad_status
ad_bw_nll(ad_record *r, ad_buffer **g)
{
    ad_tensor *x = r->in[0];
    int64_t N = x->shape[0], C = x->shape[1];
    ad_buffer *gx = ad_buf_alloc(ad_nbytes(x));
    if (!gx) {
        return ad_error(AD_ERR_NOMEM, "out of memory in backward");
    }
    int64_t *lab = AD_BUF_DATA(r->saved);
    ad_k(x->dtype)->nll_bwd(r->flag, ad_data(x), lab, r->i0,
                            (double *)(lab + N), AD_BUF_DATA(*g),
                            AD_BUF_DATA(gx), N, C);
    return ad_acc_grad(r, 0, &gx, 1);
}

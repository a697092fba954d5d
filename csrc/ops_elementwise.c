/*
 * ops_elementwise.c -- unary and binary elementwise ops, where, and the
 * elementwise losses: each forward followed by its backward rule.  The
 * per-element math of both lives in kernels.inc.
 */
#include "ad_impl.h"

static int
same_shape(const ad_tensor *a, int nd, const int64_t *shape)
{
    if (a->ndim != nd) {
        return 0;
    }
    for (int i = 0; i < nd; i++) {
        if (a->shape[i] != shape[i]) {
            return 0;
        }
    }
    return 1;
}

static ad_status
nomem(void)
{
    return ad_error(AD_ERR_NOMEM, "out of memory in backward");
}

/* Gradient buffer gx (shaped like the output) for input i: reduce it to
 * the input's shape if broadcast, then accumulate it (stealing gx). */
static ad_status
acc_from_out_shape(ad_record *r, int i, ad_buffer *gx)
{
    ad_tensor *x = ad_rec_input(r, i), *o = r->out;
    if (!same_shape(x, o->ndim, o->shape)) {
        ad_buffer *red;
        ad_status s = ad_reduce_to_shape(x->dtype, AD_BUF_DATA(gx), o->ndim,
                                         o->shape, x, &red);
        ad_buf_decref(gx);
        if (s) {
            return s;
        }
        gx = red;
    }
    return ad_acc_grad(r, i, &gx, 1);
}

/* ---- unary ------------------------------------------------------------ */

/* Kinds whose derivative is cheapest from the output y. */
static int
unary_saves_output(int k)
{
    return k == AD_U_EXP || k == AD_U_SQRT || k == AD_U_SIGMOID ||
           k == AD_U_TANH || k == AD_U_ELU || k == AD_U_SELU ||
           k == AD_U_RPOWC;
}

ad_status
ad_unary(ad_unary_kind k, ad_tensor *x, double a, double b, ad_tensor **out)
{
    ad_tensor *y;
    ad_record *r;
    if ((unsigned)k >= AD_U_COUNT) {
        return ad_error(AD_ERR_VALUE, "unknown unary op %d", (int)k);
    }
    ad_status s = ad_new(x->dtype, x->ndim, x->shape, &y);
    if (s) {
        return s;
    }
    void *nogil = ad_nogil_begin(x->size * 8);
    ad_k(x->dtype)->unary_fwd(k, ad_data(x), ad_data(y), x->size, a, b);
    ad_nogil_end(nogil);
    s = ad_finish(y, AD_OP_UNARY, k, 1, &x, &r);
    if (s) {
        return s;
    }
    if (r) {
        r->a = a;
        r->b = b;
        if (unary_saves_output(k)) {
            ad_buf_incref(y->buf);
            r->saved = y->buf;
            r->saved_ver = ad_buf_version(y->buf);
        }
    }
    *out = y;
    return AD_OK;
}

/* Recompute a record's output in place (compiled replay). */
ad_status
ad_fw_unary(ad_record *r)
{
    ad_tensor *x = r->in[0];
    ad_k(x->dtype)->unary_fwd(r->kind, ad_data(x), ad_data(r->out), x->size,
                              r->a, r->b);
    return AD_OK;
}

ad_status
ad_bw_unary(ad_record *r, ad_buffer **g)
{
    ad_tensor *x = r->in[0];
    if (r->kind == AD_U_ADDC) {
        return ad_acc_grad(r, 0, g, 1);             /* d(x + c) = 1 */
    }
    ad_buffer *gx = ad_buf_alloc(ad_nbytes(x));
    if (!gx) {
        return nomem();
    }
    ad_k(x->dtype)->unary_bwd(r->kind, ad_data(x),
                              r->saved ? AD_BUF_DATA(r->saved) : NULL,
                              AD_BUF_DATA(*g), AD_BUF_DATA(gx), x->size,
                              r->a, r->b);
    return ad_acc_grad(r, 0, &gx, 1);
}

/* ---- binary with broadcasting ----------------------------------------- */

static ad_status
check_dtypes(const char *what, const ad_tensor *a, const ad_tensor *b)
{
    if (a->dtype != b->dtype) {
        return ad_error(AD_ERR_TYPE, "%s: dtypes %s and %s differ", what,
                        ad_dtype_name(a->dtype), ad_dtype_name(b->dtype));
    }
    return AD_OK;
}

ad_status
ad_binary(ad_binary_kind k, ad_tensor *x, ad_tensor *y, ad_tensor **out)
{
    int nd;
    int64_t shape[AD_MAX_DIMS], st[3][AD_MAX_DIMS];
    ad_tensor *o, *xs[2] = {x, y};
    ad_record *r;
    ad_iter it;

    if ((unsigned)k >= AD_B_COUNT) {
        return ad_error(AD_ERR_VALUE, "unknown binary op %d", (int)k);
    }
    ad_status s = check_dtypes("binary op", x, y);
    if (s || (s = ad_broadcast_shapes(x->ndim, x->shape, y->ndim, y->shape,
                                      &nd, shape))) {
        return s;
    }
    if ((s = ad_new(x->dtype, nd, shape, &o))) {
        return s;
    }
    ad_strides(nd, shape, st[0]);
    ad_bcast_strides(nd, shape, x->ndim, x->shape, st[1]);
    ad_bcast_strides(nd, shape, y->ndim, y->shape, st[2]);
    ad_iter_init(&it, nd, shape, 3, st);
    void *nogil = ad_nogil_begin(o->size * 2);
    ad_k(x->dtype)->binary_fwd(k, &it, ad_data(o), ad_data(x), ad_data(y));
    ad_nogil_end(nogil);
    if ((s = ad_finish(o, AD_OP_BINARY, k, 2, xs, &r))) {
        return s;
    }
    *out = o;
    return AD_OK;
}

ad_status
ad_fw_binary(ad_record *r)
{
    ad_tensor *o = r->out, *x = r->in[0], *y = r->in[1];
    int64_t st[3][AD_MAX_DIMS];
    ad_iter it;
    ad_strides(o->ndim, o->shape, st[0]);
    ad_bcast_strides(o->ndim, o->shape, x->ndim, x->shape, st[1]);
    ad_bcast_strides(o->ndim, o->shape, y->ndim, y->shape, st[2]);
    ad_iter_init(&it, o->ndim, o->shape, 3, st);
    ad_k(x->dtype)->binary_fwd(r->kind, &it, ad_data(o), ad_data(x),
                               ad_data(y));
    return AD_OK;
}

ad_status
ad_bw_binary(ad_record *r, ad_buffer **g)
{
    ad_tensor *o = r->out;
    int64_t st[3][AD_MAX_DIMS];
    ad_strides(o->ndim, o->shape, st[0]);
    ad_bcast_strides(o->ndim, o->shape, r->in[0]->ndim, r->in[0]->shape,
                     st[1]);
    ad_bcast_strides(o->ndim, o->shape, r->in[1]->ndim, r->in[1]->shape,
                     st[2]);
    for (int which = 0; which < 2; which++) {
        ad_tensor *x = r->in[which];
        if (!x->requires_grad) {
            continue;
        }
        if ((r->kind == AD_B_ADD || (r->kind == AD_B_SUB && which == 0)) &&
            same_shape(x, o->ndim, o->shape)) {
            ad_status s = ad_acc_grad(r, which, g, 0);  /* gradient is g */
            if (s) {
                return s;
            }
            continue;
        }
        ad_buffer *gx = ad_buf_alloc(ad_nbytes(o));
        if (!gx) {
            return nomem();
        }
        ad_iter it;
        ad_iter_init(&it, o->ndim, o->shape, 3, st);
        ad_k(o->dtype)->binary_bwd(r->kind, which, &it, AD_BUF_DATA(gx),
                                   AD_BUF_DATA(*g), ad_data(r->in[0]),
                                   ad_data(r->in[1]));
        ad_status s = acc_from_out_shape(r, which, gx);
        if (s) {
            return s;
        }
    }
    return AD_OK;
}

/* ---- where -------------------------------------------------------------- */

ad_status
ad_where(ad_tensor *cond, ad_tensor *x, ad_tensor *y, ad_tensor **out)
{
    int nd, nd2;
    int64_t sh[AD_MAX_DIMS], shape[AD_MAX_DIMS];
    ad_tensor *xb = NULL, *yb = NULL, *cb = NULL, *o = NULL, *xs[2];
    ad_record *r;
    ad_status s;

    if ((s = check_dtypes("where", x, y)) ||
        (s = ad_broadcast_shapes(cond->ndim, cond->shape, x->ndim, x->shape,
                                 &nd, sh)) ||
        (s = ad_broadcast_shapes(nd, sh, y->ndim, y->shape, &nd2, shape))) {
        return s;
    }
    /* Broadcast each operand to the output shape (recorded, so gradients
     * reduce back), then select elementwise. */
    int save = ad_grad_enabled();
    ad_set_grad_enabled(0);
    s = ad_broadcast_to(cond, nd2, shape, &cb);
    ad_set_grad_enabled(save);
    if (s || (s = ad_broadcast_to(x, nd2, shape, &xb)) ||
        (s = ad_broadcast_to(y, nd2, shape, &yb))) {
        goto done;
    }
    if (cb->dtype != x->dtype) {
        ad_tensor *c2;
        save = ad_grad_enabled();
        ad_set_grad_enabled(0);
        s = ad_cast(cb, x->dtype, &c2);
        ad_set_grad_enabled(save);
        if (s) {
            goto done;
        }
        ad_decref(cb);
        cb = c2;
    }
    if ((s = ad_new(x->dtype, nd2, shape, &o))) {
        goto done;
    }
    ad_k(x->dtype)->where_fwd(ad_data(cb), ad_data(xb), ad_data(yb),
                              ad_data(o), o->size);
    xs[0] = xb;
    xs[1] = yb;
    if ((s = ad_finish(o, AD_OP_WHERE, 0, 2, xs, &r))) {
        o = NULL;
        goto done;
    }
    if (r) {
        ad_buf_incref(cb->buf);
        r->saved = cb->buf;
        r->saved_ver = ad_buf_version(cb->buf);
    }
    *out = o;
done:
    ad_decref(cb);
    ad_decref(xb);
    ad_decref(yb);
    return s;
}

ad_status
ad_fw_where(ad_record *r)
{
    ad_tensor *o = r->out;
    ad_k(o->dtype)->where_fwd(AD_BUF_DATA(r->saved), ad_data(r->in[0]),
                              ad_data(r->in[1]), ad_data(o), o->size);
    return AD_OK;
}

ad_status
ad_bw_where(ad_record *r, ad_buffer **g)
{
    for (int which = 0; which < 2; which++) {
        ad_tensor *x = r->in[which];
        if (!x->requires_grad) {
            continue;
        }
        ad_buffer *gx = ad_buf_alloc(ad_nbytes(x));
        if (!gx) {
            return nomem();
        }
        ad_k(x->dtype)->where_bwd(AD_BUF_DATA(r->saved), AD_BUF_DATA(*g),
                                  AD_BUF_DATA(gx), x->size, which == 0);
        ad_status s = ad_acc_grad(r, which, &gx, 1);
        if (s) {
            return s;
        }
    }
    return AD_OK;
}

/* ---- elementwise losses -------------------------------------------------- */

static const char *loss_names[] = {"mse_loss", "l1_loss",
                                   "binary_cross_entropy",
                                   "binary_cross_entropy_with_logits"};

ad_status
ad_loss(ad_loss_kind k, ad_tensor *p, ad_tensor *t, ad_tensor **out)
{
    char s1[AD_SHAPE_BUF], s2[AD_SHAPE_BUF];
    ad_tensor *o, *xs[2] = {p, t};
    ad_record *r;
    ad_status s;
    if ((unsigned)k >= AD_L_COUNT) {
        return ad_error(AD_ERR_VALUE, "unknown loss %d", (int)k);
    }
    if (!same_shape(t, p->ndim, p->shape)) {
        return ad_error(AD_ERR_SHAPE, "%s: input of shape %s and target of "
                        "shape %s must have the same shape",
                        loss_names[k],
                        ad_shape_str(p->ndim, p->shape, s1, sizeof(s1)),
                        ad_shape_str(t->ndim, t->shape, s2, sizeof(s2)));
    }
    if ((s = check_dtypes(loss_names[k], p, t))) {
        return s;
    }
    if ((s = ad_new(p->dtype, p->ndim, p->shape, &o))) {
        return s;
    }
    int bad = ad_k(p->dtype)->loss_fwd(k, ad_data(p), ad_data(t),
                                       ad_data(o), p->size);
    if (bad) {
        int64_t i = -1 - (int64_t)bad;
        double v = p->dtype == AD_F64 ? ((double *)ad_data(p))[i]
                                      : ((float *)ad_data(p))[i];
        ad_decref(o);
        return ad_error(AD_ERR_VALUE, "binary_cross_entropy: all elements "
                        "of input should be between 0 and 1, got %g at "
                        "flat index %lld", v, (long long)i);
    }
    if ((s = ad_finish(o, AD_OP_LOSS, k, 2, xs, &r))) {
        return s;
    }
    *out = o;
    return AD_OK;
}

ad_status
ad_fw_loss(ad_record *r)
{
    ad_tensor *p = r->in[0];
    int bad = ad_k(p->dtype)->loss_fwd(r->kind, ad_data(p),
                                       ad_data(r->in[1]), ad_data(r->out),
                                       p->size);
    if (bad) {
        return ad_error(AD_ERR_VALUE, "binary_cross_entropy: all elements "
                        "of input should be between 0 and 1 (flat index "
                        "%lld)", (long long)(-1 - (int64_t)bad));
    }
    return AD_OK;
}

ad_status
ad_bw_loss(ad_record *r, ad_buffer **g)
{
    for (int which = 0; which < 2; which++) {
        ad_tensor *x = r->in[which];
        if (!x->requires_grad) {
            continue;
        }
        ad_buffer *gx = ad_buf_alloc(ad_nbytes(x));
        if (!gx) {
            return nomem();
        }
        ad_k(x->dtype)->loss_bwd(r->kind, which, ad_data(r->in[0]),
                                 ad_data(r->in[1]), AD_BUF_DATA(*g),
                                 AD_BUF_DATA(gx), x->size);
        ad_status s = ad_acc_grad(r, which, &gx, 1);
        if (s) {
            return s;
        }
    }
    return AD_OK;
}

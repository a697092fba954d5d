/*
 * ops_elementwise.c -- unary and binary elementwise ops, where, and the
 * elementwise losses: each forward followed by its backward rule.  The
 * per-element math of both lives in kernels.inc.
 */
#include "ad_impl.h"


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
    if (!ad_same_shape(x, o->ndim, o->shape)) {
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

static ad_status
fw_unary(ad_record *r)
{
    ad_tensor *x = r->in[0];
    ad_k(x->dtype)->unary_fwd(r->kind, ad_data(x), ad_data(r->out), x->size,
                              r->at.unary.a, r->at.unary.b);
    return AD_OK;
}

ad_status
ad_unary(ad_unary_kind k, ad_tensor *x, double a, double b, ad_tensor **out)
{
    ad_tensor *y;
    ad_record c;
    if ((unsigned)k >= AD_U_COUNT) {
        return ad_error(AD_ERR_VALUE, "unknown unary op %d", (int)k);
    }
    ad_status s = ad_new(x->dtype, x->ndim, x->shape, &y);
    if (s) {
        return s;
    }
    ad_call_init(&c, &ad_def_unary, k, 1, &x, y);
    c.at.unary.a = a;
    c.at.unary.b = b;
    return ad_call_run(&c, x->size * 8, out);
}

static ad_status
bw_unary(ad_record *r, ad_buffer **g)
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
                              r->at.unary.a, r->at.unary.b);
    return ad_acc_grad(r, 0, &gx, 1);
}

#define AD_X_KIND(code, nm, fl, pa, pb) [AD_U_##code] = {#nm, fl, {#pa, #pb}},
static const ad_kinddef unary_kinds[] = {AD_UNARY_KINDS(AD_X_KIND)};
#undef AD_X_KIND
static const ad_attrdef unary_attrs[] = {
    AD_ATTR(unary, a, AD_ATTR_F64), AD_ATTR(unary, b, AD_ATTR_F64),
};
const ad_opdef ad_def_unary = {
    .name = "unary",
    .code = AD_OP_UNARY, .arity = 1, .saved = AD_SAVED_OUT,
    .kinds = unary_kinds, .nkinds = AD_U_COUNT,
    .attrs = unary_attrs, .nattrs = 2,
    .forward = fw_unary, .backward = bw_unary,
};

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

/* The iterator over (out, x, y) of a two-input broadcasting op. */
static void
broadcast_iter(ad_record *r, ad_iter *it, int64_t st[3][AD_MAX_DIMS])
{
    ad_tensor *o = r->out, *x = r->in[0], *y = r->in[1];
    ad_strides(o->ndim, o->shape, st[0]);
    ad_bcast_strides(o->ndim, o->shape, x->ndim, x->shape, st[1]);
    ad_bcast_strides(o->ndim, o->shape, y->ndim, y->shape, st[2]);
    ad_iter_init(it, o->ndim, o->shape, 3, st);
}

static ad_status
fw_binary(ad_record *r)
{
    ad_tensor *o = r->out, *x = r->in[0], *y = r->in[1];
    int64_t st[3][AD_MAX_DIMS];
    ad_iter it;
    broadcast_iter(r, &it, st);
    if (ad_is_float(x->dtype)) {
        ad_k(x->dtype)->binary_fwd(r->kind, &it, ad_data(o), ad_data(x),
                                   ad_data(y));
    }
    else {
        if (r->kind == AD_B_DIV || r->kind == AD_B_FMOD ||
            r->kind == AD_B_REMAINDER) {
            /* checked here, where a compiled replay runs too: an integer
             * division by zero is a hardware trap, not a value */
            const int64_t *q = ad_data(y);
            for (int64_t i = 0; i < y->size; i++) {
                if (q[i] == 0) {
                    return ad_error(AD_ERR_VALUE, "ZeroDivisionError: "
                                    "integer %s by zero",
                                    ad_def_binary.kinds[r->kind].name);
                }
            }
        }
        ad_kany(x->dtype)->int_binary(r->kind, &it, ad_data(o), ad_data(x),
                                      ad_data(y));
    }
    return AD_OK;
}

/* The binary kinds int64 tensors have (bool: add, mul, pow, maximum,
 * minimum, as torch, which refuses bool subtraction); true division
 * promotes to float above the engine. */
static ad_status
check_int_kind(ad_binary_kind k, const ad_tensor *x)
{
    int ok = k == AD_B_ADD || k == AD_B_MUL || k == AD_B_POW ||
             k == AD_B_MAXIMUM || k == AD_B_MINIMUM;
    if (x->dtype == AD_BOOL && k == AD_B_POW) {
        ok = 0;
    }
    if (x->dtype == AD_I64 && (k == AD_B_SUB || k == AD_B_DIV ||
                               k == AD_B_FMOD || k == AD_B_REMAINDER)) {
        ok = 1;                         /* div: floor division */
    }
    if (ad_is_float(x->dtype) || ok) {
        return AD_OK;
    }
    return ad_error(AD_ERR_TYPE, "%s is not implemented for %s tensors%s",
                    ad_def_binary.kinds[k].name, ad_dtype_name(x->dtype),
                    k == AD_B_SUB ? "; use the ^ operator or logical_xor "
                                    "instead" : "");
}

ad_status
ad_binary(ad_binary_kind k, ad_tensor *x, ad_tensor *y, ad_tensor **out)
{
    int nd;
    int64_t shape[AD_MAX_DIMS];
    ad_tensor *o, *xs[2] = {x, y};
    ad_record c;

    if ((unsigned)k >= AD_B_COUNT) {
        return ad_error(AD_ERR_VALUE, "unknown binary op %d", (int)k);
    }
    ad_status s = check_dtypes("binary op", x, y);
    if (s || (s = check_int_kind(k, x)) ||
        (s = ad_broadcast_shapes(x->ndim, x->shape, y->ndim, y->shape,
                                      &nd, shape))) {
        return s;
    }
    if ((s = ad_new(x->dtype, nd, shape, &o))) {
        return s;
    }
    ad_call_init(&c, &ad_def_binary, k, 2, xs, o);
    return ad_call_run(&c, o->size * 2, out);
}

static ad_status
bw_binary(ad_record *r, ad_buffer **g)
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
            ad_same_shape(x, o->ndim, o->shape)) {
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

#define AD_X_KIND(code, nm) [AD_B_##code] = {#nm, 0, {0}},
static const ad_kinddef binary_kinds[] = {AD_BINARY_KINDS(AD_X_KIND)};
#undef AD_X_KIND
const ad_opdef ad_def_binary = {
    .name = "binary",
    .code = AD_OP_BINARY, .arity = 2, .flags = AD_K_READS_X | AD_OP_ANY_DTYPE,
    .kinds = binary_kinds, .nkinds = AD_B_COUNT,
    .forward = fw_binary, .backward = bw_binary,
};

/* ---- comparisons and bitwise ops: no gradient ------------------------------ */

/* Broadcast x and y into out_dt of their broadcast shape, and set up the
 * iterator over (out, x, y); on failure nothing is allocated. */
static ad_status
new_broadcast_out(const char *what, ad_tensor *x, ad_tensor *y, int out_dt,
                  ad_tensor **o)
{
    int nd;
    int64_t shape[AD_MAX_DIMS];
    ad_status s = check_dtypes(what, x, y);
    if (s || (s = ad_broadcast_shapes(x->ndim, x->shape, y->ndim, y->shape,
                                      &nd, shape))) {
        return s;
    }
    return ad_new(out_dt, nd, shape, o);
}

static ad_status
fw_compare(ad_record *r)
{
    int64_t st[3][AD_MAX_DIMS];
    ad_iter it;
    broadcast_iter(r, &it, st);
    ad_kany(r->in[0]->dtype)->compare(r->kind, &it, ad_data(r->out),
                                       ad_data(r->in[0]), ad_data(r->in[1]));
    return AD_OK;
}

ad_status
ad_compare(ad_compare_kind k, ad_tensor *x, ad_tensor *y, ad_tensor **out)
{
    ad_tensor *o, *xs[2] = {x, y};
    ad_record c;
    if ((unsigned)k >= AD_C_COUNT) {
        return ad_error(AD_ERR_VALUE, "unknown comparison %d", (int)k);
    }
    ad_status s = new_broadcast_out("comparison", x, y, AD_BOOL, &o);
    if (s) {
        return s;
    }
    ad_call_init(&c, &ad_def_compare, k, 2, xs, o);
    return ad_call_run(&c, o->size, out);
}

#define AD_X_KIND(code, nm) [AD_C_##code] = {#nm, 0, {0}},
static const ad_kinddef compare_kinds[] = {AD_COMPARE_KINDS(AD_X_KIND)};
#undef AD_X_KIND
const ad_opdef ad_def_compare = {
    .name = "compare",
    .code = AD_OP_COMPARE, .arity = 2, .flags = AD_OP_ANY_DTYPE,
    .kinds = compare_kinds, .nkinds = AD_C_COUNT,
    .forward = fw_compare,
};

#define AD_X_KIND(code, nm) [AD_W_##code] = {#nm, 0, {0}},
static const ad_kinddef bitwise_kinds[] = {AD_BITWISE_KINDS(AD_X_KIND)};
#undef AD_X_KIND

static ad_status
fw_bitwise(ad_record *r)
{
    int64_t st[3][AD_MAX_DIMS];
    ad_iter it;
    broadcast_iter(r, &it, st);
    ad_kany(r->in[0]->dtype)->bitwise(r->kind, &it, ad_data(r->out),
                                       ad_data(r->in[0]), ad_data(r->in[1]));
    return AD_OK;
}

ad_status
ad_bitwise(ad_bitwise_kind k, ad_tensor *x, ad_tensor *y, ad_tensor **out)
{
    ad_tensor *o, *xs[2] = {x, y};
    ad_record c;
    if ((unsigned)k >= AD_W_COUNT) {
        return ad_error(AD_ERR_VALUE, "unknown bitwise op %d", (int)k);
    }
    if (ad_is_float(x->dtype) || ad_is_float(y->dtype)) {
        return ad_error(AD_ERR_TYPE, "bitwise_%s is only for int64 and bool "
                        "tensors, got %s and %s", bitwise_kinds[k].name,
                        ad_dtype_name(x->dtype), ad_dtype_name(y->dtype));
    }
    ad_status s = new_broadcast_out("bitwise op", x, y, x->dtype, &o);
    if (s) {
        return s;
    }
    ad_call_init(&c, &ad_def_bitwise, k, 2, xs, o);
    return ad_call_run(&c, o->size, out);
}

const ad_opdef ad_def_bitwise = {
    .name = "bitwise",
    .code = AD_OP_BITWISE, .arity = 2, .flags = AD_OP_ANY_DTYPE,
    .kinds = bitwise_kinds, .nkinds = AD_W_COUNT,
    .forward = fw_bitwise,
};

/* ---- where -------------------------------------------------------------- */

static ad_status
fw_where(ad_record *r)
{
    ad_tensor *o = r->out;
    ad_kany(o->dtype)->where(AD_BUF_DATA(r->saved), ad_data(r->in[0]),
                             ad_data(r->in[1]), ad_data(o), o->size);
    return AD_OK;
}

ad_status
ad_where(ad_tensor *cond, ad_tensor *x, ad_tensor *y, ad_tensor **out)
{
    int nd, nd2;
    int64_t sh[AD_MAX_DIMS], shape[AD_MAX_DIMS];
    ad_tensor *xb = NULL, *yb = NULL, *cb = NULL, *o = NULL, *xs[2];
    ad_record c;
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
    xs[0] = xb;
    xs[1] = yb;
    ad_call_init(&c, &ad_def_where, 0, 2, xs, o);
    ad_buf_incref(cb->buf);
    c.saved = cb->buf;                  /* the condition, as x's dtype */
    s = ad_call_run(&c, 0, out);
done:
    ad_decref(cb);
    ad_decref(xb);
    ad_decref(yb);
    return s;
}

static ad_status
bw_where(ad_record *r, ad_buffer **g)
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

const ad_opdef ad_def_where = {
    .name = "where",
    .code = AD_OP_WHERE, .arity = 2, .flags = AD_OP_ANY_DTYPE,
    .saved = AD_SAVED_LIKE_OUT,
    .forward = fw_where, .backward = bw_where,
};

/* ---- elementwise losses -------------------------------------------------- */

static const char *loss_names[] = {"mse_loss", "l1_loss",
                                   "binary_cross_entropy",
                                   "binary_cross_entropy_with_logits",
                                   "huber_loss", "smooth_l1_loss"};

/* One body for eager and replay: the BCE range error names the value. */
static ad_status
fw_loss(ad_record *r)
{
    ad_tensor *p = r->in[0];
    int bad = ad_k(p->dtype)->loss_fwd(r->kind, ad_data(p),
                                       ad_data(r->in[1]), ad_data(r->out),
                                       p->size, r->at.loss.a);
    if (bad) {
        int64_t i = -1 - (int64_t)bad;
        double v = p->dtype == AD_F64 ? ((double *)ad_data(p))[i]
                                      : ((float *)ad_data(p))[i];
        return ad_error(AD_ERR_VALUE, "binary_cross_entropy: all elements "
                        "of input should be between 0 and 1, got %g at "
                        "flat index %lld", v, (long long)i);
    }
    return AD_OK;
}

ad_status
ad_loss(ad_loss_kind k, ad_tensor *p, ad_tensor *t, ad_tensor **out)
{
    return ad_loss_a(k, p, t, 0.0, out);
}

ad_status
ad_loss_a(ad_loss_kind k, ad_tensor *p, ad_tensor *t, double a,
          ad_tensor **out)
{
    char s1[AD_SHAPE_BUF], s2[AD_SHAPE_BUF];
    ad_tensor *o, *xs[2] = {p, t};
    ad_record c;
    ad_status s;
    if ((unsigned)k >= AD_L_COUNT) {
        return ad_error(AD_ERR_VALUE, "unknown loss %d", (int)k);
    }
    if (!ad_same_shape(t, p->ndim, p->shape)) {
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
    ad_call_init(&c, &ad_def_loss, k, 2, xs, o);
    c.at.loss.a = a;
    return ad_call_run(&c, 0, out);
}

static ad_status
bw_loss(ad_record *r, ad_buffer **g)
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
                                 AD_BUF_DATA(gx), x->size, r->at.loss.a);
        ad_status s = ad_acc_grad(r, which, &gx, 1);
        if (s) {
            return s;
        }
    }
    return AD_OK;
}

#define AD_X_KIND(code, nm) [AD_L_##code] = {#nm, 0, {0}},
static const ad_kinddef loss_kinds[] = {AD_LOSS_KINDS(AD_X_KIND)};
#undef AD_X_KIND
static const ad_attrdef loss_attrs[] = {AD_ATTR(loss, a, AD_ATTR_F64)};
const ad_opdef ad_def_loss = {
    .name = "loss",
    .code = AD_OP_LOSS, .arity = 2, .flags = AD_K_READS_X,
    .kinds = loss_kinds, .nkinds = AD_L_COUNT,
    .attrs = loss_attrs, .nattrs = 1,
    .forward = fw_loss, .backward = bw_loss,
};

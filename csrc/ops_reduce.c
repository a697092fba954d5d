/*
 * ops_reduce.c -- sum, mean, max, min and prod over a set of axes,
 * running sums and products, argmax/argmin and the indices of cummax /
 * cummin (any dtype, no gradient).
 */
#include "ad_impl.h"

#define AD_X_KIND(code, nm, fl) [AD_R_##code] = {#nm, fl, {0}},
static const ad_kinddef reduce_kinds[] = {AD_REDUCE_KINDS(AD_X_KIND)};
#undef AD_X_KIND
#define reduce_names(k) (reduce_kinds[k].name)

/* Shape with reduced axes kept as 1 (keep) and dropped (out). */
static void
reduced_shapes(const ad_tensor *x, uint32_t mask, int64_t *keep,
               int *nout, int64_t *out, int64_t *count)
{
    int m = 0;
    *count = 1;
    for (int i = 0; i < x->ndim; i++) {
        if (mask >> i & 1) {
            keep[i] = 1;
            *count *= x->shape[i];
        }
        else {
            keep[i] = x->shape[i];
            out[m++] = x->shape[i];
        }
    }
    *nout = m;
}

static void
reduce_compute(int k, const ad_tensor *x, const int64_t *keep,
               int64_t count, ad_tensor *o)
{
    int64_t st[3][AD_MAX_DIMS];
    ad_iter it;
    const ad_kernels *K = ad_k(x->dtype);
    ad_bcast_strides(x->ndim, x->shape, x->ndim, keep, st[0]);
    ad_strides(x->ndim, x->shape, st[1]);
    ad_iter_init(&it, x->ndim, x->shape, 2, st);
    if (x->dtype == AD_I64) {           /* sum, max, min (ad_reduce) */
        const ad_kernels_any *A = ad_kany(AD_I64);
        A->fill(ad_data(o), o->size,
                k == AD_R_SUM ? 0.0 : k == AD_R_PROD ? 1.0
                : k == AD_R_MAX ? -INFINITY : INFINITY);
        A->int_reduce_into(k, &it, ad_data(o), ad_data(x));
        return;
    }
    if (k == AD_R_SUM || k == AD_R_MEAN) {
        ad_kany(x->dtype)->fill(ad_data(o), o->size, 0.0);
        K->sum_into(&it, ad_data(o), ad_data(x));
        if (k == AD_R_MEAN) {
            K->scale(ad_data(o), o->size, 1.0 / (double)count);
        }
    }
    else if (k == AD_R_PROD) {
        ad_kany(x->dtype)->fill(ad_data(o), o->size, 1.0);
        K->prod_into(&it, ad_data(o), ad_data(x));
    }
    else {
        ad_kany(x->dtype)->fill(ad_data(o), o->size,
                                k == AD_R_MAX ? -INFINITY : INFINITY);
        K->maxmin_into(k == AD_R_MAX, &it, ad_data(o), ad_data(x));
    }
}

static ad_status
fw_reduce(ad_record *r)
{
    int64_t keep[AD_MAX_DIMS], oshape[AD_MAX_DIMS], count;
    int nout;
    reduced_shapes(r->in[0], r->at.reduce.axes, keep, &nout, oshape, &count);
    reduce_compute(r->kind, r->in[0], keep, count, r->out);
    return AD_OK;
}

ad_status
ad_reduce(ad_reduce_kind k, ad_tensor *x, uint32_t mask, int keepdims,
          ad_tensor **out)
{
    int64_t keep[AD_MAX_DIMS], oshape[AD_MAX_DIMS], count;
    int nout;
    ad_tensor *o;
    ad_record c;
    ad_status s;
    char sb[AD_SHAPE_BUF];

    if ((unsigned)k >= AD_R_COUNT) {
        return ad_error(AD_ERR_VALUE, "unknown reduction %d", (int)k);
    }
    if (x->ndim < 32 && (mask >> x->ndim) != 0) {
        return ad_error(AD_ERR_VALUE, "%s: axis out of range for a tensor "
                        "of shape %s", reduce_names(k),
                        ad_shape_str(x->ndim, x->shape, sb, sizeof(sb)));
    }
    if (!ad_is_float(x->dtype) && (x->dtype != AD_I64 || k == AD_R_MEAN)) {
        return ad_error(AD_ERR_TYPE, "%s is not implemented for %s tensors",
                        reduce_names(k), ad_dtype_name(x->dtype));
    }
    reduced_shapes(x, mask, keep, &nout, oshape, &count);
    if ((k == AD_R_MAX || k == AD_R_MIN) && count == 0) {
        return ad_error(AD_ERR_VALUE, "zero-size array to reduction "
                        "operation %s which has no identity (shape %s)",
                        reduce_names(k),
                        ad_shape_str(x->ndim, x->shape, sb, sizeof(sb)));
    }
    s = keepdims ? ad_new(x->dtype, x->ndim, keep, &o)
                 : ad_new(x->dtype, nout, oshape, &o);
    if (s) {
        return s;
    }
    ad_call_init(&c, &ad_def_reduce, k, 1, &x, o);
    c.at.reduce.axes = mask;
    c.at.reduce.keepdims = keepdims != 0;
    c.at.reduce.count = count;
    return ad_call_run(&c, 0, out);
}

/* sum: g broadcast back; mean: g / count; max/min: g shared among the
 * elements equal to the result (ties split evenly, as torch's amax);
 * prod: torch's prod_backward (zeros counted per slice, no division by
 * zero; a 0-d x gets g). */
static ad_status
bw_reduce(ad_record *r, ad_buffer **g)
{
    ad_tensor *x = r->in[0];
    int64_t keep[AD_MAX_DIMS], oshape[AD_MAX_DIMS], count;
    int64_t st[3][AD_MAX_DIMS];
    int nout;
    ad_iter it;
    const ad_kernels *K = ad_k(x->dtype);

    reduced_shapes(x, r->at.reduce.axes, keep, &nout, oshape, &count);
    ad_buffer *gx = ad_buf_alloc(ad_nbytes(x));
    if (!gx) {
        return ad_error(AD_ERR_NOMEM, "out of memory in backward");
    }
    ad_strides(x->ndim, x->shape, st[0]);
    ad_bcast_strides(x->ndim, x->shape, x->ndim, keep, st[1]);
    ad_iter_init(&it, x->ndim, x->shape, 2, st);
    if (r->kind == AD_R_SUM || r->kind == AD_R_MEAN) {
        ad_kany(x->dtype)->copy_strided(&it, AD_BUF_DATA(gx), AD_BUF_DATA(*g));
        if (r->kind == AD_R_MEAN) {
            K->scale(AD_BUF_DATA(gx), x->size, 1.0 / (double)count);
        }
    }
    else if (r->kind == AD_R_PROD && x->size == 0) {
        /* nothing to fill */
    }
    else if (r->kind == AD_R_PROD && x->ndim == 0) {
        ad_kany(x->dtype)->copy_strided(&it, AD_BUF_DATA(gx),
                                        AD_BUF_DATA(*g));  /* torch: g */
    }
    else if (r->kind == AD_R_PROD) {
        int64_t m = r->out->size;
        size_t one = ad_nbytes(r->out);
        ad_buffer *ab = ad_buf_zeros(6 * one);
        if (!ab) {
            ad_buf_decref(gx);
            return ad_error(AD_ERR_NOMEM, "out of memory in backward");
        }
        char *base = AD_BUF_DATA(ab);
        void *aux[6];
        for (int i = 0; i < 6; i++) {
            aux[i] = base + (size_t)i * one;
        }
        ad_kany(x->dtype)->fill(aux[4], 2 * m, 1.0);    /* aux 4 and 5 */
        int full = x->ndim < 32 &&
                   r->at.reduce.axes == ((uint32_t)1 << x->ndim) - 1;
        K->prod_bwd(full, &it, AD_BUF_DATA(gx), ad_data(x), AD_BUF_DATA(*g),
                    AD_BUF_DATA(r->saved), aux, m);
        ad_buf_decref(ab);
    }
    else {
        ad_buffer *cnt = ad_buf_zeros(ad_nbytes(r->out));
        if (!cnt) {
            ad_buf_decref(gx);
            return ad_error(AD_ERR_NOMEM, "out of memory in backward");
        }
        K->maxmin_bwd(&it, AD_BUF_DATA(gx), ad_data(x), AD_BUF_DATA(*g),
                      AD_BUF_DATA(r->saved), AD_BUF_DATA(cnt));
        ad_buf_decref(cnt);
    }
    return ad_acc_grad(r, 0, &gx, 1);
}

static const ad_attrdef reduce_attrs[] = {
    AD_ATTR(reduce, axes, AD_ATTR_U32), AD_ATTR(reduce, keepdims, AD_ATTR_I32),
    AD_ATTR(reduce, count, AD_ATTR_I64),
};
const ad_opdef ad_def_reduce = {
    .name = "reduce",
    .code = AD_OP_REDUCE, .arity = 1, .flags = AD_OP_ANY_DTYPE,
    .saved = AD_SAVED_OUT,
    .kinds = reduce_kinds, .nkinds = AD_R_COUNT,
    .attrs = reduce_attrs, .nattrs = 3,
    .forward = fw_reduce, .backward = bw_reduce,
};

/* ---- cumsum: running sums along an axis --------------------------------- */

static ad_status
fw_cumsum(ad_record *r)
{
    int64_t outer, n, inner;
    ad_tensor *x = r->in[0];
    ad_split_axis(x, r->at.cumsum.axis, &outer, &n, &inner);
    if (ad_is_float(x->dtype)) {
        ad_k(x->dtype)->cumsum(ad_data(x), ad_data(r->out), outer, n, inner,
                               r->at.cumsum.reverse);
    }
    else {                              /* int64: wraps, as torch's */
        ad_kany(x->dtype)->int_scan(0, ad_data(x), ad_data(r->out), outer, n,
                                    inner, r->at.cumsum.reverse);
    }
    return AD_OK;
}

/* A running scan along axis (cumsum, cumprod): the checks both make, the
 * output, the record. */
static ad_status
scan_call(const ad_opdef *def, const char *what, ad_tensor *x, int axis,
          int reverse, ad_tensor **out)
{
    ad_tensor *o;
    ad_record c;
    ad_status s;
    char sb[AD_SHAPE_BUF];
    int nd = x->ndim ? x->ndim : 1;     /* a 0-d tensor has one axis */
    if (axis < 0 || axis >= nd) {
        return ad_error(AD_ERR_INDEX, "%s: dim %d is out of range for a "
                        "tensor of shape %s (%d dimensions)", what, axis,
                        ad_shape_str(x->ndim, x->shape, sb, sizeof(sb)),
                        x->ndim);
    }
    if (x->dtype == AD_BOOL) {
        return ad_error(AD_ERR_TYPE, "%s is not implemented for bool "
                        "tensors (cast to int64 first)", what);
    }
    if ((s = ad_new(x->dtype, x->ndim, x->shape, &o))) {
        return s;
    }
    ad_call_init(&c, def, 0, 1, &x, o);
    c.at.cumsum.axis = axis;
    c.at.cumsum.reverse = reverse != 0;
    return ad_call_run(&c, x->size * 4, out);
}

ad_status
ad_cumsum(ad_tensor *x, int axis, int reverse, ad_tensor **out)
{
    return scan_call(&ad_def_cumsum, "cumsum", x, axis, reverse, out);
}

/* The gradient of running sums is the running sums of g the other way. */
static ad_status
bw_cumsum(ad_record *r, ad_buffer **g)
{
    int64_t outer, n, inner;
    ad_tensor *x = r->in[0];
    ad_buffer *gx = ad_buf_alloc(ad_nbytes(x));
    if (!gx) {
        return ad_error(AD_ERR_NOMEM, "out of memory in backward");
    }
    ad_split_axis(x, r->at.cumsum.axis, &outer, &n, &inner);
    ad_k(x->dtype)->cumsum(AD_BUF_DATA(*g), AD_BUF_DATA(gx), outer, n, inner,
                           !r->at.cumsum.reverse);
    return ad_acc_grad(r, 0, &gx, 1);
}

static const ad_attrdef cumsum_attrs[] = {
    AD_ATTR(cumsum, axis, AD_ATTR_I32), AD_ATTR(cumsum, reverse, AD_ATTR_I32),
};
const ad_opdef ad_def_cumsum = {
    .name = "cumsum",
    .code = AD_OP_CUMSUM, .arity = 1, .flags = AD_OP_ANY_DTYPE,
    .attrs = cumsum_attrs, .nattrs = 2,
    .forward = fw_cumsum, .backward = bw_cumsum,
};

/* ---- argmax / argmin: int64 indices, no gradient ------------------------ */

static ad_status
fw_argreduce(ad_record *r)
{
    int64_t outer = 1, n, inner = 1;
    ad_tensor *x = r->in[0];
    if (r->at.argreduce.axis < 0) {
        n = x->size;                    /* over the flattened tensor */
    }
    else {
        ad_split_axis(x, r->at.argreduce.axis, &outer, &n, &inner);
    }
    ad_kany(x->dtype)->argreduce(r->kind == AD_A_ARGMAX, ad_data(x),
                                 ad_data(r->out), outer, n, inner);
    return AD_OK;
}

/* axis -1: over all elements (a 0-d result, or all ones with keepdim). */
ad_status
ad_argreduce(ad_argreduce_kind k, ad_tensor *x, int axis, int keepdim,
             ad_tensor **out)
{
    int64_t shape[AD_MAX_DIMS];
    int nd = 0, xnd = x->ndim ? x->ndim : 1;
    ad_tensor *o;
    ad_record c;
    ad_status s;
    char sb[AD_SHAPE_BUF];
    const char *name = k == AD_A_ARGMAX ? "argmax" : "argmin";
    if ((unsigned)k >= AD_A_COUNT) {
        return ad_error(AD_ERR_VALUE, "unknown arg-reduction %d", (int)k);
    }
    if (axis < -1 || axis >= xnd) {
        return ad_error(AD_ERR_INDEX, "%s(): dim %d is out of range for a "
                        "tensor of shape %s", name, axis,
                        ad_shape_str(x->ndim, x->shape, sb, sizeof(sb)));
    }
    if (axis < 0 ? x->size == 0 : x->ndim && x->shape[axis] == 0) {
        if (axis < 0) {
            return ad_error(AD_ERR_INDEX, "%s(): Expected reduction dim to "
                            "be specified for input.numel() == 0.", name);
        }
        return ad_error(AD_ERR_INDEX, "%s(): Expected reduction dim %d to "
                        "have non-zero size.", name, axis);
    }
    for (int d = 0; d < x->ndim; d++) {
        if (axis < 0 || d == axis) {
            if (keepdim) {
                shape[nd++] = 1;
            }
        }
        else {
            shape[nd++] = x->shape[d];
        }
    }
    if ((s = ad_new(AD_I64, nd, shape, &o))) {
        return s;
    }
    ad_call_init(&c, &ad_def_argreduce, k, 1, &x, o);
    c.at.argreduce.axis = axis;
    c.at.argreduce.keepdim = keepdim != 0;
    return ad_call_run(&c, x->size, out);
}

#define AD_X_KIND(code, nm) [AD_A_##code] = {#nm, 0, {0}},
static const ad_kinddef argreduce_kinds[] = {AD_ARGREDUCE_KINDS(AD_X_KIND)};
#undef AD_X_KIND
static const ad_attrdef argreduce_attrs[] = {
    AD_ATTR(argreduce, axis, AD_ATTR_I32),
    AD_ATTR(argreduce, keepdim, AD_ATTR_I32),
};
const ad_opdef ad_def_argreduce = {
    .name = "argreduce",
    .code = AD_OP_ARGREDUCE, .arity = 1, .flags = AD_OP_ANY_DTYPE,
    .kinds = argreduce_kinds, .nkinds = AD_A_COUNT,
    .attrs = argreduce_attrs, .nattrs = 2,
    .forward = fw_argreduce,
};

/* ---- cumprod: running products along an axis ---------------------------- */

static ad_status
fw_cumprod(ad_record *r)
{
    int64_t outer, n, inner;
    ad_tensor *x = r->in[0];
    ad_split_axis(x, r->at.cumsum.axis, &outer, &n, &inner);
    if (ad_is_float(x->dtype)) {
        ad_k(x->dtype)->cumprod(ad_data(x), ad_data(r->out), outer, n, inner,
                                r->at.cumsum.reverse);
    }
    else {
        ad_kany(x->dtype)->int_scan(1, ad_data(x), ad_data(r->out), outer, n,
                                    inner, r->at.cumsum.reverse);
    }
    return AD_OK;
}

ad_status
ad_cumprod(ad_tensor *x, int axis, int reverse, ad_tensor **out)
{
    return scan_call(&ad_def_cumprod, "cumprod", x, axis, reverse, out);
}

static ad_status
bw_cumprod(ad_record *r, ad_buffer **g)
{
    int64_t outer, n, inner;
    ad_tensor *x = r->in[0];
    ad_buffer *gx = ad_buf_alloc(ad_nbytes(x));
    if (!gx) {
        return ad_error(AD_ERR_NOMEM, "out of memory in backward");
    }
    ad_split_axis(x, r->at.cumsum.axis, &outer, &n, &inner);
    ad_k(x->dtype)->cumprod_bwd(ad_data(x), AD_BUF_DATA(r->saved),
                                AD_BUF_DATA(*g), AD_BUF_DATA(gx), outer, n,
                                inner, r->at.cumsum.reverse);
    return ad_acc_grad(r, 0, &gx, 1);
}

const ad_opdef ad_def_cumprod = {
    .name = "cumprod",
    .code = AD_OP_CUMPROD, .arity = 1,
    .flags = AD_OP_ANY_DTYPE | AD_K_SAVES_OUT, .saved = AD_SAVED_OUT,
    .attrs = cumsum_attrs, .nattrs = 2,
    .forward = fw_cumprod, .backward = bw_cumprod,
};

/* ---- cumarg: the indices of cummax / cummin (no gradient) --------------- */

static ad_status
fw_cumarg(ad_record *r)
{
    int64_t outer, n, inner;
    ad_tensor *x = r->in[0];
    ad_split_axis(x, r->at.cumarg.axis, &outer, &n, &inner);
    ad_kany(x->dtype)->cumarg(r->at.cumarg.is_max, ad_data(x),
                              ad_data(r->out), outer, n, inner);
    return AD_OK;
}

ad_status
ad_cumarg(ad_tensor *x, int axis, int is_max, ad_tensor **out)
{
    ad_tensor *o;
    ad_record c;
    ad_status s;
    char sb[AD_SHAPE_BUF];
    int nd = x->ndim ? x->ndim : 1;
    if (axis < 0 || axis >= nd) {
        return ad_error(AD_ERR_INDEX, "%s: dim %d is out of range for a "
                        "tensor of shape %s (%d dimensions)",
                        is_max ? "cummax" : "cummin", axis,
                        ad_shape_str(x->ndim, x->shape, sb, sizeof(sb)),
                        x->ndim);
    }
    if ((s = ad_new(AD_I64, x->ndim, x->shape, &o))) {
        return s;
    }
    ad_call_init(&c, &ad_def_cumarg, 0, 1, &x, o);
    c.at.cumarg.axis = axis;
    c.at.cumarg.is_max = is_max != 0;
    return ad_call_run(&c, x->size, out);
}

static const ad_attrdef cumarg_attrs[] = {
    AD_ATTR(cumarg, axis, AD_ATTR_I32), AD_ATTR(cumarg, is_max, AD_ATTR_I32),
};
const ad_opdef ad_def_cumarg = {
    .name = "cumarg",
    .code = AD_OP_CUMARG, .arity = 1, .flags = AD_OP_ANY_DTYPE,
    .attrs = cumarg_attrs, .nattrs = 2,
    .forward = fw_cumarg,
};

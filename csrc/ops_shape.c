/*
 * ops_shape.c -- ops that move elements without arithmetic: reshape,
 * permute, broadcast_to, concat, gather (indexing) and dtype casts.
 */
#include "ad_impl.h"

#include <stdlib.h>

static ad_status fw_reshape(ad_record *r), fw_permute(ad_record *r),
    fw_broadcast(ad_record *r), fw_concat(ad_record *r),
    fw_gather(ad_record *r), fw_scatter(ad_record *r), fw_cast(ad_record *r);

static ad_status
nomem(void)
{
    return ad_error(AD_ERR_NOMEM, "out of memory in backward");
}

/* ---- reshape: a view on the same buffer ---------------------------------- */

ad_status
ad_reshape(ad_tensor *x, int ndim, const int64_t *shape, ad_tensor **out)
{
    int64_t size;
    char s1[AD_SHAPE_BUF], s2[AD_SHAPE_BUF];
    ad_tensor *o;
    ad_record c;
    ad_status s = ad_check_size(ndim, shape, &size);
    if (s) {
        return s;
    }
    if (size != x->size) {
        return ad_error(AD_ERR_VALUE, "cannot reshape a tensor of shape %s "
                        "(%lld elements) into shape %s (%lld elements)",
                        ad_shape_str(x->ndim, x->shape, s1, sizeof(s1)),
                        (long long)x->size,
                        ad_shape_str(ndim, shape, s2, sizeof(s2)),
                        (long long)size);
    }
    if ((s = ad_new_view(x->buf, x->dtype, ndim, shape, &o))) {
        return s;
    }
    o->flags = x->flags & AD_T_COPY_OF_VIEW;    /* same buffer, same data */
    ad_call_init(&c, &ad_def_reshape, 0, 1, &x, o);
    return ad_call_run(&c, 0, out);
}

/* A view: nothing to recompute. */
static ad_status
fw_reshape(ad_record *r)
{
    (void)r;
    return AD_OK;
}

/* The gradient is g itself, seen in the input's shape. */
static ad_status
bw_reshape(ad_record *r, ad_buffer **g)
{
    return ad_acc_grad(r, 0, g, 1);
}

const ad_opdef ad_def_reshape = {
    .name = "reshape",
    .code = AD_OP_RESHAPE, .arity = 1, .flags = AD_OP_ANY_DTYPE,
    .forward = fw_reshape, .backward = bw_reshape,
};

/* ---- permute ---------------------------------------------------------------- */

ad_status
ad_permute(ad_tensor *x, const int *perm, ad_tensor **out)
{
    int64_t shape[AD_MAX_DIMS];
    int seen[AD_MAX_DIMS] = {0};
    ad_tensor *o;
    ad_record c;
    ad_status s;
    char sb[AD_SHAPE_BUF];

    for (int d = 0; d < x->ndim; d++) {
        if (perm[d] < 0 || perm[d] >= x->ndim || seen[perm[d]]++) {
            return ad_error(AD_ERR_VALUE, "permutation is not valid for a "
                            "tensor of shape %s (entry %d is %d)",
                            ad_shape_str(x->ndim, x->shape, sb, sizeof(sb)),
                            d, perm[d]);
        }
    }
    for (int d = 0; d < x->ndim; d++) {
        shape[d] = x->shape[perm[d]];
    }
    if ((s = ad_new(x->dtype, x->ndim, shape, &o))) {
        return s;
    }
    o->flags = AD_T_COPY_OF_VIEW;   /* torch returns a view */
    ad_call_init(&c, &ad_def_permute, 0, 1, &x, o);
    for (int d = 0; d < x->ndim; d++) {
        c.at.permute.perm[d] = perm[d];
    }
    return ad_call_run(&c, 0, out);
}

static ad_status
fw_permute(ad_record *r)
{
    ad_tensor *x = r->in[0], *o = r->out;
    int64_t xst[AD_MAX_DIMS], st[3][AD_MAX_DIMS];
    ad_iter it;
    ad_strides(x->ndim, x->shape, xst);
    for (int d = 0; d < x->ndim; d++) {
        st[1][d] = xst[r->at.permute.perm[d]];
    }
    ad_strides(o->ndim, o->shape, st[0]);
    ad_iter_init(&it, o->ndim, o->shape, 2, st);
    ad_kany(x->dtype)->copy_strided(&it, ad_data(o), ad_data(x));
    return AD_OK;
}

/* The inverse permutation: scatter g back through the same strides. */
static ad_status
bw_permute(ad_record *r, ad_buffer **g)
{
    ad_tensor *x = r->in[0], *o = r->out;
    int64_t xst[AD_MAX_DIMS], st[3][AD_MAX_DIMS];
    ad_iter it;
    ad_buffer *gx = ad_buf_alloc(ad_nbytes(x));
    if (!gx) {
        return nomem();
    }
    ad_strides(x->ndim, x->shape, xst);
    for (int d = 0; d < x->ndim; d++) {
        st[0][d] = xst[r->at.permute.perm[d]];
    }
    ad_strides(o->ndim, o->shape, st[1]);
    ad_iter_init(&it, o->ndim, o->shape, 2, st);
    ad_kany(x->dtype)->copy_strided(&it, AD_BUF_DATA(gx), AD_BUF_DATA(*g));
    return ad_acc_grad(r, 0, &gx, 1);
}

static const ad_attrdef permute_attrs[] = {
    AD_ATTR(permute, perm, AD_ATTR_DIMS),
};
const ad_opdef ad_def_permute = {
    .name = "permute",
    .code = AD_OP_PERMUTE, .arity = 1, .flags = AD_OP_ANY_DTYPE,
    .attrs = permute_attrs, .nattrs = 1,
    .forward = fw_permute, .backward = bw_permute,
};

/* ---- broadcast_to ---------------------------------------------------------- */

ad_status
ad_broadcast_to(ad_tensor *x, int ndim, const int64_t *shape,
                ad_tensor **out)
{
    char s1[AD_SHAPE_BUF], s2[AD_SHAPE_BUF];
    ad_tensor *o;
    ad_record c;
    ad_status s;
    int same = ndim == x->ndim;

    if (ndim < x->ndim || ndim > AD_MAX_DIMS) {
        same = -1;
    }
    for (int i = 0; same >= 0 && i < x->ndim; i++) {
        int64_t d = x->shape[i], t = shape[i + ndim - x->ndim];
        if (d != t) {
            same = d == 1 ? 0 : -1;
        }
    }
    if (same < 0) {
        return ad_error(AD_ERR_SHAPE, "cannot broadcast a tensor of shape "
                        "%s to shape %s",
                        ad_shape_str(x->ndim, x->shape, s1, sizeof(s1)),
                        ad_shape_str(ndim, shape, s2, sizeof(s2)));
    }
    if (same) {
        ad_ref(x);
        *out = x;
        return AD_OK;
    }
    if ((s = ad_new(x->dtype, ndim, shape, &o))) {
        return s;
    }
    o->flags = AD_T_COPY_OF_VIEW;   /* torch returns a view */
    ad_call_init(&c, &ad_def_broadcast, 0, 1, &x, o);
    return ad_call_run(&c, 0, out);
}

static ad_status
fw_broadcast(ad_record *r)
{
    ad_tensor *x = r->in[0], *o = r->out;
    int64_t st[3][AD_MAX_DIMS];
    ad_iter it;
    ad_strides(o->ndim, o->shape, st[0]);
    ad_bcast_strides(o->ndim, o->shape, x->ndim, x->shape, st[1]);
    ad_iter_init(&it, o->ndim, o->shape, 2, st);
    ad_kany(x->dtype)->copy_strided(&it, ad_data(o), ad_data(x));
    return AD_OK;
}

/* Sum g over the broadcast dimensions. */
static ad_status
bw_broadcast(ad_record *r, ad_buffer **g)
{
    ad_buffer *gx;
    ad_status s = ad_reduce_to_shape(r->in[0]->dtype, AD_BUF_DATA(*g),
                                     r->out->ndim, r->out->shape, r->in[0],
                                     &gx);
    return s ? s : ad_acc_grad(r, 0, &gx, 1);
}

const ad_opdef ad_def_broadcast = {
    .name = "broadcast",
    .code = AD_OP_BROADCAST, .arity = 1, .flags = AD_OP_ANY_DTYPE,
    .forward = fw_broadcast, .backward = bw_broadcast,
};

/* ---- concat ----------------------------------------------------------------- */

ad_status
ad_concat(int n, ad_tensor **xs, int axis, ad_tensor **out)
{
    char s1[AD_SHAPE_BUF], s2[AD_SHAPE_BUF];
    int64_t shape[AD_MAX_DIMS];
    ad_tensor *o;
    ad_record c;
    ad_status s;

    if (n < 1) {
        return ad_error(AD_ERR_VALUE, "need at least one tensor to "
                        "concatenate");
    }
    ad_tensor *x0 = xs[0];
    if (axis < 0 || axis >= x0->ndim) {
        return ad_error(AD_ERR_VALUE, "axis %d is out of bounds for tensors "
                        "of dimension %d", axis, x0->ndim);
    }
    for (int d = 0; d < x0->ndim; d++) {
        shape[d] = x0->shape[d];
    }
    shape[axis] = 0;
    for (int i = 0; i < n; i++) {
        ad_tensor *x = xs[i];
        int ok = x->ndim == x0->ndim && x->dtype == x0->dtype;
        for (int d = 0; ok && d < x0->ndim; d++) {
            ok = d == axis || x->shape[d] == x0->shape[d];
        }
        if (!ok) {
            return ad_error(AD_ERR_SHAPE, "concatenate along axis %d: "
                            "tensor 0 is %s %s but tensor %d is %s %s", axis,
                            ad_dtype_name(x0->dtype),
                            ad_shape_str(x0->ndim, x0->shape, s1, sizeof(s1)),
                            i, ad_dtype_name(x->dtype),
                            ad_shape_str(x->ndim, x->shape, s2, sizeof(s2)));
        }
        shape[axis] += x->shape[axis];
    }
    if ((s = ad_new(x0->dtype, x0->ndim, shape, &o))) {
        return s;
    }
    ad_call_init(&c, &ad_def_concat, 0, n, xs, o);
    c.at.concat.axis = axis;
    return ad_call_run(&c, 0, out);
}

static ad_status
fw_concat(ad_record *r)
{
    ad_tensor *o = r->out;
    int axis = r->at.concat.axis;
    int64_t outer, n_axis, inner;
    ad_split_axis(o, axis, &outer, &n_axis, &inner);
    size_t isz = ad_itemsize(o->dtype);
    size_t orow = (size_t)(n_axis * inner) * isz, pos = 0;
    for (int i = 0; i < r->nin; i++) {
        ad_tensor *x = ad_rec_input(r, i);
        size_t row = (size_t)(x->shape[axis] * inner) * isz;
        for (int64_t k = 0; k < outer; k++) {
            memcpy((char *)ad_data(o) + (size_t)k * orow + pos,
                   (char *)ad_data(x) + (size_t)k * row, row);
        }
        pos += row;
    }
    return AD_OK;
}

/* Each input gets its slice of g back. */
static ad_status
bw_concat(ad_record *r, ad_buffer **g)
{
    ad_tensor *o = r->out;
    int axis = r->at.concat.axis;
    int64_t outer, n_axis, inner;
    ad_split_axis(o, axis, &outer, &n_axis, &inner);
    size_t isz = ad_itemsize(o->dtype);
    size_t orow = (size_t)(n_axis * inner) * isz, pos = 0;
    for (int i = 0; i < r->nin; i++) {
        ad_tensor *x = ad_rec_input(r, i);
        size_t row = (size_t)(x->shape[axis] * inner) * isz;
        if (x->requires_grad) {
            ad_buffer *gx = ad_buf_alloc(ad_nbytes(x));
            if (!gx) {
                return nomem();
            }
            for (int64_t k = 0; k < outer; k++) {
                memcpy((char *)AD_BUF_DATA(gx) + (size_t)k * row,
                       (char *)AD_BUF_DATA(*g) + (size_t)k * orow + pos, row);
            }
            ad_status s = ad_acc_grad(r, i, &gx, 1);
            if (s) {
                return s;
            }
        }
        pos += row;
    }
    return AD_OK;
}

static const ad_attrdef concat_attrs[] = {
    AD_ATTR(concat, axis, AD_ATTR_I32),
};
const ad_opdef ad_def_concat = {
    .name = "concat",
    .code = AD_OP_CONCAT, .arity = -1, .flags = AD_OP_ANY_DTYPE,
    .attrs = concat_attrs, .nattrs = 1,
    .forward = fw_concat, .backward = bw_concat,
};

/* ---- gather: out.flat[i] = x.flat[idx[i]] -------------------------------- */

/* Every idx[0..n) within [0, limit), limit being the element count of a
 * tensor of shape (nd, shape); else an IndexError naming the shape. */
static ad_status
check_indices(const int64_t *idx, int64_t n, int64_t limit, const char *what,
              int nd, const int64_t *shape)
{
    char sb[AD_SHAPE_BUF];
    for (int64_t i = 0; i < n; i++) {
        if (idx[i] < 0 || idx[i] >= limit) {
            return ad_error(AD_ERR_INDEX, "index %lld is out of bounds for "
                            "%s %s (%lld elements)", (long long)idx[i], what,
                            ad_shape_str(nd, shape, sb, sizeof(sb)),
                            (long long)limit);
        }
    }
    return AD_OK;
}

/* A call to an indexing op with a copy of its n indices saved (the
 * caller's array may change later).  On failure o is released. */
static ad_status
call_with_indices(ad_record *c, const ad_opdef *def, ad_tensor **x,
                  ad_tensor *o, const int64_t *idx, int64_t n)
{
    ad_call_init(c, def, 0, 1, x, o);
    c->saved = ad_buf_alloc((size_t)n * sizeof(int64_t));
    if (!c->saved) {
        ad_decref(o);
        return ad_error(AD_ERR_NOMEM, "out of memory saving indices");
    }
    if (n) {                    /* idx may be NULL when there is none */
        memcpy(AD_BUF_DATA(c->saved), idx, (size_t)n * sizeof(int64_t));
    }
    return AD_OK;
}

/* Rows of at least this many consecutive indices take the row path. */
#define GATHER_MIN_RUN 8

/* Whether idx[0..n) is rows of len consecutive indices, row r from
 * base + r stride: then the gather is a copy per row (no index read). */
static void
gather_runs(ad_record *c, const int64_t *idx, int64_t n)
{
    c->at.gather.len = 0;
    if (n < GATHER_MIN_RUN) {
        return;
    }
    int64_t len = 1;
    while (len < n && idx[len] == idx[0] + len) {
        len++;
    }
    if (len < GATHER_MIN_RUN || n % len) {
        return;
    }
    int64_t rows = n / len, stride = rows > 1 ? idx[len] - idx[0] : 0;
    for (int64_t r = 0; r < rows; r++) {
        const int64_t *row = idx + r * len, first = idx[0] + r * stride;
        for (int64_t j = 0; j < len; j++) {
            if (row[j] != first + j) {
                return;
            }
        }
    }
    c->at.gather.base = idx[0];
    c->at.gather.stride = stride;
    c->at.gather.rows = rows;
    c->at.gather.len = len;
}

ad_status
ad_gather(ad_tensor *x, const int64_t *idx, int ndim, const int64_t *shape,
          ad_tensor **out)
{
    ad_tensor *o;
    ad_record c;
    ad_status s;
    if ((s = ad_new(x->dtype, ndim, shape, &o)) ||
        (s = call_with_indices(&c, &ad_def_gather, &x, o, idx, o->size))) {
        return s;
    }
    gather_runs(&c, idx, o->size);
    return ad_call_run(&c, 0, out);
}

static ad_status
fw_gather(ad_record *r)
{
    ad_tensor *x = r->in[0];
    const int64_t *idx = AD_BUF_DATA(r->saved);
    int64_t len = r->at.gather.len;
    if (len) {
        /* the rows' first and last indices bound all of them */
        int64_t rows = r->at.gather.rows, base = r->at.gather.base;
        int64_t last = base + (rows - 1) * r->at.gather.stride;
        int64_t lo = base < last ? base : last, hi = base < last ? last : base;
        if (lo >= 0 && hi + len <= x->size) {
            size_t it = ad_itemsize(x->dtype);
            const char *src = ad_data(x);
            char *dst = ad_data(r->out);
            for (int64_t k = 0; k < rows; k++) {
                memcpy(dst + (size_t)(k * len) * it,
                       src + (size_t)(base + k * r->at.gather.stride) * it,
                       (size_t)len * it);
            }
            return AD_OK;
        }
    }
    ad_status s = check_indices(idx, r->out->size, x->size,
                                "a tensor of shape", x->ndim, x->shape);
    if (s == AD_OK) {
        ad_kany(x->dtype)->gather(ad_data(x), idx, ad_data(r->out),
                                  r->out->size);
    }
    return s;
}

/* Scatter-add g into zeros: repeated indices accumulate (rows: the same
 * additions in the same order, without reading the indices). */
static ad_status
bw_gather(ad_record *r, ad_buffer **g)
{
    ad_tensor *x = r->in[0];
    ad_buffer *gx = ad_buf_zeros(ad_nbytes(x));
    if (!gx) {
        return nomem();
    }
    const ad_kernels *k = ad_k(x->dtype);
    int64_t len = r->at.gather.len;
    if (len) {
        size_t it = ad_itemsize(x->dtype);
        for (int64_t q = 0; q < r->at.gather.rows; q++) {
            k->axpy((char *)AD_BUF_DATA(gx) + (size_t)(r->at.gather.base +
                                                      q * r->at.gather.stride)
                                                     * it,
                    (const char *)AD_BUF_DATA(*g) + (size_t)(q * len) * it,
                    len, 1.0);
        }
    }
    else {
        k->scatter_add(AD_BUF_DATA(gx), AD_BUF_DATA(r->saved),
                       AD_BUF_DATA(*g), r->out->size);
    }
    return ad_acc_grad(r, 0, &gx, 1);
}

const ad_opdef ad_def_gather = {
    .name = "gather",
    .code = AD_OP_GATHER, .arity = 1, .flags = AD_OP_ANY_DTYPE,
    .saved = AD_SAVED_IDX_OUT,
    .forward = fw_gather, .backward = bw_gather,
};

/* ---- scatter-add: the transpose of gather ----------------------------- */
/* out (zeros of the given shape), out.flat[idx[i]] += g.flat[i].  Its
 * backward is a gather with the same indices, so the differentiable
 * backward of gather (and of scatter) stays within recorded ops. */
ad_status
ad_scatter_add(ad_tensor *g, const int64_t *idx, int ndim,
               const int64_t *shape, ad_tensor **out)
{
    ad_tensor *o;
    ad_record c;
    ad_status s;
    if ((s = ad_new(g->dtype, ndim, shape, &o)) ||
        (s = call_with_indices(&c, &ad_def_scatter, &g, o, idx, g->size))) {
        return s;
    }
    return ad_call_run(&c, 0, out);
}

static ad_status
fw_scatter(ad_record *r)
{
    ad_tensor *g = r->in[0], *o = r->out;
    const int64_t *idx = AD_BUF_DATA(r->saved);
    ad_status s = check_indices(idx, g->size, o->size,
                                "a scatter into shape", o->ndim, o->shape);
    if (s == AD_OK) {
        ad_kany(g->dtype)->fill(ad_data(o), o->size, 0.0);
        ad_k(g->dtype)->scatter_add(ad_data(o), idx, ad_data(g), g->size);
    }
    return s;
}

static ad_status
bw_scatter(ad_record *r, ad_buffer **g)
{
    ad_tensor *x = r->in[0];
    ad_buffer *gx = ad_buf_alloc(ad_nbytes(x));
    if (!gx) {
        return nomem();
    }
    ad_kany(x->dtype)->gather(AD_BUF_DATA(*g), AD_BUF_DATA(r->saved),
                              AD_BUF_DATA(gx), x->size);
    return ad_acc_grad(r, 0, &gx, 1);
}

const ad_opdef ad_def_scatter = {
    .name = "scatter",
    .code = AD_OP_SCATTER, .arity = 1, .saved = AD_SAVED_IDX_IN,
    .forward = fw_scatter, .backward = bw_scatter,
};

/* ---- cast --------------------------------------------------------------------- */

static ad_status cast(ad_tensor *x, ad_dtype dt, int copy, ad_tensor **out);

ad_status
ad_clone(ad_tensor *x, ad_dtype dt, ad_tensor **out)
{
    return cast(x, dt, 1, out);
}

ad_status
ad_cast(ad_tensor *x, ad_dtype dt, ad_tensor **out)
{
    return cast(x, dt, 0, out);
}

static ad_status
cast(ad_tensor *x, ad_dtype dt, int copy, ad_tensor **out)
{
    ad_tensor *o;
    ad_record c;
    ad_status s;
    if ((int)dt < 0 || (int)dt >= AD_DTYPE_COUNT) {
        return ad_error(AD_ERR_TYPE, "unknown dtype code %d", (int)dt);
    }
    if (dt == x->dtype && !copy) {
        ad_ref(x);
        *out = x;
        return AD_OK;
    }
    if ((s = ad_new(dt, x->ndim, x->shape, &o))) {
        return s;
    }
    ad_call_init(&c, &ad_def_cast, 0, 1, &x, o);
    return ad_call_run(&c, 0, out);
}

static ad_status
fw_cast(ad_record *r)
{
    ad_tensor *x = r->in[0];
    ad_cast_buf(ad_data(x), x->dtype, ad_data(r->out), r->out->dtype,
                x->size);
    return AD_OK;
}

/* Cast the gradient back to the input's dtype. */
static ad_status
bw_cast(ad_record *r, ad_buffer **g)
{
    ad_tensor *x = r->in[0];
    ad_buffer *gx = ad_buf_alloc(ad_nbytes(x));
    if (!gx) {
        return nomem();
    }
    ad_cast_buf(AD_BUF_DATA(*g), r->out->dtype, AD_BUF_DATA(gx), x->dtype,
                x->size);
    return ad_acc_grad(r, 0, &gx, 1);
}

const ad_opdef ad_def_cast = {
    .name = "cast",
    .code = AD_OP_CAST, .arity = 1, .flags = AD_OP_ANY_DTYPE,
    .forward = fw_cast, .backward = bw_cast,
};

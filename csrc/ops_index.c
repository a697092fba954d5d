/*
 * ops_index.c -- indexing by int64 index tensors along an axis (take,
 * put_add: torch.gather and scatter_add) and argsort.  Unlike gather and
 * scatter (ops_shape.c), whose flat indices are constants saved in the
 * record, these read their indices from an input tensor, so a compiled
 * replay follows indices computed inside the step (argsort, argmax).
 */
#include "ad_impl.h"

static ad_status
nomem(void)
{
    return ad_error(AD_ERR_NOMEM, "out of memory");
}

/* Check idx against the indexed tensor's shape (nd, shape) along axis:
 * int64, the same ndim, other dims no larger. */
static ad_status
check_index(const char *what, const ad_tensor *idx, int nd,
            const int64_t *shape, int axis)
{
    char s1[AD_SHAPE_BUF], s2[AD_SHAPE_BUF];
    int xnd = nd ? nd : 1;
    if (idx->dtype != AD_I64) {
        return ad_error(AD_ERR_TYPE, "%s(): Expected dtype int64 for index, "
                        "got %s", what, ad_dtype_name(idx->dtype));
    }
    if (axis < 0 || axis >= xnd) {
        return ad_error(AD_ERR_INDEX, "%s(): dim %d is out of range for a "
                        "tensor of shape %s", what, axis,
                        ad_shape_str(nd, shape, s1, sizeof(s1)));
    }
    int ok = idx->ndim == nd;
    for (int d = 0; ok && d < nd; d++) {
        ok = d == axis || idx->shape[d] <= shape[d];
    }
    if (!ok) {
        return ad_error(AD_ERR_SHAPE, "%s(): index of shape %s does not fit "
                        "a tensor of shape %s along dim %d (the same number "
                        "of dimensions, each other one no larger)", what,
                        ad_shape_str(idx->ndim, idx->shape, s1, sizeof(s1)),
                        ad_shape_str(nd, shape, s2, sizeof(s2)), axis);
    }
    return AD_OK;
}

/* The flat offset into a contiguous tensor of shape (nd, shape) of each
 * element of idx, whose value replaces the coordinate along axis; an
 * IndexError for a value outside [0, shape[axis]) -- or, with wrap (x[t]'s
 * rule), outside [-shape[axis], shape[axis]), negative values counting
 * from the end.  what NULL: torch's indexing message. */
static ad_status
axis_offsets(const char *what, const ad_tensor *idx, int nd,
             const int64_t *shape, int axis, int wrap, ad_buffer **out)
{
    int64_t st[AD_MAX_DIMS], c[AD_MAX_DIMS] = {0};
    int64_t n = nd ? shape[axis] : 1;
    const int64_t *v = ad_data(idx);
    ad_buffer *b = ad_buf_alloc((size_t)idx->size * sizeof(int64_t));
    if (!b) {
        return nomem();
    }
    int64_t *off = AD_BUF_DATA(b);
    ad_strides(nd, shape, st);
    for (int64_t i = 0; i < idx->size; i++) {
        int64_t j = v[i], o = 0;
        if (wrap && j < 0 && j >= -n) {
            j += n;
        }
        if (j < 0 || j >= n) {
            ad_buf_decref(b);
            return ad_error(AD_ERR_INDEX, "%s%sindex %lld is out of bounds "
                            "for dimension %d with size %lld",
                            what ? what : "", what ? "(): " : "",
                            (long long)v[i], axis, (long long)n);
        }
        for (int d = 0; d < nd; d++) {
            o += (d == axis ? j : c[d]) * st[d];
        }
        off[i] = o;
        for (int d = idx->ndim - 1; d >= 0; d--) {      /* next coordinate */
            if (++c[d] < idx->shape[d]) {
                break;
            }
            c[d] = 0;
        }
    }
    *out = b;
    return AD_OK;
}

/* ---- take ------------------------------------------------------------- */

/* take's name in messages: gather, or (wrap) torch's indexing message */
#define TAKE_NAME(r) ((r)->at.take.wrap ? NULL : "gather")

static ad_status
fw_take(ad_record *r)
{
    ad_tensor *x = r->in[0], *idx = r->in[1];
    ad_buffer *off;
    ad_status s = axis_offsets(TAKE_NAME(r), idx, x->ndim, x->shape,
                               r->at.take.axis, r->at.take.wrap, &off);
    if (s == AD_OK) {
        ad_kany(x->dtype)->gather(ad_data(x), AD_BUF_DATA(off),
                                  ad_data(r->out), idx->size);
        ad_buf_decref(off);
    }
    return s;
}

ad_status
ad_take(ad_tensor *x, ad_tensor *idx, int axis, int wrap, ad_tensor **out)
{
    ad_tensor *o, *xs[2] = {x, idx};
    ad_record c;
    ad_status s = check_index(wrap ? "index" : "gather", idx, x->ndim,
                              x->shape, axis);
    if (s || (s = ad_new(x->dtype, idx->ndim, idx->shape, &o))) {
        return s;
    }
    ad_call_init(&c, &ad_def_take, 0, 2, xs, o);
    c.at.take.axis = axis;
    c.at.take.wrap = wrap != 0;
    return ad_call_run(&c, idx->size, out);
}

/* g added at the positions taken from: repeated indices accumulate. */
static ad_status
bw_take(ad_record *r, ad_buffer **g)
{
    ad_tensor *x = r->in[0], *idx = r->in[1];
    ad_buffer *off, *gx;
    ad_status s = axis_offsets(TAKE_NAME(r), idx, x->ndim, x->shape,
                               r->at.take.axis, r->at.take.wrap, &off);
    if (s) {
        return s;
    }
    gx = ad_buf_zeros(ad_nbytes(x));
    if (!gx) {
        ad_buf_decref(off);
        return nomem();
    }
    ad_k(x->dtype)->scatter_add(AD_BUF_DATA(gx), AD_BUF_DATA(off),
                                AD_BUF_DATA(*g), idx->size);
    ad_buf_decref(off);
    return ad_acc_grad(r, 0, &gx, 1);
}

static const ad_attrdef take_attrs[] = {
    AD_ATTR(take, axis, AD_ATTR_I32),
    AD_ATTR(take, wrap, AD_ATTR_I32),
};
const ad_opdef ad_def_take = {
    .name = "take",
    .code = AD_OP_TAKE, .arity = 2, .flags = AD_OP_ANY_DTYPE,
    .attrs = take_attrs, .nattrs = 2,
    .forward = fw_take, .backward = bw_take,
};

/* ---- put_add ---------------------------------------------------------- */

static ad_status
fw_put_add(ad_record *r)
{
    ad_tensor *g = r->in[0], *idx = r->in[1], *o = r->out;
    ad_buffer *off;
    ad_status s = axis_offsets("scatter_add", idx, o->ndim, o->shape,
                               r->at.take.axis, r->at.take.wrap, &off);
    if (s == AD_OK) {
        memset(ad_data(o), 0, ad_nbytes(o));
        ad_k(g->dtype)->scatter_add(ad_data(o), AD_BUF_DATA(off), ad_data(g),
                                    idx->size);
        ad_buf_decref(off);
    }
    return s;
}

ad_status
ad_put_add(ad_tensor *g, ad_tensor *idx, int axis, int nd,
           const int64_t *shape, ad_tensor **out)
{
    char s1[AD_SHAPE_BUF], s2[AD_SHAPE_BUF];
    ad_tensor *o, *xs[2] = {g, idx};
    ad_record c;
    int64_t size;
    ad_status s;
    if (!ad_is_float(g->dtype)) {
        return ad_error(AD_ERR_TYPE, "scatter_add(): the source must be a "
                        "floating point tensor, got %s",
                        ad_dtype_name(g->dtype));
    }
    if ((s = ad_check_size(nd, shape, &size)) ||
        (s = check_index("scatter_add", idx, nd, shape, axis))) {
        return s;
    }
    int ok = g->ndim == idx->ndim;
    for (int d = 0; ok && d < g->ndim; d++) {
        ok = g->shape[d] == idx->shape[d];
    }
    if (!ok) {
        return ad_error(AD_ERR_SHAPE, "scatter_add(): source of shape %s "
                        "and index of shape %s differ",
                        ad_shape_str(g->ndim, g->shape, s1, sizeof(s1)),
                        ad_shape_str(idx->ndim, idx->shape, s2, sizeof(s2)));
    }
    if ((s = ad_new(g->dtype, nd, shape, &o))) {
        return s;
    }
    ad_call_init(&c, &ad_def_put_add, 0, 2, xs, o);
    c.at.take.axis = axis;
    return ad_call_run(&c, idx->size, out);
}

/* The gradient of g is the output's gradient taken at the positions. */
static ad_status
bw_put_add(ad_record *r, ad_buffer **gout)
{
    ad_tensor *g = r->in[0], *idx = r->in[1], *o = r->out;
    ad_buffer *off, *gg;
    ad_status s = axis_offsets("scatter_add", idx, o->ndim, o->shape,
                               r->at.take.axis, r->at.take.wrap, &off);
    if (s) {
        return s;
    }
    gg = ad_buf_alloc(ad_nbytes(g));
    if (!gg) {
        ad_buf_decref(off);
        return nomem();
    }
    ad_kany(g->dtype)->gather(AD_BUF_DATA(*gout), AD_BUF_DATA(off),
                              AD_BUF_DATA(gg), idx->size);
    ad_buf_decref(off);
    return ad_acc_grad(r, 0, &gg, 1);
}

const ad_opdef ad_def_put_add = {
    .name = "put_add",
    .code = AD_OP_PUT_ADD, .arity = 2, .flags = AD_OP_ANY_DTYPE,
    .attrs = take_attrs, .nattrs = 1,
    .forward = fw_put_add, .backward = bw_put_add,
};

/* ---- argsort ---------------------------------------------------------- */

static ad_status
fw_argsort(ad_record *r)
{
    int64_t outer, n, inner;
    ad_tensor *x = r->in[0];
    ad_split_axis(x, r->at.argsort.axis, &outer, &n, &inner);
    /* scratch from the pool: a steady loop allocates nothing */
    ad_buffer *tmp = ad_buf_alloc((size_t)(n ? 2 * n : 1) * sizeof(int64_t));
    if (!tmp) {
        return nomem();
    }
    ad_kany(x->dtype)->argsort(r->at.argsort.descending, ad_data(x),
                               ad_data(r->out), AD_BUF_DATA(tmp), outer, n,
                               inner);
    ad_buf_decref(tmp);
    return AD_OK;
}

ad_status
ad_argsort(ad_tensor *x, int axis, int descending, ad_tensor **out)
{
    char sb[AD_SHAPE_BUF];
    ad_tensor *o;
    ad_record c;
    ad_status s;
    int nd = x->ndim ? x->ndim : 1;
    if (axis < 0 || axis >= nd) {
        return ad_error(AD_ERR_INDEX, "sort(): dim %d is out of range for a "
                        "tensor of shape %s", axis,
                        ad_shape_str(x->ndim, x->shape, sb, sizeof(sb)));
    }
    if ((s = ad_new(AD_I64, x->ndim, x->shape, &o))) {
        return s;
    }
    ad_call_init(&c, &ad_def_argsort, 0, 1, &x, o);
    c.at.argsort.axis = axis;
    c.at.argsort.descending = descending != 0;
    return ad_call_run(&c, x->size * 8, out);
}

static const ad_attrdef argsort_attrs[] = {
    AD_ATTR(argsort, axis, AD_ATTR_I32),
    AD_ATTR(argsort, descending, AD_ATTR_I32),
};
const ad_opdef ad_def_argsort = {
    .name = "argsort",
    .code = AD_OP_ARGSORT, .arity = 1, .flags = AD_OP_ANY_DTYPE,
    .attrs = argsort_attrs, .nattrs = 2,
    .forward = fw_argsort,
};

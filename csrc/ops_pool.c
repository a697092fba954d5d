/*
 * ops_pool.c -- pooling over the last two dims of (N, C, H, W) (1-d
 * pooling runs with H = 1), fixed windows (kernel, stride, padding,
 * dilation) or torch's adaptive bins:
 *
 *   pool_argmax  the flat index (ih W + iw) of each window's maximum, no
 *                gradient: max pooling's values are take(x, indices), so
 *                the gradient goes to the indices through take's backward
 *                and a compiled replay recomputes them (return_indices
 *                gives them to the user, as torch's).
 *   max_pool     each window's maximum, its index saved for the backward
 *                (which adds the gradient there): pool_argmax and take
 *                fused, for the common call without return_indices.
 *   avg_pool     each window's average (adjoint 0) or its transpose,
 *                g / divisor added back over each window (adjoint 1):
 *                each direction is the other's backward, so the recorded
 *                derivative is the same op with the flag flipped.
 *
 * The output size (ceil_mode, adaptive sizes) is computed by the caller
 * (the Python layer, from torch's formula) and checked here to fit.
 */
#include "ad_impl.h"

static ad_status
nomem(void)
{
    return ad_error(AD_ERR_NOMEM, "out of memory");
}

static void
pool_geom(const ad_record *r, const ad_tensor *img, ad_conv_geom *g)
{
    g->N = img->shape[0] * img->shape[1];
    g->C = 1;
    g->H = img->shape[2];
    g->W = img->shape[3];
    g->kh = r->at.pool.kh;
    g->kw = r->at.pool.kw;
    g->sh = r->at.pool.sh;
    g->sw = r->at.pool.sw;
    g->ph = r->at.pool.ph;
    g->pw = r->at.pool.pw;
    g->dh = r->at.pool.dh;
    g->dw = r->at.pool.dw;
    g->OH = r->at.pool.oh;
    g->OW = r->at.pool.ow;
}

static ad_status
check_pool(const char *what, const ad_tensor *x, const ad_pool_params *p)
{
    char s1[AD_SHAPE_BUF];
    if (x->ndim != 4) {
        return ad_error(AD_ERR_SHAPE, "%s: expected a 4-D input (N, C, H, "
                        "W), got %s", what,
                        ad_shape_str(x->ndim, x->shape, s1, sizeof(s1)));
    }
    if (p->out[0] < 1 || p->out[1] < 1 || p->out[0] > INT32_MAX ||
        p->out[1] > INT32_MAX) {
        return ad_error(AD_ERR_SHAPE, "%s: Given input size (%lldx%lldx%lld)"
                        ". Calculated output size (%lldx%lldx%lld). Output "
                        "size is too small", what, (long long)x->shape[1],
                        (long long)x->shape[2], (long long)x->shape[3],
                        (long long)x->shape[1], (long long)p->out[0],
                        (long long)p->out[1]);
    }
    if (p->adaptive) {
        if (x->shape[2] < 1 || x->shape[3] < 1) {
            return ad_error(AD_ERR_SHAPE, "%s: expected a non-empty input, "
                            "got %s", what,
                            ad_shape_str(x->ndim, x->shape, s1, sizeof(s1)));
        }
        return AD_OK;
    }
    for (int i = 0; i < 2; i++) {
        if (p->k[i] < 1 || p->stride[i] < 1 || p->dil[i] < 1 ||
            p->pad[i] < 0) {
            return ad_error(AD_ERR_VALUE, "%s: kernel size, stride and "
                            "dilation must be positive and padding "
                            "non-negative, got kernel (%d, %d), stride (%d, "
                            "%d), padding (%d, %d), dilation (%d, %d)", what,
                            p->k[0], p->k[1], p->stride[0], p->stride[1],
                            p->pad[0], p->pad[1], p->dil[0], p->dil[1]);
        }
        if (p->pad[i] > p->k[i] / 2) {
            return ad_error(AD_ERR_VALUE, "%s: pad should be at most half of "
                            "effective kernel size, but got pad=%d, "
                            "kernel_size=%d and dilation=%d", what,
                            p->pad[i], p->k[i], p->dil[i]);
        }
        /* every window starts inside the input or its left padding */
        if ((p->out[i] - 1) * p->stride[i] - p->pad[i] >= x->shape[2 + i]) {
            return ad_error(AD_ERR_SHAPE, "%s: output size %lld along dim %d "
                            "leaves the last window outside the input",
                            what, (long long)p->out[i], 2 + i);
        }
    }
    return AD_OK;
}

static void
set_pool(ad_record *c, const ad_pool_params *p)
{
    c->at.pool.kh = p->k[0];
    c->at.pool.kw = p->k[1];
    c->at.pool.sh = p->stride[0];
    c->at.pool.sw = p->stride[1];
    c->at.pool.ph = p->pad[0];
    c->at.pool.pw = p->pad[1];
    c->at.pool.dh = p->dil[0];
    c->at.pool.dw = p->dil[1];
    c->at.pool.oh = (int32_t)p->out[0];
    c->at.pool.ow = (int32_t)p->out[1];
    c->at.pool.adaptive = p->adaptive != 0;
    c->at.pool.count_include_pad = p->count_include_pad != 0;
    c->at.pool.divisor = p->divisor;
}

/* ---- pool_argmax ------------------------------------------------------- */

/* max pooling's record: values (max_pool: the maxima, indices saved) or
 * the int64 indices alone (pool_argmax). */
static ad_status
max_pool_make(ad_tensor *x, const ad_pool_params *p, int values,
              ad_tensor **out)
{
    ad_tensor *o;
    ad_record c;
    ad_status s = check_pool("max_pool2d", x, p);
    if (s) {
        return s;
    }
    if (!ad_is_float(x->dtype)) {
        return ad_error(AD_ERR_TYPE, "max_pool2d: expected a floating point "
                        "input, got %s", ad_dtype_name(x->dtype));
    }
    int64_t shape[4] = {x->shape[0], x->shape[1], p->out[0], p->out[1]};
    if ((s = ad_new(values ? x->dtype : AD_I64, 4, shape, &o))) {
        return s;
    }
    ad_buffer *sv = NULL;
    if (values && !(sv = ad_buf_alloc((size_t)o->size * sizeof(int64_t)))) {
        ad_decref(o);
        return nomem();
    }
    ad_call_init(&c, values ? &ad_def_max_pool : &ad_def_pool_argmax, 0, 1,
                 &x, o);
    set_pool(&c, p);
    c.saved = sv;
    return ad_call_run(&c, x->size, out);
}

static ad_status
fw_pool_argmax(ad_record *r)
{
    ad_conv_geom g;
    pool_geom(r, r->in[0], &g);
    ad_k(r->in[0]->dtype)->pool_argmax(&g, r->at.pool.adaptive,
                                       ad_data(r->in[0]), ad_data(r->out),
                                       NULL);
    return AD_OK;
}

ad_status
ad_pool_argmax(ad_tensor *x, const ad_pool_params *p, ad_tensor **out)
{
    return max_pool_make(x, p, 0, out);
}

/* ---- max_pool ------------------------------------------------------------ */

/* The maxima, and their indices in the saved buffer (rewritten by every
 * run, so a replay's backward reads that run's). */
static ad_status
fw_max_pool(ad_record *r)
{
    ad_conv_geom g;
    pool_geom(r, r->in[0], &g);
    ad_k(r->in[0]->dtype)->pool_argmax(&g, r->at.pool.adaptive,
                                       ad_data(r->in[0]),
                                       AD_BUF_DATA(r->saved),
                                       ad_data(r->out));
    return AD_OK;
}

static ad_status
bw_max_pool(ad_record *r, ad_buffer **g)
{
    const ad_tensor *x = r->in[0];
    ad_buffer *gx = ad_buf_zeros(ad_nbytes(x));
    if (!gx) {
        return nomem();
    }
    int64_t planes = x->shape[0] * x->shape[1];
    ad_k(x->dtype)->max_pool_bwd(planes, x->shape[2] * x->shape[3],
                                 (int64_t)r->at.pool.oh * r->at.pool.ow,
                                 AD_BUF_DATA(r->saved), AD_BUF_DATA(*g),
                                 AD_BUF_DATA(gx));
    return ad_acc_grad(r, 0, &gx, 1);
}

ad_status
ad_max_pool(ad_tensor *x, const ad_pool_params *p, ad_tensor **out)
{
    return max_pool_make(x, p, 1, out);
}

/* ---- avg_pool ------------------------------------------------------------ */

/* adjoint 0: in (N, C, H, W) -> out (N, C, OH, OW); adjoint 1: in
 * (N, C, OH, OW) -> out (N, C, H, W), the image being the output. */
static ad_status
fw_avg_pool(ad_record *r)
{
    int adj = r->at.pool.adjoint;
    ad_tensor *img = adj ? r->out : r->in[0];
    ad_conv_geom g;
    pool_geom(r, img, &g);
    if (adj) {
        memset(ad_data(r->out), 0, ad_nbytes(r->out));
    }
    ad_k(img->dtype)->avg_pool(&g, r->at.pool.adaptive,
                               r->at.pool.count_include_pad,
                               r->at.pool.divisor, ad_data(r->in[0]),
                               ad_data(r->out), adj);
    return AD_OK;
}

static ad_status
bw_avg_pool(ad_record *r, ad_buffer **g)
{
    int adj = r->at.pool.adjoint;
    ad_tensor *img = adj ? r->out : r->in[0];
    ad_conv_geom geo;
    pool_geom(r, img, &geo);
    ad_buffer *gx = adj ? ad_buf_alloc(ad_nbytes(r->in[0]))
                        : ad_buf_zeros(ad_nbytes(r->in[0]));
    if (!gx) {
        return nomem();
    }
    ad_k(img->dtype)->avg_pool(&geo, r->at.pool.adaptive,
                               r->at.pool.count_include_pad,
                               r->at.pool.divisor, AD_BUF_DATA(*g),
                               AD_BUF_DATA(gx), !adj);
    return ad_acc_grad(r, 0, &gx, 1);
}

ad_status
ad_avg_pool(ad_tensor *x, const ad_pool_params *p, int adjoint, int H,
            int W, ad_tensor **out)
{
    char s1[AD_SHAPE_BUF];
    ad_tensor *o;
    ad_record c;
    ad_status s;
    if (!adjoint) {
        if ((s = check_pool("avg_pool2d", x, p))) {
            return s;
        }
    }
    else if (x->ndim != 4 || x->shape[2] != p->out[0] ||
             x->shape[3] != p->out[1] || H < 1 || W < 1) {
        return ad_error(AD_ERR_SHAPE, "avg_pool2d backward: gradient of "
                        "shape %s does not fit output size (%lld, %lld)",
                        ad_shape_str(x->ndim, x->shape, s1, sizeof(s1)),
                        (long long)p->out[0], (long long)p->out[1]);
    }
    if (p->divisor < 0) {
        return ad_error(AD_ERR_VALUE, "avg_pool2d: divisor must be not zero, "
                        "got %lld", (long long)p->divisor);
    }
    int64_t shape[4] = {x->shape[0], x->shape[1],
                        adjoint ? H : p->out[0], adjoint ? W : p->out[1]};
    if ((s = ad_new(x->dtype, 4, shape, &o))) {
        return s;
    }
    ad_call_init(&c, &ad_def_avg_pool, 0, 1, &x, o);
    set_pool(&c, p);
    c.at.pool.adjoint = adjoint != 0;
    return ad_call_run(&c, x->size, out);
}

static const ad_attrdef pool_attrs[] = {
    AD_ATTR(pool, kh, AD_ATTR_I32), AD_ATTR(pool, kw, AD_ATTR_I32),
    AD_ATTR(pool, sh, AD_ATTR_I32), AD_ATTR(pool, sw, AD_ATTR_I32),
    AD_ATTR(pool, ph, AD_ATTR_I32), AD_ATTR(pool, pw, AD_ATTR_I32),
    AD_ATTR(pool, dh, AD_ATTR_I32), AD_ATTR(pool, dw, AD_ATTR_I32),
    AD_ATTR(pool, oh, AD_ATTR_I32), AD_ATTR(pool, ow, AD_ATTR_I32),
    AD_ATTR(pool, adaptive, AD_ATTR_I32),
    AD_ATTR(pool, count_include_pad, AD_ATTR_I32),
    AD_ATTR(pool, divisor, AD_ATTR_I64),
    AD_ATTR(pool, adjoint, AD_ATTR_I32),
};
const ad_opdef ad_def_pool_argmax = {
    .name = "pool_argmax",
    .code = AD_OP_POOL_ARGMAX, .arity = 1,
    .attrs = pool_attrs, .nattrs = 13,
    .forward = fw_pool_argmax,
};
const ad_opdef ad_def_max_pool = {
    .name = "max_pool",
    .code = AD_OP_MAX_POOL, .arity = 1,
    .saved = AD_SAVED_IDX_OUT, .attrs = pool_attrs, .nattrs = 13,
    .forward = fw_max_pool, .backward = bw_max_pool,
};
const ad_opdef ad_def_avg_pool = {
    .name = "avg_pool",
    .code = AD_OP_AVG_POOL, .arity = 1,
    .attrs = pool_attrs, .nattrs = 14,
    .forward = fw_avg_pool, .backward = bw_avg_pool,
};

/*
 * ops_upsample.c -- torch.nn.functional.interpolate over the last two
 * dims of (N, C, H, W) (1-d runs with H = 1 and one_d): nearest,
 * nearest-exact and (bi)linear, torch's index and weight rules
 * (UpSample.h; the loops are FN(upsample) in kernels.inc).
 *
 *   upsample  the resized image (adjoint 0) or its transpose, the
 *             gradient added back into the image with the same indices
 *             and weights (adjoint 1): the op is linear in x, so each
 *             direction is the other's backward and the recorded
 *             derivative is the same op with the flag flipped.
 *
 * The output size (from size or scale_factor) is computed by the caller
 * (the Python layer, torch's rule) and passed with the scale factors the
 * kernel uses (0: none, the size ratio).
 */
#include "ad_impl.h"

static ad_status
fw_upsample(ad_record *r)
{
    int adj = r->at.upsample.adjoint;
    ad_tensor *x = r->in[0];
    if (adj) {
        memset(ad_data(r->out), 0, ad_nbytes(r->out));
    }
    ad_k(x->dtype)->upsample(x->shape[0] * x->shape[1], &r->at, ad_data(x),
                             ad_data(r->out), adj);
    return AD_OK;
}

static ad_status
bw_upsample(ad_record *r, ad_buffer **g)
{
    int adj = r->at.upsample.adjoint;
    ad_tensor *x = r->in[0];
    ad_buffer *gx = adj ? ad_buf_alloc(ad_nbytes(x))
                        : ad_buf_zeros(ad_nbytes(x));
    if (!gx) {
        return ad_error(AD_ERR_NOMEM, "out of memory");
    }
    ad_k(x->dtype)->upsample(x->shape[0] * x->shape[1], &r->at,
                             AD_BUF_DATA(*g), AD_BUF_DATA(gx), !adj);
    return ad_acc_grad(r, 0, &gx, 1);
}

static const char *
kind_name(int kind)
{
    return kind == AD_UP_NEAREST ? "nearest"
        : kind == AD_UP_LINEAR ? "linear"
        : kind == AD_UP_NEAREST_EXACT ? "nearest-exact" : "?";
}

ad_status
ad_upsample(ad_tensor *x, const ad_upsample_params *p, int adjoint,
            ad_tensor **out)
{
    char s1[AD_SHAPE_BUF];
    ad_tensor *o;
    ad_record c;
    ad_status s;
    if (p->kind != AD_UP_NEAREST && p->kind != AD_UP_LINEAR &&
        p->kind != AD_UP_NEAREST_EXACT) {
        return ad_error(AD_ERR_VALUE, "upsample: unknown mode %d", p->kind);
    }
    const int64_t *have = adjoint ? p->out : p->image;
    if (x->ndim != 4 || x->shape[2] != have[0] || x->shape[3] != have[1]) {
        return ad_error(AD_ERR_SHAPE, "upsample (%s%s): expected a 4-D "
                        "input (N, C, %lld, %lld), got %s", kind_name(p->kind),
                        adjoint ? ", backward" : "", (long long)have[0],
                        (long long)have[1],
                        ad_shape_str(x->ndim, x->shape, s1, sizeof(s1)));
    }
    for (int i = 0; i < 2; i++) {
        if (p->image[i] < 1 || p->out[i] < 1) {
            return ad_error(AD_ERR_SHAPE, "upsample (%s): Input and output "
                            "sizes should be greater than 0, but got input "
                            "(H: %lld, W: %lld) output (H: %lld, W: %lld)",
                            kind_name(p->kind), (long long)p->image[0],
                            (long long)p->image[1], (long long)p->out[0],
                            (long long)p->out[1]);
        }
        if (!(p->scale[i] >= 0.) || p->scale[i] > 1e300) {
            return ad_error(AD_ERR_VALUE, "upsample (%s): scale factors "
                            "must be finite and non-negative, got %g",
                            kind_name(p->kind), p->scale[i]);
        }
    }
    if (p->one_d && (p->image[0] != 1 || p->out[0] != 1)) {
        return ad_error(AD_ERR_SHAPE, "upsample (%s): a 1-d resize needs H "
                        "= 1, got %lld -> %lld", kind_name(p->kind),
                        (long long)p->image[0], (long long)p->out[0]);
    }
    if (!ad_is_float(x->dtype)) {
        return ad_error(AD_ERR_TYPE, "upsample (%s): expected a floating "
                        "point input, got %s", kind_name(p->kind),
                        ad_dtype_name(x->dtype));
    }
    const int64_t *want = adjoint ? p->image : p->out;
    int64_t shape[4] = {x->shape[0], x->shape[1], want[0], want[1]};
    if ((s = ad_new(x->dtype, 4, shape, &o))) {
        return s;
    }
    ad_call_init(&c, &ad_def_upsample, 0, 1, &x, o);
    c.at.upsample.kind = p->kind;
    c.at.upsample.align_corners = p->align_corners != 0;
    c.at.upsample.one_d = p->one_d != 0;
    c.at.upsample.adjoint = adjoint != 0;
    c.at.upsample.ih = p->image[0];
    c.at.upsample.iw = p->image[1];
    c.at.upsample.oh = p->out[0];
    c.at.upsample.ow = p->out[1];
    c.at.upsample.sh = p->scale[0];
    c.at.upsample.sw = p->scale[1];
    return ad_call_run(&c, o->size + x->size, out);
}

static const ad_attrdef upsample_attrs[] = {
    AD_ATTR(upsample, kind, AD_ATTR_I32),
    AD_ATTR(upsample, align_corners, AD_ATTR_I32),
    AD_ATTR(upsample, one_d, AD_ATTR_I32),
    AD_ATTR(upsample, adjoint, AD_ATTR_I32),
    AD_ATTR(upsample, ih, AD_ATTR_I64), AD_ATTR(upsample, iw, AD_ATTR_I64),
    AD_ATTR(upsample, oh, AD_ATTR_I64), AD_ATTR(upsample, ow, AD_ATTR_I64),
    AD_ATTR(upsample, sh, AD_ATTR_F64), AD_ATTR(upsample, sw, AD_ATTR_F64),
};
const ad_opdef ad_def_upsample = {
    .name = "upsample",
    .code = AD_OP_UPSAMPLE, .arity = 1,
    .attrs = upsample_attrs, .nattrs = 10,
    .forward = fw_upsample, .backward = bw_upsample,
};

/*
 * ops_custom.c -- custom differentiable ops (autodiff.Function).
 *
 * The forward ran in the caller (Python) without recording; ad_custom
 * records its output with the caller's context.  The backward rule hands
 * the output's gradient to a hook the Cython module registered, which runs
 * the user's backward and returns one gradient per input; this file checks
 * their shapes and accumulates them like any other rule.
 */
#include "ad_impl.h"

#include <stdlib.h>

static ad_custom_bw_fn custom_bw;

void
ad_set_custom_hooks(ad_custom_bw_fn backward, ad_custom_release_fn release)
{
    custom_bw = backward;
    ad_set_release_hook(release);
}

ad_status
ad_custom(int n, ad_tensor **xs, ad_tensor *y, void *ctx, ad_tensor **out)
{
    ad_tensor *o;
    ad_record c;
    ad_status s;
    if (ad_capture_current()) {
        ad_custom_release(ctx);
        return ad_error(AD_ERR_STATE, "a custom Function cannot be recorded "
                        "by autodiff.compile (its backward is Python); run "
                        "this step eagerly");
    }
    if (!custom_bw) {
        ad_custom_release(ctx);
        return ad_error(AD_ERR_STATE, "no backward hook for custom ops");
    }
    if ((s = ad_new_view(y->buf, y->dtype, y->ndim, y->shape, &o))) {
        ad_custom_release(ctx);
        return s;
    }
    ad_call_init(&c, &ad_def_custom, 0, n, xs, o);
    c.ext = ctx;                        /* the record's from here on */
    return ad_call_commit(&c, out);
}

/* Never replayed: ad_custom refuses a capture. */
static ad_status
fw_custom(ad_record *r)
{
    (void)r;
    return ad_error(AD_ERR_STATE, "a custom Function cannot be replayed");
}

static int
same_shape(const ad_tensor *a, const ad_tensor *b)
{
    if (a->ndim != b->ndim) {
        return 0;
    }
    for (int d = 0; d < a->ndim; d++) {
        if (a->shape[d] != b->shape[d]) {
            return 0;
        }
    }
    return 1;
}

static ad_status
bw_custom(ad_record *r, ad_buffer **g)
{
    ad_tensor *o = r->out, *go, *stack[8], **gin = stack;
    int n = r->nin;
    ad_status s;
    char s1[AD_SHAPE_BUF], s2[AD_SHAPE_BUF];

    if (n > 8 && !(gin = calloc((size_t)n, sizeof(*gin)))) {
        return ad_error(AD_ERR_NOMEM, "out of memory in backward");
    }
    memset(gin, 0, (size_t)n * sizeof(*gin));
    /* The user's backward may record ops (ad.grad on fresh leaves, or
     * enable_grad): they go to a scratch tape of their own, so the tape
     * this sweep walks (and holds pointers into) never grows or moves. */
    ad_tape *scratch = ad_tape_new(AD_TAPE_SCRATCH), *prev;
    if (!scratch) {
        s = ad_error(AD_ERR_NOMEM, "out of memory in backward");
        goto out;
    }
    prev = ad_tape_swap(scratch);
    if ((s = ad_new_view(*g, o->dtype, o->ndim, o->shape, &go)) == AD_OK) {
        s = custom_bw(r->ext, go, n, gin);
        ad_decref(go);
    }
    for (int i = 0; i < n && s == AD_OK; i++) {
        ad_tensor *x = ad_rec_input(r, i), *gi = gin[i];
        if (!gi) {
            continue;
        }
        if (!same_shape(gi, x)) {
            s = ad_error(AD_ERR_SHAPE, "Function backward returned a "
                         "gradient of shape %s for input %d of shape %s",
                         ad_shape_str(gi->ndim, gi->shape, s1, sizeof(s1)),
                         i, ad_shape_str(x->ndim, x->shape, s2, sizeof(s2)));
            break;
        }
        ad_buffer *b;
        if (gi->dtype == x->dtype) {
            b = gi->buf;
            ad_buf_incref(b);
        }
        else if ((b = ad_buf_alloc(ad_nbytes(x)))) {
            ad_cast_buf(ad_data(gi), gi->dtype, AD_BUF_DATA(b), x->dtype,
                        x->size);
        }
        else {
            s = ad_error(AD_ERR_NOMEM, "out of memory in backward");
            break;
        }
        s = ad_acc_grad(r, i, &b, 1);
    }
    for (int i = 0; i < n; i++) {
        ad_decref(gin[i]);
    }
    ad_tape_swap(prev);
    ad_tape_release(scratch);
out:
    if (gin != stack) {
        free(gin);
    }
    return s;
}

const ad_opdef ad_def_custom = {
    .name = "custom",
    .code = AD_OP_CUSTOM, .arity = -1,
    .forward = fw_custom, .backward = bw_custom,
};

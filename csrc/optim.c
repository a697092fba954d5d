/*
 * optim.c -- one call updates every parameter of an optimizer: a fused
 * loop per parameter over its contiguous buffer, no graph recorded.
 */
#include "ad_impl.h"

#define AD_CAT_(a, b) a##b
#define AD_CAT(a, b) AD_CAT_(a, b)

#define T float
#define SFX _f32
#define MATH(fn) fn##f
#include "optim.inc"
#undef T
#undef SFX
#undef MATH

#define T double
#define SFX _f64
#define MATH(fn) fn
#include "optim.inc"
#undef T
#undef SFX
#undef MATH

static int
needs(const ad_optim_cfg *c, int k)
{
    switch (c->kind) {
    case AD_OPT_SGD: return k == 0 && c->momentum != 0;
    case AD_OPT_ADAM:
    case AD_OPT_ADAMW: return k < 2 || (k == 2 && c->amsgrad);
    case AD_OPT_RMSPROP:
        return k == 0 || (k == 1 && c->centered) ||
               (k == 2 && c->momentum > 0);
    }
    return 0;
}

static ad_status optim_step(const ad_optim_cfg *c, int n, ad_tensor **params,
                            ad_tensor **state, int64_t *steps);

ad_status
ad_optim_step(const ad_optim_cfg *c, int n, ad_tensor **params,
              ad_tensor **state, int64_t *steps)
{
    /* The grads are read under the grad lock: a backward() depositing on
     * another thread lands before or after this step, never during it. */
    ad_grad_lock();
    ad_status s = optim_step(c, n, params, state, steps);
    ad_grad_unlock();
    return s;
}

static ad_status
optim_step(const ad_optim_cfg *c, int n, ad_tensor **params,
           ad_tensor **state, int64_t *steps)
{
    char s1[AD_SHAPE_BUF], s2[AD_SHAPE_BUF];
    if ((unsigned)c->kind > AD_OPT_RMSPROP) {
        return ad_error(AD_ERR_VALUE, "unknown optimizer kind %d", c->kind);
    }
    /* Check everything first, so a bad call changes nothing. */
    for (int i = 0; i < n; i++) {
        ad_tensor *p = params[i], *g = p->grad;
        if (g == NULL) {
            continue;
        }
        if (g->size != p->size || g->dtype != p->dtype) {
            return ad_error(AD_ERR_SHAPE, "parameter %d is %s %s but its "
                            "grad is %s %s", i, ad_dtype_name(p->dtype),
                            ad_shape_str(p->ndim, p->shape, s1, sizeof(s1)),
                            ad_dtype_name(g->dtype),
                            ad_shape_str(g->ndim, g->shape, s2, sizeof(s2)));
        }
        for (int k = 0; k < 3; k++) {
            ad_tensor *s = state[3 * i + k];
            if (needs(c, k) && (s == NULL || s->size != p->size ||
                                s->dtype != p->dtype)) {
                return ad_error(AD_ERR_STATE, "optimizer state %d of "
                                "parameter %d is missing or does not match "
                                "the parameter (%s %s)", k, i,
                                ad_dtype_name(p->dtype),
                                ad_shape_str(p->ndim, p->shape, s1,
                                             sizeof(s1)));
            }
        }
    }
    if (ad_capture_current()) {
        ad_status s = ad_capture_optim(c, n, params, state, steps);
        if (s) {
            return s;
        }
    }
    for (int i = 0; i < n; i++) {
        ad_tensor *p = params[i], *g = p->grad;
        if (g == NULL) {
            continue;
        }
        void *sp[3];
        for (int k = 0; k < 3; k++) {
            sp[k] = needs(c, k) ? ad_data(state[3 * i + k]) : NULL;
        }
        steps[i]++;
        if (p->dtype == AD_F64) {
            optim_one_f64(c, p->size, ad_data(p), ad_data(g), sp[0], sp[1],
                          sp[2], steps[i]);
        }
        else {
            optim_one_f32(c, p->size, ad_data(p), ad_data(g), sp[0], sp[1],
                          sp[2], steps[i]);
        }
        ad_mark_modified(p);
    }
    return AD_OK;
}

/*
 * optim.c -- one call updates every parameter of an optimizer: a fused
 * loop per parameter over its contiguous buffer, no graph recorded.
 */
#include "ad_impl.h"

#include <stdio.h>
#include <stdlib.h>

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
    case AD_OPT_ADAGRAD: return k == 0;
    case AD_OPT_ADADELTA:
    case AD_OPT_ADAMAX:
    case AD_OPT_RADAM: return k < 2;
    case AD_OPT_NADAM: return 1;
    }
    return 0;
}

/* NAdam's third slot is mu_product, one float32 or float64 element (as
 * torch keeps it); every other slot is shaped and typed like the
 * parameter. */
static int
slot_ok(const ad_optim_cfg *c, int k, const ad_tensor *p, const ad_tensor *s)
{
    if (s == NULL) {
        return 0;
    }
    if (c->kind == AD_OPT_NADAM && k == 2) {
        return s->size == 1 && (s->dtype == AD_F32 || s->dtype == AD_F64);
    }
    return s->size == p->size && s->dtype == p->dtype;
}

/* NAdam: mu_product *= mu_t in mu_product's own dtype (torch's in-place
 * multiply by a Python float); returns the new value. */
static double
nadam_mu_product(const ad_optim_cfg *c, ad_tensor *mp, int64_t step)
{
    double mu = c->beta1 * (1.0 - 0.5 * pow(0.96, (double)step *
                                                c->momentum_decay));
    if (mp->dtype == AD_F64) {
        double *d = ad_data(mp);
        *d = *d * mu;
        return *d;
    }
    float *f = ad_data(mp);
    *f = *f * (float)mu;
    return *f;
}

static ad_status clip_step(const ad_optim_cfg *c, int n, ad_tensor **params);
static ad_status optim_step(const ad_optim_cfg *c, int n, ad_tensor **params,
                            ad_tensor **state, int64_t *steps);

ad_status
ad_optim_step(const ad_optim_cfg *c, int n, ad_tensor **params,
              ad_tensor **state, int64_t *steps)
{
    /* The grads are read under the grad lock: a backward() depositing on
     * another thread lands before or after this step, never during it. */
    ad_grad_lock();
    ad_status s = c->kind == AD_OPT_CLIP_NORM || c->kind == AD_OPT_CLIP_VALUE
                  ? clip_step(c, n, params)
                  : optim_step(c, n, params, state, steps);
    ad_grad_unlock();
    return s;
}

/* One parameter's update, split over the thread pool in pieces of the
 * flat range: each element's update is the same arithmetic in any piece,
 * so the result has the same bits for any thread count. */
typedef struct {
    const ad_optim_cfg *c;
    int dt;
    int64_t n, step;
    char *p;
    const char *g;
    char *s[3];
    double mp;
} optim_piece;

static void
optim_range(void *ctx, int64_t blo, int64_t bhi)
{
    const optim_piece *o = ctx;
    int64_t lo = blo * AD_PAR_BLOCK, hi = bhi * AD_PAR_BLOCK;
    size_t it = o->dt == AD_F64 ? 8 : 4;
    void *sp[3];
    if (hi > o->n) {
        hi = o->n;
    }
    for (int k = 0; k < 3; k++) {
        /* NAdam's third slot is one element, read by the caller (mp) */
        sp[k] = o->s[k] && !(o->c->kind == AD_OPT_NADAM && k == 2)
                ? o->s[k] + lo * it : o->s[k];
    }
    if (o->dt == AD_F64) {
        optim_one_f64(o->c, hi - lo, o->p + lo * it, o->g + lo * it, sp[0],
                      sp[1], sp[2], o->step, o->mp);
    }
    else {
        optim_one_f32(o->c, hi - lo, o->p + lo * it, o->g + lo * it, sp[0],
                      sp[1], sp[2], o->step, o->mp);
    }
}

static ad_status
optim_step(const ad_optim_cfg *c, int n, ad_tensor **params,
           ad_tensor **state, int64_t *steps)
{
    char s1[AD_SHAPE_BUF], s2[AD_SHAPE_BUF];
    if ((unsigned)c->kind > AD_OPT_RADAM) {
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
            if (needs(c, k) && !slot_ok(c, k, p, s)) {
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
        optim_piece o = {.c = c, .dt = p->dtype, .n = p->size,
                         .p = ad_data(p), .g = ad_data(g)};
        for (int k = 0; k < 3; k++) {
            o.s[k] = needs(c, k) ? ad_data(state[3 * i + k]) : NULL;
        }
        steps[i]++;
        o.step = steps[i];
        o.mp = c->kind == AD_OPT_NADAM
               ? nadam_mu_product(c, state[3 * i + 2], steps[i]) : 0;
        ad_parallel_for((p->size + AD_PAR_BLOCK - 1) / AD_PAR_BLOCK,
                        AD_PAR_ELEMS / AD_PAR_BLOCK, optim_range, &o);
        ad_mark_modified(p);
    }
    return AD_OK;
}

/* ---- gradient clipping -------------------------------------------- */

static ad_status
check_grads(int n, ad_tensor **params)
{
    char s1[AD_SHAPE_BUF], s2[AD_SHAPE_BUF];
    for (int i = 0; i < n; i++) {
        ad_tensor *p = params[i], *g = p->grad;
        if (g && (g->size != p->size || g->dtype != p->dtype ||
                  (g->dtype != AD_F32 && g->dtype != AD_F64))) {
            return ad_error(AD_ERR_SHAPE, "parameter %d is %s %s but its "
                            "grad is %s %s", i, ad_dtype_name(p->dtype),
                            ad_shape_str(p->ndim, p->shape, s1, sizeof(s1)),
                            ad_dtype_name(g->dtype),
                            ad_shape_str(g->ndim, g->shape, s2, sizeof(s2)));
        }
    }
    return AD_OK;
}

/* torch.linalg.vector_norm of order ord over n values x[i] (double) */
static double
norm_fold(double ord, int64_t n, const double *x64, const float *x32)
{
#define AT(i) (x64 ? fabs(x64[i]) : fabs((double)x32[i]))
    double acc = 0;
    if (ord == HUGE_VAL || ord == -HUGE_VAL) {
        if (n == 0) return 0;
        acc = AT(0);
        for (int64_t i = 1; i < n; i++) {
            double a = AT(i);
            if (a != a) return a;
            acc = ord > 0 ? (a > acc ? a : acc) : (a < acc ? a : acc);
        }
        return acc;
    }
    if (ord == 0) {
        for (int64_t i = 0; i < n; i++) acc += AT(i) != 0;
        return acc;
    }
    if (ord == 1) {
        for (int64_t i = 0; i < n; i++) acc += AT(i);
        return acc;
    }
    if (ord == 2) {
        for (int64_t i = 0; i < n; i++) acc += AT(i) * AT(i);
        return sqrt(acc);
    }
    for (int64_t i = 0; i < n; i++) acc += pow(AT(i), ord);
    return pow(acc, 1.0 / ord);
#undef AT
}

static ad_status
clip_step(const ad_optim_cfg *c, int n, ad_tensor **params)
{
    ad_status s = check_grads(n, params);
    if (s) {
        return s;
    }
    if (c->kind == AD_OPT_CLIP_NORM &&
        (c->total == NULL || c->total->size != 1 ||
         (c->total->dtype != AD_F32 && c->total->dtype != AD_F64))) {
        return ad_error(AD_ERR_VALUE, "clip_grad_norm_ needs a one-element "
                        "float32 or float64 tensor for the total norm");
    }
    if (ad_capture_current()) {
        s = ad_capture_optim(c, n, params, NULL, NULL);
        if (s) {
            return s;
        }
    }
    if (c->kind == AD_OPT_CLIP_VALUE) {
        const double lo = -c->clip, hi = c->clip;
        for (int i = 0; i < n; i++) {
            ad_tensor *g = params[i]->grad;
            if (g == NULL) {
                continue;
            }
            if (g->dtype == AD_F64) {
                double *d = ad_data(g);
                for (int64_t k = 0; k < g->size; k++) {
                    double y = d[k] < lo ? lo : d[k];
                    d[k] = y > hi ? hi : y;
                }
            }
            else {
                float *f = ad_data(g), flo = (float)lo, fhi = (float)hi;
                for (int64_t k = 0; k < g->size; k++) {
                    float y = f[k] < flo ? flo : f[k];
                    f[k] = y > fhi ? fhi : y;
                }
            }
            ad_mark_modified(g);
        }
        return AD_OK;
    }
    /* each grad's norm rounded to its dtype (torch's per-tensor norms),
     * then the norm of those in the total's dtype */
    double *norms = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    if (norms == NULL) {
        return ad_error(AD_ERR_NOMEM, "out of memory clipping gradients");
    }
    int m = 0;
    for (int i = 0; i < n; i++) {
        ad_tensor *g = params[i]->grad;
        if (g == NULL) {
            continue;
        }
        if (g->dtype == AD_F64) {
            norms[m++] = norm_fold(c->norm_type, g->size, ad_data(g), NULL);
        }
        else {
            norms[m++] = (float)norm_fold(c->norm_type, g->size, NULL,
                                          ad_data(g));
        }
    }
    const int f64 = c->total->dtype == AD_F64;
    double total = norm_fold(c->norm_type, m, norms, NULL);
    free(norms);
    if (!f64) {
        total = (float)total;
    }
    if (c->error_if_nonfinite && !isfinite(total)) {
        /* the order as Python prints a float: 2.0, 0.5, inf */
        char ord[40];
        double o = c->norm_type;
        snprintf(ord, sizeof(ord), isfinite(o) && o == floor(o) &&
                 fabs(o) < 1e15 ? "%.1f" : "%.17g", o);
        if (isinf(o)) {
            snprintf(ord, sizeof(ord), o > 0 ? "inf" : "-inf");
        }
        return ad_error(AD_ERR_STATE, "The total norm of order %s for "
                        "gradients from `parameters` is non-finite, so it "
                        "cannot be clipped. To disable this error and scale "
                        "the gradients by the non-finite norm anyway, set "
                        "`error_if_nonfinite=False`", ord);
    }
    /* torch: max_norm / (total + 1e-6) in the total's dtype, which
     * Tensor.__rtruediv__ computes as reciprocal(total + 1e-6) * max_norm */
    double coef;
    if (f64) {
        *(double *)ad_data(c->total) = total;
        coef = (1.0 / (total + 1e-6)) * c->clip;
    }
    else {
        float t32 = (float)total;
        *(float *)ad_data(c->total) = t32;
        coef = ((float)1 / (t32 + (float)1e-6)) * (float)c->clip;
    }
    ad_mark_modified(c->total);
    if (m == 0) {
        return AD_OK;
    }
    coef = coef > 1.0 ? 1.0 : coef;     /* torch.clamp(max=1): NaN stays */
    for (int i = 0; i < n; i++) {
        ad_tensor *g = params[i]->grad;
        if (g == NULL) {
            continue;
        }
        if (g->dtype == AD_F64) {
            double *d = ad_data(g);
            for (int64_t k = 0; k < g->size; k++) d[k] = d[k] * coef;
        }
        else {
            float *f = ad_data(g), fc = (float)coef;
            for (int64_t k = 0; k < g->size; k++) f[k] = f[k] * fc;
        }
        ad_mark_modified(g);
    }
    return AD_OK;
}

/* ---- packing gradients for a collective (autodiff.distributed) ------ */

/* Every parameter must be of dtype dt (float32 or float64) with a grad,
 * if any, like it; the layout needs sum(sizes) + n elements. */
static ad_status
check_pack(int n, ad_tensor **params, int dt, int64_t nbuf)
{
    int64_t need = n;
    if (dt != AD_F32 && dt != AD_F64) {
        return ad_error(AD_ERR_TYPE, "gradient buffers are float32 or "
                        "float64, not %s", ad_dtype_name(dt));
    }
    for (int i = 0; i < n; i++) {
        if (params[i]->dtype != dt) {
            return ad_error(AD_ERR_TYPE, "parameter %d is %s in a %s "
                            "buffer", i, ad_dtype_name(params[i]->dtype),
                            ad_dtype_name(dt));
        }
        need += params[i]->size;
    }
    if (need > nbuf) {
        return ad_error(AD_ERR_SHAPE, "the gradient buffer holds %lld "
                        "elements but the %d parameters need %lld",
                        (long long)nbuf, n, (long long)need);
    }
    return check_grads(n, params);
}

/* buf[off] = scale * g (or 0) for each parameter in turn; then n flags,
 * 1 for a parameter with a grad, 0 without. */
#define PACK_LOOP(T)                                                       \
    do {                                                                   \
        T *b = buf, *flags = b + total;                                    \
        for (int i = 0; i < n; i++) {                                      \
            ad_tensor *g = params[i]->grad;                                \
            const T *src = g ? ad_data(g) : NULL;                          \
            int64_t m = params[i]->size;                                   \
            for (int64_t k = 0; k < m; k++) {                              \
                b[k] = src ? (T)(scale * src[k]) : (T)0;                   \
            }                                                              \
            flags[i] = g ? (T)1 : (T)0;                                    \
            b += m;                                                        \
        }                                                                  \
    } while (0)

/* g = scale * buf[off] for each parameter that has a grad. */
#define UNPACK_LOOP(T)                                                     \
    do {                                                                   \
        const T *b = buf;                                                  \
        for (int i = 0; i < n; i++) {                                      \
            ad_tensor *g = params[i]->grad;                                \
            int64_t m = params[i]->size;                                   \
            if (g) {                                                       \
                T *dst = ad_data(g);                                       \
                for (int64_t k = 0; k < m; k++) {                          \
                    dst[k] = (T)(scale * b[k]);                            \
                }                                                          \
                ad_mark_modified(g);                                       \
            }                                                              \
            b += m;                                                        \
        }                                                                  \
    } while (0)

static ad_status
grads_copy(int pack, int n, ad_tensor **params, int dt, void *buf,
           int64_t nbuf, double scale)
{
    if (ad_capture_current()) {
        return ad_error(AD_ERR_STATE, "gradients cannot be packed for a "
                        "collective while ad.compile is recording");
    }
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        total += params[i]->size;
    }
    /* the GIL goes first, then the grad lock (innermost) */
    void *nogil = ad_nogil_begin(total);
    ad_grad_lock();
    ad_status s = check_pack(n, params, dt, nbuf);
    if (s) {
        ad_grad_unlock();
        ad_nogil_end(nogil);
        return s;
    }
    if (pack && dt == AD_F64) {
        PACK_LOOP(double);
    }
    else if (pack) {
        PACK_LOOP(float);
    }
    else if (dt == AD_F64) {
        UNPACK_LOOP(double);
    }
    else {
        UNPACK_LOOP(float);
    }
    ad_grad_unlock();
    ad_nogil_end(nogil);
    return AD_OK;
}

ad_status
ad_grads_pack(int n, ad_tensor **params, int dt, void *buf, int64_t nbuf,
              double scale)
{
    return grads_copy(1, n, params, dt, buf, nbuf, scale);
}

ad_status
ad_grads_unpack(int n, ad_tensor **params, int dt, const void *buf,
                int64_t nbuf, double scale)
{
    return grads_copy(0, n, params, dt, (void *)buf, nbuf, scale);
}

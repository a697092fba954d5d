/*
 * tensor.c -- tensors, shapes, broadcasting, errors, strided iteration.
 */
#include "ad_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- errors -------------------------------------------------------- */

static AD_TLS char tls_err[1024];

ad_status
ad_error(ad_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tls_err, sizeof(tls_err), fmt, ap);
    va_end(ap);
    return s;
}

const char *
ad_last_error(void)
{
    return tls_err;
}

const char *
ad_status_name(ad_status s)
{
    switch (s) {
    case AD_OK: return "ok";
    case AD_RERECORD: return "stale program";
    case AD_ERR_NOMEM: return "out of memory";
    case AD_ERR_SHAPE: return "shape mismatch";
    case AD_ERR_VALUE: return "bad value";
    case AD_ERR_INDEX: return "index out of range";
    case AD_ERR_TYPE: return "bad dtype";
    case AD_ERR_STATE: return "bad state";
    case AD_ERR_NOBLAS: return "no BLAS";
    case AD_ERR_LINALG: return "linear algebra error";
    }
    return "unknown status";
}

const char *
ad_shape_str(int ndim, const int64_t *shape, char *buf, size_t n)
{
    size_t used = 0;
    used += (size_t)snprintf(buf + used, n - used, "(");
    for (int i = 0; i < ndim && used < n; i++) {
        used += (size_t)snprintf(buf + used, n - used, "%s%lld",
                                 i ? ", " : "", (long long)shape[i]);
    }
    if (used < n) {
        snprintf(buf + used, n - used, ndim == 1 ? ",)" : ")");
    }
    return buf;
}

const char *
ad_dtype_name(int dt)
{
    static const char *names[AD_DTYPE_COUNT] = {"float32", "float64",
                                                "int64", "bool"};
    return dt >= 0 && dt < AD_DTYPE_COUNT ? names[dt] : "unknown dtype";
}

/* ---- the state epoch ------------------------------------------------- */

static uint64_t g_epoch = 1;

uint64_t
ad_epoch(void)
{
    return __atomic_load_n(&g_epoch, __ATOMIC_ACQUIRE);
}

void
ad_bump_epoch(void)
{
    __atomic_add_fetch(&g_epoch, 1, __ATOMIC_ACQ_REL);
}

/* ---- grad mode ------------------------------------------------------ */

static AD_TLS int tls_no_grad;      /* 0 means enabled: TLS starts zeroed */

int
ad_grad_enabled(void)
{
    return !tls_no_grad;
}

void
ad_set_grad_enabled(int flag)
{
    tls_no_grad = !flag;
}

/* ---- the capture this thread records into (program.c installs it) --- */

static AD_TLS const ad_recorder *tls_recorder;

const ad_recorder *
ad_capture_current(void)
{
    return tls_recorder;
}

void
ad_recorder_set(const ad_recorder *r)
{
    tls_recorder = r;
}

/* ---- shapes --------------------------------------------------------- */

ad_status
ad_check_size(int ndim, const int64_t *shape, int64_t *size)
{
    char sb[AD_SHAPE_BUF];
    if (ndim < 0 || ndim > AD_MAX_DIMS) {
        return ad_error(AD_ERR_VALUE, "tensors have at most %d dimensions, "
                        "got %d", AD_MAX_DIMS, ndim);
    }
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            return ad_error(AD_ERR_VALUE, "negative dimension in shape %s",
                            ad_shape_str(ndim, shape, sb, sizeof(sb)));
        }
        if (shape[i] && n > ((int64_t)1 << 40) / shape[i]) {
            return ad_error(AD_ERR_NOMEM, "shape %s is too large (more than "
                            "2**40 elements)",
                            ad_shape_str(ndim, shape, sb, sizeof(sb)));
        }
        n *= shape[i];
    }
    *size = n;
    return AD_OK;
}

void
ad_strides(int ndim, const int64_t *shape, int64_t *st)
{
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        st[i] = s;
        s *= shape[i];
    }
}

ad_status
ad_broadcast_shapes(int na, const int64_t *a, int nb, const int64_t *b,
                    int *nout, int64_t *out)
{
    int n = na > nb ? na : nb;
    for (int i = 0; i < n; i++) {
        int ia = i - (n - na), ib = i - (n - nb);
        int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            char s1[AD_SHAPE_BUF], s2[AD_SHAPE_BUF];
            return ad_error(AD_ERR_SHAPE, "shapes %s and %s cannot be "
                            "broadcast together (dimension %d: %lld vs %lld)",
                            ad_shape_str(na, a, s1, sizeof(s1)),
                            ad_shape_str(nb, b, s2, sizeof(s2)), i,
                            (long long)da, (long long)db);
        }
        out[i] = da == 1 ? db : da;
    }
    *nout = n;
    return AD_OK;
}

void
ad_split_axis(const ad_tensor *x, int axis, int64_t *outer, int64_t *n,
              int64_t *inner)
{
    *outer = 1;
    *inner = 1;
    if (x->ndim == 0) {         /* a 0-d tensor: one element on its axis */
        *n = 1;
        return;
    }
    for (int d = 0; d < axis; d++) {
        *outer *= x->shape[d];
    }
    for (int d = axis + 1; d < x->ndim; d++) {
        *inner *= x->shape[d];
    }
    *n = x->shape[axis];
}

void
ad_bcast_strides(int nd, const int64_t *out_shape, int nd_in,
                 const int64_t *in, int64_t *st)
{
    int64_t cst[AD_MAX_DIMS];
    ad_strides(nd_in, in, cst);
    for (int i = 0; i < nd; i++) {
        int j = i - (nd - nd_in);
        st[i] = (j >= 0 && in[j] == out_shape[i] && in[j] != 1) ? cst[j] : 0;
    }
}

void
ad_iter_init(ad_iter *it, int nd, const int64_t *shape, int nops,
             int64_t st[][AD_MAX_DIMS])
{
    /* Drop size-1 dimensions, then merge neighbours d-1, d when every
     * operand has st[d-1] == st[d] * shape[d]. */
    int m = 0;
    it->nops = nops;
    for (int d = 0; d < nd; d++) {
        if (shape[d] == 1) {
            continue;
        }
        if (m > 0) {
            int ok = 1;
            for (int k = 0; k < nops; k++) {
                if (it->st[k][m - 1] != st[k][d] * shape[d]) {
                    ok = 0;
                }
            }
            if (ok) {
                it->shape[m - 1] *= shape[d];
                for (int k = 0; k < nops; k++) {
                    it->st[k][m - 1] = st[k][d];
                }
                continue;
            }
        }
        it->shape[m] = shape[d];
        for (int k = 0; k < nops; k++) {
            it->st[k][m] = st[k][d];
        }
        m++;
    }
    if (m == 0) {
        it->shape[0] = 1;
        for (int k = 0; k < nops; k++) {
            it->st[k][0] = 0;
        }
        m = 1;
    }
    it->nd = m;
    it->n = it->shape[m - 1];
    it->rows = 1;
    for (int d = 0; d < m - 1; d++) {
        it->rows *= it->shape[d];
        it->ctr[d] = 0;
    }
    for (int d = 0; d < nd; d++) {
        if (shape[d] == 0) {
            it->rows = 0;
        }
    }
    for (int k = 0; k < nops; k++) {
        it->off[k] = 0;
        it->s[k] = it->st[k][m - 1];
    }
}

/* ---- tensors --------------------------------------------------------- */

ad_status
ad_new_view(ad_buffer *buf, int dt, int ndim, const int64_t *shape,
            ad_tensor **out)
{
    int64_t size;
    ad_status s = ad_check_size(ndim, shape, &size);
    if (s) {
        return s;
    }
    ad_tensor *t = ad_tensor_struct_alloc();
    if (!t) {
        return ad_error(AD_ERR_NOMEM, "out of memory allocating a tensor");
    }
    t->refcnt = 1;
    t->dtype = (uint8_t)dt;
    t->ndim = ndim;
    t->size = size;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
    }
    ad_buf_incref(buf);
    t->buf = buf;
    *out = t;
    return AD_OK;
}

ad_status
ad_new(int dt, int ndim, const int64_t *shape, ad_tensor **out)
{
    int64_t size;
    char sb[AD_SHAPE_BUF];
    ad_status s = ad_check_size(ndim, shape, &size);
    if (s) {
        return s;
    }
    ad_buffer *b = ad_buf_alloc((size_t)size * ad_itemsize(dt));
    if (!b) {
        return ad_error(AD_ERR_NOMEM, "cannot allocate %lld bytes for a "
                        "%s tensor of shape %s",
                        (long long)(size * (int64_t)ad_itemsize(dt)),
                        ad_dtype_name(dt),
                        ad_shape_str(ndim, shape, sb, sizeof(sb)));
    }
    s = ad_new_view(b, dt, ndim, shape, out);
    ad_buf_decref(b);
    return s;
}

ad_status
ad_empty(ad_dtype dt, int ndim, const int64_t *shape, ad_tensor **out)
{
    if ((int)dt < 0 || (int)dt >= AD_DTYPE_COUNT) {
        return ad_error(AD_ERR_TYPE, "unknown dtype code %d", (int)dt);
    }
    return ad_new(dt, ndim, shape, out);
}

ad_status
ad_full(ad_dtype dt, int ndim, const int64_t *shape, double v,
        ad_tensor **out)
{
    ad_status s = ad_empty(dt, ndim, shape, out);
    if (s == AD_OK) {
        ad_kany(dt)->fill(ad_data(*out), (*out)->size, v);
    }
    return s;
}

void *
ad_data(const ad_tensor *t)
{
    return AD_BUF_DATA(t->buf);
}

void
ad_incref(ad_tensor *t)
{
    ad_ref(t);
}

int
ad_is_leaf(const ad_tensor *t)
{
    return t->rec < 0;
}

void
ad_set_requires_grad(ad_tensor *t, int flag)
{
    /* Someone else (a record, a program) references t: what was recorded
     * with the old flag may no longer hold. */
    if (t->requires_grad != (flag != 0) &&
        __atomic_load_n(&t->refcnt, __ATOMIC_RELAXED) > 1) {
        ad_bump_epoch();
    }
    t->requires_grad = (uint8_t)(flag != 0);
}

uint32_t
ad_version(const ad_tensor *t)
{
    return ad_buf_version(t->buf);
}

void
ad_mark_modified(ad_tensor *t)
{
    ad_buf_bump(t->buf);
}

ad_status
ad_detach(ad_tensor *t, ad_tensor **out)
{
    /* Shares the buffer, as torch's detach does; writes through either
     * bump the shared version counter. */
    ad_status s = ad_new_view(t->buf, t->dtype, t->ndim, t->shape, out);
    if (s == AD_OK) {
        (*out)->flags = t->flags & AD_T_COPY_OF_VIEW;
    }
    return s;
}

int
ad_shares_buffer(const ad_tensor *t)
{
    /* Buffer references: t itself, every tensor sharing it, and the
     * producing record when it saved its output (exp, softmax, max...).
     * Only an op's own output is ever saved, so no other record holds
     * this buffer. */
    int64_t own = 1;
    if (t->rec >= 0 && t->tape && t->tape->recs[t->rec].saved == t->buf) {
        own++;
    }
    return t->buf->refcnt > own;
}

ad_status
ad_copy_data(ad_tensor *dst, const ad_tensor *src)
{
    char s1[AD_SHAPE_BUF], s2[AD_SHAPE_BUF];
    if (dst->size != src->size) {
        return ad_error(AD_ERR_SHAPE, "cannot copy a tensor of shape %s "
                        "into one of shape %s",
                        ad_shape_str(src->ndim, src->shape, s1, sizeof(s1)),
                        ad_shape_str(dst->ndim, dst->shape, s2, sizeof(s2)));
    }
    if (ad_capture_current()) {
        ad_status s = ad_capture_instr(AD_I_COPY, dst, (ad_tensor *)src, 0);
        if (s) {
            return s;
        }
    }
    ad_cast_buf(ad_data(src), src->dtype, ad_data(dst), dst->dtype,
                src->size);
    ad_mark_modified(dst);
    return AD_OK;
}

ad_status
ad_axpy_(ad_tensor *y, double alpha, const ad_tensor *x)
{
    char s1[AD_SHAPE_BUF], s2[AD_SHAPE_BUF];
    if (!ad_is_float(y->dtype)) {
        return ad_error(AD_ERR_TYPE, "axpy needs a floating point tensor, "
                        "got %s", ad_dtype_name(y->dtype));
    }
    if (y->size != x->size || y->dtype != x->dtype) {
        return ad_error(AD_ERR_SHAPE, "axpy needs equal shapes and dtypes, "
                        "got %s %s and %s %s",
                        ad_shape_str(y->ndim, y->shape, s1, sizeof(s1)),
                        ad_dtype_name(y->dtype),
                        ad_shape_str(x->ndim, x->shape, s2, sizeof(s2)),
                        ad_dtype_name(x->dtype));
    }
    if (ad_capture_current()) {
        ad_status s = ad_capture_instr(AD_I_AXPY, y, (ad_tensor *)x, alpha);
        if (s) {
            return s;
        }
    }
    ad_k(y->dtype)->axpy(ad_data(y), ad_data(x), y->size, alpha);
    ad_mark_modified(y);
    return AD_OK;
}

ad_status
ad_fill_(ad_tensor *t, double v)
{
    if (ad_capture_current()) {
        ad_status s = ad_capture_instr(AD_I_FILL, t, NULL, v);
        if (s) {
            return s;
        }
    }
    ad_kany(t->dtype)->fill(ad_data(t), t->size, v);
    ad_mark_modified(t);
    return AD_OK;
}

/* ---- gradients of broadcast operands --------------------------------- */

ad_status
ad_reduce_to_shape(int dt, const void *g, int nd, const int64_t *shape,
                   const ad_tensor *x, ad_buffer **out)
{
    int64_t st[3][AD_MAX_DIMS];
    ad_iter it;
    ad_buffer *b = ad_buf_zeros(ad_nbytes(x));
    if (!b) {
        return ad_error(AD_ERR_NOMEM, "out of memory in backward");
    }
    ad_bcast_strides(nd, shape, x->ndim, x->shape, st[0]);
    ad_strides(nd, shape, st[1]);
    ad_iter_init(&it, nd, shape, 2, st);
    ad_k(dt)->sum_into(&it, AD_BUF_DATA(b), g);
    *out = b;
    return AD_OK;
}

int
ad_same_shape(const ad_tensor *a, int nd, const int64_t *shape)
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

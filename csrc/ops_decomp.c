/*
 * ops_decomp.c -- the LAPACK decompositions as one engine op, `linalg`,
 * with a kind per decomposition (AD_LINALG_KINDS): inv, solve, det,
 * slogdet, cholesky, eigh, eigvalsh, qr, svd, svdvals.  Each kind's forward and fused backward (torch's
 * formulas, FunctionsManual.cpp) sit side by side in decomp.inc, written
 * once for a type T and included for float and double.  LAPACK comes from
 * the pointers handed to ad_set_lapack (scipy's cython_lapack), BLAS from
 * the kernels' gemm.  Batched over the leading dims; workspace from the
 * pool; what a backward needs (the LU and its pivots, the solution) is
 * the record's saved buffer, rewritten by every replay.
 */
#include "ad_impl.h"

#include <limits.h>
#include <stdio.h>

/* Batch count and order of the square matrices in a's last two dims. */
static void
mat_dims(const ad_tensor *a, int64_t *B, int64_t *n)
{
    int64_t b = 1;
    for (int i = 0; i < a->ndim - 2; i++) {
        b *= a->shape[i];
    }
    *B = b;
    *n = a->shape[a->ndim - 1];
}

/* Batch count of the matrices in a's last two dims. */
static int64_t
mat_batch(const ad_tensor *a)
{
    int64_t b = 1;
    for (int i = 0; i < a->ndim - 2; i++) {
        b *= a->shape[i];
    }
    return b;
}

static ad_buffer *
scratch(size_t nbytes)
{
    return ad_buf_alloc(nbytes ? nbytes : 8);
}

/* torch's "(Batch element 3): " prefix, empty for a single matrix. */
static const char *
batch_label(const ad_tensor *a, int64_t b, char *buf, size_t n)
{
    if (a->ndim <= 2) {
        return "";
    }
    snprintf(buf, n, "(Batch element %lld): ", (long long)b);
    return buf;
}

/* The saved buffer of solve, det and slogdet: the LU factors of every
 * matrix, solve's solution X (k columns; k < 0: none), the pivots. */
typedef struct {
    size_t lu, x, piv, total;
} lu_layout;

static lu_layout
layout(int dt, int64_t B, int64_t n, int64_t k)
{
    lu_layout L;
    size_t isz = ad_itemsize(dt);
    L.lu = 0;
    L.x = (size_t)(B * n * n) * isz;
    L.piv = L.x + (k > 0 ? (size_t)(B * n * k) * isz : 0);
    L.total = L.piv + (size_t)(B * n) * sizeof(int);
    return L;
}

#define AD_CAT_(a, b) a##b
#define AD_CAT(a, b) AD_CAT_(a, b)

#define T float
#define DT AD_F32
#define FN(name) AD_CAT(name, _f32)
#include "decomp.inc"
#undef T
#undef DT
#undef FN

#define T double
#define DT AD_F64
#define FN(name) AD_CAT(name, _f64)
#include "decomp.inc"
#undef T
#undef DT
#undef FN

/* Each kind's forward and backward per dtype; det and slogdet share
 * theirs. */
#define fw_slogdet_f32 fw_det_f32
#define fw_slogdet_f64 fw_det_f64
#define bw_slogdet_f32 bw_det_f32
#define bw_slogdet_f64 bw_det_f64
#define fw_svdvals_f32 fw_svd_f32
#define fw_svdvals_f64 fw_svd_f64
#define bw_svdvals_f32 bw_svd_f32
#define bw_svdvals_f64 bw_svd_f64
#define fw_eigvalsh_f32 fw_eigh_f32
#define fw_eigvalsh_f64 fw_eigh_f64
#define bw_eigvalsh_f32 bw_eigh_f32
#define bw_eigvalsh_f64 bw_eigh_f64
#define AD_X_KIND(code, name, ...) {fw_##name##_f32, fw_##name##_f64},
static ad_status (*const fw_tab[AD_LA_COUNT][2])(ad_record *) = {
    AD_LINALG_KINDS(AD_X_KIND)};
#undef AD_X_KIND
#define AD_X_KIND(code, name, ...) {bw_##name##_f32, bw_##name##_f64},
static ad_status (*const bw_tab[AD_LA_COUNT][2])(ad_record *, ad_buffer **) =
    {AD_LINALG_KINDS(AD_X_KIND)};
#undef AD_X_KIND
#define AD_X_KIND(code, name, flags) {#name, flags, {NULL, NULL}},
static const ad_kinddef linalg_kinds[] = {AD_LINALG_KINDS(AD_X_KIND)};
#undef AD_X_KIND

static ad_status
fw_linalg(ad_record *r)
{
    return fw_tab[r->kind][r->in[0]->dtype == AD_F64](r);
}

static ad_status
bw_linalg(ad_record *r, ad_buffer **g)
{
    return bw_tab[r->kind][r->in[0]->dtype == AD_F64](r, g);
}

ad_status
ad_linalg(ad_linalg_kind k, int nin, ad_tensor **xs, int upper, int full,
          ad_tensor **out)
{
    char s1[AD_SHAPE_BUF], s2[AD_SHAPE_BUF];
    if ((int)k < 0 || k >= AD_LA_COUNT) {
        return ad_error(AD_ERR_VALUE, "linalg: unknown kind %d", (int)k);
    }
    const char *name = linalg_kinds[k].name;
    int want = k == AD_LA_SOLVE ? 2 : 1;
    if (nin != want) {
        return ad_error(AD_ERR_VALUE, "linalg.%s: takes %d input(s), got %d",
                        name, want, nin);
    }
    if (!ad_blas_ready() || !ad_lapack_ready()) {
        return ad_error(AD_ERR_NOBLAS, "linalg.%s: no BLAS/LAPACK was "
                        "registered with the engine", name);
    }
    ad_tensor *a = xs[0];
    for (int i = 0; i < nin; i++) {
        if (!ad_is_float(xs[i]->dtype)) {
            return ad_error(AD_ERR_TYPE, "linalg.%s: expected a floating "
                            "point tensor (float32 or float64), got %s",
                            name, ad_dtype_name(xs[i]->dtype));
        }
    }
    int nd = a->ndim;
    int square = k != AD_LA_QR && k != AD_LA_SVD && k != AD_LA_SVDVALS;
    if (nd < 2 || (square && a->shape[nd - 1] != a->shape[nd - 2])) {
        return ad_error(AD_ERR_SHAPE, "linalg.%s: A must be batches of "
                        "square matrices, got shape %s", name,
                        ad_shape_str(nd, a->shape, s1, sizeof(s1)));
    }
    int64_t B, n, kk = -1, m = a->shape[nd - 2];
    mat_dims(a, &B, &n);
    if (n > INT_MAX / 2 || m > INT_MAX / 2 || m * n > INT_MAX / 2) {
        return ad_error(AD_ERR_VALUE, "linalg.%s: matrices of order %lld "
                        "exceed the LAPACK interface", name, (long long)n);
    }
    if (k == AD_LA_SOLVE) {
        ad_tensor *b = xs[1];
        int ok = b->dtype == a->dtype && b->ndim == nd &&
                 b->shape[nd - 2] == n;
        for (int i = 0; ok && i < nd - 2; i++) {
            ok = b->shape[i] == a->shape[i];
        }
        if (!ok) {
            return ad_error(AD_ERR_SHAPE, "linalg.solve: A %s (%s) and B %s "
                            "(%s) do not fit (B must be A's batch + (n, k), "
                            "same dtype)",
                            ad_shape_str(nd, a->shape, s1, sizeof(s1)),
                            ad_dtype_name(a->dtype),
                            ad_shape_str(b->ndim, b->shape, s2, sizeof(s2)),
                            ad_dtype_name(b->dtype));
        }
        kk = b->shape[nd - 1];
        if (kk > INT_MAX / 2) {
            return ad_error(AD_ERR_VALUE, "linalg.solve: %lld right-hand "
                            "sides exceed the LAPACK interface",
                            (long long)kk);
        }
    }
    int64_t shape[AD_MAX_DIMS];
    int ond = nd;
    memcpy(shape, a->shape, sizeof(int64_t) * (size_t)nd);
    switch (k) {
    case AD_LA_SOLVE:
        shape[nd - 1] = kk;
        break;
    case AD_LA_DET:
        ond = nd - 2;
        break;
    case AD_LA_SLOGDET:
        ond = nd - 1;
        shape[nd - 2] = 2;
        break;
    case AD_LA_EIGH:
        ond = nd - 1;
        shape[nd - 2] = n + n * n;
        break;
    case AD_LA_EIGVALSH:
        ond = nd - 1;
        break;
    case AD_LA_QR: {
        int64_t qc = full ? m : (m < n ? m : n);
        ond = nd - 1;
        shape[nd - 2] = m * qc + qc * n;
        break;
    }
    case AD_LA_SVD:
    case AD_LA_SVDVALS: {
        int64_t kk2 = m < n ? m : n;
        ond = nd - 1;
        shape[nd - 2] = k == AD_LA_SVDVALS ? kk2
                        : full ? m * m + kk2 + n * n
                               : m * kk2 + kk2 + kk2 * n;
        break;
    }
    default:
        break;
    }
    ad_buffer *sv = NULL;
    if (k == AD_LA_SOLVE || k == AD_LA_DET || k == AD_LA_SLOGDET ||
        k == AD_LA_EIGVALSH || k == AD_LA_SVDVALS) {
        int64_t mk = m < n ? m : n;
        size_t bytes = k == AD_LA_EIGVALSH
                       ? (size_t)(B * n * n) * ad_itemsize(a->dtype)
                       : k == AD_LA_SVDVALS
                       ? (size_t)(B * (m * mk + mk * n + mk)) *
                             ad_itemsize(a->dtype)
                       : layout(a->dtype, B, n, kk).total;
        if (!(sv = scratch(bytes))) {
            return ad_error(AD_ERR_NOMEM, "linalg.%s: out of memory", name);
        }
    }
    ad_tensor *o;
    ad_status s = ad_new(a->dtype, ond, shape, &o);
    if (s) {
        ad_buf_decref(sv);
        return s;
    }
    ad_record c;
    ad_call_init(&c, &ad_def_linalg, k, nin, xs, o);
    c.at.linalg.upper = upper != 0;
    c.at.linalg.full = full != 0;
    c.saved = sv;
    return ad_call_run(&c, B * m * n * (n + (kk > 0 ? kk : 0)), out);
}

static const ad_attrdef linalg_attrs[] = {
    AD_ATTR(linalg, upper, AD_ATTR_I32),
    AD_ATTR(linalg, full, AD_ATTR_I32),
};
const ad_opdef ad_def_linalg = {
    .name = "linalg",
    .code = AD_OP_LINALG, .arity = -1, .saved = AD_SAVED_NONE,
    .kinds = linalg_kinds, .nkinds = AD_LA_COUNT,
    .attrs = linalg_attrs, .nattrs = 2,
    .forward = fw_linalg, .backward = bw_linalg,
};

/*
 * test_engine.c -- tests of the C engine alone, with no Python.
 *
 * Built and run by tests/test_c_engine.py (also under valgrind and with
 * -fsanitize=address,undefined).  By hand, from the repository root:
 *
 *     cc -std=c11 -D_GNU_SOURCE -O1 -g -fno-math-errno -fno-trapping-math
 *        -Icsrc tests/c/test_engine.c csrc/[a-z]*.c -lm -lpthread
 *        -o test_engine
 *     ./test_engine            (or ./test_engine --quick under valgrind)
 *
 * Covers: tape growth and release (a 100,000-op chain; no growth across
 * iterations), pool reuse, every kernel against a plain reference loop in
 * double (and central differences in float64), status codes and messages
 * on bad input (with inputs left unchanged), the optimizers against their
 * formulas, and the capture/program API against eager execution,
 * bit-for-bit.  BLAS is a naive column-major sgemm_/dgemm_ defined here.
 *
 * CHECK counts a check, prints file:line on failure and goes on; the last
 * line is "N checks, M failed" and the exit status is nonzero on failure.
 */
#include "autodiff.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the assertion macro ---------------------------------------------- */

static long g_checks, g_failed;
static int g_quick;

static void
check_(int ok, const char *file, int line, const char *fmt, ...)
{
    g_checks++;
    if (ok) {
        return;
    }
    g_failed++;
    fprintf(stderr, "%s:%d: FAILED: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

#define CHECK(c) check_((c) != 0, __FILE__, __LINE__, "%s", #c)
#define CHECKM(c, ...) check_((c) != 0, __FILE__, __LINE__, __VA_ARGS__)

/* A call expected to return a status; on AD_OK failing, the test
 * function returns (its tensors leak, which only matters on failure). */
#define CHECK_ST(call, want)                                               \
    do {                                                                   \
        ad_status s_ = (call);                                             \
        CHECKM(s_ == (want), "%s returned %d (%s), expected %d: %s",       \
               #call, (int)s_, ad_status_name(s_), (int)(want),            \
               s_ ? ad_last_error() : "");                                 \
    } while (0)
#define REQ(call)                                                          \
    do {                                                                   \
        ad_status s_ = (call);                                             \
        CHECKM(s_ == AD_OK, "%s returned %d (%s): %s", #call, (int)s_,     \
               ad_status_name(s_), ad_last_error());                       \
        if (s_ != AD_OK) {                                                 \
            return;                                                        \
        }                                                                  \
    } while (0)

/* ---- helpers ------------------------------------------------------------ */

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;

static double
urand(double lo, double hi)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return lo + (hi - lo) * ((double)(g_rng >> 11) / 9007199254740992.0);
}

static const char *
dtn(int dt)
{
    return dt == AD_F64 ? "f64" : "f32";
}

static double
at(const ad_tensor *t, int64_t i)
{
    return t->dtype == AD_F64 ? ((const double *)ad_data(t))[i]
                              : (double)((const float *)ad_data(t))[i];
}

static void
put(ad_tensor *t, int64_t i, double v)
{
    if (t->dtype == AD_F64) {
        ((double *)ad_data(t))[i] = v;
    }
    else {
        ((float *)ad_data(t))[i] = (float)v;
    }
}

/* A new tensor from values (NULL: uniform in [lo, hi)). */
static ad_tensor *
mk(int dt, int nd, const int64_t *shape, const double *v, double lo,
   double hi, int rg)
{
    ad_tensor *t = NULL;
    ad_status s = ad_empty((ad_dtype)dt, nd, shape, &t);
    if (s) {
        fprintf(stderr, "mk: %s\n", ad_last_error());
        abort();
    }
    for (int64_t i = 0; i < t->size; i++) {
        put(t, i, v ? v[i] : urand(lo, hi));
    }
    ad_set_requires_grad(t, rg);
    return t;
}

/* The tensor's values in double (the caller frees). */
static double *
vals(const ad_tensor *t)
{
    double *v = malloc(sizeof(double) * (size_t)(t->size ? t->size : 1));
    for (int64_t i = 0; i < t->size; i++) {
        v[i] = at(t, i);
    }
    return v;
}

static int
same_vals(const ad_tensor *t, const double *v)
{
    for (int64_t i = 0; i < t->size; i++) {
        if (at(t, i) != v[i]) {
            return 0;
        }
    }
    return 1;
}

static int
shape_is(const ad_tensor *t, int nd, const int64_t *shape)
{
    if (t->ndim != nd) {
        return 0;
    }
    for (int i = 0; i < nd; i++) {
        if (t->shape[i] != shape[i]) {
            return 0;
        }
    }
    return 1;
}

/* |got - want| <= atol * max(1, max|want|) + rtol * |want|, NaN == NaN. */
static void
close_arr_(const char *file, int line, const char *what, const ad_tensor *t,
           const double *want, int64_t n, double rtol, double atol)
{
    if (t == NULL) {
        check_(0, file, line, "%s: tensor is NULL", what);
        return;
    }
    if (t->size != n) {
        check_(0, file, line, "%s: size %lld, expected %lld", what,
               (long long)t->size, (long long)n);
        return;
    }
    double scale = 1;
    for (int64_t i = 0; i < n; i++) {
        if (isfinite(want[i]) && fabs(want[i]) > scale) {
            scale = fabs(want[i]);
        }
    }
    for (int64_t i = 0; i < n; i++) {
        double g = at(t, i), w = want[i];
        int ok = (isnan(g) && isnan(w)) || g == w ||
                 fabs(g - w) <= atol * scale + rtol * fabs(w);
        if (!ok) {
            check_(0, file, line, "%s: element %lld is %.17g, expected "
                   "%.17g (diff %.3g)", what, (long long)i, g, w,
                   fabs(g - w));
            return;
        }
    }
    check_(1, file, line, "%s", what);
}
#define CLOSE(what, t, want, n, rtol, atol)                               \
    close_arr_(__FILE__, __LINE__, what, t, want, n, rtol, atol)

/* Per-dtype tolerances: forward values and gradients. */
static double
ftol(int dt)
{
    return dt == AD_F64 ? 1e-12 : 2e-6;
}
static double
gtol(int dt)
{
    return dt == AD_F64 ? 1e-11 : 2e-5;
}

static ad_memory_stats
stats(void)
{
    ad_memory_stats m;
    ad_get_memory_stats(&m);
    return m;
}

/* Unravel flat into an index of shape, then the flat index of that
 * element in a tensor of shape in (broadcast: size-1 dims read 0). */
static int64_t
bidx(int nd, const int64_t *os, int64_t flat, int ndi, const int64_t *is)
{
    int64_t idx[AD_MAX_DIMS];
    for (int d = nd - 1; d >= 0; d--) {
        idx[d] = os[d] ? flat % os[d] : 0;
        flat = os[d] ? flat / os[d] : 0;
    }
    int64_t off = 0, st = 1;
    for (int j = ndi - 1; j >= 0; j--) {
        int d = j + nd - ndi;
        off += (is[j] == 1 ? 0 : idx[d]) * st;
        st *= is[j];
    }
    return off;
}

static ad_tensor *
ones_like(const ad_tensor *t)
{
    ad_tensor *o;
    if (ad_full((ad_dtype)t->dtype, t->ndim, t->shape, 1.0, &o)) {
        abort();
    }
    return o;
}

/* ---- naive BLAS: column-major, Fortran calling convention --------------- */

static int g_gemm_calls;

#define NAIVE_GEMM(NAME, T)                                                \
    static void NAME(char *ta, char *tb, int *m, int *n, int *k, T *alpha,  \
                     T *a, int *lda, T *b, int *ldb, T *beta, T *c,         \
                     int *ldc)                                              \
    {                                                                       \
        int at_ = *ta == 'T' || *ta == 't' || *ta == 'C' || *ta == 'c';     \
        int bt_ = *tb == 'T' || *tb == 't' || *tb == 'C' || *tb == 'c';     \
        __atomic_add_fetch(&g_gemm_calls, 1, __ATOMIC_RELAXED);            \
        for (int j = 0; j < *n; j++) {                                      \
            for (int i = 0; i < *m; i++) {                                  \
                double s = 0;                                               \
                for (int p = 0; p < *k; p++) {                              \
                    double av = at_ ? a[p + (int64_t)i * *lda]              \
                                    : a[i + (int64_t)p * *lda];             \
                    double bv = bt_ ? b[j + (int64_t)p * *ldb]              \
                                    : b[p + (int64_t)j * *ldb];             \
                    s += av * bv;                                           \
                }                                                           \
                T *cij = &c[i + (int64_t)j * *ldc];                         \
                /* beta == 0: C is not read, as in the reference BLAS */    \
                *cij = (T)(*alpha * s) + (*beta == 0 ? (T)0 : *beta * *cij);\
            }                                                               \
        }                                                                   \
    }
NAIVE_GEMM(naive_sgemm_, float)
NAIVE_GEMM(naive_dgemm_, double)

/* ======================================================================== */
/* tape growth                                                              */
/* ======================================================================== */

static void
test_tape_chain(int64_t n)
{
    ad_memory_stats m0 = stats();
    CHECKM(m0.tape_records == 0 && m0.tape_live == 0,
           "tape not empty at the start: %lld records, %lld live",
           (long long)m0.tape_records, (long long)m0.tape_live);

    /* y = a chain of n unary ops on x; the reference runs the same chain
     * in double, with the derivative by the chain rule. */
    ad_tensor *x = mk(AD_F64, 0, NULL, (double[]){0.75}, 0, 0, 1);
    ad_tensor *y = x;
    ad_incref(x);
    double v = 0.75, d = 1.0;
    for (int64_t i = 0; i < n; i++) {
        ad_tensor *z;
        int k = (int)(i % 3);
        ad_unary_kind kind = k == 0 ? AD_U_ADDC : k == 1 ? AD_U_MULC
                                                         : AD_U_NEG;
        double a = k == 0 ? 0.25 : (i % 2 ? 1.0000001 : 0.9999999);
        REQ(ad_unary(kind, y, a, 0, &z));
        ad_decref(y);
        y = z;
        if (k == 0) {
            v += a;
        }
        else if (k == 1) {
            v *= a;
            d *= a;
        }
        else {
            v = -v;
            d = -d;
        }
    }
    ad_memory_stats m1 = stats();
    CHECKM(m1.tape_records == n && m1.tape_live == n,
           "after a chain of %lld ops: %lld records, %lld live", (long long)n,
           (long long)m1.tape_records, (long long)m1.tape_live);
    CHECKM(fabs(at(y, 0) - v) <= 1e-9 * fabs(v), "chain value %.17g vs %.17g",
           at(y, 0), v);
    REQ(ad_backward(y, NULL, 0));
    CHECK(x->grad != NULL);
    if (x->grad) {
        CHECKM(fabs(at(x->grad, 0) - d) <= 1e-12, "chain grad %.17g vs %.17g",
               at(x->grad, 0), d);
    }
    /* consumed, not freed: the records die with y */
    ad_tensor *z;
    ad_node_info info;
    CHECK_ST(ad_node(y, &info), AD_ERR_STATE);
    CHECK_ST(ad_backward(y, NULL, 0), AD_ERR_STATE);
    ad_decref(y);
    ad_memory_stats m2 = stats();
    CHECKM(m2.tape_records == 0 && m2.tape_live == 0,
           "after freeing the chain: %lld records, %lld live",
           (long long)m2.tape_records, (long long)m2.tape_live);

    /* The same chain never backpropagated: freeing it cascades without
     * recursion, and the tape empties. */
    y = x;
    ad_incref(x);
    for (int64_t i = 0; i < n; i++) {
        REQ(ad_unary(i % 2 ? AD_U_SIN : AD_U_ADDC, y, 0.5, 0, &z));
        ad_decref(y);
        y = z;
    }
    CHECK(stats().tape_live == n);
    ad_decref(y);
    m2 = stats();
    CHECKM(m2.tape_records == 0 && m2.tape_live == 0,
           "after freeing an unused chain: %lld records, %lld live",
           (long long)m2.tape_records, (long long)m2.tape_live);
    ad_decref(x);
    CHECKM(stats().bytes_in_use == m0.bytes_in_use,
           "bytes in use %lld, at the start %lld",
           (long long)stats().bytes_in_use, (long long)m0.bytes_in_use);
}

/* Graphs built and dropped without backward: the tape stays flat. */
static void
test_tape_no_growth(int iters)
{
    ad_memory_stats m0 = stats();
    int64_t sh[1] = {16};
    ad_tensor *w = mk(AD_F32, 1, sh, NULL, -1, 1, 1);
    int64_t max_recs = 0;
    for (int it = 0; it < iters; it++) {
        ad_tensor *a, *b, *c;
        REQ(ad_unary(AD_U_TANH, w, 0, 0, &a));
        REQ(ad_binary(AD_B_MUL, a, w, &b));
        REQ(ad_reduce(AD_R_SUM, b, 1, 0, &c));
        ad_decref(a);
        ad_decref(b);
        ad_decref(c);
        ad_memory_stats m = stats();
        if (m.tape_records > max_recs) {
            max_recs = m.tape_records;
        }
    }
    CHECKM(max_recs == 0, "tape grew to %lld records across iterations of "
           "dropped graphs", (long long)max_recs);

    /* Dead records in the middle of the tape (a tensor dropped while a
     * later one lives): compaction keeps the tape within twice the live
     * records plus 1024. */
    ad_tensor *keep = NULL;
    max_recs = 0;
    for (int it = 0; it < iters * 4; it++) {
        ad_tensor *a, *b;
        REQ(ad_unary(AD_U_SIN, w, 0, 0, &a));
        REQ(ad_unary(AD_U_COS, w, 0, 0, &b));
        ad_decref(a);                   /* dead below a live record */
        ad_decref(keep);
        keep = b;
        ad_memory_stats m = stats();
        if (m.tape_records > max_recs) {
            max_recs = m.tape_records;
        }
        if (m.tape_records > 2 * m.tape_live + 1024) {
            CHECKM(0, "tape has %lld records for %lld live",
                   (long long)m.tape_records, (long long)m.tape_live);
            break;
        }
    }
    CHECKM(max_recs <= 2 + 1024 + 2, "tape reached %lld records",
           (long long)max_recs);
    ad_decref(keep);
    ad_decref(w);
    ad_memory_stats m1 = stats();
    CHECK(m1.tape_records == 0 && m1.tape_live == 0);
    CHECK(m1.bytes_in_use == m0.bytes_in_use);
}

/* ======================================================================== */
/* pool reuse                                                               */
/* ======================================================================== */

static void
test_pool_reuse(int iters)
{
    static const int64_t shapes[][2] = {{3, 1}, {17, 5}, {1000, 1},
                                        {64, 64}, {1, 1}, {0, 4}};
    ad_memory_stats m0 = stats(), warm = m0;
    for (int it = 0; it < iters; it++) {
        for (int dt = 0; dt < 2; dt++) {
            for (int s = 0; s < 6; s++) {
                ad_tensor *x = mk(dt, 2, shapes[s], NULL, -1, 1, 1);
                ad_tensor *y, *z;
                REQ(ad_unary(AD_U_EXP, x, 0, 0, &y));
                REQ(ad_reduce(AD_R_SUM, y, 3, 0, &z));
                REQ(ad_backward(z, NULL, 0));
                ad_decref(z);
                ad_decref(y);
                ad_decref(x);
            }
        }
        if (it == 1) {
            warm = stats();
        }
    }
    ad_memory_stats m1 = stats();
    CHECKM(m1.allocations == warm.allocations, "allocations went from "
           "%lld after warm-up to %lld", (long long)warm.allocations,
           (long long)m1.allocations);
    CHECKM(m1.bytes_in_use == m0.bytes_in_use, "bytes in use %lld, at the "
           "start %lld", (long long)m1.bytes_in_use,
           (long long)m0.bytes_in_use);
    CHECK(m1.bytes_pooled > 0);
    /* each size class comes back: one buffer of 64x64 f64 reused */
    ad_tensor *a, *b;
    int64_t sh[2] = {64, 64};
    REQ(ad_empty(AD_F64, 2, sh, &a));
    void *pa = ad_data(a);
    ad_decref(a);
    REQ(ad_empty(AD_F64, 2, sh, &b));
    CHECK(ad_data(b) == pa);
    CHECK((((uintptr_t)ad_data(b)) & 63) == 0);
    ad_decref(b);
    CHECK(stats().allocations == warm.allocations);
    ad_pool_trim();
    m1 = stats();
    CHECK(m1.bytes_pooled == 0);
    CHECK(m1.frees > m0.frees);
    CHECK(m1.bytes_in_use == m0.bytes_in_use);
}

/* ======================================================================== */
/* unary kernels                                                            */
/* ======================================================================== */

#define SELU_A 1.6732632423543772848170429916717
#define SELU_S 1.0507009873554804934193349852946

static double
sig(double x)
{
    return 1 / (1 + exp(-x));
}

/* f(x) and f'(x), straightforwardly in double with libm. */
static double
ref_unary(int k, double x, double a, double b, double *d)
{
    switch (k) {
    case AD_U_NEG: *d = -1; return -x;
    case AD_U_EXP: *d = exp(x); return exp(x);
    case AD_U_LOG: *d = 1 / x; return log(x);
    case AD_U_SQRT: *d = 0.5 / sqrt(x); return sqrt(x);
    case AD_U_ABS: *d = x > 0 ? 1 : x < 0 ? -1 : 0; return fabs(x);
    case AD_U_SIN: *d = cos(x); return sin(x);
    case AD_U_COS: *d = -sin(x); return cos(x);
    case AD_U_SIGMOID: *d = sig(x) * (1 - sig(x)); return sig(x);
    case AD_U_TANH: *d = 1 - tanh(x) * tanh(x); return tanh(x);
    case AD_U_RELU: *d = x > 0; return x > 0 ? x : 0;
    case AD_U_LEAKY_RELU: *d = x > 0 ? 1 : a; return x > 0 ? x : a * x;
    case AD_U_ELU: *d = x > 0 ? 1 : a * exp(x);
        return x > 0 ? x : a * expm1(x);
    case AD_U_SELU: *d = SELU_S * (x > 0 ? 1 : SELU_A * exp(x));
        return SELU_S * (x > 0 ? x : SELU_A * expm1(x));
    case AD_U_SOFTPLUS: *d = a * x > b ? 1 : sig(a * x);
        return a * x > b ? x : log1p(exp(a * x)) / a;
    case AD_U_GELU:
        *d = 0.5 * (1 + erf(x / sqrt(2))) +
             x * exp(-0.5 * x * x) / sqrt(2 * M_PI);
        return 0.5 * x * (1 + erf(x / sqrt(2)));
    case AD_U_SILU: *d = sig(x) * (1 + x * (1 - sig(x))); return x * sig(x);
    case AD_U_CLIP: *d = x >= a && x <= b; return x < a ? a : x > b ? b : x;
    case AD_U_ADDC: *d = 1; return x + a;
    case AD_U_MULC: *d = a; return x * a;
    case AD_U_RSUBC: *d = -1; return a - x;
    case AD_U_RDIVC: *d = -a / (x * x); return a / x;
    case AD_U_POWC: *d = a == 0 ? 0 : a * pow(x, a - 1); return pow(x, a);
    case AD_U_RPOWC: *d = pow(a, x) * log(a); return pow(a, x);
    case AD_U_SQUARE: *d = 2 * x; return x * x;
    case AD_U_DIVC: *d = 1 / a; return x / a;
    case AD_U_ERF: *d = 2 / sqrt(M_PI) * exp(-x * x); return erf(x);
    case AD_U_TAN: *d = 1 + tan(x) * tan(x); return tan(x);
    case AD_U_ATAN: *d = 1 / (1 + x * x); return atan(x);
    case AD_U_ASIN: *d = 1 / sqrt(1 - x * x); return asin(x);
    case AD_U_ACOS: *d = -1 / sqrt(1 - x * x); return acos(x);
    case AD_U_SINH: *d = cosh(x); return sinh(x);
    case AD_U_COSH: *d = sinh(x); return cosh(x);
    case AD_U_ASINH: *d = 1 / sqrt(x * x + 1); return asinh(x);
    case AD_U_ACOSH: *d = 1 / sqrt(x * x - 1); return acosh(x);
    case AD_U_ATANH: *d = 1 / (1 - x * x); return atanh(x);
    case AD_U_LOG1P: *d = 1 / (1 + x); return log1p(x);
    case AD_U_EXPM1: *d = exp(x); return expm1(x);
    case AD_U_LOG2: *d = 1 / (x * M_LN2); return log2(x);
    case AD_U_LOG10: *d = 1 / (x * M_LN10); return log10(x);
    case AD_U_EXP2: *d = exp2(x) * M_LN2; return exp2(x);
    case AD_U_RECIPROCAL: *d = -1 / (x * x); return 1 / x;
    case AD_U_RSQRT: *d = -0.5 * pow(x, -1.5); return 1 / sqrt(x);
    case AD_U_SIGN: *d = 0; return (x > 0) - (x < 0);
    case AD_U_FLOOR: *d = 0; return floor(x);
    case AD_U_CEIL: *d = 0; return ceil(x);
    case AD_U_ROUND: *d = 0;
        return a == 0 ? nearbyint(x) : a > 0
            ? nearbyint(x * pow(10, a)) / pow(10, a)
            : nearbyint(x / pow(10, -a)) * pow(10, -a);
    case AD_U_TRUNC: *d = 0; return trunc(x);
    case AD_U_FRAC: *d = 1; return x - trunc(x);
    case AD_U_HARDTANH: *d = x > a && x < b; return x < a ? a : x > b ? b : x;
    case AD_U_HARDSIGMOID: *d = x > -3 && x < 3 ? 1.0 / 6 : 0;
        return fmin(fmax(x + 3, 0), 6) / 6;
    case AD_U_HARDSWISH: *d = x <= -3 ? 0 : x >= 3 ? 1 : x / 3 + 0.5;
        return x * fmin(fmax(x + 3, 0), 6) / 6;
    case AD_U_MISH: {
        double t = tanh(log1p(exp(x)));
        *d = t + x * sig(x) * (1 - t * t);
        return x * t;
    }
    case AD_U_LOGSIGMOID: *d = sig(-x); return -log1p(exp(-x));
    case AD_U_SOFTSIGN: *d = 1 / ((1 + fabs(x)) * (1 + fabs(x)));
        return x / (1 + fabs(x));
    case AD_U_TANHSHRINK: *d = tanh(x) * tanh(x); return x - tanh(x);
    case AD_U_CELU: *d = x > 0 ? 1 : exp(x / a);
        return x > 0 ? x : a * expm1(x / a);
    }
    *d = NAN;
    return NAN;
}

typedef struct {
    int kind;
    double a, b;
    int positive;               /* domain (0.2, 3) instead of (-3, 3);
                                   2: (-1.2, 1.2), 3: (-0.9, 0.9),
                                   4: (1.1, 4), 5: (-8, 8) */
} unary_case;

static const unary_case unary_cases[] = {
    {AD_U_NEG, 0, 0, 0}, {AD_U_EXP, 0, 0, 0}, {AD_U_LOG, 0, 0, 1},
    {AD_U_SQRT, 0, 0, 1}, {AD_U_ABS, 0, 0, 0}, {AD_U_SIN, 0, 0, 0},
    {AD_U_COS, 0, 0, 0}, {AD_U_SIGMOID, 0, 0, 0}, {AD_U_TANH, 0, 0, 0},
    {AD_U_RELU, 0, 0, 0}, {AD_U_LEAKY_RELU, 0.1, 0, 0},
    {AD_U_ELU, 1.3, 0, 0}, {AD_U_SELU, 0, 0, 0},
    {AD_U_SOFTPLUS, 2.0, 3.0, 0}, {AD_U_SOFTPLUS, 1.0, 20.0, 0},
    {AD_U_GELU, 0, 0, 0}, {AD_U_SILU, 0, 0, 0},
    {AD_U_CLIP, -1.0, 1.5, 0}, {AD_U_CLIP, -INFINITY, 0.5, 0},
    {AD_U_ADDC, 2.5, 0, 0}, {AD_U_MULC, -1.7, 0, 0},
    {AD_U_RSUBC, 0.7, 0, 0}, {AD_U_RDIVC, 1.9, 0, 1},
    {AD_U_POWC, 2.0, 0, 0}, {AD_U_POWC, 3.0, 0, 0}, {AD_U_POWC, 0.0, 0, 0},
    {AD_U_POWC, 0.5, 0, 1}, {AD_U_POWC, -1.5, 0, 1},
    {AD_U_POWC, 1.7, 0, 1}, {AD_U_RPOWC, 1.6, 0, 0},
    {AD_U_SQUARE, 0, 0, 0}, {AD_U_DIVC, -2.3, 0, 0}, {AD_U_ERF, 0, 0, 0},
    {AD_U_TAN, 0, 0, 2}, {AD_U_ATAN, 0, 0, 0}, {AD_U_ASIN, 0, 0, 3},
    {AD_U_ACOS, 0, 0, 3}, {AD_U_SINH, 0, 0, 0}, {AD_U_COSH, 0, 0, 0},
    {AD_U_ASINH, 0, 0, 0}, {AD_U_ACOSH, 0, 0, 4}, {AD_U_ATANH, 0, 0, 3},
    {AD_U_LOG1P, 0, 0, 3}, {AD_U_EXPM1, 0, 0, 0}, {AD_U_LOG2, 0, 0, 1},
    {AD_U_LOG10, 0, 0, 1}, {AD_U_EXP2, 0, 0, 0}, {AD_U_RECIPROCAL, 0, 0, 1},
    {AD_U_RSQRT, 0, 0, 1}, {AD_U_SIGN, 0, 0, 0}, {AD_U_FLOOR, 0, 0, 0},
    {AD_U_CEIL, 0, 0, 0}, {AD_U_ROUND, 0, 0, 0}, {AD_U_ROUND, 1, 0, 0},
    {AD_U_ROUND, -1, 0, 0}, {AD_U_TRUNC, 0, 0, 0}, {AD_U_FRAC, 0, 0, 0},
    {AD_U_HARDTANH, -1, 1, 0}, {AD_U_HARDTANH, 0, 6, 5},
    {AD_U_HARDTANH, -0.5, 2, 0}, {AD_U_HARDSIGMOID, 0, 0, 5},
    {AD_U_HARDSWISH, 0, 0, 5}, {AD_U_MISH, 0, 0, 5},
    {AD_U_LOGSIGMOID, 0, 0, 5}, {AD_U_SOFTSIGN, 0, 0, 0},
    {AD_U_TANHSHRINK, 0, 0, 0}, {AD_U_CELU, 1, 0, 0}, {AD_U_CELU, 0.5, 0, 0},
    {AD_U_CELU, 2, 0, 0},
};

static void
unary_one(const unary_case *c, int dt)
{
    enum { N = 41 };
    int64_t sh[2] = {1, N};
    double xs[N], y_ref[N], d_ref[N];
    char what[96];
    for (int i = 0; i < N; i++) {
        double t = (i + 0.37) / N;
        xs[i] = c->positive == 5 ? -8 + 16 * t
              : c->positive == 4 ? 1.1 + 2.9 * t
              : c->positive == 3 ? -0.9 + 1.8 * t
              : c->positive == 2 ? -1.2 + 2.4 * t
              : c->positive ? 0.2 + 2.8 * t : -3 + 6 * t;
    }
    ad_tensor *x = mk(dt, 2, sh, xs, 0, 0, 1), *y, *seed = NULL;
    for (int i = 0; i < N; i++) {
        /* the reference sees the dtype-rounded input */
        y_ref[i] = ref_unary(c->kind, at(x, i), c->a, c->b, &d_ref[i]);
    }
    REQ(ad_unary((ad_unary_kind)c->kind, x, c->a, c->b, &y));
    snprintf(what, sizeof(what), "unary %d (a=%g) forward %s", c->kind, c->a,
             dtn(dt));
    CHECK(shape_is(y, 2, sh) && y->dtype == dt && !ad_is_leaf(y));
    CLOSE(what, y, y_ref, N, ftol(dt), ftol(dt));
    seed = ones_like(y);
    REQ(ad_backward(y, seed, 0));
    snprintf(what, sizeof(what), "unary %d (a=%g) backward %s", c->kind,
             c->a, dtn(dt));
    CLOSE(what, x->grad, d_ref, N, gtol(dt), gtol(dt));

    if (dt == AD_F64 && x->grad) {
        /* central differences of the engine's own forward */
        double fd[N];
        ad_tensor *xp = mk(dt, 2, sh, xs, 0, 0, 0);
        ad_tensor *xm = mk(dt, 2, sh, xs, 0, 0, 0), *yp, *ym;
        double h[N];
        for (int i = 0; i < N; i++) {
            h[i] = 1e-6 * (fabs(xs[i]) > 1 ? fabs(xs[i]) : 1);
            put(xp, i, xs[i] + h[i]);
            put(xm, i, xs[i] - h[i]);
        }
        REQ(ad_unary((ad_unary_kind)c->kind, xp, c->a, c->b, &yp));
        REQ(ad_unary((ad_unary_kind)c->kind, xm, c->a, c->b, &ym));
        CHECK(ad_is_leaf(yp) && !yp->requires_grad);
        for (int i = 0; i < N; i++) {
            fd[i] = (at(yp, i) - at(ym, i)) / (2 * h[i]);
        }
        snprintf(what, sizeof(what), "unary %d (a=%g) vs finite "
                 "differences", c->kind, c->a);
        CLOSE(what, x->grad, fd, N, 1e-6, 1e-7);
        ad_decref(xp);
        ad_decref(xm);
        ad_decref(yp);
        ad_decref(ym);
    }
    ad_decref(seed);
    ad_decref(y);
    ad_decref(x);
}

static void
test_unary(void)
{
    int seen[AD_U_COUNT] = {0};
    for (size_t i = 0; i < sizeof(unary_cases) / sizeof(unary_cases[0]);
         i++) {
        seen[unary_cases[i].kind] = 1;
        for (int dt = 0; dt < 2; dt++) {
            unary_one(&unary_cases[i], dt);
        }
    }
    for (int k = 0; k < AD_U_COUNT; k++) {
        CHECKM(seen[k], "unary kind %d has no test case", k);
    }
    /* NaN passes through relu and clip; abs' derivative is 0 at 0 */
    double v[3] = {NAN, 0.0, -0.0};
    int64_t sh[1] = {3};
    for (int dt = 0; dt < 2; dt++) {
        ad_tensor *x = mk(dt, 1, sh, v, 0, 0, 1), *y, *z, *s;
        REQ(ad_unary(AD_U_RELU, x, 0, 0, &y));
        CHECK(isnan(at(y, 0)) && at(y, 1) == 0 && at(y, 2) == 0);
        ad_decref(y);
        REQ(ad_unary(AD_U_CLIP, x, -1, 1, &y));
        CHECK(isnan(at(y, 0)));
        ad_decref(y);
        REQ(ad_unary(AD_U_ABS, x, 0, 0, &y));
        REQ(ad_reduce(AD_R_SUM, y, 1, 0, &z));
        REQ(ad_unary(AD_U_MULC, z, 0.0, 0, &s));   /* a NaN root is fine */
        REQ(ad_backward(s, NULL, 0));
        CHECK(x->grad && at(x->grad, 1) == 0 && at(x->grad, 2) == 0);
        ad_decref(s);
        ad_decref(z);
        ad_decref(y);
        ad_decref(x);
    }
    CHECK_ST(ad_unary(AD_U_COUNT, NULL, 0, 0, NULL), AD_ERR_VALUE);
}

/* ======================================================================== */
/* binary kernels with broadcasting                                         */
/* ======================================================================== */

static double
ref_binary(int k, double p, double q, double *dp, double *dq)
{
    switch (k) {
    case AD_B_ADD: *dp = 1; *dq = 1; return p + q;
    case AD_B_SUB: *dp = 1; *dq = -1; return p - q;
    case AD_B_MUL: *dp = q; *dq = p; return p * q;
    case AD_B_DIV: *dp = 1 / q; *dq = -p / (q * q); return p / q;
    case AD_B_POW:
        *dp = q * pow(p, q - 1);
        *dq = pow(p, q) * log(p);
        return pow(p, q);
    case AD_B_MAXIMUM: *dp = p > q; *dq = q > p; return p > q ? p : q;
    case AD_B_MINIMUM: *dp = p < q; *dq = q < p; return p < q ? p : q;
    case AD_B_ATAN2:
        *dp = q / (p * p + q * q);
        *dq = -p / (p * p + q * q);
        return atan2(p, q);
    case AD_B_HYPOT:
        *dp = p / sqrt(p * p + q * q);
        *dq = q / sqrt(p * p + q * q);
        return sqrt(p * p + q * q);
    case AD_B_FMOD:                 /* p - trunc(p / q) q */
        *dp = 1;
        *dq = -trunc(p / q);
        return p - trunc(p / q) * q;
    case AD_B_REMAINDER:            /* p - floor(p / q) q */
        *dp = 1;
        *dq = -floor(p / q);
        return p - floor(p / q) * q;
    case AD_B_LOGADDEXP:
        *dp = exp(p) / (exp(p) + exp(q));
        *dq = exp(q) / (exp(p) + exp(q));
        return log(exp(p) + exp(q));
    case AD_B_XLOGY: *dp = log(q); *dq = p / q; return p * log(q);
    }
    return NAN;
}

typedef struct {
    int na, nb, no;
    int64_t a[4], b[4], o[4];
} bcast_case;

static const bcast_case bcast_cases[] = {
    {2, 2, 2, {3, 4}, {3, 4}, {3, 4}},
    {2, 1, 2, {3, 4}, {4}, {3, 4}},
    {3, 2, 3, {2, 1, 4}, {3, 1}, {2, 3, 4}},
    {1, 0, 1, {5}, {0}, {5}},
    {0, 2, 2, {0}, {2, 3}, {2, 3}},
    {2, 2, 2, {3, 1}, {1, 4}, {3, 4}},
    {4, 3, 4, {2, 1, 3, 1}, {4, 1, 5}, {2, 4, 3, 5}},
    {2, 2, 2, {0, 3}, {1, 3}, {0, 3}},
};

static void
binary_one(int k, const bcast_case *c, int dt)
{
    char what[96];
    /* signed divisors away from 0 (fmod, remainder: and from the steps
     * at integer quotients, by a positive dividend below the divisor) */
    int divisor = k == AD_B_DIV || k == AD_B_FMOD || k == AD_B_REMAINDER;
    int pos = k == AD_B_POW || k == AD_B_XLOGY || divisor;
    ad_tensor *x = mk(dt, c->na, c->a, NULL, pos ? 0.5 : -2, 2, 1);
    ad_tensor *y = mk(dt, c->nb, c->b, NULL, pos ? 0.5 : -2, 2, 1);
    if (divisor) {
        for (int64_t i = 0; i < y->size; i++) {
            put(y, i, i % 2 ? -at(y, i) : at(y, i));
        }
    }
    ad_tensor *o, *g;
    REQ(ad_binary((ad_binary_kind)k, x, y, &o));
    CHECKM(shape_is(o, c->no, c->o), "binary %d: output shape", k);
    g = mk(dt, c->no, c->o, NULL, -1, 1, 0);
    int64_t n = o->size;
    double *ref = calloc((size_t)n + 1, sizeof(double));
    double *gx = calloc((size_t)x->size + 1, sizeof(double));
    double *gy = calloc((size_t)y->size + 1, sizeof(double));
    for (int64_t i = 0; i < n; i++) {
        int64_t ia = bidx(c->no, c->o, i, c->na, c->a);
        int64_t ib = bidx(c->no, c->o, i, c->nb, c->b);
        double dp = 0, dq = 0;
        ref[i] = ref_binary(k, at(x, ia), at(y, ib), &dp, &dq);
        gx[ia] += at(g, i) * dp;
        gy[ib] += at(g, i) * dq;
    }
    snprintf(what, sizeof(what), "binary %d forward %s (case %d-d by %d-d)",
             k, dtn(dt), c->na, c->nb);
    CLOSE(what, o, ref, n, ftol(dt), ftol(dt));
    REQ(ad_backward(o, g, 0));
    snprintf(what, sizeof(what), "binary %d grad x %s (case %d-d by %d-d)",
             k, dtn(dt), c->na, c->nb);
    if (x->size) {
        CLOSE(what, x->grad, gx, x->size, gtol(dt), gtol(dt));
    }
    snprintf(what, sizeof(what), "binary %d grad y %s (case %d-d by %d-d)",
             k, dtn(dt), c->na, c->nb);
    if (n) {
        CLOSE(what, y->grad, gy, y->size, gtol(dt), gtol(dt));
    }
    free(ref);
    free(gx);
    free(gy);
    ad_decref(g);
    ad_decref(o);
    ad_decref(x);
    ad_decref(y);
}

static void
test_binary(void)
{
    for (int k = 0; k < AD_B_COUNT; k++) {
        for (size_t c = 0; c < sizeof(bcast_cases) / sizeof(bcast_cases[0]);
             c++) {
            for (int dt = 0; dt < 2; dt++) {
                binary_one(k, &bcast_cases[c], dt);
            }
        }
    }
    /* ties in maximum/minimum split the gradient evenly; only one input
     * requiring grad gets one */
    int64_t sh[1] = {3};
    for (int dt = 0; dt < 2; dt++) {
        ad_tensor *x = mk(dt, 1, sh, (double[]){1, 2, 3}, 0, 0, 1);
        ad_tensor *y = mk(dt, 1, sh, (double[]){1, 5, 0}, 0, 0, 0);
        ad_tensor *o, *s;
        REQ(ad_binary(AD_B_MAXIMUM, x, y, &o));
        REQ(ad_reduce(AD_R_SUM, o, 1, 0, &s));
        REQ(ad_backward(s, NULL, 0));
        CLOSE("maximum tie grad", x->grad, ((double[]){0.5, 0, 1}), 3, 0, 0);
        CHECK(y->grad == NULL);
        ad_decref(s);
        ad_decref(o);
        ad_decref(x);
        ad_decref(y);
    }
    /* x op x: both gradient paths accumulate into one leaf */
    for (int dt = 0; dt < 2; dt++) {
        ad_tensor *x = mk(dt, 1, sh, (double[]){1, -2, 3}, 0, 0, 1), *o, *s;
        REQ(ad_binary(AD_B_MUL, x, x, &o));
        REQ(ad_reduce(AD_R_SUM, o, 1, 0, &s));
        REQ(ad_backward(s, NULL, 0));
        CLOSE("x*x grad", x->grad, ((double[]){2, -4, 6}), 3, 0, 0);
        ad_decref(s);
        ad_decref(o);
        ad_decref(x);
    }
}

/* ======================================================================== */
/* reductions                                                               */
/* ======================================================================== */

static void
reduce_one(int k, uint32_t mask, int keepdims, int dt)
{
    int64_t sh[3] = {3, 4, 5}, keep[3], osh[3];
    int nout = 0;
    int64_t count = 1;
    char what[96];
    for (int d = 0; d < 3; d++) {
        if (mask >> d & 1) {
            keep[d] = 1;
            count *= sh[d];
        }
        else {
            keep[d] = sh[d];
            osh[nout++] = sh[d];
        }
    }
    ad_tensor *x = mk(dt, 3, sh, NULL, -3, 3, 1), *o, *g;
    REQ(ad_reduce((ad_reduce_kind)k, x, mask, keepdims, &o));
    CHECKM(keepdims ? shape_is(o, 3, keep) : shape_is(o, nout, osh),
           "reduce %d mask %u keepdims %d: shape", k, mask, keepdims);
    int64_t n = o->size;
    double ref[60], gx[60];
    int64_t arg[60];
    for (int64_t j = 0; j < n; j++) {
        ref[j] = k == AD_R_MAX ? -INFINITY : k == AD_R_MIN ? INFINITY
               : k == AD_R_PROD ? 1 : 0;
    }
    for (int64_t i = 0; i < x->size; i++) {
        int64_t j = bidx(3, sh, i, 3, keep);
        double v = at(x, i);
        if (k == AD_R_SUM || k == AD_R_MEAN) {
            ref[j] += v;
        }
        else if (k == AD_R_PROD) {
            ref[j] *= v;
        }
        else if ((k == AD_R_MAX && v > ref[j]) ||
                 (k == AD_R_MIN && v < ref[j])) {
            ref[j] = v;
            arg[j] = i;
        }
    }
    if (k == AD_R_MEAN) {
        for (int64_t j = 0; j < n; j++) {
            ref[j] /= (double)count;
        }
    }
    snprintf(what, sizeof(what), "reduce %d mask %u keep %d forward %s", k,
             mask, keepdims, dtn(dt));
    CLOSE(what, o, ref, n, ftol(dt) * 4, ftol(dt));
    g = mk(dt, o->ndim, o->shape, NULL, -1, 1, 0);
    for (int64_t i = 0; i < x->size; i++) {
        int64_t j = bidx(3, sh, i, 3, keep);
        double gj = at(g, j);
        if (k != AD_R_PROD) {
            gx[i] = k == AD_R_SUM ? gj : k == AD_R_MEAN ? gj / (double)count
                                                        : (arg[j] == i ? gj : 0);
        }
        else {                          /* g times the product of the others */
            double p = 1;
            for (int64_t i2 = 0; i2 < x->size; i2++) {
                if (i2 != i && bidx(3, sh, i2, 3, keep) == j) {
                    p *= at(x, i2);
                }
            }
            gx[i] = gj * p;
        }
    }
    REQ(ad_backward(o, g, 0));
    snprintf(what, sizeof(what), "reduce %d mask %u keep %d backward %s", k,
             mask, keepdims, dtn(dt));
    CLOSE(what, x->grad, gx, x->size, gtol(dt), gtol(dt));
    ad_decref(g);
    ad_decref(o);
    ad_decref(x);
}

static void
test_reduce(void)
{
    for (int k = 0; k < AD_R_COUNT; k++) {
        for (uint32_t mask = 0; mask < 8; mask++) {
            for (int kd = 0; kd < 2; kd++) {
                for (int dt = 0; dt < 2; dt++) {
                    reduce_one(k, mask, kd, dt);
                }
            }
        }
    }
    /* ties share the gradient */
    int64_t sh[1] = {4};
    for (int dt = 0; dt < 2; dt++) {
        ad_tensor *x = mk(dt, 1, sh, (double[]){1, 3, 3, 2}, 0, 0, 1), *o;
        REQ(ad_reduce(AD_R_MAX, x, 1, 0, &o));
        CHECK(at(o, 0) == 3 && o->ndim == 0);
        REQ(ad_backward(o, NULL, 0));
        CLOSE("max ties", x->grad, ((double[]){0, 0.5, 0.5, 0}), 4, 0, 0);
        ad_decref(o);
        ad_decref(x);
    }
    /* a long sum in float32 accumulates in double */
    int64_t big[1] = {1 << 16};
    ad_tensor *x = mk(AD_F32, 1, big, NULL, 0.1, 0.1, 0), *o;
    REQ(ad_reduce(AD_R_SUM, x, 1, 0, &o));
    CHECKM(fabs(at(o, 0) - 65536 * (double)0.1f) < 1e-2, "float32 sum %.9g",
           at(o, 0));
    ad_decref(o);
    /* empty max has no identity; sum of nothing is 0 */
    int64_t e[2] = {0, 3};
    ad_tensor *z = mk(AD_F64, 2, e, NULL, 0, 0, 0);
    CHECK_ST(ad_reduce(AD_R_MAX, z, 1, 0, &o), AD_ERR_VALUE);
    REQ(ad_reduce(AD_R_SUM, z, 1, 0, &o));
    CLOSE("empty sum", o, ((double[]){0, 0, 0}), 3, 0, 0);
    ad_decref(o);
    ad_decref(z);
    ad_decref(x);
}

/* ---- vector kernels give the scalar loops' bits ------------------------ */

/* The loops the vectorised kernels replaced, kept here as the reference:
 * the full max/min reductions (sequential BIN_MAX/BIN_MIN from -inf/+inf:
 * NaN wins, the first NaN; at +0/-0 ties the later one), softmax's row max
 * (the last NaN; at ties the first) and the two-branch sigmoid. */
#define REF_KERNELS(T, SFX, EXP)                                            \
    static T ref_maxmin##SFX(int is_max, const T *x, int64_t n)            \
    {                                                                      \
        T o = is_max ? (T)-INFINITY : (T)INFINITY;                         \
        for (int64_t j = 0; j < n; j++) {                                  \
            T p = o, q = x[j];                                             \
            o = p != p ? p : q != q ? q                                    \
                : is_max ? (p > q ? p : q) : (p < q ? p : q);              \
        }                                                                  \
        return o;                                                          \
    }                                                                      \
    static T ref_rowmax##SFX(const T *x, int64_t n)                        \
    {                                                                      \
        T m = -INFINITY;                                                   \
        for (int64_t j = 0; j < n; j++) {                                  \
            if (x[j] > m || x[j] != x[j]) m = x[j];                        \
        }                                                                  \
        return m == -INFINITY ? 0 : m;                                     \
    }                                                                      \
    static void ref_softmax##SFX(int lg, const T *x, T *y, int64_t n)      \
    {                                                                      \
        T m = ref_rowmax##SFX(x, n);                                       \
        double s = 0;                                                      \
        for (int64_t j = 0; j < n; j++) {                                  \
            T e = EXP(x[j] - m);                                           \
            if (!lg) y[j] = e;                                             \
            s += e;                                                        \
        }                                                                  \
        if (lg) {                                                          \
            T ls = (T)log(s);                                              \
            for (int64_t j = 0; j < n; j++) y[j] = (x[j] - m) - ls;        \
        }                                                                  \
        else {                                                             \
            T inv = (T)(1.0 / s);                                          \
            for (int64_t j = 0; j < n; j++) y[j] *= inv;                   \
        }                                                                  \
    }                                                                      \
    static T ref_sigmoid##SFX(T x)                                         \
    {                                                                      \
        if (x >= 0) {                                                      \
            return (T)1 / ((T)1 + EXP(-x));                                \
        }                                                                  \
        T e = EXP(x);                                                      \
        return e / ((T)1 + e);                                             \
    }
REF_KERNELS(float, _f32, expf)
REF_KERNELS(double, _f64, exp)

/* Fill a row of n values of pattern p: 0 random, 1 random with NaNs of
 * different payloads, 2 negative with +0 and -0 (the max is a zero),
 * 3 infinities only, 4 random with an extreme of either sign at the end,
 * 5 all -inf, 6 all equal. */
static void
bits_fill(int dt, void *data, int64_t n, int p)
{
    for (int64_t j = 0; j < n; j++) {
        double v = urand(-50, 50);
        if (p == 1 && urand(0, 1) < 0.01) {
            v = urand(0, 1) < 0.5 ? NAN : -NAN;
        }
        if (p == 2) {
            v = urand(0, 1) < 0.1 ? (urand(0, 1) < 0.5 ? 0.0 : -0.0)
                                  : -urand(0.5, 3);
        }
        if (p == 3) {
            v = urand(0, 1) < 0.5 ? INFINITY : -INFINITY;
        }
        if (p == 4 && j == n - 1) {
            v = urand(0, 1) < 0.5 ? 1e30 : -1e30;
        }
        if (p == 5) {
            v = -INFINITY;
        }
        if (p == 6) {
            v = 0.25;
        }
        if (dt == AD_F32) {
            float f = (float)v;
            if (p == 1 && v != v) {     /* a payload of its own */
                uint32_t b;
                memcpy(&b, &f, 4);
                b |= (uint32_t)(j & 0xffff);
                memcpy(&f, &b, 4);
            }
            ((float *)data)[j] = f;
        }
        else {
            if (p == 1 && v != v) {
                uint64_t b;
                memcpy(&b, &v, 8);
                b |= (uint64_t)(j & 0xffff);
                memcpy(&v, &b, 8);
            }
            ((double *)data)[j] = v;
        }
    }
}

static int
same_bits(const void *a, const void *b, int dt, int64_t n)
{
    return memcmp(a, b, (size_t)n * (dt == AD_F64 ? 8 : 4)) == 0;
}

/* float32 exp and log (lanes on AVX2+FMA hosts, kernels.c) against this
 * process's expf and logf: scattered bit patterns of every exponent and
 * sign, and a dense sweep of the range where the result is finite and
 * normal. */
static void
libm_f32_bits(int kind, float (*ref)(float), float lo, float hi)
{
    enum { M = 131072 };
    int64_t sh[1] = {M};
    ad_tensor *x = mk(AD_F32, 1, sh, NULL, 0, 0, 0), *y;
    float *xd = ad_data(x);
    for (int64_t i = 0; i < M; i++) {
        if (i % 2) {
            uint32_t b = (uint32_t)(i * 65519u) ^ (uint32_t)(i << 20);
            memcpy(&xd[i], &b, 4);
        }
        else {
            xd[i] = lo + (hi - lo) * (float)i / M;
        }
    }
    xd[2] = 1.0f;
    xd[4] = 0.0f;
    xd[6] = -0.0f;
    REQ(ad_unary((ad_unary_kind)kind, x, 0, 0, &y));
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < M; i++) {
        float want = ref(xd[i]);
        if (memcmp(&want, (float *)ad_data(y) + i, 4) != 0) {
            if (first < 0) first = i;
            bad++;
        }
    }
    CHECKM(bad == 0, "unary %d f32: %lld of %d differ from libm, first at "
           "x = %a", kind, (long long)bad, M,
           first >= 0 ? xd[first] : 0.0f);
    ad_decref(y);
    ad_decref(x);
}

/* float32 tanh is ours (kernels.c, float lanes): the portable C, the
 * AVX2+FMA and the AVX-512F lanes must give the same bits on every input,
 * wherever a vector loop starts; the engine's op gives them too; and each
 * is within 1 ulp of tanh in double (0.6306 ulp at most over all 2^32
 * inputs), with libm's special values. */
int ad_tanhf_path(int path, const float *x, float *y, int64_t n);

/* linear's float32 forward kernel (gemm.c; AVX-512 cpus only, and
 * valgrind hides AVX-512, so there this checks nothing): its ReLU output
 * pass (act 1, AD_GEMM_RELU) gives the bits of the plain pass (act 0)
 * followed by relu's rule, NaN kept, on shapes with partial 8-row blocks
 * of W, partial 32-sample panels and k not a multiple of 16. */
int ad_sgemm_packed_ok(void);
int ad_sgemm_xwt(int64_t n, int64_t m, int64_t k, const float *x,
                 int64_t ldx, const float *w, int64_t ldw, const float *bias,
                 int act, float *y, int64_t ldy);

static void
test_xwt_relu(void)
{
    if (!ad_sgemm_packed_ok()) {
        return;
    }
    static const int shapes[][3] = {{37, 129, 33}, {5, 16, 15}, {64, 24, 100}};
    for (int s = 0; s < 3; s++) {
        int n = shapes[s][0], m = shapes[s][1], k = shapes[s][2];
        float *x = malloc(sizeof(float) * n * k);
        float *w = malloc(sizeof(float) * m * k);
        float *b = malloc(sizeof(float) * m);
        float *y0 = malloc(sizeof(float) * n * m);
        float *y1 = malloc(sizeof(float) * n * m);
        uint32_t r = 12345u + (uint32_t)s;
        for (int i = 0; i < n * k; i++) {
            r = r * 1664525u + 1013904223u;
            x[i] = (float)(r >> 8) / 8388608.0f - 1.0f;
        }
        for (int i = 0; i < m * k; i++) {
            r = r * 1664525u + 1013904223u;
            w[i] = (float)(r >> 8) / 8388608.0f - 1.0f;
        }
        for (int i = 0; i < m; i++) {
            b[i] = 0.25f * (float)(i % 5) - 0.5f;
        }
        x[0] = NAN;                     /* sample 0's outputs: NaN */
        CHECK(ad_sgemm_xwt(n, m, k, x, k, w, k, b, 0, y0, m) == 0);
        CHECK(ad_sgemm_xwt(n, m, k, x, k, w, k, b, 1, y1, m) == 0);
        int64_t nan = 0, zero = 0, bad = 0;
        for (int i = 0; i < n * m; i++) {
            float v = y0[i];
            float want = (v > 0 || v != v) ? v : 0.0f;
            nan += v != v;
            zero += want == 0.0f;
            bad += memcmp(&want, &y1[i], sizeof(float)) != 0;
        }
        CHECKM(bad == 0 && nan == m && zero > 0, "xwt relu %dx%dx%d: %lld "
               "differ from relu of the plain pass (%lld NaN, %lld zeros)",
               n, m, k, (long long)bad, (long long)nan, (long long)zero);
        free(x);
        free(w);
        free(b);
        free(y0);
        free(y1);
    }
}

/* pow(x, c) for torch's special exponents is torch's formula in float32
 * (x*x*x, 1/sqrt(x), 1/x, 1/(x*x)), bit for bit, NaN where torch's is. */
static void
test_pow_special(void)
{
    enum { M = 4096 };
    int64_t sh[1] = {M};
    ad_tensor *x = mk(AD_F32, 1, sh, NULL, -50.0, 50.0, 0), *y;
    float *xd = ad_data(x);
    xd[0] = 0.0f;
    xd[1] = -0.0f;
    xd[2] = INFINITY;
    xd[3] = -INFINITY;
    xd[4] = NAN;
    xd[5] = 1e-30f;
    static const double cs[] = {3.0, -0.5, -1.0, -2.0};
    for (int c = 0; c < 4; c++) {
        REQ(ad_unary(AD_U_POWC, x, cs[c], 0, &y));
        const float *yd = ad_data(y);
        int64_t bad = 0;
        for (int i = 0; i < M; i++) {
            float v = xd[i], w = c == 0 ? v * v * v : c == 1 ? 1.0f / sqrtf(v)
                                 : c == 2 ? 1.0f / v : 1.0f / (v * v);
            bad += memcmp(&w, &yd[i], 4) != 0 && !(w != w && yd[i] != yd[i]);
        }
        CHECKM(bad == 0, "pow(x, %g) f32: %lld differ from torch's formula",
               cs[c], (long long)bad);
        ad_decref(y);
    }
    ad_decref(x);
}

static void
test_tanh_paths(void)
{
    enum { M = 300000 };
    static float xs[M + 8], ys[3][M + 8];
    static const float sp[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN,
                               0x1p-149f, -0x1p-149f, 0x1p-126f, 1e-4f,
                               0.5f, 1.0f, 9.0f, 9.01f, 9.02f, 10.0f, 11.0f,
                               /* where the intervals meet */
                               0.125f, 0.375f, 0.625f, -0x1.3ffffep-1f,
                               7.625f, 7.875f, 9.125f, 0x1.240002p+3f,
                               FLT_MAX, -FLT_MAX};
    const int NS = (int)(sizeof(sp) / sizeof(sp[0]));
    uint32_t h = 0x2545f491u;
    for (int i = 0; i < M; i++) {
        if (i < NS) {
            xs[i] = sp[i];
        }
        else if (i % 3 == 0) {
            xs[i] = -12.0f + 24.0f * (float)i / M;
        }
        else if (i % 3 == 1) {
            /* |x| from 2^-30 to 2^5, both signs: every exponent in range */
            xs[i] = ldexpf(1.0f + (float)(i % 1000) / 1000.0f,
                           -30 + i % 36) * (i % 2 ? -1.0f : 1.0f);
        }
        else {
            h ^= h << 13;
            h ^= h >> 17;
            h ^= h << 5;
            memcpy(&xs[i], &h, 4);
        }
    }
    CHECK(ad_tanhf_path(0, xs, ys[0], M) == 1);
    int paths = 1;
    for (int p = 1; p <= 2; p++) {
        for (int off = 0; off < 4; off++) {     /* where the lanes start */
            if (!ad_tanhf_path(p, xs + off, ys[p] + off, M - off)) {
                break;
            }
            paths += off == 0;
            int64_t bad = 0, first = -1;
            for (int i = off; i < M; i++) {
                if (memcmp(&ys[0][i], &ys[p][i], 4) != 0) {
                    if (first < 0) first = i;
                    bad++;
                }
            }
            CHECKM(bad == 0, "tanh f32 path %d (offset %d): %lld of %d "
                   "differ from the portable C, first at x = %a", p, off,
                   (long long)bad, M, first >= 0 ? xs[first] : 0.0f);
        }
    }
    printf("tanh f32: %d paths compared\n", paths);
    int64_t sh[1] = {M};
    ad_tensor *x = mk(AD_F32, 1, sh, NULL, 0, 0, 0), *y;
    memcpy(ad_data(x), xs, (size_t)M * 4);
    REQ(ad_unary(AD_U_TANH, x, 0, 0, &y));
    CHECKM(memcmp(ad_data(y), ys[0], (size_t)M * 4) == 0,
           "tanh f32 op differs from ad_tanhf_path(0)");
    ad_decref(y);
    ad_decref(x);
    double maxerr = 0;
    for (int i = 0; i < M; i++) {
        float v = ys[0][i];
        if (xs[i] != xs[i]) {
            CHECK(v != v);
            continue;
        }
        double t = tanh((double)xs[i]);
        int e;
        frexp(t, &e);
        double ulp = ldexp(1.0, e - 24);
        ulp = ulp < 0x1p-149 ? 0x1p-149 : ulp;
        double err = fabs((double)v - t) / ulp;
        maxerr = err > maxerr ? err : maxerr;
    }
    CHECKM(maxerr <= 1.0, "tanh f32: %g ulp from tanh", maxerr);
    CHECK(memcmp(&ys[0][0], &sp[0], 4) == 0 && signbit(ys[0][1])
          && ys[0][1] == 0 && ys[0][2] == 1.0f && ys[0][3] == -1.0f);
}

static void
test_kernel_bits(void)
{
    libm_f32_bits(AD_U_EXP, expf, -105.0f, 90.0f);
    libm_f32_bits(AD_U_LOG, logf, 1e-6f, 100.0f);
    static const int64_t lens[] = {1, 7, 63, 64, 65, 127, 1000, 4099};
    enum { NL = sizeof(lens) / sizeof(lens[0]), MAXN = 4099 };
    static double ybuf[2 * MAXN];
    for (int dt = 0; dt < 2; dt++) {
        size_t es = dt == AD_F64 ? 8 : 4;
        for (int li = 0; li < NL; li++) {
            int64_t n = lens[li];
            for (int p = 0; p < 7; p++) {
                for (int rep = 0; rep < 3; rep++) {
                    int64_t sh[2] = {2, n};     /* two rows */
                    ad_tensor *x = mk(dt, 2, sh, NULL, 0, 0, 0), *o, *y;
                    char *xd = ad_data(x);
                    bits_fill(dt, xd, n, p);
                    bits_fill(dt, xd + n * es, n, rep ? p : 0);
                    /* full max/min (one run of 2n) and over the last axis */
                    for (int is_max = 0; is_max < 2; is_max++) {
                        ad_reduce_kind k = is_max ? AD_R_MAX : AD_R_MIN;
                        for (int mask = 2; mask <= 3; mask++) {
                            int64_t rows = mask == 3 ? 1 : 2;
                            int64_t len = mask == 3 ? 2 * n : n;
                            REQ(ad_reduce(k, x, (uint32_t)mask, 0, &o));
                            for (int64_t r = 0; r < rows; r++) {
                                union { float f; double d; } want;
                                if (dt == AD_F32) {
                                    want.f = ref_maxmin_f32(
                                        is_max, (float *)xd + r * len, len);
                                }
                                else {
                                    want.d = ref_maxmin_f64(
                                        is_max, (double *)xd + r * len, len);
                                }
                                CHECKM(same_bits(&want,
                                                 (char *)ad_data(o) + r * es,
                                                 dt, 1),
                                       "%s %s bits: n %lld pattern %d "
                                       "mask %d row %lld", is_max ? "max"
                                       : "min", dtn(dt), (long long)n, p,
                                       mask, (long long)r);
                            }
                            ad_decref(o);
                        }
                    }
                    /* softmax and log_softmax over the last axis */
                    for (int lg = 0; lg < 2; lg++) {
                        REQ(ad_softmax(x, 1, lg, &y));
                        for (int64_t r = 0; r < 2; r++) {
                            if (dt == AD_F32) {
                                ref_softmax_f32(lg, (float *)xd + r * n,
                                                (float *)ybuf, n);
                            }
                            else {
                                ref_softmax_f64(lg, (double *)xd + r * n,
                                                ybuf, n);
                            }
                            CHECKM(same_bits(ybuf, (char *)ad_data(y)
                                             + r * n * es, dt, n),
                                   "%ssoftmax %s bits: n %lld pattern %d",
                                   lg ? "log_" : "", dtn(dt), (long long)n,
                                   p);
                        }
                        ad_decref(y);
                    }
                    /* sigmoid */
                    REQ(ad_unary(AD_U_SIGMOID, x, 0, 0, &y));
                    for (int64_t j = 0; j < 2 * n; j++) {
                        if (dt == AD_F32) {
                            ((float *)ybuf)[j] =
                                ref_sigmoid_f32(((float *)xd)[j]);
                        }
                        else {
                            ybuf[j] = ref_sigmoid_f64(((double *)xd)[j]);
                        }
                    }
                    CHECKM(same_bits(ybuf, ad_data(y), dt, 2 * n),
                           "sigmoid %s bits: n %lld pattern %d", dtn(dt),
                           (long long)n, p);
                    ad_decref(y);
                    ad_decref(x);
                }
            }
        }
    }
}

/* ======================================================================== */
/* softmax, losses, nll                                                     */
/* ======================================================================== */

static void
test_softmax(void)
{
    int64_t sh[3] = {2, 3, 4};
    for (int lg = 0; lg < 2; lg++) {
        for (int axis = 0; axis < 3; axis++) {
            for (int dt = 0; dt < 2; dt++) {
                char what[96];
                ad_tensor *x = mk(dt, 3, sh, NULL, -4, 4, 1), *y, *g;
                REQ(ad_softmax(x, axis, lg, &y));
                g = mk(dt, 3, sh, NULL, -1, 1, 0);
                double ref[24], sm[24], gx[24];
                int64_t st = axis == 0 ? 12 : axis == 1 ? 4 : 1;
                for (int64_t i = 0; i < 24; i++) {
                    /* the first element of i's group along the axis */
                    int64_t i0 = i - ((i / st) % sh[axis]) * st;
                    double m = -INFINITY, s = 0, sg = 0, sgy = 0;
                    for (int64_t j = 0; j < sh[axis]; j++) {
                        m = fmax(m, at(x, i0 + j * st));
                    }
                    for (int64_t j = 0; j < sh[axis]; j++) {
                        s += exp(at(x, i0 + j * st) - m);
                    }
                    for (int64_t j = 0; j < sh[axis]; j++) {
                        double p = exp(at(x, i0 + j * st) - m) / s;
                        sg += at(g, i0 + j * st);
                        sgy += at(g, i0 + j * st) * p;
                    }
                    sm[i] = exp(at(x, i) - m) / s;
                    ref[i] = lg ? at(x, i) - m - log(s) : sm[i];
                    gx[i] = lg ? at(g, i) - sm[i] * sg
                               : sm[i] * (at(g, i) - sgy);
                }
                snprintf(what, sizeof(what), "%s axis %d forward %s",
                         lg ? "log_softmax" : "softmax", axis, dtn(dt));
                CLOSE(what, y, ref, 24, ftol(dt) * 2, ftol(dt));
                REQ(ad_backward(y, g, 0));
                snprintf(what, sizeof(what), "%s axis %d backward %s",
                         lg ? "log_softmax" : "softmax", axis, dtn(dt));
                CLOSE(what, x->grad, gx, 24, gtol(dt), gtol(dt));
                ad_decref(g);
                ad_decref(y);
                ad_decref(x);
            }
        }
    }
    /* large logits stay finite; a row of -inf gives NaN, not a crash */
    int64_t s2[2] = {2, 3};
    ad_tensor *x = mk(AD_F32, 2, s2, (double[]){1000, 1001, 999, -INFINITY,
                                                -INFINITY, -INFINITY},
                      0, 0, 0), *y;
    REQ(ad_softmax(x, 1, 1, &y));
    CHECK(fabs(at(y, 1) - (-log(1 + exp(-1.0) + exp(-2.0)))) < 1e-5);
    ad_decref(y);
    ad_decref(x);
}

static void
test_losses(void)
{
    enum { N = 13 };
    int64_t sh[2] = {1, N};
    for (int k = 0; k < AD_L_COUNT; k++) {
        for (int dt = 0; dt < 2; dt++) {
            char what[96];
            int prob = k == AD_L_BCE;
            ad_tensor *p = mk(dt, 2, sh, NULL, prob ? 0.05 : -3,
                              prob ? 0.95 : 3, 1);
            ad_tensor *t = mk(dt, 2, sh, NULL, prob || k == AD_L_BCE_LOGITS
                              ? 0 : -3, prob || k == AD_L_BCE_LOGITS ? 1 : 3,
                              1);
            ad_tensor *o, *g;
            double ref[N], gp[N], gt[N];
            /* a = 1.5: huber's delta, smooth_l1's beta (ignored by the
             * other kinds) */
            REQ(ad_loss_a((ad_loss_kind)k, p, t, 1.5, &o));
            g = mk(dt, 2, sh, NULL, -1, 1, 0);
            for (int i = 0; i < N; i++) {
                double P = at(p, i), Tt = at(t, i), G = at(g, i);
                switch (k) {
                case AD_L_MSE:
                    ref[i] = (P - Tt) * (P - Tt);
                    gp[i] = 2 * (P - Tt) * G;
                    gt[i] = -gp[i];
                    break;
                case AD_L_L1:
                    ref[i] = fabs(P - Tt);
                    gp[i] = (P > Tt ? 1 : P < Tt ? -1 : 0) * G;
                    gt[i] = -gp[i];
                    break;
                case AD_L_BCE:
                    ref[i] = -(Tt * log(P) + (1 - Tt) * log(1 - P));
                    gp[i] = G * (P - Tt) / (P * (1 - P));
                    gt[i] = G * (log(1 - P) - log(P));
                    break;
                case AD_L_BCE_LOGITS:
                    ref[i] = -(Tt * log(sig(P)) + (1 - Tt) * log(1 - sig(P)));
                    gp[i] = G * (sig(P) - Tt);
                    gt[i] = -G * P;
                    break;
                case AD_L_HUBER: {
                    double d = P - Tt, z = fabs(d);
                    ref[i] = z < 1.5 ? 0.5 * d * d : 1.5 * (z - 0.75);
                    gp[i] = G * (d < -1.5 ? -1.5 : d > 1.5 ? 1.5 : d);
                    gt[i] = -gp[i];
                    break;
                }
                case AD_L_SMOOTH_L1: {
                    double d = P - Tt, z = fabs(d);
                    ref[i] = z < 1.5 ? 0.5 * d * d / 1.5 : z - 0.75;
                    gp[i] = G * (d < -1.5 ? -1 : d > 1.5 ? 1 : d / 1.5);
                    gt[i] = -gp[i];
                    break;
                }
                }
            }
            snprintf(what, sizeof(what), "loss %d forward %s", k, dtn(dt));
            CLOSE(what, o, ref, N, ftol(dt) * 2, ftol(dt) * 2);
            REQ(ad_backward(o, g, 0));
            snprintf(what, sizeof(what), "loss %d grad pred %s", k, dtn(dt));
            CLOSE(what, p->grad, gp, N, gtol(dt), gtol(dt));
            snprintf(what, sizeof(what), "loss %d grad target %s", k,
                     dtn(dt));
            CLOSE(what, t->grad, gt, N, gtol(dt), gtol(dt));
            ad_decref(g);
            ad_decref(o);
            ad_decref(p);
            ad_decref(t);
        }
    }
    /* BCE clamps its logs at -100: p = 0 or 1 stays finite */
    int64_t s1[1] = {2};
    ad_tensor *p = mk(AD_F64, 1, s1, (double[]){0, 1}, 0, 0, 0);
    ad_tensor *t = mk(AD_F64, 1, s1, (double[]){1, 0}, 0, 0, 0), *o;
    REQ(ad_loss(AD_L_BCE, p, t, &o));
    CLOSE("bce clamp", o, ((double[]){100, 100}), 2, 0, 0);
    ad_decref(o);
    /* out of [0, 1]: AD_ERR_VALUE naming the value */
    put(p, 1, 1.5);
    double *before = vals(p);
    o = (ad_tensor *)0x1;
    CHECK_ST(ad_loss(AD_L_BCE, p, t, &o), AD_ERR_VALUE);
    CHECK(o == (ad_tensor *)0x1);
    CHECK(strstr(ad_last_error(), "1.5") != NULL);
    CHECK(same_vals(p, before));
    free(before);
    ad_decref(p);
    ad_decref(t);
}

static void
test_nll(void)
{
    int64_t sh[2] = {4, 5};
    const int64_t labels[4] = {1, 0, 4, 2};
    for (int fl = 0; fl < 2; fl++) {
        for (int ign = 0; ign < 3; ign++) {
            for (int dt = 0; dt < 2; dt++) {
                char what[96];
                /* ign 0: none; 1: ignore_index -100 on sample 1; 2: an
                 * in-range ignore_index (class 4) */
                int64_t lab[4], ignore = ign == 2 ? 4 : -100;
                memcpy(lab, labels, sizeof(lab));
                if (ign == 1) {
                    lab[1] = -100;
                }
                ad_tensor *x = mk(dt, 2, sh, NULL, fl ? -3 : -4,
                                  fl ? 3 : -0.1, 1);
                ad_tensor *o, *g;
                double ref[4], gx[20];
                REQ(ad_nll(x, lab, ignore, fl, AD_NLL_NONE, &o));
                int64_t n1[1] = {4};
                CHECK(shape_is(o, 1, n1));
                g = mk(dt, 1, n1, NULL, 0.5, 1.5, 0);
                for (int r = 0; r < 4; r++) {
                    double m = -INFINITY, s = 0;
                    for (int c = 0; c < 5; c++) {
                        m = fmax(m, at(x, r * 5 + c));
                    }
                    for (int c = 0; c < 5; c++) {
                        s += exp(at(x, r * 5 + c) - m);
                    }
                    double lse = fl ? m + log(s) : 0;
                    int skip = lab[r] == ignore;
                    ref[r] = skip ? 0 : lse - at(x, r * 5 + lab[r]);
                    for (int c = 0; c < 5; c++) {
                        double sm = fl ? exp(at(x, r * 5 + c) - lse) : 0;
                        gx[r * 5 + c] = skip ? 0 : at(g, r) *
                                        (sm - (c == lab[r]));
                    }
                }
                snprintf(what, sizeof(what), "nll logits=%d ignore=%d "
                         "forward %s", fl, ign, dtn(dt));
                CLOSE(what, o, ref, 4, ftol(dt) * 4, ftol(dt));
                REQ(ad_backward(o, g, 0));
                snprintf(what, sizeof(what), "nll logits=%d ignore=%d "
                         "backward %s", fl, ign, dtn(dt));
                CLOSE(what, x->grad, gx, 20, gtol(dt), gtol(dt));
                ad_decref(g);
                ad_decref(o);
                ad_decref(x);
            }
        }
    }
    /* the labels are copied at record time */
    int64_t lab[4] = {1, 0, 4, 2};
    ad_tensor *x = mk(AD_F64, 2, sh, NULL, -1, 1, 1), *o, *s;
    REQ(ad_nll(x, lab, -100, 1, AD_NLL_NONE, &o));
    lab[0] = 3;
    REQ(ad_reduce(AD_R_SUM, o, 1, 0, &s));
    REQ(ad_backward(s, NULL, 0));
    CHECK(x->grad && at(x->grad, 1) < 0 && at(x->grad, 3) > 0);
    ad_decref(s);
    ad_decref(o);
    /* errors */
    double *before = vals(x);
    lab[0] = 5;
    o = NULL;
    CHECK_ST(ad_nll(x, lab, -100, 1, AD_NLL_NONE, &o), AD_ERR_INDEX);
    CHECK(o == NULL && strstr(ad_last_error(), "5") != NULL);
    lab[0] = -1;
    CHECK_ST(ad_nll(x, lab, -100, 0, AD_NLL_NONE, &o), AD_ERR_INDEX);
    lab[0] = -1;
    CHECK_ST(ad_nll(x, lab, -1, 0, AD_NLL_NONE, &o), AD_OK);     /* ignored */
    ad_decref(o);
    CHECK(same_vals(x, before));
    free(before);
    int64_t s3[3] = {2, 2, 5};
    ad_tensor *x3 = mk(AD_F64, 3, s3, NULL, -1, 1, 0);
    CHECK_ST(ad_nll(x3, lab, -100, 1, AD_NLL_NONE, &o), AD_ERR_SHAPE);
    CHECK(strstr(ad_last_error(), "(2, 2, 5)") != NULL);
    ad_decref(x3);
    ad_decref(x);
}

/* ======================================================================== */
/* shape ops: gather, scatter_add, concat, permute, reshape, broadcast,     */
/* cast, where                                                              */
/* ======================================================================== */

static void
test_gather_scatter(void)
{
    int64_t sh[2] = {3, 4}, osh[2] = {2, 4};
    const int64_t idx[8] = {0, 5, 5, 11, 3, 0, 7, 5};
    for (int dt = 0; dt < 2; dt++) {
        ad_tensor *x = mk(dt, 2, sh, NULL, -2, 2, 1), *o, *g;
        REQ(ad_gather(x, idx, 2, osh, &o));
        CHECK(shape_is(o, 2, osh));
        double ref[8], gx[12] = {0};
        g = mk(dt, 2, osh, NULL, -1, 1, 0);
        for (int i = 0; i < 8; i++) {
            ref[i] = at(x, idx[i]);
            gx[idx[i]] += at(g, i);
        }
        CLOSE("gather forward", o, ref, 8, 0, 0);
        REQ(ad_backward(o, g, 0));
        CLOSE("gather backward (repeats accumulate)", x->grad, gx, 12,
              gtol(dt), gtol(dt));
        ad_decref(o);

        /* scatter_add is gather's transpose; its backward is a gather */
        ad_tensor *gs = mk(dt, 2, osh, NULL, -2, 2, 1), *so, *w;
        REQ(ad_scatter_add(gs, idx, 2, sh, &so));
        CHECK(shape_is(so, 2, sh));
        double sref[12] = {0}, gref[8];
        w = mk(dt, 2, sh, NULL, -1, 1, 0);
        for (int i = 0; i < 8; i++) {
            sref[idx[i]] += at(gs, i);
            gref[i] = at(w, idx[i]);
        }
        CLOSE("scatter_add forward", so, sref, 12, ftol(dt), ftol(dt));
        REQ(ad_backward(so, w, 0));
        CLOSE("scatter_add backward", gs->grad, gref, 8, 0, 0);

        /* out of range, both ways */
        int64_t bad[8] = {0, 1, 2, 12, 0, 0, 0, 0};
        double *before = vals(x);
        o = NULL;
        CHECK_ST(ad_gather(x, bad, 2, osh, &o), AD_ERR_INDEX);
        CHECK(o == NULL && strstr(ad_last_error(), "12") &&
              strstr(ad_last_error(), "(3, 4)"));
        bad[3] = -1;
        CHECK_ST(ad_gather(x, bad, 2, osh, &o), AD_ERR_INDEX);
        CHECK_ST(ad_scatter_add(gs, bad, 2, sh, &o), AD_ERR_INDEX);
        CHECK(same_vals(x, before));
        free(before);
        ad_decref(w);
        ad_decref(so);
        ad_decref(gs);
        ad_decref(g);
        ad_decref(x);
    }
}

/* Zero-size tensors; an index or label array of no elements may be NULL
 * (numpy hands over no pointer for an empty array). */
static void
test_empty(void)
{
    int64_t s0[1] = {0}, s3[1] = {3}, s04[2] = {0, 4};
    for (int dt = 0; dt < 2; dt++) {
        ad_tensor *x = mk(dt, 1, s3, NULL, -1, 1, 1), *o, *s, *g;
        REQ(ad_gather(x, NULL, 1, s0, &o));
        CHECK(o->size == 0 && !ad_is_leaf(o));
        g = mk(dt, 1, s0, NULL, 0, 0, 0);
        REQ(ad_backward(o, g, 0));
        CLOSE("empty gather backward", x->grad, ((double[]){0, 0, 0}), 3, 0,
              0);
        ad_decref(o);
        ad_decref(x);

        x = mk(dt, 1, s0, NULL, 0, 0, 1);
        REQ(ad_scatter_add(x, NULL, 1, s3, &o));
        CLOSE("empty scatter_add", o, ((double[]){0, 0, 0}), 3, 0, 0);
        ad_tensor *w = ones_like(o);
        REQ(ad_backward(o, w, 0));
        CHECK(x->grad && x->grad->size == 0);
        ad_decref(w);
        ad_decref(o);
        ad_decref(x);

        x = mk(dt, 2, s04, NULL, 0, 0, 1);
        for (int fl = 0; fl < 2; fl++) {
            REQ(ad_nll(x, NULL, -100, fl, AD_NLL_NONE, &o));
            CHECK(shape_is(o, 1, s0));
            REQ(ad_reduce(AD_R_MEAN, o, 1, 0, &s));
            CHECK(isnan(at(s, 0)));         /* 0 / 0, as numpy's mean */
            REQ(ad_backward(s, NULL, 0));
            CHECK(x->grad && x->grad->size == 0);
            ad_decref(s);
            ad_decref(o);
        }
        REQ(ad_softmax(x, 1, 1, &o));
        CHECK(shape_is(o, 2, s04));
        ad_decref(o);
        ad_decref(g);
        ad_decref(x);
    }
}

static void
test_concat(void)
{
    for (int dt = 0; dt < 2; dt++) {
        /* three inputs along the middle axis (inline record inputs) */
        int64_t s[3][3] = {{2, 1, 3}, {2, 2, 3}, {2, 3, 3}}, os[3] = {2, 6, 3};
        ad_tensor *xs[4];
        for (int i = 0; i < 3; i++) {
            xs[i] = mk(dt, 3, s[i], NULL, -1, 1, i != 1);
        }
        ad_tensor *o, *g;
        REQ(ad_concat(3, xs, 1, &o));
        CHECK(shape_is(o, 3, os));
        g = mk(dt, 3, os, NULL, -1, 1, 0);
        double ref[36];
        for (int a = 0; a < 2; a++) {
            int off = 0;
            for (int i = 0; i < 3; i++) {
                for (int b = 0; b < s[i][1]; b++) {
                    for (int c = 0; c < 3; c++) {
                        ref[a * 18 + (off + b) * 3 + c] =
                            at(xs[i], (a * s[i][1] + b) * 3 + c);
                    }
                }
                off += (int)s[i][1];
            }
        }
        CLOSE("concat forward", o, ref, 36, 0, 0);
        REQ(ad_backward(o, g, 0));
        int off = 0;
        for (int i = 0; i < 3; i++) {
            double gr[18];
            for (int a = 0; a < 2; a++) {
                for (int b = 0; b < s[i][1]; b++) {
                    for (int c = 0; c < 3; c++) {
                        gr[(a * s[i][1] + b) * 3 + c] =
                            at(g, a * 18 + (off + b) * 3 + c);
                    }
                }
            }
            off += (int)s[i][1];
            if (i == 1) {
                CHECK(xs[i]->grad == NULL);
            }
            else {
                CLOSE("concat backward", xs[i]->grad, gr, xs[i]->size, 0, 0);
            }
        }
        ad_decref(g);
        ad_decref(o);
        for (int i = 0; i < 3; i++) {
            ad_decref(xs[i]);
        }

        /* four inputs along axis 0 (a heap array of inputs) */
        int64_t r[2] = {1, 2}, os2[2] = {4, 2};
        for (int i = 0; i < 4; i++) {
            xs[i] = mk(dt, 2, r, (double[]){i, 10 + i}, 0, 0, 1);
        }
        REQ(ad_concat(4, xs, 0, &o));
        CHECK(shape_is(o, 2, os2));
        CLOSE("concat 4", o, ((double[]){0, 10, 1, 11, 2, 12, 3, 13}), 8, 0,
              0);
        g = mk(dt, 2, os2, (double[]){1, 2, 3, 4, 5, 6, 7, 8}, 0, 0, 0);
        REQ(ad_backward(o, g, 0));
        for (int i = 0; i < 4; i++) {
            CLOSE("concat 4 backward", xs[i]->grad,
                  ((double[]){2 * i + 1, 2 * i + 2}), 2, 0, 0);
        }
        /* errors */
        int64_t bad[2] = {1, 3};
        ad_tensor *b = mk(dt, 2, bad, NULL, 0, 1, 0), *ys[2] = {xs[0], b};
        ad_tensor *o2 = NULL;
        CHECK_ST(ad_concat(2, ys, 0, &o2), AD_ERR_SHAPE);
        CHECK(o2 == NULL && strstr(ad_last_error(), "(1, 2)") &&
              strstr(ad_last_error(), "(1, 3)"));
        CHECK_ST(ad_concat(2, ys, 2, &o2), AD_ERR_VALUE);
        CHECK_ST(ad_concat(0, ys, 0, &o2), AD_ERR_VALUE);
        ad_decref(b);
        ad_decref(g);
        ad_decref(o);
        for (int i = 0; i < 4; i++) {
            ad_decref(xs[i]);
        }
    }
}

static void
test_permute_reshape_broadcast(void)
{
    int64_t sh[3] = {2, 3, 4}, psh[3] = {4, 2, 3};
    const int perm[3] = {2, 0, 1};
    for (int dt = 0; dt < 2; dt++) {
        ad_tensor *x = mk(dt, 3, sh, NULL, -1, 1, 1), *o, *g;
        REQ(ad_permute(x, perm, &o));
        CHECK(shape_is(o, 3, psh));
        g = mk(dt, 3, psh, NULL, -1, 1, 0);
        double ref[24], gx[24];
        for (int i = 0; i < 2; i++) {
            for (int j = 0; j < 3; j++) {
                for (int k = 0; k < 4; k++) {
                    /* o[k, i, j] = x[i, j, k] */
                    ref[k * 6 + i * 3 + j] = at(x, i * 12 + j * 4 + k);
                    gx[i * 12 + j * 4 + k] = at(g, k * 6 + i * 3 + j);
                }
            }
        }
        CLOSE("permute forward", o, ref, 24, 0, 0);
        REQ(ad_backward(o, g, 0));
        CLOSE("permute backward", x->grad, gx, 24, 0, 0);
        ad_decref(o);
        const int bad[3] = {0, 0, 1};
        o = NULL;
        CHECK_ST(ad_permute(x, bad, &o), AD_ERR_VALUE);
        CHECK(o == NULL && strstr(ad_last_error(), "(2, 3, 4)"));

        /* reshape is a view; its gradient is g reshaped */
        int64_t rs[2] = {6, 4}, bad_rs[2] = {5, 5};
        REQ(ad_reshape(x, 2, rs, &o));
        CHECK(ad_data(o) == ad_data(x) && shape_is(o, 2, rs));
        ad_tensor *g2 = mk(dt, 2, rs, NULL, -1, 1, 0);
        REQ(ad_set_grad(x, NULL));
        REQ(ad_backward(o, g2, 0));
        double *gv = vals(g2);
        CLOSE("reshape backward", x->grad, gv, 24, 0, 0);
        free(gv);
        ad_decref(o);
        CHECK_ST(ad_reshape(x, 2, bad_rs, &o), AD_ERR_VALUE);
        CHECK(strstr(ad_last_error(), "(5, 5)") != NULL);

        /* broadcast_to sums the gradient back */
        int64_t bs[4] = {2, 2, 3, 4};
        REQ(ad_broadcast_to(x, 4, bs, &o));
        CHECK(shape_is(o, 4, bs));
        ad_tensor *g3 = mk(dt, 4, bs, NULL, -1, 1, 0);
        double bref[48], bgx[24];
        for (int i = 0; i < 48; i++) {
            bref[i] = at(x, i % 24);
        }
        for (int i = 0; i < 24; i++) {
            bgx[i] = at(g3, i) + at(g3, i + 24);
        }
        CLOSE("broadcast_to forward", o, bref, 48, 0, 0);
        ad_set_grad(x, NULL);
        REQ(ad_backward(o, g3, 0));
        CLOSE("broadcast_to backward", x->grad, bgx, 24, gtol(dt), gtol(dt));
        ad_decref(o);
        int64_t nb[3] = {2, 3, 5};
        CHECK_ST(ad_broadcast_to(x, 3, nb, &o), AD_ERR_SHAPE);
        CHECK(strstr(ad_last_error(), "(2, 3, 4)") &&
              strstr(ad_last_error(), "(2, 3, 5)"));
        ad_decref(g3);
        ad_decref(g2);
        ad_decref(g);
        ad_decref(x);
    }
}

static void
test_cast(void)
{
    int64_t sh[1] = {5};
    ad_tensor *x = mk(AD_F64, 1, sh, (double[]){1.0 / 3, -2.5, 1e-40, 3e38,
                                                 7}, 0, 0, 1), *o, *g;
    REQ(ad_cast(x, AD_F32, &o));
    CHECK(o->dtype == AD_F32 && shape_is(o, 1, sh));
    double ref[5];
    for (int i = 0; i < 5; i++) {
        ref[i] = (double)(float)at(x, i);
    }
    CLOSE("cast f64->f32", o, ref, 5, 0, 0);
    g = mk(AD_F32, 1, sh, (double[]){0.5, 1.5, -2, 4, 0.25}, 0, 0, 0);
    REQ(ad_backward(o, g, 0));
    CHECK(x->grad && x->grad->dtype == AD_F64);
    CLOSE("cast backward", x->grad, ((double[]){0.5, 1.5, -2, 4, 0.25}), 5,
          0, 0);
    ad_decref(o);
    ad_decref(g);
    ad_tensor *same;
    REQ(ad_cast(x, AD_F64, &same));
    CHECK(same == x && x->refcnt == 2);
    ad_decref(same);
    ad_tensor *f = mk(AD_F32, 1, sh, NULL, -1, 1, 0);
    REQ(ad_cast(f, AD_F64, &o));
    for (int i = 0; i < 5; i++) {
        ref[i] = at(f, i);
    }
    CLOSE("cast f32->f64", o, ref, 5, 0, 0);
    CHECK(ad_is_leaf(o));       /* nothing required grad: no record */
    ad_decref(o);
    CHECK_ST(ad_cast(f, (ad_dtype)7, &o), AD_ERR_TYPE);
    ad_decref(f);
    ad_decref(x);
}

/* int64 and bool tensors: the ops that take any dtype, their kernels, and
 * the refusal of every float-only op (before a kernel runs). */
static void
test_int_dtypes(void)
{
    int64_t sh[1] = {5}, sh2[2] = {2, 3};
    ad_tensor *a, *b, *o, *f, *m;
    REQ(ad_empty(AD_I64, 1, sh, &a));
    REQ(ad_empty(AD_I64, 1, sh, &b));
    int64_t av[5] = {INT64_MAX, -7, 0, 3, -1}, bv[5] = {1, 2, 0, -3, 5};
    memcpy(ad_data(a), av, sizeof(av));
    memcpy(ad_data(b), bv, sizeof(bv));
    /* arithmetic wraps as torch's */
    REQ(ad_binary(AD_B_ADD, a, b, &o));
    int64_t *ov = ad_data(o);
    CHECK(o->dtype == AD_I64 && ov[0] == INT64_MIN && ov[1] == -5 &&
          ov[3] == 0 && ov[4] == 4 && ad_is_leaf(o) && !o->requires_grad);
    ad_decref(o);
    REQ(ad_binary(AD_B_MUL, a, b, &o));
    ov = ad_data(o);
    CHECK(ov[0] == INT64_MAX && ov[1] == -14 && ov[3] == -9 && ov[4] == -5);
    ad_decref(o);
    REQ(ad_binary(AD_B_POW, b, b, &o));         /* 1, 4, 1, 0, 3125 */
    ov = ad_data(o);
    CHECK(ov[0] == 1 && ov[1] == 4 && ov[2] == 1 && ov[3] == 0 &&
          ov[4] == 3125);
    ad_decref(o);
    REQ(ad_binary(AD_B_MAXIMUM, a, b, &o));
    ov = ad_data(o);
    CHECK(ov[0] == INT64_MAX && ov[1] == 2 && ov[3] == 3 && ov[4] == 5);
    ad_decref(o);
    /* int64 div is floor division; a zero divisor is an error, not a trap */
    CHECK_ST(ad_binary(AD_B_DIV, a, b, &o), AD_ERR_VALUE);
    CHECK(strstr(ad_last_error(), "ZeroDivisionError") != NULL);
    ad_tensor *three;
    REQ(ad_full(AD_I64, 1, sh, -3.0, &three));
    REQ(ad_binary(AD_B_REMAINDER, a, three, &o));   /* Python's a % -3 */
    ov = ad_data(o);
    CHECK(ov[0] == -2 && ov[1] == -1 && ov[2] == 0 && ov[3] == 0 &&
          ov[4] == -1);
    ad_decref(o);
    REQ(ad_binary(AD_B_DIV, a, three, &o));         /* floor(a / -3) */
    ov = ad_data(o);
    CHECK(ov[0] == -3074457345618258603LL && ov[1] == 2 && ov[2] == 0 &&
          ov[3] == -1 && ov[4] == 0);
    ad_decref(o);
    ad_decref(three);
    /* comparisons into bool, bitwise ops */
    REQ(ad_compare(AD_C_LT, a, b, &m));
    uint8_t *mv = ad_data(m);
    CHECK(m->dtype == AD_BOOL && mv[0] == 0 && mv[1] == 1 && mv[2] == 0 &&
          mv[3] == 0 && mv[4] == 1);
    REQ(ad_bitwise(AD_W_XOR, a, b, &o));
    ov = ad_data(o);
    CHECK(ov[1] == (-7 ^ 2) && ov[3] == (3 ^ -3));
    ad_decref(o);
    CHECK_ST(ad_binary(AD_B_SUB, m, m, &o), AD_ERR_TYPE);    /* as torch */
    CHECK_ST(ad_binary(AD_B_POW, m, m, &o), AD_ERR_TYPE);
    CHECK_ST(ad_binary(AD_B_DIV, m, m, &o), AD_ERR_TYPE);
    CHECK(strstr(ad_last_error(), "div") && strstr(ad_last_error(), "bool"));
    REQ(ad_binary(AD_B_ADD, m, m, &o));                      /* or */
    CHECK(o->dtype == AD_BOOL && ((uint8_t *)ad_data(o))[1] == 1);
    ad_decref(o);
    /* float-only ops refuse int64 and bool inputs with a TypeError */
    CHECK_ST(ad_unary(AD_U_EXP, a, 0, 0, &o), AD_ERR_TYPE);
    CHECK(strstr(ad_last_error(), "exp") && strstr(ad_last_error(), "int64"));
    CHECK_ST(ad_reduce(AD_R_SUM, m, 1, 0, &o), AD_ERR_TYPE);
    REQ(ad_bitwise(AD_W_AND, a, a, &o));
    CHECK(!memcmp(ad_data(o), av, sizeof(av)));
    ad_decref(o);
    /* argmax: the first on ties, NaN wins */
    f = mk(AD_F64, 2, sh2, (double[]){1, 3, 3, NAN, 0, NAN}, 0, 0, 1);
    REQ(ad_argreduce(AD_A_ARGMAX, f, 1, 0, &o));
    ov = ad_data(o);
    CHECK(o->dtype == AD_I64 && o->ndim == 1 && ov[0] == 1 && ov[1] == 0 &&
          ad_is_leaf(o) && !o->requires_grad);
    ad_decref(o);
    REQ(ad_argreduce(AD_A_ARGMIN, f, -1, 1, &o));
    CHECK(o->ndim == 2 && o->shape[0] == 1 && o->shape[1] == 1 &&
          ((int64_t *)ad_data(o))[0] == 3);
    ad_decref(o);
    CHECK_ST(ad_argreduce(AD_A_ARGMAX, f, 2, 0, &o), AD_ERR_INDEX);
    /* casts: NaN and out of range into int64 give INT64_MIN (x86 torch) */
    REQ(ad_cast(f, AD_I64, &o));
    ov = ad_data(o);
    CHECK(ov[0] == 1 && ov[3] == INT64_MIN && !o->requires_grad);
    ad_decref(o);
    REQ(ad_cast(f, AD_BOOL, &o));
    mv = ad_data(o);
    CHECK(mv[0] == 1 && mv[3] == 1 && mv[4] == 0);
    ad_decref(o);
    /* where on int64 with a bool condition; a float gather of indices */
    REQ(ad_where(m, a, b, &o));
    ov = ad_data(o);
    CHECK(o->dtype == AD_I64 && ov[0] == 1 && ov[1] == -7 && ov[4] == -1);
    ad_decref(o);
    REQ(ad_full(AD_BOOL, 1, sh, 0.5, &o));
    CHECK(((uint8_t *)ad_data(o))[4] == 1);
    CHECK_ST(ad_axpy_(o, 1.0, o), AD_ERR_TYPE);
    ad_decref(o);
    /* argsort: stable, NaN last ascending / first descending; take and
     * put_add along an axis with an int64 index tensor */
    ad_tensor *srt, *tk, *pa;
    double sv[6] = {2, NAN, 1, 2, -1, NAN};
    int64_t s6[1] = {6};
    ad_tensor *fs = mk(AD_F64, 1, s6, sv, 0, 0, 1);
    REQ(ad_argsort(fs, 0, 0, &srt));
    int64_t *iv = ad_data(srt);
    CHECK(srt->dtype == AD_I64 && iv[0] == 4 && iv[1] == 2 && iv[2] == 0 &&
          iv[3] == 3 && iv[4] == 1 && iv[5] == 5 && !srt->requires_grad);
    ad_decref(srt);
    REQ(ad_argsort(fs, 0, 1, &srt));
    iv = ad_data(srt);
    CHECK(iv[0] == 1 && iv[1] == 5 && iv[2] == 0 && iv[3] == 3 &&
          iv[4] == 2 && iv[5] == 4);
    REQ(ad_take(fs, srt, 0, 0, &tk));                  /* sorted values */
    CHECK(tk->requires_grad && isnan(at(tk, 0)) && at(tk, 2) == 2 &&
          at(tk, 5) == -1);
    ad_decref(tk);
    int64_t s2[2] = {2, 3}, i2[2] = {2, 1};
    ad_tensor *g23 = mk(AD_F64, 2, s2, (double[]){1, 2, 3, 4, 5, 6}, 0, 0, 1);
    ad_tensor *ix;
    REQ(ad_empty(AD_I64, 2, i2, &ix));
    ((int64_t *)ad_data(ix))[0] = 2;
    ((int64_t *)ad_data(ix))[1] = 0;
    REQ(ad_take(g23, ix, 1, 0, &tk));                  /* x[0,2], x[1,0] */
    CHECK(tk->ndim == 2 && at(tk, 0) == 3 && at(tk, 1) == 4);
    REQ(ad_put_add(tk, ix, 1, 2, s2, &pa));          /* back in place */
    CHECK(at(pa, 2) == 3 && at(pa, 3) == 4 && at(pa, 0) == 0);
    ad_decref(pa);
    ad_decref(tk);
    ((int64_t *)ad_data(ix))[1] = 3;
    CHECK_ST(ad_take(g23, ix, 1, 0, &tk), AD_ERR_INDEX);
    CHECK(strstr(ad_last_error(), "out of bounds") != NULL);
    CHECK_ST(ad_take(g23, g23, 1, 0, &tk), AD_ERR_TYPE);
    /* wrap (x[t]): -1 is the last column; -4 is out of bounds, named as
     * given, in torch's indexing words */
    ((int64_t *)ad_data(ix))[1] = -1;
    CHECK_ST(ad_take(g23, ix, 1, 0, &tk), AD_ERR_INDEX);
    REQ(ad_take(g23, ix, 1, 1, &tk));                  /* x[0,2], x[1,2] */
    CHECK(at(tk, 0) == 3 && at(tk, 1) == 6);
    ad_decref(tk);
    ((int64_t *)ad_data(ix))[1] = -4;
    CHECK_ST(ad_take(g23, ix, 1, 1, &tk), AD_ERR_INDEX);
    CHECK(strncmp(ad_last_error(), "index -4 is out of bounds for "
                  "dimension 1 with size 3", 48) == 0);
    ad_decref(ix);
    ad_decref(g23);
    ad_decref(srt);
    ad_decref(fs);
    ad_decref(f);
    ad_decref(m);
    ad_decref(a);
    ad_decref(b);
}

static void
test_where(void)
{
    int64_t cs[2] = {3, 1}, xs_[2] = {3, 4}, ys[1] = {4};
    for (int dt = 0; dt < 2; dt++) {
        /* cond of the other dtype, broadcast; y broadcast too */
        ad_tensor *c = mk(1 - dt, 2, cs, (double[]){1, 0, 1}, 0, 0, 0);
        ad_tensor *x = mk(dt, 2, xs_, NULL, -1, 1, 1);
        ad_tensor *y = mk(dt, 1, ys, NULL, -1, 1, 1), *o, *g;
        REQ(ad_where(c, x, y, &o));
        CHECK(shape_is(o, 2, xs_));
        g = mk(dt, 2, xs_, NULL, -1, 1, 0);
        double ref[12], gx[12], gy[4] = {0};
        for (int i = 0; i < 3; i++) {
            for (int j = 0; j < 4; j++) {
                int on = at(c, i) != 0;
                ref[i * 4 + j] = on ? at(x, i * 4 + j) : at(y, j);
                gx[i * 4 + j] = on ? at(g, i * 4 + j) : 0;
                gy[j] += on ? 0 : at(g, i * 4 + j);
            }
        }
        CLOSE("where forward", o, ref, 12, 0, 0);
        REQ(ad_backward(o, g, 0));
        CLOSE("where grad x", x->grad, gx, 12, 0, 0);
        CLOSE("where grad y", y->grad, gy, 4, gtol(dt), gtol(dt));
        ad_decref(o);
        int64_t bs[1] = {5};
        ad_tensor *b = mk(dt, 1, bs, NULL, -1, 1, 0);
        CHECK_ST(ad_where(c, x, b, &o), AD_ERR_SHAPE);
        ad_tensor *other = mk(1 - dt, 1, ys, NULL, -1, 1, 0);
        CHECK_ST(ad_where(c, x, other, &o), AD_ERR_TYPE);
        ad_decref(other);
        ad_decref(b);
        ad_decref(g);
        ad_decref(c);
        ad_decref(x);
        ad_decref(y);
    }
}

/* ======================================================================== */
/* matmul and linear through the registered BLAS                            */
/* ======================================================================== */

static void
test_no_blas(void)
{
    int64_t s[2] = {2, 2};
    ad_tensor *a = mk(AD_F64, 2, s, NULL, -1, 1, 1), *o = NULL;
    CHECK_ST(ad_matmul(a, a, &o), AD_ERR_NOBLAS);
    CHECK(o == NULL && strstr(ad_last_error(), "BLAS"));
    CHECK_ST(ad_linear(a, a, NULL, &o), AD_ERR_NOBLAS);
    CHECK(stats().tape_records == 0);
    ad_decref(a);
}

static void
mm_one(int dt, int nd, const int64_t *xs, const int64_t *ys)
{
    ad_tensor *x = mk(dt, nd, xs, NULL, -1, 1, 1);
    ad_tensor *y = mk(dt, nd, ys, NULL, -1, 1, 1), *o, *g;
    int64_t bx = nd == 3 ? xs[0] : 1, by = nd == 3 ? ys[0] : 1;
    int64_t B = bx > by ? bx : by, m = xs[nd - 2], k = xs[nd - 1];
    int64_t n = ys[nd - 1], os[3] = {B, m, n};
    char what[96];
    REQ(ad_matmul(x, y, &o));
    CHECK(shape_is(o, nd, nd == 3 ? os : os + 1));
    g = mk(dt, o->ndim, o->shape, NULL, -1, 1, 0);
    double *ref = calloc((size_t)(B * m * n) + 1, sizeof(double));
    double *gx = calloc((size_t)x->size + 1, sizeof(double));
    double *gy = calloc((size_t)y->size + 1, sizeof(double));
    for (int64_t b = 0; b < B; b++) {
        int64_t xo = (bx == 1 ? 0 : b) * m * k, yo = (by == 1 ? 0 : b) * k * n;
        for (int64_t i = 0; i < m; i++) {
            for (int64_t j = 0; j < n; j++) {
                double s = 0, gg = at(g, (b * m + i) * n + j);
                for (int64_t p = 0; p < k; p++) {
                    s += at(x, xo + i * k + p) * at(y, yo + p * n + j);
                    gx[xo + i * k + p] += gg * at(y, yo + p * n + j);
                    gy[yo + p * n + j] += gg * at(x, xo + i * k + p);
                }
                ref[(b * m + i) * n + j] = s;
            }
        }
    }
    snprintf(what, sizeof(what), "matmul %lldx%lldx%lld batch %lld/%lld %s",
             (long long)m, (long long)k, (long long)n, (long long)bx,
             (long long)by, dtn(dt));
    CLOSE(what, o, ref, B * m * n, ftol(dt) * 4, ftol(dt) * 4);
    REQ(ad_backward(o, g, 0));
    CLOSE(what, x->grad, gx, x->size, gtol(dt), gtol(dt));
    CLOSE(what, y->grad, gy, y->size, gtol(dt), gtol(dt));
    free(ref);
    free(gx);
    free(gy);
    ad_decref(g);
    ad_decref(o);
    ad_decref(x);
    ad_decref(y);
}

static void
test_matmul_linear(void)
{
    for (int dt = 0; dt < 2; dt++) {
        mm_one(dt, 2, (int64_t[]){3, 4}, (int64_t[]){4, 5});
        mm_one(dt, 2, (int64_t[]){1, 7}, (int64_t[]){7, 1});
        mm_one(dt, 2, (int64_t[]){3, 0}, (int64_t[]){0, 2});    /* k = 0 */
        mm_one(dt, 3, (int64_t[]){2, 3, 4}, (int64_t[]){2, 4, 5});
        mm_one(dt, 3, (int64_t[]){1, 3, 4}, (int64_t[]){3, 4, 2});
        mm_one(dt, 3, (int64_t[]){3, 2, 4}, (int64_t[]){1, 4, 5});

        for (int bias = 0; bias < 2; bias++) {
            int64_t xs[2] = {4, 3}, ws[2] = {5, 3}, bs[1] = {5}, os[2] = {4, 5};
            ad_tensor *x = mk(dt, 2, xs, NULL, -1, 1, 1);
            ad_tensor *w = mk(dt, 2, ws, NULL, -1, 1, 1);
            ad_tensor *b = bias ? mk(dt, 1, bs, NULL, -1, 1, 1) : NULL, *o, *g;
            REQ(ad_linear(x, w, b, &o));
            CHECK(shape_is(o, 2, os));
            g = mk(dt, 2, os, NULL, -1, 1, 0);
            double ref[20], gx[12] = {0}, gw[15] = {0}, gb[5] = {0};
            for (int i = 0; i < 4; i++) {
                for (int j = 0; j < 5; j++) {
                    double s = b ? at(b, j) : 0, gg = at(g, i * 5 + j);
                    for (int p = 0; p < 3; p++) {
                        s += at(x, i * 3 + p) * at(w, j * 3 + p);
                        gx[i * 3 + p] += gg * at(w, j * 3 + p);
                        gw[j * 3 + p] += gg * at(x, i * 3 + p);
                    }
                    ref[i * 5 + j] = s;
                    gb[j] += gg;
                }
            }
            CLOSE("linear forward", o, ref, 20, ftol(dt) * 4, ftol(dt) * 4);
            REQ(ad_backward(o, g, 0));
            CLOSE("linear grad x", x->grad, gx, 12, gtol(dt), gtol(dt));
            CLOSE("linear grad W", w->grad, gw, 15, gtol(dt), gtol(dt));
            if (b) {
                CLOSE("linear grad b", b->grad, gb, 5, gtol(dt), gtol(dt));
            }
            /* errors: W the wrong way round, a bias that does not fit */
            ad_tensor *o2 = NULL;
            CHECK_ST(ad_linear(x, x, NULL, &o2), AD_OK);  /* (4,3)x(4,3)^T */
            ad_decref(o2);
            o2 = NULL;
            int64_t wt[2] = {3, 5};
            ad_tensor *wbad = mk(dt, 2, wt, NULL, -1, 1, 0);
            CHECK_ST(ad_linear(x, wbad, NULL, &o2), AD_ERR_SHAPE);
            CHECK(o2 == NULL && strstr(ad_last_error(), "(4, 3)") &&
                  strstr(ad_last_error(), "(3, 5)"));
            CHECK_ST(ad_linear(x, w, x, &o2), AD_ERR_SHAPE);
            ad_tensor *wo = mk(1 - dt, 2, ws, NULL, -1, 1, 0);
            CHECK_ST(ad_linear(x, wo, NULL, &o2), AD_ERR_TYPE);
            ad_decref(wo);
            ad_decref(wbad);
            ad_decref(g);
            ad_decref(o);
            ad_decref(x);
            ad_decref(w);
            ad_decref(b);
        }
    }
    /* misaligned and mixed dtypes */
    int64_t a[2] = {2, 3}, b[2] = {2, 3};
    ad_tensor *x = mk(AD_F64, 2, a, NULL, -1, 1, 0);
    ad_tensor *y = mk(AD_F64, 2, b, NULL, -1, 1, 0);
    ad_tensor *z = mk(AD_F32, 2, (int64_t[]){3, 2}, NULL, -1, 1, 0), *o = NULL;
    double *before = vals(x);
    CHECK_ST(ad_matmul(x, y, &o), AD_ERR_SHAPE);
    CHECK(o == NULL && strstr(ad_last_error(), "(2, 3)"));
    CHECK_ST(ad_matmul(x, z, &o), AD_ERR_TYPE);
    CHECK(strstr(ad_last_error(), "float32") &&
          strstr(ad_last_error(), "float64"));
    CHECK(same_vals(x, before));
    free(before);
    ad_decref(x);
    ad_decref(y);
    ad_decref(z);
}

/* ======================================================================== */
/* status codes and messages on bad input                                   */
/* ======================================================================== */

static void
test_errors(void)
{
    ad_memory_stats m0 = stats();
    int64_t s34[2] = {3, 4}, s5[1] = {5};
    ad_tensor *x = mk(AD_F32, 2, s34, NULL, -1, 1, 1);
    ad_tensor *y = mk(AD_F32, 1, s5, NULL, -1, 1, 1);
    ad_tensor *z = mk(AD_F64, 2, s34, NULL, -1, 1, 1);
    double *bx = vals(x), *by = vals(y), *bz = vals(z);
    ad_tensor *o = (ad_tensor *)0x1;
    ad_memory_stats m1 = stats();

    /* mismatched broadcast: shape error naming both shapes */
    CHECK_ST(ad_binary(AD_B_ADD, x, y, &o), AD_ERR_SHAPE);
    CHECK(strstr(ad_last_error(), "(3, 4)") && strstr(ad_last_error(), "(5,)"));
    CHECK(o == (ad_tensor *)0x1);
    /* dtype mismatch */
    CHECK_ST(ad_binary(AD_B_MUL, x, z, &o), AD_ERR_TYPE);
    CHECK(strstr(ad_last_error(), "float32") &&
          strstr(ad_last_error(), "float64"));
    CHECK_ST(ad_loss(AD_L_MSE, x, z, &o), AD_ERR_TYPE);
    CHECK_ST(ad_loss(AD_L_MSE, x, y, &o), AD_ERR_SHAPE);
    CHECK(strstr(ad_last_error(), "(3, 4)") && strstr(ad_last_error(), "(5,)"));
    CHECK_ST(ad_binary(AD_B_COUNT, x, x, &o), AD_ERR_VALUE);
    /* bad axis */
    CHECK_ST(ad_reduce(AD_R_SUM, x, 4, 0, &o), AD_ERR_VALUE);
    CHECK(strstr(ad_last_error(), "(3, 4)") != NULL);
    CHECK_ST(ad_reduce(AD_R_MEAN, x, 1u << 31, 0, &o), AD_ERR_VALUE);
    CHECK_ST(ad_reduce(AD_R_COUNT, x, 1, 0, &o), AD_ERR_VALUE);
    CHECK_ST(ad_softmax(x, 2, 0, &o), AD_ERR_VALUE);
    CHECK(strstr(ad_last_error(), "(3, 4)") != NULL);
    CHECK_ST(ad_softmax(x, -1, 1, &o), AD_ERR_VALUE);
    CHECK(o == (ad_tensor *)0x1);
    /* huge sizes, bad shapes and dtypes at creation */
    int64_t huge[2] = {(int64_t)1 << 21, (int64_t)1 << 21};
    CHECK_ST(ad_empty(AD_F32, 2, huge, &o), AD_ERR_NOMEM);
    CHECK(strstr(ad_last_error(), "(2097152, 2097152)") != NULL);
    CHECK_ST(ad_full(AD_F64, 2, huge, 1.0, &o), AD_ERR_NOMEM);
    int64_t big1[1] = {(int64_t)1 << 41};
    CHECK_ST(ad_reshape(x, 1, big1, &o), AD_ERR_NOMEM);
    int64_t neg[2] = {3, -1};
    CHECK_ST(ad_empty(AD_F32, 2, neg, &o), AD_ERR_VALUE);
    CHECK(strstr(ad_last_error(), "(3, -1)") != NULL);
    int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    CHECK_ST(ad_empty(AD_F32, 9, nine, &o), AD_ERR_VALUE);
    CHECK_ST(ad_empty((ad_dtype)AD_DTYPE_COUNT, 1, s5, &o), AD_ERR_TYPE);
    CHECK(o == (ad_tensor *)0x1);
    /* copies and axpy of mismatched tensors */
    CHECK_ST(ad_copy_data(x, y), AD_ERR_SHAPE);
    CHECK_ST(ad_axpy_(x, 1.0, z), AD_ERR_SHAPE);
    /* every failure left the inputs as they were and recorded nothing */
    CHECK(same_vals(x, bx) && same_vals(y, by) && same_vals(z, bz));
    CHECK(ad_version(x) == 0 && ad_version(y) == 0);
    CHECK(stats().tape_records == 0);
    CHECK(stats().bytes_in_use == m1.bytes_in_use);     /* nothing kept */

    /* backward: not requiring grad, non-scalar without grad, bad grad */
    ad_tensor *c = mk(AD_F32, 1, s5, NULL, -1, 1, 0);
    CHECK_ST(ad_backward(c, NULL, 0), AD_ERR_STATE);
    CHECK(strstr(ad_last_error(), "does not require grad") != NULL);
    ad_tensor *e, *s;
    REQ(ad_unary(AD_U_EXP, x, 0, 0, &e));
    CHECK_ST(ad_backward(e, NULL, 0), AD_ERR_STATE);
    CHECK(strstr(ad_last_error(), "(3, 4)") != NULL);
    CHECK_ST(ad_backward(e, c, 0), AD_ERR_SHAPE);
    CHECK(strstr(ad_last_error(), "(5,)") && strstr(ad_last_error(), "(3, 4)"));
    CHECK(x->grad == NULL);

    /* backward twice: with retain the gradient accumulates, without it
     * the second call fails and changes nothing */
    REQ(ad_reduce(AD_R_SUM, e, 3, 0, &s));
    REQ(ad_backward(s, NULL, 1));
    double *g1 = x->grad ? vals(x->grad) : NULL;
    REQ(ad_backward(s, NULL, 0));
    if (g1) {
        for (int i = 0; i < 12; i++) {
            g1[i] *= 2;
        }
        CLOSE("retain_graph accumulates", x->grad, g1, 12, 1e-6, 0);
    }
    double *g2 = x->grad ? vals(x->grad) : NULL;
    CHECK_ST(ad_backward(s, NULL, 0), AD_ERR_STATE);
    CHECK(strstr(ad_last_error(), "second time") != NULL);
    CHECK(x->grad && g2 && same_vals(x->grad, g2));
    free(g1);
    free(g2);
    ad_decref(s);
    ad_decref(e);
    ad_set_grad(x, NULL);

    /* in-place modification after recording */
    REQ(ad_unary(AD_U_SIN, x, 0, 0, &e));           /* saves the input */
    REQ(ad_reduce(AD_R_SUM, e, 3, 0, &s));
    REQ(ad_axpy_(x, 1.0, x));
    CHECK(ad_version(x) == 1);
    CHECK_ST(ad_backward(s, NULL, 0), AD_ERR_STATE);
    CHECK(strstr(ad_last_error(), "modified by an in-place operation") &&
          strstr(ad_last_error(), "(3, 4)") &&
          strstr(ad_last_error(), "version 1"));
    CHECK(x->grad == NULL);
    ad_node_info info;
    CHECK_ST(ad_node(e, &info), AD_ERR_STATE);
    ad_decref(s);
    ad_decref(e);
    REQ(ad_unary(AD_U_EXP, x, 0, 0, &e));           /* saves the output */
    REQ(ad_reduce(AD_R_SUM, e, 3, 0, &s));
    REQ(ad_fill_(e, 0.0));
    CHECK_ST(ad_backward(s, NULL, 0), AD_ERR_STATE);
    CHECK(strstr(ad_last_error(), "in-place") != NULL);
    CHECK(x->grad == NULL);
    ad_decref(s);
    ad_decref(e);
    /* the failed sweep left nothing pending: a fresh graph works */
    REQ(ad_unary(AD_U_SQUARE, x, 0, 0, &e));
    REQ(ad_reduce(AD_R_SUM, e, 3, 0, &s));
    REQ(ad_backward(s, NULL, 0));
    CHECK(x->grad != NULL);
    ad_decref(s);
    ad_decref(e);

    /* ad_node on a live record */
    REQ(ad_unary(AD_U_LEAKY_RELU, x, 0.25, 0, &e));
    REQ(ad_node(e, &info));
    CHECK(info.op == AD_OP_UNARY && info.kind == AD_U_LEAKY_RELU &&
          info.nin == 1 && info.attrs.unary.a == 0.25 &&
          ad_node_input(e, 0) == x &&
          ad_node_input(e, 1) == NULL);
    REQ(ad_node(x, &info));
    CHECK(info.op == -1);
    ad_decref(e);

    /* grad mode off records nothing */
    ad_set_grad_enabled(0);
    CHECK(!ad_grad_enabled());
    REQ(ad_unary(AD_U_EXP, x, 0, 0, &e));
    CHECK(ad_is_leaf(e) && !e->requires_grad && stats().tape_records == 0);
    ad_decref(e);
    ad_set_grad_enabled(1);

    for (int st = 0; st >= -8; st--) {
        const char *n = ad_status_name((ad_status)st);
        CHECK(n && *n && strcmp(n, "unknown status") != 0);
    }
    free(bx);
    free(by);
    free(bz);
    ad_decref(c);
    ad_decref(x);
    ad_decref(y);
    ad_decref(z);
    CHECK(stats().tape_records == 0 && stats().tape_live == 0);
    CHECK(stats().bytes_in_use == m0.bytes_in_use);
}

/* ======================================================================== */
/* optimizers                                                               */
/* ======================================================================== */

static void
optim_one(int dt, const ad_optim_cfg *c, const char *name)
{
    enum { N = 6 };
    int64_t sh[1] = {N};
    ad_tensor *p = mk(dt, 1, sh, NULL, -1, 1, 1), *st[3];
    for (int k = 0; k < 3; k++) {
        st[k] = mk(dt, 1, sh, (double[]){0, 0, 0, 0, 0, 0}, 0, 0, 0);
    }
    double mp = 1;                      /* NAdam: mu_product, float32 */
    if (c->kind == AD_OPT_NADAM) {
        ad_decref(st[2]);
        st[2] = mk(AD_F32, 0, NULL, (double[]){1}, 0, 0, 0);
    }
    double P[N], s0[N] = {0}, s1[N] = {0}, s2[N] = {0};
    int64_t step = 0;
    for (int i = 0; i < N; i++) {
        P[i] = at(p, i);
    }
    for (int it = 1; it <= 3; it++) {
        ad_tensor *g = mk(dt, 1, sh, NULL, -1, 1, 0);
        ad_set_grad(p, g);
        REQ(ad_optim_step(c, 1, &p, st, &step));
        CHECK(step == it);
        if (c->kind == AD_OPT_NADAM) {
            mp = (float)(mp * (float)(c->beta1 * (1 - 0.5 * pow(
                0.96, it * c->momentum_decay))));
        }
        for (int i = 0; i < N; i++) {
            double gi = c->maximize ? -at(g, i) : at(g, i);
            switch (c->kind) {
            case AD_OPT_SGD:
                gi += c->weight_decay * P[i];
                if (c->momentum != 0) {
                    s0[i] = it == 1 ? gi : c->momentum * s0[i] +
                                           (1 - c->dampening) * gi;
                    gi = c->nesterov ? gi + c->momentum * s0[i] : s0[i];
                }
                P[i] -= c->lr * gi;
                break;
            case AD_OPT_ADAM:
            case AD_OPT_ADAMW: {
                if (c->kind == AD_OPT_ADAMW) {
                    P[i] *= 1 - c->lr * c->weight_decay;
                }
                else {
                    gi += c->weight_decay * P[i];
                }
                s0[i] = c->beta1 * s0[i] + (1 - c->beta1) * gi;
                s1[i] = c->beta2 * s1[i] + (1 - c->beta2) * gi * gi;
                double v = s1[i];
                if (c->amsgrad) {
                    s2[i] = fmax(s2[i], v);
                    v = s2[i];
                }
                double mh = s0[i] / (1 - pow(c->beta1, it));
                double vh = v / (1 - pow(c->beta2, it));
                /* torch's form: eps added to sqrt(v) / sqrt(bc2) */
                P[i] -= c->lr * mh / (sqrt(vh) + c->eps);
                break;
            }
            case AD_OPT_RMSPROP: {
                gi += c->weight_decay * P[i];
                s0[i] = c->alpha * s0[i] + (1 - c->alpha) * gi * gi;
                double avg = s0[i];
                if (c->centered) {
                    s1[i] = c->alpha * s1[i] + (1 - c->alpha) * gi;
                    avg -= s1[i] * s1[i];
                }
                avg = sqrt(avg) + c->eps;
                if (c->momentum > 0) {
                    s2[i] = c->momentum * s2[i] + gi / avg;
                    P[i] -= c->lr * s2[i];
                }
                else {
                    P[i] -= c->lr * gi / avg;
                }
                break;
            }
            case AD_OPT_ADAGRAD:
                gi += c->weight_decay * P[i];
                s0[i] += gi * gi;
                P[i] -= c->lr / (1 + (it - 1) * c->lr_decay) * gi /
                        (sqrt(s0[i]) + c->eps);
                break;
            case AD_OPT_ADADELTA: {
                gi += c->weight_decay * P[i];
                s0[i] = c->rho * s0[i] + (1 - c->rho) * gi * gi;
                double d = sqrt(s1[i] + c->eps) / sqrt(s0[i] + c->eps) * gi;
                s1[i] = c->rho * s1[i] + (1 - c->rho) * d * d;
                P[i] -= c->lr * d;
                break;
            }
            case AD_OPT_ADAMAX:
                gi += c->weight_decay * P[i];
                s0[i] = c->beta1 * s0[i] + (1 - c->beta1) * gi;
                s1[i] = fmax(c->beta2 * s1[i], fabs(gi) + c->eps);
                P[i] -= c->lr / (1 - pow(c->beta1, it)) * s0[i] / s1[i];
                break;
            case AD_OPT_NADAM:
            case AD_OPT_RADAM: {
                if (c->decoupled) {
                    P[i] *= 1 - c->lr * c->weight_decay;
                }
                else {
                    gi += c->weight_decay * P[i];
                }
                s0[i] = c->beta1 * s0[i] + (1 - c->beta1) * gi;
                s1[i] = c->beta2 * s1[i] + (1 - c->beta2) * gi * gi;
                double bc2 = 1 - pow(c->beta2, it);
                if (c->kind == AD_OPT_NADAM) {
                    double mu = c->beta1 * (1 - 0.5 * pow(
                        0.96, it * c->momentum_decay));
                    double mun = c->beta1 * (1 - 0.5 * pow(
                        0.96, (it + 1) * c->momentum_decay));
                    double den = sqrt(s1[i] / bc2) + c->eps;
                    P[i] -= c->lr * (1 - mu) / (1 - mp) * gi / den +
                            c->lr * mun / (1 - mp * mun) * s0[i] / den;
                    break;
                }
                double rinf = 2 / (1 - c->beta2) - 1;
                double rt = rinf - 2 * it * pow(c->beta2, it) / bc2;
                double u = s0[i] / (1 - pow(c->beta1, it)) * c->lr;
                if (rt > 5) {
                    u *= sqrt(bc2) / (sqrt(s1[i]) + c->eps) *
                         sqrt((rt - 4) * (rt - 2) * rinf /
                              ((rinf - 4) * (rinf - 2) * rt));
                }
                P[i] -= u;
                break;
            }
            }
        }
        if (c->kind == AD_OPT_NADAM) {
            CHECK(at(st[2], 0) == mp);
        }
        char what[96];
        snprintf(what, sizeof(what), "%s step %d %s", name, it, dtn(dt));
        CLOSE(what, p, P, N, dt == AD_F64 ? 1e-13 : 3e-6,
              dt == AD_F64 ? 1e-14 : 3e-7);
        CHECK(ad_version(p) == (uint32_t)it);
        ad_decref(g);
    }
    /* a parameter without grad is skipped; bad state is an error that
     * changes nothing */
    ad_set_grad(p, NULL);
    double *before = vals(p);
    REQ(ad_optim_step(c, 1, &p, st, &step));
    CHECK(step == 3 && same_vals(p, before));
    int64_t s2sh[1] = {N + 1};
    ad_tensor *g = mk(dt, 1, s2sh, NULL, -1, 1, 0);
    ad_set_grad(p, g);
    CHECK_ST(ad_optim_step(c, 1, &p, st, &step), AD_ERR_SHAPE);
    CHECK(step == 3 && same_vals(p, before));
    ad_decref(g);
    ad_set_grad(p, NULL);
    free(before);
    ad_decref(p);
    for (int k = 0; k < 3; k++) {
        ad_decref(st[k]);
    }
}

/* clip_grad_norm_ / clip_grad_value_: one parameter without grad, norms
 * of orders 2, 1, inf against plain loops; a non-finite total with
 * error_if_nonfinite changes nothing */
static void
test_clip(void)
{
    int64_t sh[1] = {4};
    for (int dt = 0; dt < 2; dt++) {
        ad_tensor *ps[3], *gs[3];
        for (int k = 0; k < 3; k++) {
            ps[k] = mk(dt, 1, sh, NULL, -1, 1, 1);
            gs[k] = mk(dt, 1, sh, NULL, -2, 2, 0);
        }
        ad_tensor *total = mk(dt, 0, NULL, (double[]){0}, 0, 0, 0);
        const double ords[3] = {2, 1, HUGE_VAL};
        for (int o = 0; o < 3; o++) {
            double G[2][4], ns[2];
            for (int k = 0; k < 2; k++) {
                ad_set_grad(ps[k], gs[k]);
                double acc = 0;
                for (int i = 0; i < 4; i++) {
                    double v = G[k][i] = at(gs[k], i), a = fabs(v);
                    acc = o == 0 ? acc + v * v : o == 1 ? acc + a
                                                        : fmax(acc, a);
                }
                ns[k] = o == 0 ? sqrt(acc) : acc;
            }
            ad_set_grad(ps[2], NULL);
            double want = o == 0 ? hypot(ns[0], ns[1])
                          : o == 1 ? ns[0] + ns[1] : fmax(ns[0], ns[1]);
            ad_optim_cfg c = {0};
            c.kind = AD_OPT_CLIP_NORM;
            c.clip = 0.5;
            c.norm_type = ords[o];
            c.total = total;
            REQ(ad_optim_step(&c, 3, ps, NULL, NULL));
            CLOSE("clip total", total, &want, 1, dt ? 1e-14 : 1e-6, 0);
            double coef = fmin(0.5 / (want + 1e-6), 1.0);
            for (int k = 0; k < 2; k++) {
                for (int i = 0; i < 4; i++) {
                    G[k][i] *= coef;
                }
                CLOSE("clipped grad", gs[k], G[k], 4, dt ? 1e-14 : 1e-6, 0);
            }
            CHECK(ps[2]->grad == NULL);
        }
        /* clip_grad_value_ */
        ad_optim_cfg c = {0};
        c.kind = AD_OPT_CLIP_VALUE;
        c.clip = 0.01;
        double *before = vals(gs[0]);
        REQ(ad_optim_step(&c, 3, ps, NULL, NULL));
        for (int i = 0; i < 4; i++) {
            before[i] = fmax(-0.01, fmin(0.01, before[i]));
        }
        CLOSE("clip value", gs[0], before, 4, dt ? 0 : 1e-6, 0);
        free(before);
        /* a non-finite total is an error with error_if_nonfinite */
        put(gs[1], 2, HUGE_VAL);
        before = vals(gs[0]);
        c.kind = AD_OPT_CLIP_NORM;
        c.clip = 1e-3;
        c.norm_type = 2;
        c.error_if_nonfinite = 1;
        c.total = total;
        put(total, 0, 7);
        CHECK_ST(ad_optim_step(&c, 3, ps, NULL, NULL), AD_ERR_STATE);
        CHECK(same_vals(gs[0], before) && at(total, 0) == 7);
        c.total = NULL;                 /* no output: refused */
        c.error_if_nonfinite = 0;
        CHECK_ST(ad_optim_step(&c, 3, ps, NULL, NULL), AD_ERR_VALUE);
        CHECK(same_vals(gs[0], before));
        free(before);
        for (int k = 0; k < 3; k++) {
            ad_set_grad(ps[k], NULL);
            ad_decref(ps[k]);
            ad_decref(gs[k]);
        }
        ad_decref(total);
    }
}

/* ad_grads_pack / unpack: scale * grad (zeros without one), then one
 * flag per parameter; unpack writes scale * segment into existing grads;
 * a short buffer or another dtype is refused before anything is written */
static void
test_grads_pack(void)
{
    int64_t s4[1] = {4}, s3[1] = {3};
    for (int dt = 0; dt < 2; dt++) {
        ad_tensor *ps[2] = {mk(dt, 1, s4, NULL, -1, 1, 1),
                            mk(dt, 1, s3, NULL, -1, 1, 1)};
        ad_tensor *g = mk(dt, 1, s4, NULL, -2, 2, 0);
        ad_set_grad(ps[0], g);
        double buf64[9];
        float buf32[9];
        void *buf = dt ? (void *)buf64 : (void *)buf32;
#define BUF(i) (dt ? buf64[i] : (double)buf32[i])
        REQ(ad_grads_pack(2, ps, dt, buf, 9, 2.0));
        for (int i = 0; i < 4; i++) {
            double want = dt ? 2.0 * at(g, i) : (double)(float)(2.0 * at(g, i));
            CHECK(BUF(i) == want);
        }
        for (int i = 4; i < 7; i++) {
            CHECK(BUF(i) == 0.0);
        }
        CHECK(BUF(7) == 1.0 && BUF(8) == 0.0);
        for (int i = 0; i < 9; i++) {
            if (dt) buf64[i] = i + 0.25; else buf32[i] = (float)i + 0.25f;
        }
        REQ(ad_grads_unpack(2, ps, dt, buf, 9, 0.5));
        for (int i = 0; i < 4; i++) {
            CHECK(at(g, i) == 0.5 * (i + 0.25));
        }
        CHECK(ps[1]->grad == NULL);
        CHECK_ST(ad_grads_pack(2, ps, dt, buf, 8, 1.0), AD_ERR_SHAPE);
        CHECK_ST(ad_grads_unpack(2, ps, 1 - dt, buf, 9, 1.0), AD_ERR_TYPE);
        CHECK_ST(ad_grads_pack(2, ps, AD_I64, buf, 9, 1.0), AD_ERR_TYPE);
        for (int i = 0; i < 4; i++) {
            CHECK(at(g, i) == 0.5 * (i + 0.25));
        }
#undef BUF
        ad_set_grad(ps[0], NULL);
        ad_decref(ps[0]);
        ad_decref(ps[1]);
        ad_decref(g);
    }
}

/* The watch (overlapped reduction): buckets [c], [b], [a] of
 * y = sum(a * a * b * c); a bucket is handed over as soon as the sweep
 * has passed the last record that consumes its leaves, the last one after
 * the deposit, each packed as weight * the .grad the sweep leaves. */
typedef struct {
    ad_watch *w;
    ad_tensor *a;
    int order[8], a_deposited[8], n;
} watch_log;

static void
watch_ready(void *ctx, int b)
{
    watch_log *lg = ctx;
    if (lg->n < 8) {
        lg->a_deposited[lg->n] = lg->a->grad != NULL;
        lg->order[lg->n++] = b;
    }
}

static ad_tensor *
watch_graph(ad_tensor *a, ad_tensor *b, ad_tensor *c)
{
    ad_tensor *t0, *t1, *t2, *y;
    REQ(ad_binary(AD_B_MUL, a, a, &t0));
    REQ(ad_binary(AD_B_MUL, t0, b, &t1));
    REQ(ad_binary(AD_B_MUL, t1, c, &t2));
    REQ(ad_reduce(AD_R_SUM, t2, 1, 0, &y));
    ad_decref(t0);
    ad_decref(t1);
    ad_decref(t2);
    return y;
}

static void
test_watch(void)
{
    int64_t s3[1] = {3};
    ad_tensor *a = mk(AD_F64, 1, s3, (double[]){1, 2, 3}, 0, 0, 1);
    ad_tensor *b = mk(AD_F64, 1, s3, (double[]){0.5, -1, 2}, 0, 0, 1);
    ad_tensor *c = mk(AD_F64, 1, s3, (double[]){3, 0.25, -2}, 0, 0, 1);
    ad_tensor *old = mk(AD_F64, 1, s3, (double[]){10, 20, 30}, 0, 0, 0);
    ad_set_grad(c, old);
    ad_tensor *leaves[3] = {c, b, a};
    int start[4] = {0, 1, 2, 3};
    watch_log lg = {.a = a};
    REQ(ad_watch_new(3, leaves, 3, start, watch_ready, &lg, NULL, &lg.w));
    CHECK(ad_watch_state(lg.w) == 0);
    REQ(ad_watch_arm(lg.w, 2.0));
    ad_tensor *y = watch_graph(a, b, c);
    REQ(ad_backward(y, NULL, 0));
    ad_decref(y);
    CHECK(lg.n == 3 && lg.order[0] == 0 && lg.order[1] == 1 &&
          lg.order[2] == 2);
    /* [c] and [b] went while the sweep ran, [a] after the deposit */
    CHECK(!lg.a_deposited[0] && !lg.a_deposited[1] && lg.a_deposited[2]);
    CHECK(ad_watch_state(lg.w) == 2);
    for (int k = 0; k < 3; k++) {
        int64_t len;
        double *buf = ad_watch_buf(lg.w, k, &len);
        ad_tensor *t = leaves[k];
        CHECK(len == 3 + 1 + 2);
        for (int i = 0; i < 3; i++) {
            CHECK(buf[i] == 2.0 * at(t->grad, i));
        }
        CHECK(buf[3] == 1.0 && buf[4] == 2.0 && buf[5] == 0.0);
    }
    CHECK(at(c->grad, 1) == 20 + 2 * 2 * -1);   /* accumulated */
    CHECK(ad_watch_check(lg.w) == -1);
    /* a second backward reaching the leaves before re-arming: refused,
     * nothing changes */
    double before = at(a->grad, 0);
    y = watch_graph(a, b, c);
    CHECK_ST(ad_backward(y, NULL, 0), AD_ERR_STATE);
    CHECK(at(a->grad, 0) == before && lg.n == 3);
    ad_decref(y);
    /* a grad written after the sweep fails the check */
    ad_zero_grad(b);
    CHECK(ad_watch_check(lg.w) == 1);      /* b */
    /* a failing sweep (b modified in place after recording) hands the
     * remaining buckets over flagged */
    lg.n = 0;
    REQ(ad_watch_arm(lg.w, 1.0));
    y = watch_graph(a, b, c);
    ad_mark_modified(b);
    CHECK_ST(ad_backward(y, NULL, 0), AD_ERR_STATE);
    CHECK(lg.n == 3);
    for (int k = 0; k < 3; k++) {
        int64_t len;
        double *buf = ad_watch_buf(lg.w, k, &len);
        CHECK(buf[5] == (k == 0 ? 0.0 : 1.0));
    }
    ad_decref(y);
    /* flush: a step without backward packs the current grads */
    lg.n = 0;
    REQ(ad_watch_arm(lg.w, 0.5));
    REQ(ad_watch_flush(lg.w));
    CHECK(lg.n == 3 && ad_watch_state(lg.w) == 2);
    CHECK(((double *)ad_watch_buf(lg.w, 0, &(int64_t){0}))[0] ==
          0.5 * at(c->grad, 0));
    CHECK_ST(ad_watch_flush(lg.w), AD_ERR_STATE);
    /* disarmed: sweeps leave it alone */
    lg.n = 0;
    REQ(ad_watch_arm(lg.w, 1.0));
    ad_watch_disarm(lg.w);
    y = watch_graph(a, b, c);
    REQ(ad_backward(y, NULL, 0));
    ad_decref(y);
    CHECK(lg.n == 0 && ad_watch_state(lg.w) == 0);
    ad_watch_free(lg.w);
    /* bad registrations */
    ad_watch *w2;
    int bad[3] = {0, 2, 2};
    CHECK_ST(ad_watch_new(2, leaves, 2, bad, watch_ready, &lg, NULL, &w2),
             AD_ERR_VALUE);
    ad_tensor *twice[2] = {a, a};
    int one[2] = {0, 2};
    CHECK_ST(ad_watch_new(2, twice, 1, one, watch_ready, &lg, NULL, &w2),
             AD_ERR_VALUE);
    ad_set_grad(a, NULL);
    ad_set_grad(b, NULL);
    ad_set_grad(c, NULL);
    ad_decref(a);
    ad_decref(b);
    ad_decref(c);
    ad_decref(old);
}

static void
test_optim(void)
{
    for (int dt = 0; dt < 2; dt++) {
        ad_optim_cfg c = {0};
        c.kind = AD_OPT_SGD;
        c.lr = 0.1;
        optim_one(dt, &c, "sgd");
        c.momentum = 0.9;
        c.weight_decay = 0.01;
        c.dampening = 0.1;
        optim_one(dt, &c, "sgd momentum");
        c.nesterov = 1;
        c.dampening = 0;
        optim_one(dt, &c, "sgd nesterov");
        memset(&c, 0, sizeof(c));
        c.kind = AD_OPT_ADAM;
        c.lr = 1e-2;
        c.beta1 = 0.9;
        c.beta2 = 0.999;
        c.eps = 1e-8;
        optim_one(dt, &c, "adam");
        c.amsgrad = 1;
        c.weight_decay = 0.1;
        optim_one(dt, &c, "adam amsgrad wd");
        c.kind = AD_OPT_ADAMW;
        c.amsgrad = 0;
        optim_one(dt, &c, "adamw");
        memset(&c, 0, sizeof(c));
        c.kind = AD_OPT_RMSPROP;
        c.lr = 1e-2;
        c.alpha = 0.99;
        c.eps = 1e-8;
        optim_one(dt, &c, "rmsprop");
        c.centered = 1;
        c.momentum = 0.5;
        optim_one(dt, &c, "rmsprop centered momentum");
        c.maximize = 1;
        optim_one(dt, &c, "rmsprop maximize");
        memset(&c, 0, sizeof(c));
        c.kind = AD_OPT_ADAGRAD;
        c.lr = 0.1;
        c.eps = 1e-10;
        optim_one(dt, &c, "adagrad");
        c.lr_decay = 0.1;
        c.weight_decay = 0.05;
        c.maximize = 1;
        optim_one(dt, &c, "adagrad lr_decay wd maximize");
        memset(&c, 0, sizeof(c));
        c.kind = AD_OPT_ADADELTA;
        c.lr = 1.0;
        c.rho = 0.9;
        c.eps = 1e-6;
        optim_one(dt, &c, "adadelta");
        c.weight_decay = 0.1;
        optim_one(dt, &c, "adadelta wd");
        memset(&c, 0, sizeof(c));
        c.kind = AD_OPT_ADAMAX;
        c.lr = 2e-3;
        c.beta1 = 0.9;
        c.beta2 = 0.999;
        c.eps = 1e-8;
        optim_one(dt, &c, "adamax");
        c.weight_decay = 0.1;
        c.maximize = 1;
        optim_one(dt, &c, "adamax wd maximize");
        c.kind = AD_OPT_RADAM;
        c.maximize = 0;
        optim_one(dt, &c, "radam wd");
        c.decoupled = 1;
        c.beta2 = 0.5;          /* rho_t > 5 from the first steps */
        optim_one(dt, &c, "radam decoupled rectified");
        c.kind = AD_OPT_NADAM;
        c.beta2 = 0.999;
        c.momentum_decay = 4e-3;
        optim_one(dt, &c, "nadam decoupled");
        c.decoupled = 0;
        c.momentum_decay = 0.1;
        optim_one(dt, &c, "nadam wd");
    }
    test_clip();
    test_grads_pack();
    test_watch();
    /* missing state and an unknown kind */
    int64_t sh[1] = {2};
    ad_tensor *p = mk(AD_F64, 1, sh, NULL, -1, 1, 1);
    ad_tensor *g = mk(AD_F64, 1, sh, NULL, -1, 1, 0), *st[3] = {0};
    int64_t step = 0;
    ad_set_grad(p, g);
    ad_optim_cfg c = {0};
    c.kind = AD_OPT_ADAM;
    CHECK_ST(ad_optim_step(&c, 1, &p, st, &step), AD_ERR_STATE);
    c.kind = 99;
    CHECK_ST(ad_optim_step(&c, 1, &p, st, &step), AD_ERR_VALUE);
    CHECK(step == 0);
    ad_decref(g);
    ad_decref(p);
}

/* ======================================================================== */
/* capture and replay                                                       */
/* ======================================================================== */

typedef struct {
    ad_tensor *x, *w, *b, *v, *loss, *st[9];
    ad_tensor *ps[3];           /* a program keeps pointers to these arrays */
    int64_t steps[3];
    int64_t labels[6];
    ad_optim_cfg cfg;           /* ... and to this one, read at replay */
} model;

static void
model_init(model *m, int dt)
{
    int64_t xs[2] = {6, 4}, ws[2] = {5, 4}, bs[1] = {5}, vs[2] = {5, 3};
    uint64_t save = g_rng;
    memset(m, 0, sizeof(*m));
    m->x = mk(dt, 2, xs, NULL, -1, 1, 0);
    m->w = mk(dt, 2, ws, NULL, -0.5, 0.5, 1);
    m->b = mk(dt, 1, bs, NULL, -0.1, 0.1, 1);
    m->v = mk(dt, 2, vs, NULL, -0.5, 0.5, 1);
    ad_tensor **ps = m->ps;
    ps[0] = m->w;
    ps[1] = m->b;
    ps[2] = m->v;
    for (int i = 0; i < 3; i++) {
        for (int k = 0; k < 3; k++) {
            REQ(ad_full((ad_dtype)dt, ps[i]->ndim, ps[i]->shape, 0.0,
                        &m->st[3 * i + k]));
        }
    }
    g_rng = save;           /* both twins draw the same numbers */
}

static void
model_free(model *m)
{
    ad_tensor **ts[] = {&m->x, &m->w, &m->b, &m->v, &m->loss};
    for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
        ad_decref(*ts[i]);
        *ts[i] = NULL;
    }
    for (int k = 0; k < 9; k++) {
        ad_decref(m->st[k]);
    }
}

/* One training step: zero grads, forward, backward, Adam. */
static ad_status
model_step(model *m)
{
    ad_tensor **ps = m->ps, *h, *a, *l, *nl, *loss;
    ad_status s;
    for (int i = 0; i < 3; i++) {
        if ((s = ad_set_grad(ps[i], NULL))) {
            return s;
        }
    }
    if ((s = ad_linear(m->x, m->w, m->b, &h))) {
        return s;
    }
    s = ad_unary(AD_U_TANH, h, 0, 0, &a);
    ad_decref(h);
    if (s) {
        return s;
    }
    s = ad_matmul(a, m->v, &l);
    ad_decref(a);
    if (s) {
        return s;
    }
    s = ad_nll(l, m->labels, -100, 1, AD_NLL_NONE, &nl);
    ad_decref(l);
    if (s) {
        return s;
    }
    s = ad_reduce(AD_R_MEAN, nl, 1, 0, &loss);
    ad_decref(nl);
    if (s) {
        return s;
    }
    ad_decref(m->loss);
    m->loss = loss;
    if ((s = ad_backward_sweep(loss, NULL))) {
        return s;
    }
    ad_backward_release(loss);
    ad_optim_cfg *c = &m->cfg;
    memset(c, 0, sizeof(*c));
    c->kind = AD_OPT_ADAM;
    c->lr = 0.05;
    c->beta1 = 0.9;
    c->beta2 = 0.999;
    c->eps = 1e-8;
    return ad_optim_step(c, 3, ps, m->st, m->steps);
}

static int
bits_equal(const ad_tensor *a, const ad_tensor *b)
{
    return a && b && a->size == b->size && a->dtype == b->dtype &&
           memcmp(ad_data(a), ad_data(b),
                  (size_t)a->size * (a->dtype == AD_F64 ? 8 : 4)) == 0;
}

static void
test_program(void)
{
    ad_memory_stats m0 = stats();
    for (int dt = 0; dt < 2; dt++) {
        model e, c;             /* eager and compiled twins */
        model_init(&e, dt);
        model_init(&c, dt);
        ad_program *p = NULL;
        REQ(ad_capture_begin(&p));
        CHECK(ad_capturing());
        ad_program *p2;
        CHECK_ST(ad_capture_begin(&p2), AD_ERR_STATE);
        REQ(ad_capture_input(p, c.labels, sizeof(c.labels)));
        for (int i = 0; i < 6; i++) {
            c.labels[i] = e.labels[i] = i % 3;
        }
        ad_status s = model_step(&c);
        CHECK_ST(s, AD_OK);
        CHECK_ST(ad_program_run(p), AD_ERR_STATE);      /* still capturing */
        REQ(ad_capture_end(p));
        CHECK(!ad_capturing());
        if (s) {
            ad_program_free(p);
            return;
        }
        CHECK(stats().tape_records == 0);       /* the program's own tape */
        REQ(model_step(&e));
        int64_t recs = 0;
        int64_t ninstr = ad_program_size(p, &recs);
        CHECKM(ninstr >= 4 && recs >= 5, "program: %lld instructions, %lld "
               "records", (long long)ninstr, (long long)recs);
        CHECK(ad_program_work(p) > 0);
        CHECK(bits_equal(c.loss, e.loss) && bits_equal(c.w, e.w) &&
              bits_equal(c.v, e.v));
        for (int it = 0; it < 5; it++) {
            /* new data and labels, copied into the recorded inputs */
            for (int i = 0; i < 24; i++) {
                double v = urand(-1, 1);
                put(c.x, i, v);
                put(e.x, i, v);
            }
            for (int i = 0; i < 6; i++) {
                c.labels[i] = e.labels[i] = (i + it) % 3;
            }
            REQ(ad_program_run(p));
            REQ(model_step(&e));
            CHECKM(bits_equal(c.loss, e.loss), "replay %d: loss %.17g vs "
                   "eager %.17g", it, at(c.loss, 0), at(e.loss, 0));
            CHECKM(bits_equal(c.w, e.w) && bits_equal(c.b, e.b) &&
                   bits_equal(c.v, e.v), "replay %d: parameters differ", it);
            CHECK(bits_equal(c.w->grad, e.w->grad) &&
                  bits_equal(c.v->grad, e.v->grad));
            CHECK(bits_equal(c.st[0], e.st[0]) && bits_equal(c.st[7], e.st[7]));
            CHECK(c.steps[0] == it + 2 && e.steps[2] == it + 2);
        }
        ad_program_free(p);
        model_free(&c);
        model_free(&e);
    }
    CHECK(stats().tape_records == 0 && stats().tape_live == 0);
    CHECKM(stats().bytes_in_use == m0.bytes_in_use, "bytes in use %lld, at "
           "the start %lld", (long long)stats().bytes_in_use,
           (long long)m0.bytes_in_use);

    /* a capture freed while active restores the thread's tape */
    ad_program *p;
    REQ(ad_capture_begin(&p));
    int64_t sh[1] = {3};
    ad_tensor *x = mk(AD_F64, 1, sh, NULL, -1, 1, 0), *y;
    REQ(ad_unary(AD_U_EXP, x, 0, 0, &y));       /* recorded: capturing */
    CHECK(!ad_is_leaf(y));
    ad_decref(y);
    ad_program_free(p);
    CHECK(!ad_capturing());
    REQ(ad_unary(AD_U_EXP, x, 0, 0, &y));
    CHECK(ad_is_leaf(y));
    ad_decref(y);
    ad_decref(x);
}


/* ad_run_each: every task once, each on a thread of its own (distinct
 * thread ids), a nested call serial; ad_programs_run: N compiled twins
 * replayed at once give the bits of their eager twins; a stale program
 * (new epoch) or one given twice runs nothing; replica streams. */
typedef struct {
    int hits[8];
    pthread_t who[8];
    int nested;
} each_ctx;

static void
each_nested(void *cp, int i)
{
    ((each_ctx *)cp)->nested += i + 1;      /* serial: no race */
}

static void
each_task(void *cp, int i)
{
    each_ctx *c = cp;
    c->hits[i]++;
    c->who[i] = pthread_self();
    if (i == 1) {
        ad_run_each(3, each_nested, cp);
    }
}

static void
trim_each(void *cp, int i)
{
    (void)cp;
    (void)i;
    ad_pool_trim();         /* each crew thread's own pool */
}

static void
test_programs_run(void)
{
    for (int rep = 0; rep < 50; rep++) {
        each_ctx c;
        memset(&c, 0, sizeof(c));
        ad_run_each(4, each_task, &c);
        int ok = c.nested == 6;
        for (int i = 0; i < 4; i++) {
            ok &= c.hits[i] == 1;
            for (int j = 0; j < i; j++) {
                ok &= !pthread_equal(c.who[i], c.who[j]);
            }
        }
        CHECKM(ok, "ad_run_each round %d", rep);
        if (!ok) {
            break;
        }
    }
    enum { R = 3 };
    for (int dt = 0; dt < 2; dt++) {
        model e[R], c[R];
        ad_program *ps[R];
        for (int r = 0; r < R; r++) {
            model_init(&e[r], dt);
            model_init(&c[r], dt);
            for (int i = 0; i < 6; i++) {
                c[r].labels[i] = e[r].labels[i] = (i + r) % 3;
            }
            REQ(ad_capture_begin(&ps[r]));
            REQ(ad_capture_input(ps[r], c[r].labels, sizeof(c[r].labels)));
            REQ(model_step(&c[r]));
            REQ(ad_capture_end(ps[r]));
            REQ(model_step(&e[r]));
        }
        for (int it = 0; it < 20; it++) {
            for (int r = 0; r < R; r++) {
                for (int i = 0; i < 24; i++) {
                    double v = urand(-1, 1);
                    put(c[r].x, i, v);
                    put(e[r].x, i, v);
                }
                for (int i = 0; i < 6; i++) {
                    c[r].labels[i] = e[r].labels[i] = (i + it + r) % 3;
                }
                REQ(model_step(&e[r]));
            }
            REQ(ad_programs_run(ps, R, NULL));
            int ok = 1;
            for (int r = 0; r < R; r++) {
                ok &= bits_equal(c[r].loss, e[r].loss) &&
                      bits_equal(c[r].w, e[r].w) &&
                      bits_equal(c[r].v, e[r].v) &&
                      bits_equal(c[r].w->grad, e[r].w->grad);
            }
            CHECKM(ok, "programs_run %d: a replica differs from its eager "
                   "twin", it);
        }
        ad_program *twice[2] = {ps[0], ps[0]};
        CHECK_ST(ad_programs_run(twice, 2, NULL), AD_ERR_STATE);
        CHECK(strstr(ad_last_error(), "twice") != NULL);
        CHECK_ST(ad_programs_run(ps, 0, NULL), AD_ERR_VALUE);
        ad_tensor *w0 = NULL;
        REQ(ad_full((ad_dtype)dt, c[1].w->ndim, c[1].w->shape, 0.0, &w0));
        REQ(ad_copy_data(w0, c[1].w));
        ad_bump_epoch();
        CHECK_ST(ad_programs_run(ps, R, NULL), AD_RERECORD);
        CHECK(bits_equal(w0, c[1].w));          /* nothing ran */
        ad_decref(w0);
        for (int r = 0; r < R; r++) {
            ad_program_free(ps[r]);
            model_free(&c[r]);
            model_free(&e[r]);
        }
    }
    /* replica streams: replica 0 draws the global stream's blocks, the
     * others their own keys; the end moves the offset past the most */
    int64_t sh[1] = {40};
    ad_tensor *x = mk(AD_F64, 1, sh, NULL, 1, 1, 0), *g, *a[2];
    ad_rng_stream st[2];
    ad_manual_seed(5);
    REQ(ad_dropout(x, 0.5, &g));
    ad_manual_seed(5);
    ad_rng_replicas_begin(st, 2);
    for (int r = 0; r < 2; r++) {
        ad_rng_stream *prev = ad_rng_stream_swap(&st[r]);
        REQ(ad_dropout(x, 0.5, &a[r]));
        if (r == 1) {               /* a second draw: 20 blocks in all */
            ad_tensor *more;
            REQ(ad_dropout(x, 0.5, &more));
            ad_decref(more);
        }
        CHECK(ad_rng_stream_swap(prev) == &st[r]);
    }
    uint64_t seed, off;
    ad_get_rng_state(&seed, &off);
    CHECK(seed == 5 && off == 0);               /* the global one untouched */
    ad_rng_replicas_end(st, 2);
    ad_get_rng_state(&seed, &off);
    CHECKM(off == 20, "offset after the replicas: %llu", (unsigned long long)off);
    CHECK(bits_equal(a[0], g) && !bits_equal(a[1], g));
    ad_decref(g);
    ad_decref(a[0]);
    ad_decref(a[1]);
    ad_decref(x);
    ad_run_each(4, trim_each, NULL);    /* the pool is empty at the end */
}

/* ======================================================================== */
/* the compile contract in C: nll reductions, dropout, inputs, guards       */
/* ======================================================================== */

/* AD_NLL_MEAN / AD_NLL_SUM equal the per-sample losses reduced by the
 * reduce op and divided by the count of labels that are not ignored. */
/* ad_nll_full: x (N, C, D) = (2, 3, 2), class weights, label smoothing,
 * an ignored label; the per-sample losses and gradients against plain
 * loops of torch's formulas, and the mean's divisor (the weights taken). */
static void
test_nll_full(void)
{
    enum { N = 2, C = 3, D = 2 };
    int64_t sh[3] = {N, C, D}, ps[2] = {N, D}, ws[1] = {C};
    const int64_t lab[N * D] = {2, 0, -100, 1};
    const double eps = 0.2;
    for (int dt = 0; dt < 2; dt++) {
        char what[96];
        ad_tensor *x = mk(dt, 3, sh, NULL, -2, 2, 1);
        ad_tensor *w = mk(dt, 1, ws, NULL, 0.5, 2, 0);
        ad_tensor *o, *m, *g;
        double ref[N * D], gx[N * C * D], W = 0, taken = 0, total = 0;
        REQ(ad_nll_full(x, lab, NULL, w, -100, 1, eps, AD_NLL_NONE, &o));
        CHECK(shape_is(o, 2, ps));
        g = mk(dt, 2, ps, NULL, 0.5, 1.5, 0);
        for (int c = 0; c < C; c++) {
            W += at(w, c);
        }
        for (int r = 0; r < N * D; r++) {
            int64_t base = (r / D) * C * D + r % D;
            double mx = -INFINITY, s = 0, sm = 0;
            for (int c = 0; c < C; c++) {
                mx = fmax(mx, at(x, base + c * D));
            }
            for (int c = 0; c < C; c++) {
                s += exp(at(x, base + c * D) - mx);
            }
            double lse = mx + log(s);
            int skip = lab[r] == -100;
            double wy = skip ? 0 : at(w, lab[r]);
            for (int c = 0; c < C; c++) {
                sm += at(w, c) * (lse - at(x, base + c * D));
            }
            ref[r] = skip ? 0 : (1 - eps) * wy * (lse - at(x, base + lab[r]
                                                              * D))
                                + eps / C * sm;
            taken += wy;
            total += ref[r];
            for (int c = 0; c < C; c++) {
                double p = exp(at(x, base + c * D) - lse);
                gx[base + c * D] = skip ? 0 : at(g, r) *
                    ((1 - eps) * wy * (p - (c == lab[r]))
                     + eps / C * (W * p - at(w, c)));
            }
        }
        snprintf(what, sizeof(what), "nll_full forward %s", dtn(dt));
        CLOSE(what, o, ref, N * D, ftol(dt) * 4, ftol(dt));
        REQ(ad_backward(o, g, 0));
        snprintf(what, sizeof(what), "nll_full backward %s", dtn(dt));
        CLOSE(what, x->grad, gx, N * C * D, gtol(dt), gtol(dt));
        double mean = total / taken;
        REQ(ad_nll_full(x, lab, NULL, w, -100, 1, eps, AD_NLL_MEAN, &m));
        snprintf(what, sizeof(what), "nll_full mean %s", dtn(dt));
        CLOSE(what, m, &mean, 1, ftol(dt) * 4, ftol(dt));
        /* a weight of the wrong length, a smoothing out of range */
        ad_tensor *w2 = mk(dt, 1, ps, NULL, 0.5, 2, 0);
        CHECK_ST(ad_nll_full(x, lab, NULL, w2, -100, 1, 0, AD_NLL_NONE,
                             &o), AD_ERR_VALUE);
        CHECK_ST(ad_nll_full(x, lab, NULL, NULL, -100, 1, 1.5, AD_NLL_NONE,
                             &o), AD_ERR_VALUE);
        ad_decref(w2);
        ad_decref(m);
        ad_decref(g);
        ad_decref(o);
        ad_decref(w);
        ad_decref(x);
    }
}

static void
test_nll_reduction(void)
{
    for (int dt = 0; dt < 2; dt++) {
        int64_t xs[2] = {5, 3};
        int64_t lab[5] = {0, 2, 1, 2, 1};
        for (int red = AD_NLL_MEAN; red <= AD_NLL_SUM; red++) {
            ad_tensor *x = mk(dt, 2, xs, NULL, -2, 2, 1), *x2;
            REQ(ad_detach(x, &x2));
            ad_set_requires_grad(x2, 1);
            ad_tensor *o, *per, *sum, *ref;
            REQ(ad_nll(x, lab, 1, 1, red, &o));
            CHECK(o->ndim == 0);
            REQ(ad_nll(x2, lab, 1, 1, AD_NLL_NONE, &per));
            REQ(ad_reduce(AD_R_SUM, per, 1, 0, &sum));
            if (red == AD_NLL_MEAN) {
                REQ(ad_unary(AD_U_DIVC, sum, 3.0, 0, &ref));  /* 3 kept */
                ad_decref(sum);
            }
            else {
                ref = sum;
            }
            CHECK(bits_equal(o, ref));
            REQ(ad_backward(o, NULL, 0));
            REQ(ad_backward(ref, NULL, 0));
            CHECK(bits_equal(x->grad, x2->grad));
            ad_decref(o);
            ad_decref(per);
            ad_decref(ref);
            ad_decref(x);
            ad_decref(x2);
        }
        /* every label ignored: the mean is 0/0 */
        int64_t all[5] = {1, 1, 1, 1, 1};
        ad_tensor *x = mk(dt, 2, xs, NULL, -2, 2, 0), *o;
        REQ(ad_nll(x, all, 1, 1, AD_NLL_MEAN, &o));
        CHECK(isnan(at(o, 0)));
        ad_decref(o);
        CHECK_ST(ad_nll(x, all, 1, 1, 7, &o), AD_ERR_VALUE);
        ad_decref(x);
    }
}

static void
test_dropout(void)
{
    for (int dt = 0; dt < 2; dt++) {
        int64_t sh[2] = {64, 50};
        ad_tensor *x = mk(dt, 2, sh, NULL, 1, 1, 1), *a, *b, *c;
        ad_manual_seed(11);
        REQ(ad_dropout(x, 0.3, &a));
        REQ(ad_dropout(x, 0.3, &b));
        ad_manual_seed(11);
        REQ(ad_dropout(x, 0.3, &c));
        CHECK(bits_equal(a, c) && !bits_equal(a, b));
        int64_t kept = 0;
        int ok = 1;
        double scale = dt == AD_F64 ? 1.0 / 0.7 : (double)(float)(1.0 / 0.7);
        for (int64_t i = 0; i < a->size; i++) {
            double v = at(a, i);
            kept += v != 0;
            ok &= v == 0 || v == scale;
        }
        CHECK(ok);
        CHECKM(kept > 0.66 * a->size && kept < 0.74 * a->size,
               "dropout kept %lld of %lld", (long long)kept,
               (long long)a->size);
        /* the gradient is the mask; x is all ones, so mask == output */
        ad_tensor *seed1 = ones_like(a);
        REQ(ad_backward(a, seed1, 0));
        ad_decref(seed1);
        CHECK(bits_equal(x->grad, a));
        uint64_t seed, off;
        ad_get_rng_state(&seed, &off);
        CHECK(seed == 11 && off > 0);
        CHECK_ST(ad_dropout(x, 1.0, &b), AD_ERR_VALUE);
        CHECK_ST(ad_dropout(x, -0.1, &b), AD_ERR_VALUE);
        ad_decref(a);
        ad_decref(b);
        ad_decref(c);
        ad_decref(x);
    }
}

/* A program: INPUT from an int64 input, ZERO_GRAD, a gradient deposited
 * into the recording's grad tensor again, and AD_RERECORD on a new
 * epoch. */
static void
test_program_contract(void)
{
    int64_t src[4] = {1, 2, 3, 4};
    int64_t sh[1] = {4};
    ad_tensor *w = mk(AD_F64, 1, sh, NULL, -1, 1, 1), *x, *y, *loss, *g;
    ad_program *p;
    REQ(ad_capture_begin(&p));
    REQ(ad_capture_input(p, src, sizeof(src)));
    REQ(ad_empty(AD_F64, 1, sh, &x));
    REQ(ad_fill_from(x, src, AD_SRC_I64));
    CHECK(at(x, 3) == 4.0);
    REQ(ad_zero_grad(w));                       /* no grad yet: nothing */
    REQ(ad_binary(AD_B_MUL, w, x, &y));
    REQ(ad_reduce(AD_R_SUM, y, 1, 0, &loss));
    REQ(ad_backward_sweep(loss, NULL));
    ad_backward_release(loss);
    g = w->grad;                                /* d(w . x)/dw = x */
    ad_incref(g);
    CHECK(at(g, 0) == 1.0 && at(g, 3) == 4.0);
    int64_t bad[4];
    CHECK_ST(ad_fill_from(x, bad, AD_SRC_I64), AD_ERR_STATE); /* not input */
    REQ(ad_capture_end(p));

    /* replay with new data: ZERO_GRAD zeroes g, the backward refills it */
    for (int i = 0; i < 4; i++) {
        src[i] = 10 * (i + 1);
    }
    REQ(ad_program_run(p));
    CHECK(w->grad == g && at(g, 0) == 10.0 && at(g, 3) == 40.0);
    /* .grad cleared between calls: the same tensor comes back */
    REQ(ad_set_grad(w, NULL));
    REQ(ad_program_run(p));
    CHECK(w->grad == g && at(g, 2) == 30.0);
    /* a grad assigned in between is not what the step read: stale */
    ad_tensor *other = mk(AD_F64, 1, sh, NULL, 0, 0, 0);
    REQ(ad_set_grad(w, other));
    CHECK_ST(ad_program_run(p), AD_RERECORD);
    CHECK(at(other, 0) == 0.0);                 /* nothing ran */
    REQ(ad_set_grad(w, NULL));
    REQ(ad_program_run(p));
    /* any change of the epoch makes the program stale */
    ad_bump_epoch();
    CHECK_ST(ad_program_run(p), AD_RERECORD);
    ad_program_free(p);
    ad_decref(other);
    ad_decref(g);
    ad_decref(x);
    ad_decref(y);
    ad_decref(loss);
    REQ(ad_set_grad(w, NULL));
    ad_decref(w);
}

/* ======================================================================== */
/* custom ops, lock hooks, threads                                          */
/* ======================================================================== */

static int g_released, g_bw_calls;

/* backward of y = 3 x: gin[0] = 3 g */
static ad_status
custom_bw(void *ctx, ad_tensor *gout, int nin, ad_tensor **gin)
{
    g_bw_calls++;
    CHECK(nin == 1 && *(int *)ctx == 42);
    return ad_unary(AD_U_MULC, gout, 3.0, 0, &gin[0]);
}

static void
custom_release(void *ctx)
{
    g_released++;
    free(ctx);
}

static void
test_custom(void)
{
    ad_set_custom_hooks(custom_bw, custom_release);
    int64_t sh[1] = {4};
    ad_tensor *x = mk(AD_F64, 1, sh, (double[]){1, 2, 3, 4}, 0, 0, 1), *y, *o,
              *s;
    ad_set_grad_enabled(0);
    REQ(ad_unary(AD_U_MULC, x, 3.0, 0, &y));
    ad_set_grad_enabled(1);
    int *ctx = malloc(sizeof(int));
    *ctx = 42;
    REQ(ad_custom(1, &x, y, ctx, &o));
    CHECK(ad_data(o) == ad_data(y));
    ad_node_info info;
    REQ(ad_node(o, &info));
    CHECK(info.op == AD_OP_CUSTOM && info.ext == ctx);
    REQ(ad_reduce(AD_R_SUM, o, 1, 0, &s));
    REQ(ad_backward(s, NULL, 0));
    CHECK(g_bw_calls == 1);
    CLOSE("custom backward", x->grad, ((double[]){3, 3, 3, 3}), 4, 0, 0);
    CHECK(g_released == 1);         /* consumed by backward */
    ad_decref(s);
    ad_decref(o);
    /* a capture refuses it, releasing the context */
    ad_program *p;
    REQ(ad_capture_begin(&p));
    ctx = malloc(sizeof(int));
    CHECK_ST(ad_custom(1, &x, y, ctx, &o), AD_ERR_STATE);
    CHECK(g_released == 2);
    ad_program_free(p);
    /* not recorded (no grad): released at once */
    ad_tensor *c = mk(AD_F64, 1, sh, NULL, -1, 1, 0);
    ctx = malloc(sizeof(int));
    REQ(ad_custom(1, &c, y, ctx, &o));
    CHECK(g_released == 3 && ad_is_leaf(o));
    ad_decref(o);
    ad_decref(c);
    ad_decref(y);
    ad_decref(x);
    ad_set_custom_hooks(NULL, NULL);
}

static int g_unlocks, g_relocks;

static void *
hook_unlock(void)
{
    g_unlocks++;
    return &g_unlocks;
}

static void
hook_relock(void *st)
{
    CHECK(st == &g_unlocks);
    g_relocks++;
}

static void
test_lock_hooks(void)
{
    int64_t big[1] = {40000}, small[1] = {100};
    ad_tensor *x = mk(AD_F32, 1, big, NULL, -1, 1, 0), *y;
    ad_tensor *t = mk(AD_F32, 1, small, NULL, -1, 1, 0);
    REQ(ad_unary(AD_U_EXP, x, 0, 0, &y));   /* no hooks: nothing happens */
    ad_decref(y);
    ad_set_lock_hooks(hook_unlock, hook_relock);
    REQ(ad_unary(AD_U_EXP, x, 0, 0, &y));
    CHECK(g_unlocks == 1 && g_relocks == 1);
    ad_decref(y);
    REQ(ad_unary(AD_U_EXP, t, 0, 0, &y));   /* too small to unlock */
    CHECK(g_unlocks == 1 && g_relocks == 1);
    ad_decref(y);
    ad_set_lock_hooks(NULL, NULL);
    ad_decref(t);
    ad_decref(x);
}

static void *
thread_body(void *arg)
{
    ad_tensor **out = arg;
    int64_t sh[1] = {8};
    ad_tensor *x = mk(AD_F64, 1, sh, NULL, -1, 1, 1);
    if (ad_unary(AD_U_SIN, x, 0, 0, &out[0]) == AD_OK) {
        /* a graph of its own, used and freed on this thread */
        ad_tensor *s;
        if (ad_reduce(AD_R_SUM, out[0], 1, 0, &s) == AD_OK) {
            ad_backward(s, NULL, 1);
            ad_decref(s);
        }
    }
    out[1] = x;
    return NULL;
}

static void
test_threads(void)
{
    ad_tensor *res[2] = {NULL, NULL};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, thread_body, res) == 0);
    pthread_join(th, NULL);
    if (!res[0] || !res[1]) {
        CHECK(0);
        return;
    }
    /* the worker's tape outlives the worker while its records live */
    ad_tensor *y = res[0], *z = NULL;
    CHECK(!ad_is_leaf(y) && res[1]->grad != NULL);
    CHECK_ST(ad_unary(AD_U_EXP, y, 0, 0, &z), AD_ERR_STATE);
    CHECK(z == NULL && strstr(ad_last_error(), "another thread"));
    CHECK_ST(ad_backward(y, NULL, 0), AD_ERR_STATE);
    ad_tensor *d;
    REQ(ad_detach(y, &d));
    CHECK(ad_is_leaf(d) && ad_data(d) == ad_data(y));
    ad_decref(d);
    ad_decref(y);                   /* kills the last record: tape freed */
    ad_decref(res[1]);
    CHECKM(stats().tape_records == 0, "tape records %lld",
           (long long)stats().tape_records);
}


/* ======================================================================== */
/* re-entrancy: Python-like hooks that record and free; the pool's classes  */
/* ======================================================================== */

static ad_tensor *g_kept;       /* a chain a hook keeps alive */
static int g_hook_refused, g_rel_calls;

static ad_tensor *
chain(int64_t n, double v)
{
    int64_t sh[1] = {2};
    ad_tensor *a = mk(AD_F64, 1, sh, (double[]){v, v}, 0, 0, 1), *b;
    for (int64_t i = 0; i < n; i++) {
        if (ad_unary(AD_U_MULC, a, 1.0, 0, &b)) {
            break;
        }
        ad_decref(a);
        a = b;
    }
    return a;
}

static void
keep(ad_tensor *t)
{
    ad_tensor *old = g_kept;
    g_kept = t;
    ad_decref(old);
}

/* backward of y = 3 h, where ctx is h itself (a non-leaf of the graph
 * being swept): records a long chain on fresh leaves (the sweep's tape
 * must not move), and tries an op on h with grad (refused). */
static ad_status
recording_bw(void *ctx, ad_tensor *gout, int nin, ad_tensor **gin)
{
    (void)nin;
    keep(chain(5000, 7.0));
    ad_tensor *z = NULL;
    if (ad_unary(AD_U_NEG, (ad_tensor *)ctx, 0, 0, &z) == AD_ERR_STATE &&
        z == NULL && strstr(ad_last_error(), "graph being differentiated")) {
        g_hook_refused++;
    }
    return ad_unary(AD_U_MULC, gout, 3.0, 0, &gin[0]);
}

/* Release of a context that is a tensor reference: records a chain (the
 * tape grows and may compact) and frees the tensor. */
static void
recording_release(void *ctx)
{
    g_rel_calls++;
    keep(chain(3000, 5.0));
    ad_decref((ad_tensor *)ctx);
}

static void
test_reentrant_hooks(void)
{
    ad_set_custom_hooks(recording_bw, recording_release);
    int64_t sh[1] = {4};
    ad_tensor *x = mk(AD_F64, 1, sh, (double[]){1, 2, 3, 4}, 0, 0, 1);
    for (int it = 0; it < 3; it++) {
        ad_tensor *h, *y, *o, *s;
        REQ(ad_unary(AD_U_MULC, x, 2.0, 0, &h));
        ad_set_grad_enabled(0);
        REQ(ad_unary(AD_U_MULC, h, 3.0, 0, &y));
        ad_set_grad_enabled(1);
        ad_incref(h);                   /* the context holds h */
        REQ(ad_custom(1, &h, y, h, &o));
        REQ(ad_reduce(AD_R_SUM, o, 1, 0, &s));
        ad_decref(y);
        ad_decref(o);
        ad_decref(h);
        REQ(ad_backward(s, NULL, 0));   /* releases the context */
        ad_decref(s);
    }
    CHECK(g_hook_refused == 3 && g_rel_calls == 3);
    CLOSE("recording backward", x->grad, ((double[]){18, 18, 18, 18}), 4, 0,
          0);
    CLOSE("kept chain", g_kept, ((double[]){5, 5}), 2, 0, 0);
    /* the drop cascade: contexts released mid-free record and free */
    for (int it = 0; it < 20; it++) {
        ad_tensor *h, *y, *o, *o2;
        REQ(ad_unary(AD_U_MULC, x, 2.0, 0, &h));
        ad_set_grad_enabled(0);
        REQ(ad_unary(AD_U_MULC, h, 3.0, 0, &y));
        ad_set_grad_enabled(1);
        ad_incref(h);
        REQ(ad_custom(1, &h, y, h, &o));
        REQ(ad_unary(AD_U_NEG, o, 0, 0, &o2));
        ad_decref(y);
        ad_decref(o);
        ad_decref(h);
        ad_decref(o2);                  /* o2 -> o (context) -> h */
    }
    CHECK(g_rel_calls == 23);
    CLOSE("kept chain", g_kept, ((double[]){5, 5}), 2, 0, 0);
    keep(NULL);
    ad_set_grad(x, NULL);
    ad_decref(x);
    ad_set_custom_hooks(NULL, NULL);
    CHECKM(stats().tape_live == 0, "%lld live records",
           (long long)stats().tape_live);
}

static void
test_grad_field(void)
{
    int64_t sh[1] = {2};
    ad_tensor *x = mk(AD_F64, 1, sh, NULL, 0, 1, 0);
    ad_tensor *y = mk(AD_F64, 1, sh, NULL, 0, 1, 0);
    ad_tensor *z = mk(AD_F64, 1, sh, NULL, 0, 1, 0);
    CHECK(ad_get_grad(x) == NULL);
    REQ(ad_set_grad(x, y));
    REQ(ad_set_grad(y, z));
    CHECK_ST(ad_set_grad(z, x), AD_ERR_VALUE);
    CHECK(z->grad == NULL && strstr(ad_last_error(), "cycle"));
    CHECK_ST(ad_set_grad(y, y), AD_ERR_VALUE);
    CHECK(y->grad == z);
    ad_tensor *g = ad_get_grad(x);
    CHECK(g == y && y->refcnt == 3);
    ad_decref(g);
    REQ(ad_set_grad(x, NULL));
    REQ(ad_set_grad(z, x));             /* no cycle any more */
    REQ(ad_set_grad(z, NULL));
    REQ(ad_set_grad(y, NULL));
    CHECK(x->refcnt == 1 && y->refcnt == 1 && z->refcnt == 1);
    ad_decref(x);
    ad_decref(y);
    ad_decref(z);
}

static void
test_pool_classes(void)
{
    /* above 1 MiB: classes 1/8 of a power of two apart */
    static const int64_t sizes[] = {131073, 150000, 400000, 700001,
                                    1048577, 2500000, 4200000};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        ad_pool_trim();         /* stay under this thread's pool cap */
        ad_memory_stats m0 = stats();
        ad_tensor *t;
        REQ(ad_empty(AD_F64, 1, &sizes[i], &t));
        int64_t used = stats().bytes_in_use - m0.bytes_in_use;
        CHECKM(used >= 8 * sizes[i] && used <= 8 * sizes[i] / 8 * 9,
               "%lld bytes take %lld", (long long)(8 * sizes[i]),
               (long long)used);
        ad_decref(t);
        /* the same size again: from the pool */
        m0 = stats();
        REQ(ad_empty(AD_F64, 1, &sizes[i], &t));
        CHECKM(stats().allocations == m0.allocations, "size %lld: %lld "
               "allocations", (long long)sizes[i],
               (long long)(stats().allocations - m0.allocations));
        ad_decref(t);
    }
    /* 256 MiB and more: not pooled (the pages are never touched) */
    int64_t big[1] = {((int64_t)300 << 20) / 8};
    ad_memory_stats m0 = stats();
    ad_tensor *t;
    REQ(ad_empty(AD_F64, 1, big, &t));
    ad_memory_stats m1 = stats();
    CHECK(m1.bytes_in_use - m0.bytes_in_use == (int64_t)300 << 20);
    ad_decref(t);
    ad_memory_stats m2 = stats();
    CHECK(m2.frees == m1.frees + 1 && m2.bytes_pooled == m0.bytes_pooled);
}

/* ======================================================================== */
/* threads (no GIL here: every call may overlap)                            */
/* ======================================================================== */

#define NTHR 2
static pthread_barrier_t g_bar;
static ad_tensor *g_W, *g_X[NTHR];
static int g_titers;

/* loss = sum((x W)^2) + 3 sum(x W): integer-valued, so sums are exact */
static ad_status
shared_step(ad_tensor *W, ad_tensor *x)
{
    ad_tensor *h, *h2, *s1, *s2, *t, *s3;
    ad_status s;
    if ((s = ad_matmul(x, W, &h))) {
        return s;
    }
    if ((s = ad_unary(AD_U_SQUARE, h, 0, 0, &h2)) == AD_OK) {
        if ((s = ad_reduce(AD_R_SUM, h2, 3, 0, &s1)) == AD_OK) {
            if ((s = ad_unary(AD_U_MULC, h, 3.0, 0, &t)) == AD_OK) {
                if ((s = ad_reduce(AD_R_SUM, t, 3, 0, &s2)) == AD_OK) {
                    if ((s = ad_binary(AD_B_ADD, s1, s2, &s3)) == AD_OK) {
                        s = ad_backward(s3, NULL, 0);
                        ad_decref(s3);
                    }
                    ad_decref(s2);
                }
                ad_decref(t);
            }
            ad_decref(s1);
        }
        ad_decref(h2);
    }
    ad_decref(h);
    return s;
}

static void *
shared_body(void *arg)
{
    int k = (int)(intptr_t)arg;
    ad_status s = AD_OK;
    pthread_barrier_wait(&g_bar);
    for (int i = 0; i < g_titers && s == AD_OK; i++) {
        s = shared_step(g_W, g_X[k]);
    }
    return (void *)(intptr_t)s;
}

static volatile int g_stop;

static void *
reset_body(void *arg)
{
    (void)arg;
    int i = 0;
    pthread_barrier_wait(&g_bar);
    while (!__atomic_load_n(&g_stop, __ATOMIC_ACQUIRE)) {
        if (i++ % 2) {
            ad_set_grad(g_W, NULL);
        }
        else {
            ad_zero_grad(g_W);
        }
        ad_decref(ad_get_grad(g_W));
    }
    return NULL;
}

/* A producer records graphs and hands their outputs to a consumer that
 * frees them (on the producer's tape: queued for the producer). */
#define RING 16
static ad_tensor *g_ring[RING];
static int g_rhead, g_rtail, g_rdone;
static pthread_mutex_t g_rlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_rcond = PTHREAD_COND_INITIALIZER;
static int64_t g_prod_live;

static void
ring_put(ad_tensor *t)
{
    pthread_mutex_lock(&g_rlock);
    while (g_rhead - g_rtail == RING) {
        pthread_cond_wait(&g_rcond, &g_rlock);
    }
    g_ring[g_rhead++ % RING] = t;
    pthread_cond_broadcast(&g_rcond);
    pthread_mutex_unlock(&g_rlock);
}

static ad_tensor *
ring_get(void)
{
    pthread_mutex_lock(&g_rlock);
    while (g_rhead == g_rtail) {
        pthread_cond_wait(&g_rcond, &g_rlock);
    }
    ad_tensor *t = g_ring[g_rtail++ % RING];
    pthread_cond_broadcast(&g_rcond);
    pthread_mutex_unlock(&g_rlock);
    return t;
}

static void *
producer_body(void *arg)
{
    ad_tensor **left = arg;     /* outputs left alive for the main thread */
    pthread_barrier_wait(&g_bar);
    for (int i = 0; i < g_titers; i++) {
        ad_tensor *h, *o;
        if (ad_matmul(g_X[0], g_W, &h)) {
            break;
        }
        if (ad_unary(AD_U_TANH, h, 0, 0, &o) == AD_OK) {
            ring_put(o);
        }
        ad_decref(h);
        shared_step(g_W, g_X[0]);
    }
    ring_put(NULL);
    pthread_mutex_lock(&g_rlock);
    while (!g_rdone) {
        pthread_cond_wait(&g_rcond, &g_rlock);
    }
    pthread_mutex_unlock(&g_rlock);
    ad_tensor *y;
    if (ad_unary(AD_U_NEG, g_W, 0, 0, &y) == AD_OK) {   /* takes the queue */
        ad_memory_stats m;
        ad_get_memory_stats(&m);
        g_prod_live = m.tape_live;
        ad_decref(y);
    }
    /* two graphs outlive this thread */
    ad_matmul(g_X[0], g_W, &left[0]);
    ad_unary(AD_U_EXP, left[0], 0, 0, &left[1]);
    return NULL;
}

static void *
consumer_body(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&g_bar);
    ad_tensor *t;
    while ((t = ring_get()) != NULL) {
        ad_decref(t);
    }
    pthread_mutex_lock(&g_rlock);
    g_rdone = 1;
    pthread_cond_broadcast(&g_rcond);
    pthread_mutex_unlock(&g_rlock);
    return NULL;
}

/* Frees 1 MiB buffers made on another thread; reports its pool's growth. */
static ad_tensor *g_loaded[96];
static int64_t g_pool_growth;

static void *
pool_consumer_body(void *arg)
{
    (void)arg;
    ad_memory_stats m0;
    ad_get_memory_stats(&m0);
    for (int i = 0; i < 96; i++) {
        ad_decref(g_loaded[i]);
    }
    ad_memory_stats m1;
    ad_get_memory_stats(&m1);
    g_pool_growth = m1.bytes_pooled - m0.bytes_pooled;
    return NULL;
}

static void
test_thread_model(void)
{
    int64_t ws[2] = {24, 24}, xs[2] = {6, 24};
    g_titers = g_quick ? 10 : 200;
    double *wv = malloc(sizeof(double) * 24 * 24);
    double *xv = malloc(sizeof(double) * 6 * 24);
    for (int i = 0; i < 24 * 24; i++) {
        wv[i] = (double)(i * 7 % 7) - 3;
    }
    g_W = mk(AD_F64, 2, ws, wv, 0, 0, 1);
    for (int k = 0; k < NTHR; k++) {
        for (int i = 0; i < 6 * 24; i++) {
            xv[i] = (double)((i + k) % 5) - 2;
        }
        g_X[k] = mk(AD_F64, 2, xs, xv, 0, 0, 0);
    }
    ad_tensor *W1 = mk(AD_F64, 2, ws, wv, 0, 0, 1);

    /* concurrent backward over a shared leaf sums every contribution */
    pthread_t th[NTHR + 1];
    pthread_barrier_init(&g_bar, NULL, NTHR);
    for (int k = 0; k < NTHR; k++) {
        pthread_create(&th[k], NULL, shared_body, (void *)(intptr_t)k);
    }
    for (int k = 0; k < NTHR; k++) {
        void *rv;
        pthread_join(th[k], &rv);
        CHECK(rv == (void *)(intptr_t)AD_OK);
    }
    pthread_barrier_destroy(&g_bar);
    for (int k = 0; k < NTHR; k++) {
        for (int i = 0; i < g_titers; i++) {
            REQ(shared_step(W1, g_X[k]));
        }
    }
    double *want = vals(W1->grad);
    CHECK(g_W->grad && same_vals(g_W->grad, want));

    /* .grad = None / zero_grad on another thread: deposits land whole */
    ad_tensor *W2 = mk(AD_F64, 2, ws, wv, 0, 0, 1);
    REQ(shared_step(W2, g_X[0]));
    double *unit = vals(W2->grad);
    ad_set_grad(g_W, NULL);
    pthread_barrier_init(&g_bar, NULL, 2);
    g_stop = 0;
    pthread_create(&th[0], NULL, reset_body, NULL);
    pthread_barrier_wait(&g_bar);
    for (int i = 0; i < g_titers; i++) {
        REQ(shared_step(g_W, g_X[0]));
    }
    __atomic_store_n(&g_stop, 1, __ATOMIC_RELEASE);
    pthread_join(th[0], NULL);
    pthread_barrier_destroy(&g_bar);
    if (g_W->grad) {
        double k = -1;
        int ok = 1;
        for (int64_t i = 0; i < 24 * 24; i++) {
            if (unit[i] != 0) {
                double ki = at(g_W->grad, i) / unit[i];
                if (k < 0) {
                    k = ki;
                }
                ok &= ki == k && ki == floor(ki) && ki <= g_titers;
            }
        }
        CHECKM(ok, "grad is not a whole number of backward passes");
    }
    free(unit);
    ad_decref(W2);

    /* frees on another thread: queued for the owner, which reclaims
     * them; graphs that outlive their thread are freed here */
    ad_tensor *left[2] = {NULL, NULL};
    g_rhead = g_rtail = g_rdone = 0;
    pthread_barrier_init(&g_bar, NULL, 2);
    pthread_create(&th[0], NULL, producer_body, left);
    pthread_create(&th[1], NULL, consumer_body, NULL);
    pthread_join(th[0], NULL);
    pthread_join(th[1], NULL);
    pthread_barrier_destroy(&g_bar);
    CHECKM(g_prod_live <= 2, "the producer's tape keeps %lld live records",
           (long long)g_prod_live);
    CHECK(left[0] && left[1] && !ad_is_leaf(left[1]));
    ad_tensor *z = NULL;
    CHECK_ST(ad_unary(AD_U_EXP, left[1], 0, 0, &z), AD_ERR_STATE);
    ad_decref(left[0]);
    ad_decref(left[1]);         /* the orphaned tape dies with them */

    /* a consumer thread's pool stays bounded */
    int64_t mb[1] = {131072};
    for (int i = 0; i < 96; i++) {
        REQ(ad_empty(AD_F64, 1, mb, &g_loaded[i]));
    }
    pthread_create(&th[0], NULL, pool_consumer_body, NULL);
    pthread_join(th[0], NULL);
    CHECKM(g_pool_growth <= ((int64_t)64 << 20), "a consumer pooled %lld "
           "bytes", (long long)g_pool_growth);

    free(want);
    free(wv);
    free(xv);
    ad_set_grad(g_W, NULL);
    ad_set_grad(W1, NULL);
    ad_decref(W1);
    ad_decref(g_W);
    for (int k = 0; k < NTHR; k++) {
        ad_decref(g_X[k]);
    }
}

/* ======================================================================== */

/* cumsum along each axis of a (2, 3, 4) tensor against a plain loop; its
 * gradient for seed w is the reverse running sum of w. */
static void
test_cumsum(void)
{
    int64_t sh[3] = {2, 3, 4};
    for (int dt = 0; dt < 2; dt++) {
        for (int axis = 0; axis < 3; axis++) {
            for (int rev = 0; rev < 2; rev++) {
                ad_tensor *x = mk(dt, 3, sh, NULL, -2, 2, 1), *y, *w;
                REQ(ad_cumsum(x, axis, rev, &y));
                w = mk(dt, 3, sh, NULL, -1, 1, 0);
                REQ(ad_backward(y, w, 0));
                int64_t st[3] = {12, 4, 1};
                double tol = dt == AD_F64 ? 1e-12 : 1e-5;
                for (int64_t i = 0; i < 24; i++) {
                    int64_t k = i / st[axis] % sh[axis];
                    double acc = 0, gacc = 0;
                    for (int64_t j = 0; j < sh[axis]; j++) {
                        int64_t pos = i + (j - k) * st[axis];
                        if (rev ? j >= k : j <= k) {
                            acc += at(x, pos);
                        }
                        if (rev ? j <= k : j >= k) {
                            gacc += at(w, pos);
                        }
                    }
                    CHECKM(fabs(at(y, i) - acc) <= tol,
                           "cumsum axis %d rev %d at %lld", axis, rev,
                           (long long)i);
                    CHECKM(fabs(at(x->grad, i) - gacc) <= tol,
                           "cumsum grad axis %d rev %d at %lld", axis, rev,
                           (long long)i);
                }
                ad_decref(w);
                ad_decref(y);
                ad_decref(x);
            }
        }
    }
    ad_tensor *x = mk(AD_F64, 3, sh, NULL, 0, 1, 0), *y = NULL;
    CHECK_ST(ad_cumsum(x, 3, 0, &y), AD_ERR_INDEX);
    CHECK(strstr(ad_last_error(), "cumsum: dim 3") != NULL);
    ad_decref(x);
}

/* cumprod along each axis of a (2, 3, 4) tensor with zeros (none, one and
 * two per line) against plain loops: y_k = prod_{j<=k} x_j and the
 * gradient sum_{k>=i} w_k prod_{j<=k, j!=i} x_j (from the end when
 * reverse); int64 wraps; cumarg's indices (ties later, NaN sticks). */
static void
test_cumprod(void)
{
    int64_t sh[3] = {2, 3, 4};
    for (int dt = 0; dt < 2; dt++) {
        for (int axis = 0; axis < 3; axis++) {
            for (int rev = 0; rev < 2; rev++) {
                ad_tensor *x = mk(dt, 3, sh, NULL, -2, 2, 1), *y, *w;
                /* zeros: 1 at 5, 2 at 13 and 21 (lines along any axis) */
                for (int z = 0; z < 3; z++) {
                    int64_t p = (int64_t[]){5, 13, 21}[z];
                    if (dt == AD_F64) {
                        ((double *)ad_data(x))[p] = 0;
                    }
                    else {
                        ((float *)ad_data(x))[p] = 0;
                    }
                }
                REQ(ad_cumprod(x, axis, rev, &y));
                w = mk(dt, 3, sh, NULL, -1, 1, 0);
                REQ(ad_backward(y, w, 0));
                int64_t st[3] = {12, 4, 1};
                double tol = dt == AD_F64 ? 1e-12 : 1e-5;
                for (int64_t i = 0; i < 24; i++) {
                    int64_t k = i / st[axis] % sh[axis];
                    double acc = 1, gacc = 0;
                    for (int64_t j = 0; j < sh[axis]; j++) {
                        int64_t pos = i + (j - k) * st[axis];
                        if (rev ? j >= k : j <= k) {
                            acc *= at(x, pos);
                        }
                        if (rev ? j <= k : j >= k) {
                            double p = 1;   /* prod over the prefix of j */
                            for (int64_t l = 0; l < sh[axis]; l++) {
                                int64_t lp = i + (l - k) * st[axis];
                                if ((rev ? l >= j : l <= j) && l != k) {
                                    p *= at(x, lp);
                                }
                            }
                            gacc += at(w, pos) * p;
                        }
                    }
                    CHECKM(fabs(at(y, i) - acc) <= tol,
                           "cumprod axis %d rev %d at %lld", axis, rev,
                           (long long)i);
                    CHECKM(fabs(at(x->grad, i) - gacc) <= tol,
                           "cumprod grad axis %d rev %d at %lld: %g vs %g",
                           axis, rev, (long long)i, at(x->grad, i), gacc);
                }
                ad_decref(w);
                ad_decref(y);
                ad_decref(x);
            }
        }
    }
    ad_tensor *x = mk(AD_F64, 3, sh, NULL, 0, 1, 0), *y = NULL;
    CHECK_ST(ad_cumprod(x, 3, 0, &y), AD_ERR_INDEX);
    CHECK(strstr(ad_last_error(), "cumprod: dim 3") != NULL);
    CHECK_ST(ad_cumarg(x, -1, 1, &y), AD_ERR_INDEX);
    ad_decref(x);
    /* int64: wraps (2^62 * 4 = 0 mod 2^64) */
    int64_t n3[1] = {3};
    ad_tensor *xi;
    REQ(ad_new(AD_I64, 1, n3, &xi));
    int64_t *xv = ad_data(xi);
    xv[0] = (int64_t)1 << 62;
    xv[1] = -3;
    xv[2] = 4;
    REQ(ad_cumprod(xi, 0, 0, &y));
    CHECK(((int64_t *)ad_data(y))[1] == (int64_t)((uint64_t)1 << 62) * -3
          && ((int64_t *)ad_data(y))[2] == 0);
    ad_decref(y);
    REQ(ad_reduce(AD_R_PROD, xi, 1, 0, &y));
    CHECK(((int64_t *)ad_data(y))[0] == 0);
    ad_decref(y);
    REQ(ad_cumsum(xi, 0, 1, &y));       /* reverse: 2^62 + 1 at 0 */
    CHECK(((int64_t *)ad_data(y))[2] == 4 && ((int64_t *)ad_data(y))[1] == 1
          && ((int64_t *)ad_data(y))[0] == ((int64_t)1 << 62) + 1);
    ad_decref(y);
    ad_decref(xi);
    /* cumarg: [1, 3, 3, 2, nan, 5, nan, 1] */
    int64_t n8[1] = {8};
    ad_tensor *xf = mk(AD_F64, 1, n8, (double[]){1, 3, 3, 2, NAN, 5, NAN, 1},
                       0, 0, 0);
    int64_t want[2][8] = {{0, 1, 2, 2, 4, 4, 6, 6}, {0, 0, 0, 0, 4, 4, 6, 6}};
    for (int mx = 1; mx >= 0; mx--) {
        REQ(ad_cumarg(xf, 0, mx, &y));
        CHECK(y->dtype == AD_I64);
        for (int j = 0; j < 8; j++) {
            CHECKM(((int64_t *)ad_data(y))[j] == want[1 - mx][j],
                   "cumarg %d at %d", mx, j);
        }
        ad_decref(y);
    }
    ad_decref(xf);
}

/* The registry: names, kinds and attributes come from one list, and each
 * definition carries its own code. */
static void
test_registry(void)
{
    CHECK(ad_op_count() == AD_OP_COUNT);
    CHECK(!strcmp(ad_op_name(AD_OP_UNARY), "unary"));
    CHECK(!strcmp(ad_op_name(AD_OP_DROPOUT), "dropout"));
    CHECK(ad_op_name(AD_OP_COUNT) == NULL && ad_op_name(-1) == NULL);
    CHECK(ad_op_kinds(AD_OP_UNARY) == AD_U_COUNT);
    CHECK(ad_op_kinds(AD_OP_BINARY) == AD_B_COUNT);
    CHECK(ad_op_kinds(AD_OP_REDUCE) == AD_R_COUNT);
    CHECK(ad_op_kinds(AD_OP_LOSS) == AD_L_COUNT);
    CHECK(ad_op_kinds(AD_OP_MATMUL) == 0);
    CHECK(!strcmp(ad_kind_name(AD_OP_UNARY, AD_U_ERF), "erf"));
    CHECK(!strcmp(ad_kind_name(AD_OP_REDUCE, AD_R_MAX), "max"));
    CHECK(ad_kind_name(AD_OP_UNARY, AD_U_COUNT) == NULL);
    CHECK(ad_kind_flags(AD_OP_UNARY, AD_U_TANH) & AD_K_SAVES_OUT);
    CHECK(!(ad_kind_flags(AD_OP_UNARY, AD_U_SIN) & AD_K_SAVES_OUT));
    CHECK(!strcmp(ad_kind_param(AD_OP_UNARY, AD_U_SOFTPLUS, 1),
                  "threshold"));
    CHECK(ad_kind_param(AD_OP_UNARY, AD_U_EXP, 0) == NULL);
    CHECK(ad_op_nattrs(AD_OP_SOFTMAX) == 2);
    CHECK(!strcmp(ad_op_attr(AD_OP_SOFTMAX, 0)->name, "axis"));
    CHECK(ad_op_attr(AD_OP_SOFTMAX, 2) == NULL);
    CHECK(ad_op_saved(AD_OP_GATHER) == AD_SAVED_IDX_OUT);
    CHECK(ad_op_arity(AD_OP_CONCAT) == -1 && ad_op_arity(AD_OP_WHERE) == 2);
    /* each definition's code is its place in AD_OPS */
    int64_t shape[1] = {3};
    ad_tensor *x, *y;
    ad_node_info info;
    REQ(ad_full(AD_F64, 1, shape, 1.0, &x));
    ad_set_requires_grad(x, 1);
    REQ(ad_softmax(x, 0, 1, &y));
    REQ(ad_node(y, &info));
    CHECK(info.op == AD_OP_SOFTMAX && info.attrs.softmax.axis == 0 &&
          info.attrs.softmax.log == 1 && info.saved == NULL);
    ad_decref(y);
    ad_decref(x);
}

/* ---- naive LAPACK getrf/getrs: column-major, Fortran convention ------- */

#define NAIVE_GETRF(NAME, T)                                               \
    static void NAME(int *m, int *n, T *a, int *lda, int *ipiv, int *info)  \
    {                                                                       \
        int N = *n < *m ? *n : *m, ld = *lda;                               \
        *info = 0;                                                          \
        for (int j = 0; j < N; j++) {                                       \
            int p = j;                                                      \
            for (int i = j + 1; i < *m; i++) {                              \
                if (fabs((double)a[i + j * ld]) >                           \
                    fabs((double)a[p + j * ld])) {                          \
                    p = i;                                                  \
                }                                                           \
            }                                                               \
            ipiv[j] = p + 1;                                                \
            if (p != j) {                                                   \
                for (int c = 0; c < *n; c++) {                              \
                    T t = a[j + c * ld];                                    \
                    a[j + c * ld] = a[p + c * ld];                          \
                    a[p + c * ld] = t;                                      \
                }                                                           \
            }                                                               \
            if (a[j + j * ld] == 0) {                                       \
                if (!*info) {                                               \
                    *info = j + 1;                                          \
                }                                                           \
                continue;                                                   \
            }                                                               \
            for (int i = j + 1; i < *m; i++) {                              \
                a[i + j * ld] /= a[j + j * ld];                             \
                for (int c = j + 1; c < *n; c++) {                          \
                    a[i + c * ld] -= a[i + j * ld] * a[j + c * ld];         \
                }                                                           \
            }                                                               \
        }                                                                   \
    }
NAIVE_GETRF(naive_sgetrf_, float)
NAIVE_GETRF(naive_dgetrf_, double)

/* trans 'N': solve A x = b with P A = L U; 'T': A^T x = b. */
#define NAIVE_GETRS(NAME, T)                                               \
    static void NAME(char *tr, int *n, int *nrhs, T *a, int *lda,           \
                     int *ipiv, T *b, int *ldb, int *info)                  \
    {                                                                       \
        int N = *n, ld = *lda;                                              \
        *info = 0;                                                          \
        for (int r = 0; r < *nrhs; r++) {                                   \
            T *x = b + (int64_t)r * *ldb;                                   \
            if (*tr == 'N') {                                               \
                for (int i = 0; i < N; i++) {                               \
                    T t = x[i];                                             \
                    x[i] = x[ipiv[i] - 1];                                  \
                    x[ipiv[i] - 1] = t;                                     \
                }                                                           \
                for (int i = 0; i < N; i++)                                 \
                    for (int k = 0; k < i; k++)                             \
                        x[i] -= a[i + k * ld] * x[k];                       \
                for (int i = N - 1; i >= 0; i--) {                          \
                    for (int k = i + 1; k < N; k++)                         \
                        x[i] -= a[i + k * ld] * x[k];                       \
                    x[i] /= a[i + i * ld];                                  \
                }                                                           \
            }                                                               \
            else {              /* U^T y = b, L^T z = y, x = P^T z */       \
                for (int i = 0; i < N; i++) {                               \
                    for (int k = 0; k < i; k++)                             \
                        x[i] -= a[k + i * ld] * x[k];                       \
                    x[i] /= a[i + i * ld];                                  \
                }                                                           \
                for (int i = N - 1; i >= 0; i--)                            \
                    for (int k = i + 1; k < N; k++)                         \
                        x[i] -= a[k + i * ld] * x[k];                       \
                for (int i = N - 1; i >= 0; i--) {                          \
                    T t = x[i];                                             \
                    x[i] = x[ipiv[i] - 1];                                  \
                    x[ipiv[i] - 1] = t;                                     \
                }                                                           \
            }                                                               \
        }                                                                   \
    }
NAIVE_GETRS(naive_sgetrs_, float)
NAIVE_GETRS(naive_dgetrs_, double)

static void
lapack_unused(void)
{
    fprintf(stderr, "a LAPACK routine the C tests do not provide was "
            "called\n");
    abort();
}

/* inv, solve and det through the naive getrf/getrs, their gradients
 * against the formulas, and the singular-matrix errors (torch's text). */
static void
test_linalg(void)
{
    ad_memory_stats m0 = stats();
    int64_t s3[3] = {2, 3, 3}, sb[3] = {2, 3, 2}, s2[2] = {2, 2};
    double av[18] = {4, 1, 0, 1, 3, 1, 0, 1, 2,
                     2, -1, 0, 0, 5, 1, 3, 0, 4};
    ad_tensor *o = NULL;
    CHECK_ST(ad_linalg(AD_LA_INV, 1, &o, 0, 0, &o), AD_ERR_NOBLAS);
    CHECK(strstr(ad_last_error(), "LAPACK") != NULL);
    for (int i = 0; i < AD_LAPACK_COUNT; i++) {
        CHECK(ad_lapack_name(i) != NULL);
        ad_set_lapack(i, (void *)lapack_unused, (void *)lapack_unused);
    }
    CHECK(ad_lapack_name(AD_LAPACK_COUNT) == NULL);
    ad_set_lapack(AD_LAPACK_getrf, (void *)naive_sgetrf_,
                  (void *)naive_dgetrf_);
    ad_set_lapack(AD_LAPACK_getrs, (void *)naive_sgetrs_,
                  (void *)naive_dgetrs_);
    for (int dt = AD_F32; dt <= AD_F64; dt++) {
        double tol = dt == AD_F64 ? 1e-12 : 1e-4;
        ad_tensor *a = mk(dt, 3, s3, av, 0, 0, 1), *x, *d, *l, *bm, *sx;
        ad_tensor *ones;
        REQ(ad_linalg(AD_LA_INV, 1, &a, 0, 0, &x));
        /* A X = I, and d(sum X)/dA = -X^T 1 X^T */
        for (int b = 0; b < 2; b++) {
            for (int i = 0; i < 3; i++) {
                for (int j = 0; j < 3; j++) {
                    double s = 0;
                    for (int k = 0; k < 3; k++) {
                        s += av[b * 9 + i * 3 + k] * at(x, b * 9 + k * 3 + j);
                    }
                    CHECK(fabs(s - (i == j)) < tol);
                }
            }
        }
        ones = ones_like(x);
        REQ(ad_backward(x, ones, 0));
        for (int b = 0; b < 2; b++) {
            double rs[3] = {0}, cs[3] = {0};  /* row/col sums of X */
            for (int i = 0; i < 3; i++) {
                for (int j = 0; j < 3; j++) {
                    rs[i] += at(x, b * 9 + i * 3 + j);
                    cs[j] += at(x, b * 9 + i * 3 + j);
                }
            }
            for (int i = 0; i < 3; i++) {
                for (int j = 0; j < 3; j++) {
                    /* (X^T 1 X^T)_ij = cs_i rs_j */
                    CHECK(fabs(at(a->grad, b * 9 + i * 3 + j) +
                               cs[i] * rs[j]) < tol * 10);
                }
            }
        }
        /* det: the product rule per matrix; gradient det A^-T */
        REQ(ad_set_grad(a, NULL));
        REQ(ad_linalg(AD_LA_DET, 1, &a, 0, 0, &d));
        CHECK(d->ndim == 1 && d->shape[0] == 2);
        CHECK(fabs(at(d, 0) - 18.0) < tol * 100);   /* 4*5 - 1*2, 2*20 - 3 */
        CHECK(fabs(at(d, 1) - 37.0) < tol * 100);
        ad_tensor *od = ones_like(d);
        REQ(ad_backward(d, od, 0));
        for (int b = 0; b < 2; b++) {
            for (int i = 0; i < 3; i++) {
                for (int j = 0; j < 3; j++) {
                    double want = at(d, b) * at(x, b * 9 + j * 3 + i);
                    CHECK(fabs(at(a->grad, b * 9 + i * 3 + j) - want) <
                          tol * 100);
                }
            }
        }
        /* solve: X = A^-1 B */
        bm = mk(dt, 3, sb, NULL, -1, 1, 1);
        ad_tensor *ab[2] = {a, bm};
        REQ(ad_linalg(AD_LA_SOLVE, 2, ab, 0, 0, &sx));
        for (int b = 0; b < 2; b++) {
            for (int i = 0; i < 3; i++) {
                for (int j = 0; j < 2; j++) {
                    double s = 0;
                    for (int k = 0; k < 3; k++) {
                        s += at(x, b * 9 + i * 3 + k) *
                             at(bm, b * 6 + k * 2 + j);
                    }
                    CHECK(fabs(s - at(sx, b * 6 + i * 2 + j)) < tol * 10);
                }
            }
        }
        /* slogdet of the batch: (sign, log|det|) */
        REQ(ad_linalg(AD_LA_SLOGDET, 1, &a, 0, 0, &l));
        CHECK(l->ndim == 2 && l->shape[1] == 2);
        CHECK(at(l, 0) == 1.0 && fabs(at(l, 1) - log(18.0)) < tol * 10);
        /* singular: torch's messages */
        double sv[4] = {1, 2, 2, 4};
        ad_tensor *z = mk(dt, 2, s2, sv, 0, 0, 0), *zo = NULL;
        CHECK_ST(ad_linalg(AD_LA_INV, 1, &z, 0, 0, &zo), AD_ERR_LINALG);
        CHECK(zo == NULL && strstr(ad_last_error(), "linalg.inv: The "
                                   "diagonal element 2 is zero"));
        ad_tensor *zz[2] = {z, z};
        CHECK_ST(ad_linalg(AD_LA_SOLVE, 2, zz, 0, 0, &zo), AD_ERR_LINALG);
        CHECK(strstr(ad_last_error(), "singular") != NULL);
        REQ(ad_linalg(AD_LA_DET, 1, &z, 0, 0, &zo));
        CHECK(at(zo, 0) == 0.0);
        ad_decref(zo);
        CHECK_ST(ad_linalg(AD_LA_INV, 1, &bm, 0, 0, &zo), AD_ERR_SHAPE);
        CHECK_ST(ad_linalg(AD_LA_SOLVE, 1, &a, 0, 0, &zo), AD_ERR_VALUE);
        ad_decref(z);
        ad_decref(l);
        ad_decref(sx);
        ad_decref(bm);
        ad_decref(od);
        ad_decref(d);
        ad_decref(ones);
        ad_decref(x);
        ad_decref(a);
    }
    CHECK(stats().tape_live == 0);
    CHECK(stats().bytes_in_use == m0.bytes_in_use);
}

/* ---- naive LAPACK potrf ('U') and trtrs (diag 'N') --------------------- */

#define NAIVE_POTRF(NAME, T)                                               \
    static void NAME(char *uplo, int *n, T *a, int *lda, int *info)         \
    {                                                                       \
        int N = *n, ld = *lda;                                              \
        (void)uplo;     /* the engine asks for 'U' */                       \
        *info = 0;                                                          \
        for (int j = 0; j < N; j++) {                                       \
            double s = a[j + j * ld];                                       \
            for (int k = 0; k < j; k++) {                                   \
                s -= (double)a[k + j * ld] * a[k + j * ld];                 \
            }                                                               \
            if (!(s > 0)) {                                                 \
                *info = j + 1;                                              \
                return;                                                     \
            }                                                               \
            a[j + j * ld] = (T)sqrt(s);                                     \
            for (int i = j + 1; i < N; i++) {                               \
                double t = a[j + i * ld];                                   \
                for (int k = 0; k < j; k++) {                               \
                    t -= (double)a[k + j * ld] * a[k + i * ld];             \
                }                                                           \
                a[j + i * ld] = (T)(t / a[j + j * ld]);                     \
            }                                                               \
        }                                                                   \
    }
NAIVE_POTRF(naive_spotrf_, float)
NAIVE_POTRF(naive_dpotrf_, double)

/* op(A) X = B with A triangular (uplo), op = trans ('N' or 'T'). */
#define NAIVE_TRTRS(NAME, T)                                               \
    static void NAME(char *uplo, char *tr, char *diag, int *n, int *nrhs,   \
                     T *a, int *lda, T *b, int *ldb, int *info)             \
    {                                                                       \
        int N = *n, ld = *lda, t = *tr == 'T';                              \
        int upper = (*uplo == 'U') != t;    /* op(A) upper triangular */    \
        (void)diag;                                                         \
        *info = 0;                                                          \
        for (int r = 0; r < *nrhs; r++) {                                   \
            T *x = b + (int64_t)r * *ldb;                                   \
            for (int s = 0; s < N; s++) {                                   \
                int i = upper ? N - 1 - s : s;                              \
                double v = x[i];                                            \
                for (int k = 0; k < N; k++) {                               \
                    if (upper ? k > i : k < i) {                            \
                        v -= (double)(t ? a[k + i * ld] : a[i + k * ld]) *  \
                             x[k];                                          \
                    }                                                       \
                }                                                           \
                x[i] = (T)(v / a[i + i * ld]);                              \
            }                                                               \
        }                                                                   \
    }
NAIVE_TRTRS(naive_strtrs_, float)
NAIVE_TRTRS(naive_dtrtrs_, double)

static double
chol_sum(ad_tensor *a)
{
    ad_tensor *l;
    double s = 0;
    if (ad_linalg(AD_LA_CHOLESKY, 1, &a, 0, 0, &l)) {
        return NAN;
    }
    for (int64_t i = 0; i < l->size; i++) {
        s += at(l, i);
    }
    ad_decref(l);
    return s;
}

/* cholesky: L L^T = A with L lower, d(sum L)/dA against central
 * differences of symmetric perturbations, the not-positive-definite
 * error with torch's text and the batch element. */
static void
test_cholesky(void)
{
    ad_memory_stats m0 = stats();
    ad_set_lapack(AD_LAPACK_potrf, (void *)naive_spotrf_,
                  (void *)naive_dpotrf_);
    ad_set_lapack(AD_LAPACK_trtrs, (void *)naive_strtrs_,
                  (void *)naive_dtrtrs_);
    int64_t s3[3] = {2, 3, 3};
    double av[18] = {4, 1, 0.5, 1, 3, 1, 0.5, 1, 2,
                     5, -1, 2, -1, 4, 0, 2, 0, 3};
    ad_tensor *a = mk(AD_F64, 3, s3, av, 0, 0, 1), *l, *ones;
    REQ(ad_linalg(AD_LA_CHOLESKY, 1, &a, 0, 0, &l));
    for (int b = 0; b < 2; b++) {
        for (int i = 0; i < 3; i++) {
            for (int j = 0; j < 3; j++) {
                double s = 0;
                for (int k = 0; k < 3; k++) {
                    s += at(l, b * 9 + i * 3 + k) * at(l, b * 9 + j * 3 + k);
                }
                CHECK(fabs(s - av[b * 9 + i * 3 + j]) < 1e-12);
                CHECK(j <= i || at(l, b * 9 + i * 3 + j) == 0.0);
            }
        }
    }
    ones = ones_like(l);
    REQ(ad_backward(l, ones, 0));
    double h = 1e-6;
    for (int b = 0; b < 2; b++) {
        for (int i = 0; i < 3; i++) {
            for (int j = 0; j <= i; j++) {
                /* A + h (e_ij + e_ji), once on the diagonal */
                double *q = (double *)ad_data(a) + b * 9;
                double keep1 = q[i * 3 + j], keep2 = q[j * 3 + i];
                q[j * 3 + i] = keep2 + h;
                q[i * 3 + j] = keep1 + h;
                double fp = chol_sum(a);
                q[j * 3 + i] = keep2 - h;
                q[i * 3 + j] = keep1 - h;
                double fm = chol_sum(a);
                q[j * 3 + i] = keep2;
                q[i * 3 + j] = keep1;
                double fd = (fp - fm) / (2 * h);
                double an = at(a->grad, b * 9 + i * 3 + j) * (i != j ? 2 : 1);
                CHECKM(fabs(fd - an) < 1e-6, "cholesky grad %d %d %d: %g vs "
                       "%g", b, i, j, an, fd);
            }
        }
    }
    double nv[18] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 2, 0, 2, 1, 0, 0, 0, 1};
    ad_tensor *z = mk(AD_F32, 3, s3, nv, 0, 0, 0), *zo = NULL;
    CHECK_ST(ad_linalg(AD_LA_CHOLESKY, 1, &z, 0, 0, &zo), AD_ERR_LINALG);
    CHECK(zo == NULL && strstr(ad_last_error(), "linalg.cholesky: (Batch "
                               "element 1): The factorization could not be "
                               "completed because the input is not "
                               "positive-definite (the leading minor of "
                               "order 2 is not positive-definite)."));
    ad_decref(z);
    ad_decref(ones);
    ad_decref(l);
    ad_decref(a);
    CHECK(stats().tape_live == 0);
    CHECK(stats().bytes_in_use == m0.bytes_in_use);
}
/* The norm op (layer / group norm) and batch_norm: forward against a
 * reference, backward properties (each row's gx sums to 0, gb the sums
 * of g), batch_norm's in-place running statistics and the errors. */
static void
test_norm(void)
{
    for (int dt = 0; dt < 2; dt++) {
        /* group norm: x (2, 4, 2), G = 2: rows of (2 channels * 2) */
        int64_t xs[3] = {2, 4, 2}, cs[1] = {4};
        ad_tensor *x = mk(dt, 3, xs, NULL, -2, 2, 1);
        ad_tensor *w = mk(dt, 1, cs, NULL, 0.5, 1.5, 1);
        ad_tensor *b = mk(dt, 1, cs, NULL, -1, 1, 1), *o, *g;
        REQ(ad_norm(x, w, b, 4, 2, 2, 0, 1e-5, &o));
        double ref[16];
        for (int r = 0; r < 4; r++) {
            double m = 0, v = 0;
            for (int k = 0; k < 4; k++) m += at(x, r * 4 + k) / 4;
            for (int k = 0; k < 4; k++) {
                double d = at(x, r * 4 + k) - m;
                v += d * d / 4;
            }
            for (int k = 0; k < 4; k++) {
                int c = (r % 2) * 2 + k / 2;
                ref[r * 4 + k] = (at(x, r * 4 + k) - m) / sqrt(v + 1e-5) *
                                 at(w, c) + at(b, c);
            }
        }
        CLOSE("group_norm forward", o, ref, 16, ftol(dt) * 8, ftol(dt) * 8);
        g = mk(dt, 3, xs, NULL, -1, 1, 0);
        REQ(ad_backward(o, g, 0));
        double zero[4] = {0, 0, 0, 0}, gb[4] = {0, 0, 0, 0}, rows[4];
        for (int r = 0; r < 4; r++) {
            rows[r] = 0;
            for (int k = 0; k < 4; k++) {
                rows[r] += at(x->grad, r * 4 + k);
                gb[(r % 2) * 2 + k / 2] += at(g, r * 4 + k);
            }
        }
        ad_tensor *rt = mk(AD_F64, 1, cs, rows, 0, 0, 0);
        CLOSE("group_norm gx row sums", rt, zero, 4, 0, gtol(dt) * 10);
        CLOSE("group_norm grad b", b->grad, gb, 4, gtol(dt), gtol(dt));
        ad_decref(rt);
        /* errors: weight size, rows that do not divide, dtype */
        ad_tensor *o2 = NULL;
        CHECK_ST(ad_norm(x, b, NULL, 4, 1, 1, 0, 1e-5, &o2), AD_OK);
        ad_decref(o2);
        o2 = NULL;
        CHECK_ST(ad_norm(x, w, NULL, 3, 1, 1, 0, 1e-5, &o2), AD_ERR_SHAPE);
        CHECK(o2 == NULL && strstr(ad_last_error(), "(2, 4, 2)"));
        CHECK_ST(ad_norm(x, w, NULL, 8, 1, 1, 0, 1e-5, &o2), AD_ERR_SHAPE);
        CHECK(strstr(ad_last_error(), "weight"));
        CHECK_ST(ad_norm(x, NULL, NULL, 4, 1, 1, 0, -1.0, &o2), AD_ERR_VALUE);

        /* batch norm in training on (4, 2): running stats updated in place
         * with the unbiased variance; then eval uses them */
        int64_t bs[2] = {4, 2}, two[1] = {2};
        ad_tensor *bx = mk(dt, 2, bs, NULL, -2, 2, 1);
        ad_tensor *rm = mk(dt, 1, two, (double[]){0.5, -0.5}, 0, 0, 0);
        ad_tensor *rv = mk(dt, 1, two, (double[]){1.0, 2.0}, 0, 0, 0);
        double want_m[2], want_v[2], ybn[8];
        for (int c = 0; c < 2; c++) {
            double m = 0, v = 0;
            for (int n = 0; n < 4; n++) m += at(bx, n * 2 + c) / 4;
            for (int n = 0; n < 4; n++) {
                double d = at(bx, n * 2 + c) - m;
                v += d * d;
            }
            for (int n = 0; n < 4; n++) {
                ybn[n * 2 + c] = (at(bx, n * 2 + c) - m) / sqrt(v / 4 + 1e-5);
            }
            want_m[c] = 0.1 * m + 0.9 * at(rm, c);
            want_v[c] = 0.1 * v / 3 + 0.9 * at(rv, c);
        }
        uint32_t ver = ad_version(rm);
        REQ(ad_batch_norm(bx, NULL, NULL, rm, rv, NULL, 1, 0.1, 1e-5, &o2));
        CHECK(ad_version(rm) != ver);
        CLOSE("batch_norm forward", o2, ybn, 8, ftol(dt) * 8, ftol(dt) * 8);
        CLOSE("batch_norm running_mean", rm, want_m, 2, ftol(dt) * 4,
              ftol(dt) * 4);
        CLOSE("batch_norm running_var", rv, want_v, 2, ftol(dt) * 4,
              ftol(dt) * 4);
        ad_tensor *seed = ones_like(o2);
        REQ(ad_backward(o2, seed, 0));
        ad_decref(seed);
        ad_decref(o2);
        o2 = NULL;
        /* cumulative momentum: 1 / num_batches_tracked (= 2: halfway) */
        int64_t nbtv = 2;
        ad_tensor *nbt = NULL;
        REQ(ad_full(AD_I64, 0, NULL, (double)nbtv, &nbt));
        double m0[2] = {at(rm, 0), at(rm, 1)};
        REQ(ad_batch_norm(bx, NULL, NULL, rm, rv, nbt, 1, 0.0, 1e-5, &o2));
        for (int c = 0; c < 2; c++) {
            double m = 0;
            for (int n = 0; n < 4; n++) m += at(bx, n * 2 + c) / 4;
            want_m[c] = 0.5 * m + 0.5 * m0[c];
        }
        CLOSE("batch_norm cumulative mean", rm, want_m, 2, ftol(dt) * 4,
              ftol(dt) * 4);
        ad_decref(o2);
        o2 = NULL;
        /* eval: the running stats normalize */
        REQ(ad_batch_norm(bx, NULL, NULL, rm, rv, NULL, 0, 0.1, 1e-5, &o2));
        for (int i = 0; i < 8; i++) {
            ybn[i] = (at(bx, i) - at(rm, i % 2)) / sqrt(at(rv, i % 2) + 1e-5);
        }
        CLOSE("batch_norm eval", o2, ybn, 8, ftol(dt) * 8, ftol(dt) * 8);
        ad_decref(o2);
        o2 = NULL;
        /* errors: one value per channel, eval without stats, shapes */
        int64_t one[2] = {1, 2};
        ad_tensor *x1 = mk(dt, 2, one, NULL, -1, 1, 0);
        CHECK_ST(ad_batch_norm(x1, NULL, NULL, NULL, NULL, NULL, 1, 0.1, 1e-5,
                               &o2), AD_ERR_VALUE);
        CHECK(strstr(ad_last_error(), "more than 1 value"));
        CHECK_ST(ad_batch_norm(bx, NULL, NULL, NULL, NULL, NULL, 0, 0.1,
                               1e-5, &o2), AD_ERR_VALUE);
        CHECK_ST(ad_batch_norm(bx, w, NULL, NULL, NULL, NULL, 1, 0.1, 1e-5,
                               &o2), AD_ERR_SHAPE);
        CHECK(o2 == NULL && strstr(ad_last_error(), "(4, 2)"));
        CHECK_ST(ad_batch_norm(bx, NULL, NULL, rm, rv, rm, 1, 0.0, 1e-5,
                               &o2), AD_ERR_TYPE);
        ad_decref(x1);
        ad_decref(nbt);
        ad_decref(rm);
        ad_decref(rv);
        ad_decref(bx);
        ad_decref(g);
        ad_decref(o);
        ad_decref(x);
        ad_decref(w);
        ad_decref(b);
    }
}


/* ---- the thread pool (threads.c) ---------------------------------------- */

/* Each index of [0, n) written once: hits[i] += i + 1 (mode 0) or 1
 * (mode 2); a second visit, or a piece outside the range, would show.
 * Mode 1 marks each piece through a nested call (run inline). */
typedef struct {
    int64_t *hits;
    int64_t n;
    int mode;
} pool_job;

static void
pool_mark(void *ctx, int64_t lo, int64_t hi)
{
    pool_job *j = ctx;
    if (j->mode == 1) {
        pool_job in = {j->hits + lo, hi - lo, 2};
        ad_parallel_for(hi - lo, 1, pool_mark, &in);
        return;
    }
    for (int64_t i = lo; i < hi && i < j->n; i++) {
        j->hits[i] += j->mode == 2 ? 1 : i + 1;
    }
}

static void *
pool_submitter(void *arg)
{
    int64_t n = 100003;
    int64_t *hits = calloc((size_t)n, sizeof *hits);
    int ok = hits != NULL;
    for (int r = 0; r < 50 && ok; r++) {
        memset(hits, 0, (size_t)n * sizeof *hits);
        pool_job j = {hits, n, r % 2};
        ad_parallel_for(n, 1000, pool_mark, &j);
        for (int64_t i = 0; i < n; i++) {
            if (hits[i] != (r % 2 ? 1 : i + 1)) {
                ok = 0;
            }
        }
    }
    free(hits);
    *(int *)arg = ok;
    return NULL;
}

static void
test_parallel_for(void)
{
    int saved = ad_get_num_threads();
    for (int t = 1; t <= 3; t++) {
        ad_set_num_threads(t);
        CHECK(ad_get_num_threads() == t);
        for (int64_t n = 0; n < 5000; n = n * 3 + 7) {
            int64_t *hits = calloc((size_t)n + 1, sizeof *hits);
            pool_job j = {hits, n, 0};
            ad_parallel_for(n, 5, pool_mark, &j);
            int ok = 1;
            for (int64_t i = 0; i < n; i++) {
                ok &= hits[i] == i + 1;
            }
            CHECKM(ok, "ad_parallel_for(%lld) at %d threads", (long long)n,
                   t);
            free(hits);
        }
    }
    /* two submitters at once (one gets the pool, the other runs serially
     * or after it), with nested calls */
    ad_set_num_threads(3);
    pthread_t th[2];
    int ok[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        pthread_create(&th[k], NULL, pool_submitter, &ok[k]);
    }
    for (int k = 0; k < 2; k++) {
        pthread_join(th[k], NULL);
        CHECKM(ok[k], "concurrent ad_parallel_for, submitter %d", k);
    }
    ad_set_num_threads(saved);
}

int
main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            g_quick = 1;
        }
    }
    int64_t chain = g_quick ? 2000 : 100000;
    int iters = g_quick ? 20 : 200;

    test_no_blas();                 /* before any BLAS is registered */
    test_registry();
    ad_set_blas(naive_sgemm_, naive_dgemm_);

    test_tape_chain(chain);
    test_tape_no_growth(iters);
    test_pool_reuse(iters / 2);
    test_unary();
    test_binary();
    test_reduce();
    test_softmax();
    test_kernel_bits();
    test_tanh_paths();
    test_pow_special();
    test_losses();
    test_nll();
    test_nll_full();
    test_gather_scatter();
    test_empty();
    test_concat();
    test_permute_reshape_broadcast();
    test_cast();
    test_where();
    test_int_dtypes();
    test_matmul_linear();
    test_xwt_relu();
    CHECK(g_gemm_calls > 0);
    test_linalg();
    test_cholesky();
    test_cumsum();
    test_cumprod();
    test_errors();
    test_optim();
    test_program();
    test_programs_run();
    test_nll_reduction();
    test_dropout();
    test_program_contract();
    test_custom();
    test_lock_hooks();
    test_threads();
    test_parallel_for();
    test_reentrant_hooks();
    test_grad_field();
    test_pool_classes();
    test_thread_model();
    test_norm();

    ad_memory_stats m = stats();
    CHECKM(m.tape_records == 0 && m.tape_live == 0, "tape not empty at the "
           "end: %lld records, %lld live", (long long)m.tape_records,
           (long long)m.tape_live);
    ad_pool_trim();
    CHECK(stats().bytes_pooled == 0);
    CHECKM(stats().bytes_in_use == 0, "%lld bytes still in use at the end",
           (long long)stats().bytes_in_use);

    printf("%ld checks, %ld failed\n", g_checks, g_failed);
    fflush(stdout);
    return g_failed ? 1 : 0;
}

/*
 * ops_random.c -- the engine's random stream and dropout.
 *
 * One process-wide counter-based generator (Philox4x32-10, Salmon et al.,
 * "Parallel random numbers: as easy as 1, 2, 3", SC 2011): the key is the
 * seed, the counter is an offset that every draw advances atomically by
 * the number of 4-word blocks it uses.  A draw is a pure function of
 * (seed, offset), so an op that draws in its forward draws the same way
 * eagerly and in a compiled replay (which runs the same forward): a
 * replay after ad.manual_seed(s) gives the masks an eager call after
 * ad.manual_seed(s) gives, and every replay draws fresh ones.
 */
#include "ad_impl.h"

static uint64_t g_seed = 0x853c49e6748fea9bULL;
static uint64_t g_offset;

void
ad_manual_seed(uint64_t seed)
{
    __atomic_store_n(&g_seed, seed, __ATOMIC_RELAXED);
    __atomic_store_n(&g_offset, 0, __ATOMIC_RELAXED);
}

void
ad_get_rng_state(uint64_t *seed, uint64_t *offset)
{
    *seed = __atomic_load_n(&g_seed, __ATOMIC_RELAXED);
    *offset = __atomic_load_n(&g_offset, __ATOMIC_RELAXED);
}

void
ad_set_rng_state(uint64_t seed, uint64_t offset)
{
    __atomic_store_n(&g_seed, seed, __ATOMIC_RELAXED);
    __atomic_store_n(&g_offset, offset, __ATOMIC_RELAXED);
}

static inline void
philox_round(uint32_t c[4], const uint32_t k[2])
{
    const uint64_t p0 = (uint64_t)0xD2511F53u * c[0];
    const uint64_t p1 = (uint64_t)0xCD9E8D57u * c[2];
    uint32_t c0 = (uint32_t)(p1 >> 32) ^ c[1] ^ k[0];
    uint32_t c2 = (uint32_t)(p0 >> 32) ^ c[3] ^ k[1];
    c[1] = (uint32_t)p1;
    c[3] = (uint32_t)p0;
    c[0] = c0;
    c[2] = c2;
}

/* Four random words for block number ctr under key seed. */
void
ad_philox(uint64_t seed, uint64_t ctr, uint32_t out[4])
{
    uint32_t c[4] = {(uint32_t)ctr, (uint32_t)(ctr >> 32), 0, 0};
    uint32_t k[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    for (int r = 0; r < 10; r++) {
        philox_round(c, k);
        k[0] += 0x9E3779B9u;
        k[1] += 0xBB67AE85u;
    }
    memcpy(out, c, sizeof(c));
}

/* A replica's stream, while one is this thread's (ad_rng_stream_swap):
 * owned by the thread for the length of a replica's step. */
static AD_TLS ad_rng_stream *tls_stream;

ad_rng_stream *
ad_rng_stream_swap(ad_rng_stream *s)
{
    ad_rng_stream *prev = tls_stream;
    tls_stream = s;
    return prev;
}

/* splitmix64's finalizer: replica r's key from (seed, r). */
static uint64_t
mix_key(uint64_t seed, int r)
{
    uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (uint64_t)r;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

void
ad_rng_replicas_begin(ad_rng_stream *s, int n)
{
    uint64_t seed, offset;
    ad_get_rng_state(&seed, &offset);
    for (int r = 0; r < n; r++) {
        s[r].seed = r == 0 ? seed : mix_key(seed, r);
        s[r].offset = offset;
    }
}

void
ad_rng_replicas_end(const ad_rng_stream *s, int n)
{
    uint64_t most = 0;
    for (int r = 0; r < n; r++) {
        most = s[r].offset > most ? s[r].offset : most;
    }
    /* never backwards (another thread may have drawn meanwhile) */
    uint64_t cur = __atomic_load_n(&g_offset, __ATOMIC_RELAXED);
    while (cur < most && !__atomic_compare_exchange_n(
               &g_offset, &cur, most, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

/* Reserve the blocks for n words: the first block of this draw. */
static uint64_t
reserve(int64_t n, uint64_t *seed)
{
    ad_rng_stream *st = tls_stream;
    if (st) {
        uint64_t base = st->offset;
        st->offset += (uint64_t)(n + 3) / 4;
        *seed = st->seed;
        return base;
    }
    *seed = __atomic_load_n(&g_seed, __ATOMIC_RELAXED);
    return __atomic_fetch_add(&g_offset, (uint64_t)(n + 3) / 4,
                              __ATOMIC_RELAXED);
}

/* mask[i] = 1/(1-p) where the word's top 24 bits, as u in [0, 1), are
 * >= p, else 0; then out = x * mask. */
#define DROPOUT_LOOP(T)                                                     \
    do {                                                                    \
        T *m = mask;                                                        \
        const T *xv = x;                                                    \
        T *o = out;                                                         \
        const T scale = (T)(1.0 / (1.0 - p));                               \
        for (int64_t b = 0; b < (n + 3) / 4; b++) {                         \
            uint32_t w[4];                                                  \
            ad_philox(seed, base + (uint64_t)b, w);                         \
            for (int j = 0; j < 4 && 4 * b + j < n; j++) {                  \
                double u = (double)(w[j] >> 8) * (1.0 / 16777216.0);        \
                m[4 * b + j] = u >= p ? scale : (T)0;                       \
            }                                                               \
        }                                                                   \
        for (int64_t i = 0; i < n; i++) {                                   \
            o[i] = xv[i] * m[i];                                            \
        }                                                                   \
    } while (0)

static void
dropout_compute(int dt, double p, const void *x, void *mask, void *out,
                int64_t n)
{
    uint64_t seed, base = reserve(n, &seed);
    if (dt == AD_F64) {
        DROPOUT_LOOP(double);
    }
    else {
        DROPOUT_LOOP(float);
    }
}

/* The mask is drawn again at every run (eager or replay). */
static ad_status
fw_dropout(ad_record *r)
{
    ad_tensor *x = r->in[0];
    dropout_compute(x->dtype, r->at.dropout.p, ad_data(x),
                    AD_BUF_DATA(r->saved), ad_data(r->out), x->size);
    return AD_OK;
}

ad_status
ad_dropout(ad_tensor *x, double p, ad_tensor **out)
{
    ad_tensor *o;
    ad_record c;
    ad_status s;
    if (!(p >= 0.0 && p < 1.0)) {
        return ad_error(AD_ERR_VALUE, "dropout probability has to be in "
                        "[0, 1) here, got %g", p);
    }
    if ((s = ad_new(x->dtype, x->ndim, x->shape, &o))) {
        return s;
    }
    ad_call_init(&c, &ad_def_dropout, 0, 1, &x, o);
    c.at.dropout.p = p;
    if (!(c.saved = ad_buf_alloc(ad_nbytes(x)))) {
        ad_decref(o);
        return ad_error(AD_ERR_NOMEM, "out of memory in dropout");
    }
    return ad_call_run(&c, 0, out);
}

/* d(x * mask)/dx = mask */
static ad_status
bw_dropout(ad_record *r, ad_buffer **g)
{
    ad_tensor *x = r->in[0];
    ad_buffer *gx = ad_buf_alloc(ad_nbytes(x));
    if (!gx) {
        return ad_error(AD_ERR_NOMEM, "out of memory in backward");
    }
    int64_t st[3][AD_MAX_DIMS] = {{1}, {1}, {1}};
    int64_t shape[1] = {x->size};
    ad_iter it;
    ad_iter_init(&it, 1, shape, 3, st);
    ad_k(x->dtype)->binary_fwd(AD_B_MUL, &it, AD_BUF_DATA(gx),
                               AD_BUF_DATA(*g), AD_BUF_DATA(r->saved));
    return ad_acc_grad(r, 0, &gx, 1);
}

static const ad_attrdef dropout_attrs[] = {
    AD_ATTR(dropout, p, AD_ATTR_F64),
};
const ad_opdef ad_def_dropout = {
    .name = "dropout",
    .code = AD_OP_DROPOUT, .arity = 1, .saved = AD_SAVED_LIKE_OUT,
    .attrs = dropout_attrs, .nattrs = 1,
    .forward = fw_dropout, .backward = bw_dropout,
};

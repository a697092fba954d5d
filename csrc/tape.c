/*
 * tape.c -- the per-thread tape, record lifetime, and the reverse sweep.
 *
 * Each thread appends records to its own flat array.  A record lives as
 * long as its output tensor: when the last reference to a tensor goes, its
 * record is marked dead and drops its inputs, which may cascade down the
 * graph (iteratively: a chain of 100,000 ops frees without recursion).
 * Dead records at the tail are popped at once; dead records in the middle
 * are squeezed out by compaction when the array is full or they outnumber
 * the live ones, so the tape never grows beyond twice what live tensors
 * can reach (plus 1024).
 *
 * The reverse sweep starts at the root's record and walks the array down.
 * Records carry the pending gradient of their output (gacc); a record with
 * none is skipped.  Leaves' pending gradients live in the sweep's own
 * arrays (a leaf may be shared by sweeps on several threads).  The sweep
 * stops as soon as no gradient is pending.  Creation order is a
 * topological order, so no sort is ever needed.
 *
 * Threads (see "Thread model" in docs/ARCHITECTURE.md): only a tape's
 * owner appends to, sweeps or compacts it.  A tensor whose record lives on
 * another thread's tape and dies here is queued on that tape and torn
 * down by its owner; an ownerless tape (orphaned, or a program's) is
 * changed under its lock.  Custom-op contexts are released (which runs
 * Python) only once no release loop or sweep is active on the thread.
 */
#include "ad_impl.h"

#include <pthread.h>
#include <stdlib.h>

/* Its address names this thread (a tape's owner). */
static AD_TLS char tls_token;
#define AD_ME ((const void *)&tls_token)

static AD_TLS ad_tape *tls_tape;        /* current: own, scratch, capture */
static AD_TLS ad_tape *tls_home;        /* this thread's own tape */
static AD_TLS ad_tape *tls_swept;       /* the tape a sweep walks */

/* Tensors whose count reached zero, waiting to be torn down (linked
 * through ->link), and the release loops running on this thread. */
static AD_TLS ad_tensor *tls_dead;
static AD_TLS int tls_draining;
static AD_TLS int tls_depth;

/* Custom-op contexts whose record died, released at depth 0. */
static AD_TLS void **tls_ctx;
static AD_TLS int64_t tls_nctx, tls_capctx;
static AD_TLS int tls_flushing;
/* Contexts left by exited threads: any thread's next flush runs them. */
static pthread_mutex_t g_ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static void **g_ctx;
static int64_t g_nctx, g_capctx;

/* Runs a custom op's context release (installed by ops_custom.c). */
static void (*release_hook)(void *ctx);

void
ad_set_release_hook(void (*release)(void *ctx))
{
    release_hook = release;
}

static void
release_now(void *ctx)
{
    if (ctx && release_hook) {
        release_hook(ctx);
    }
}

static pthread_mutex_t g_grad_mutex = PTHREAD_MUTEX_INITIALIZER;

void
ad_grad_lock(void)
{
    pthread_mutex_lock(&g_grad_mutex);
}

void
ad_grad_unlock(void)
{
    pthread_mutex_unlock(&g_grad_mutex);
}

static void drop(ad_tensor *t);
static void drain(void);
static void thread_register(void);
static void flush_contexts(void);

/* ---- tapes ------------------------------------------------------------ */

static void
tape_free(ad_tape *tp)
{
    pthread_mutex_destroy(&tp->lock);
    free(tp->recs);
    free(tp);
}

static int
tape_mine(const ad_tape *tp)
{
    return __atomic_load_n(&tp->owner, __ATOMIC_ACQUIRE) == AD_ME;
}

ad_tape *
ad_tape_new(int kind)
{
    ad_tape *tp = calloc(1, sizeof(ad_tape));
    if (!tp) {
        return NULL;
    }
    if (pthread_mutex_init(&tp->lock, NULL)) {
        free(tp);
        return NULL;
    }
    tp->kind = kind;
    tp->owner = kind == AD_TAPE_PROGRAM ? NULL : AD_ME;
    return tp;
}

static ad_tape *
tape_get(void)
{
    if (AD_UNLIKELY(!tls_tape)) {
        ad_tape *tp = ad_tape_new(AD_TAPE_THREAD);
        if (!tp) {
            return NULL;
        }
        thread_register();
        tls_home = tls_tape = tp;
    }
    return tls_tape;
}

ad_tape *
ad_tape_swap(ad_tape *tp)
{
    ad_tape *old = tape_get();
    tls_tape = tp;
    return old;
}

/* Tear down the dead tensors other threads queued on tp (which we own). */
static void
take_foreign(ad_tape *tp)
{
    if (!__atomic_load_n(&tp->foreign, __ATOMIC_ACQUIRE)) {
        return;
    }
    pthread_mutex_lock(&tp->lock);
    ad_tensor *q = tp->foreign;
    __atomic_store_n(&tp->foreign, NULL, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&tp->lock);
    while (q) {
        ad_tensor *next = q->link;
        q->link = tls_dead;
        tls_dead = q;
        q = next;
    }
    tls_depth++;                /* no Python from here: flushed later */
    if (!tls_draining) {
        drain();
    }
    tls_depth--;
}

/* The owner gives tp up: from now on whoever frees its records kills
 * them under its lock, and the last one frees it. */
static void
tape_orphan(ad_tape *tp)
{
    pthread_mutex_lock(&tp->lock);
    ad_tensor *q = tp->foreign;
    __atomic_store_n(&tp->foreign, NULL, __ATOMIC_RELAXED);
    __atomic_store_n(&tp->owner, NULL, __ATOMIC_RELEASE);
    tp->orphan = 1;
    int gone = tp->live == 0;
    pthread_mutex_unlock(&tp->lock);
    if (gone) {
        tape_free(tp);          /* q is empty: its records would be live */
        return;
    }
    while (q) {
        ad_tensor *next = q->link;
        q->link = tls_dead;
        tls_dead = q;
        q = next;
    }
    tls_depth++;
    if (!tls_draining) {
        drain();
    }
    tls_depth--;
}

void
ad_tape_release(ad_tape *tp)
{
    tape_orphan(tp);
}
void
ad_get_memory_stats(ad_memory_stats *out)
{
    ad_tape *tp = tls_tape;
    ad_pool_stats(out);
    out->tape_records = tp ? tp->n : 0;
    out->tape_live = tp ? tp->live : 0;
}

/* ---- thread exit ------------------------------------------------------ */

static pthread_key_t thread_key;
static pthread_once_t thread_once = PTHREAD_ONCE_INIT;
static AD_TLS int tls_registered;

typedef struct {
    int64_t pending;            /* records with a gradient not yet swept */
    ad_tensor **leaves;         /* leaves (and retained non-leaves) that */
    ad_buffer **lgrad;          /* received a gradient, and its buffer */
    int64_t nleaves, capleaves;
    int64_t *hash;              /* leaf -> index + 1 (0: empty slot) */
    int64_t caphash;            /* a power of two, > 2 * nleaves */
    int64_t *done;              /* records swept, to consume afterwards */
    int64_t ndone, capdone;
} ad_sweep;

static AD_TLS ad_sweep tls_sweep;
static AD_TLS int tls_sweeping;         /* a sweep is running */

/* A watch (autodiff.h): watched leaves grouped in buckets, handed to a
 * ready callback as the sweep finishes their gradients. */
struct ad_watch {
    int n, nb;
    ad_tensor **leaves;         /* a reference each */
    int *start;                 /* bucket b: leaves start[b]..start[b+1]-1 */
    int *bucket;                /* leaf -> its bucket */
    int64_t *off;               /* leaf -> its offset in the bucket */
    int64_t *total;             /* bucket -> gradient elements */
    void **buf;                 /* bucket -> buffer of len[b] elements */
    int64_t *len;
    int64_t *hash, caphash;     /* leaf -> index + 1 (0: empty) */
    int64_t *minrec;            /* this sweep: lowest consuming record */
    int *order;                 /* leaves, minrec descending */
    int *left;                  /* bucket -> leaves not final yet */
    unsigned char *fired;       /* bucket handed over */
    ad_tensor **gseen;          /* the .grad the sweep left (no ref) */
    uint32_t *vseen;            /* and its version */
    double weight;
    int state;                  /* 0 idle, 1 armed, 2 handed over */
    int closed;                 /* freed by its owner */
    int refs;                   /* the owner's, the arming thread's */
    ad_ready_fn ready;
    void *ctx;
    void (*ctx_free)(void *ctx);
};

static AD_TLS ad_watch *tls_watch;      /* armed on this thread */
static void watch_release(ad_watch *w);

/* A thread's static TLS is still valid while its key destructors run. */
static void
thread_exit(void *arg)
{
    (void)arg;
    tls_registered = 0;
    tls_depth++;                /* no Python runs from a dying thread */
    if (tls_home) {
        ad_tape *tp = tls_home;
        tls_home = tls_tape = NULL;
        tape_orphan(tp);
    }
    tls_depth--;
    if (tls_nctx) {
        /* Hand unreleased contexts to the next thread that flushes. */
        pthread_mutex_lock(&g_ctx_lock);
        while (tls_nctx) {
            if (g_nctx == g_capctx &&
                ad_grow((void **)&g_ctx, &g_capctx, sizeof(void *))) {
                break;          /* out of memory: leak them */
            }
            g_ctx[g_nctx] = tls_ctx[--tls_nctx];
            /* atomic: flush_contexts peeks at the count without the lock */
            __atomic_store_n(&g_nctx, g_nctx + 1, __ATOMIC_RELAXED);
        }
        pthread_mutex_unlock(&g_ctx_lock);
    }
    free(tls_ctx);
    tls_ctx = NULL;
    tls_nctx = tls_capctx = 0;
    if (tls_watch) {
        watch_release(tls_watch);
        tls_watch = NULL;
    }
    free(tls_sweep.leaves);
    free(tls_sweep.lgrad);
    free(tls_sweep.hash);
    free(tls_sweep.done);
    memset(&tls_sweep, 0, sizeof(tls_sweep));
}

static void
thread_make_key(void)
{
    pthread_key_create(&thread_key, thread_exit);
}

static void
thread_register(void)
{
    if (AD_UNLIKELY(!tls_registered)) {
        pthread_once(&thread_once, thread_make_key);
        pthread_setspecific(thread_key, &tls_registered);
        tls_registered = 1;
    }
}

/* ---- release -------------------------------------------------------- */

/* Run the queued context releases (Python code) unless a release loop or
 * sweep is active on this thread; the queue may grow meanwhile. */
static void
flush_contexts(void)
{
    if (tls_depth > 0 || tls_flushing) {
        return;
    }
    if (AD_UNLIKELY(__atomic_load_n(&g_nctx, __ATOMIC_RELAXED))) {
        pthread_mutex_lock(&g_ctx_lock);
        while (g_nctx) {
            if (tls_nctx == tls_capctx &&
                ad_grow((void **)&tls_ctx, &tls_capctx, sizeof(void *))) {
                break;
            }
            thread_register();
            __atomic_store_n(&g_nctx, g_nctx - 1, __ATOMIC_RELAXED);
            tls_ctx[tls_nctx++] = g_ctx[g_nctx];
        }
        pthread_mutex_unlock(&g_ctx_lock);
    }
    tls_flushing = 1;
    while (tls_nctx > 0) {
        void *ctx = tls_ctx[--tls_nctx];
        release_now(ctx);
    }
    tls_flushing = 0;
}

void
ad_custom_release(void *ctx)
{
    if (!ctx) {
        return;
    }
    if (tls_nctx == tls_capctx) {
        thread_register();
        if (ad_grow((void **)&tls_ctx, &tls_capctx, sizeof(void *))) {
            if (tls_depth == 0 && !tls_flushing) {
                release_now(ctx);
            }
            return;             /* out of memory in a release loop: leak */
        }
    }
    tls_ctx[tls_nctx++] = ctx;
    flush_contexts();
}

static void
record_drop_refs(ad_record *r)
{
    int n = r->nin;
    ad_tensor **xs = n > AD_REC_INLINE ? r->ins : r->in;
    for (int i = 0; i < n; i++) {
        drop(xs[i]);
    }
    if (n > AD_REC_INLINE) {
        free(r->ins);
        r->ins = NULL;
    }
    r->nin = 0;
    ad_buf_decref(r->saved);
    r->saved = NULL;
    if (r->ext) {
        void *ctx = r->ext;
        r->ext = NULL;
        ad_custom_release(ctx);         /* queued: we are in a release */
    }
}

static void
record_kill(ad_tape *tp, int64_t i)
{
    ad_record *r = &tp->recs[i];
    record_drop_refs(r);
    ad_buf_decref(r->gacc);
    r->gacc = NULL;
    r->state = AD_REC_DEAD;
    r->out = NULL;
    tp->live--;
    while (tp->n > 0 && tp->recs[tp->n - 1].state == AD_REC_DEAD) {
        tp->n--;
    }
}

static void
teardown(ad_tensor *t)
{
    if (t->rec >= 0) {
        ad_tape *tp = t->tape;
        if (tape_mine(tp)) {
            record_kill(tp, t->rec);
        }
        else {
            pthread_mutex_lock(&tp->lock);
            if (!tp->orphan && tp->kind != AD_TAPE_PROGRAM) {
                /* Its owner lives: it tears t down at its next record,
                 * sweep or release. */
                t->link = tp->foreign;
                __atomic_store_n(&tp->foreign, t, __ATOMIC_RELEASE);
                pthread_mutex_unlock(&tp->lock);
                return;
            }
            record_kill(tp, t->rec);    /* inputs: queued on tls_dead */
            int gone = tp->orphan && tp->live == 0;
            pthread_mutex_unlock(&tp->lock);
            if (gone) {
                tape_free(tp);
            }
        }
    }
    ad_buf_decref(t->buf);
    if (t->grad) {
        drop(t->grad);
    }
    ad_tensor_struct_free(t);
}

static void
drain(void)
{
    tls_draining = 1;
    tls_depth++;
    while (tls_dead) {
        ad_tensor *t = tls_dead;
        tls_dead = t->link;
        teardown(t);
    }
    tls_draining = 0;
    tls_depth--;
    flush_contexts();
}

/* Decrement; a tensor reaching zero is queued, and the outermost call
 * drains the queue, so teardown never recurses. */
static void
drop(ad_tensor *t)
{
    if (__atomic_sub_fetch(&t->refcnt, 1, __ATOMIC_ACQ_REL) > 0) {
        return;
    }
    t->link = tls_dead;
    tls_dead = t;
    if (!tls_draining) {
        drain();
    }
}

void
ad_decref(ad_tensor *t)
{
    if (t) {
        drop(t);
    }
}

/* ---- recording ------------------------------------------------------- */

int
ad_needs_record(int n, ad_tensor **xs)
{
    if (!ad_grad_enabled()) {
        return 0;
    }
    for (int i = 0; i < n; i++) {
        if (xs[i]->requires_grad) {
            return 1;
        }
    }
    return 0;
}

static ad_status
tape_reserve(ad_tape *tp)
{
    /* Compact when full, and also as soon as dead records outnumber live
     * ones (by at least 1024, so the O(n) pass stays amortised): once a
     * deep graph has grown the capacity, dead records must not be left
     * to pile up to it. */
    int64_t dead = tp->n - tp->live;
    if (tp->n < tp->cap && (dead < 1024 || dead <= tp->live)) {
        return AD_OK;
    }
    if (tp->live <= tp->n / 2 && tp->n > 0) {
        /* Compact: slide live records down, keeping their order. */
        int64_t j = 0;
        for (int64_t i = 0; i < tp->n; i++) {
            if (tp->recs[i].state != AD_REC_DEAD) {
                if (i != j) {
                    tp->recs[j] = tp->recs[i];
                    tp->recs[j].out->rec = j;
                }
                j++;
            }
        }
        tp->n = j;
        return AD_OK;
    }
    int64_t cap = tp->cap ? 2 * tp->cap : 1024;
    ad_record *nr = realloc(tp->recs, (size_t)cap * sizeof(ad_record));
    if (!nr) {
        return ad_error(AD_ERR_NOMEM, "out of memory growing the tape to "
                        "%lld records", (long long)cap);
    }
    tp->recs = nr;
    tp->cap = cap;
    return AD_OK;
}

/* Why an input recorded on tape xt cannot be an input of an op recorded
 * on tp (the current tape). */
static ad_status
foreign_input(const ad_tape *xt, const ad_tape *tp)
{
    if (xt == tls_swept) {
        return ad_error(AD_ERR_STATE, "a custom Function's backward cannot "
                        "record ops on tensors of the graph being "
                        "differentiated; detach() them first");
    }
    if (xt->kind == AD_TAPE_PROGRAM) {
        return ad_error(AD_ERR_STATE, "an input of this op is an output of "
                        "a compiled function (autodiff.compile): its graph "
                        "belongs to the compiled program and cannot be "
                        "extended eagerly; detach() it first");
    }
    if (xt->kind == AD_TAPE_SCRATCH) {
        return ad_error(AD_ERR_STATE, "an input of this op was computed "
                        "inside a custom Function's backward, whose ops are "
                        "recorded on a graph of their own; detach() it "
                        "first");
    }
    if (tape_mine(xt) && tp->kind == AD_TAPE_PROGRAM) {
        return ad_error(AD_ERR_STATE, "an input of this op was recorded "
                        "eagerly on this thread, outside the compiled "
                        "function's recording; detach() it first (or compute "
                        "it inside the compiled function)");
    }
    return ad_error(AD_ERR_STATE, "an input of this op was computed on "
                    "another thread's tape; each thread records its own "
                    "graph -- detach() the tensor first");
}

/* Copy the call c into a new record on the current tape, taking
 * references to its inputs; moves c->saved in.  out requires grad when
 * grad says so. */
static ad_status
record_call(ad_record *c, int grad)
{
    ad_tensor *out = c->out;
    int n = c->nin;
    ad_tensor **xs = n > AD_REC_INLINE ? c->ins : c->in;
    ad_tape *tp = tape_get();
    if (!tp) {
        return ad_error(AD_ERR_NOMEM, "out of memory creating a tape");
    }
    if (tape_mine(tp) && __atomic_load_n(&tp->foreign, __ATOMIC_RELAXED)) {
        /* Tear down what other threads freed, and release its custom
         * contexts now, before this record takes a pointer into the
         * tape (the inputs are the caller's: Python cannot free them). */
        take_foreign(tp);
        flush_contexts();
        tp = tape_get();
    }
    for (int i = 0; i < n; i++) {
        if (xs[i]->rec >= 0 && xs[i]->tape != tp) {
            return foreign_input(xs[i]->tape, tp);
        }
    }
    ad_status s = tape_reserve(tp);
    if (s) {
        return s;
    }
    ad_record *r = &tp->recs[tp->n];
    *r = *c;
    r->ins = NULL;
    if (n > AD_REC_INLINE) {
        r->ins = malloc((size_t)n * sizeof(ad_tensor *));
        if (!r->ins) {
            return ad_error(AD_ERR_NOMEM, "out of memory recording an op");
        }
    }
    ad_tensor **dst = n > AD_REC_INLINE ? r->ins : r->in;
    for (int i = 0; i < n; i++) {
        dst[i] = xs[i];
        ad_ref(xs[i]);
        if (i < AD_REC_INLINE) {
            r->ver[i] = ad_buf_version(xs[i]->buf);
        }
    }
    unsigned flags = c->def->flags;
    if (c->def->nkinds) {
        flags |= c->def->kinds[c->kind].flags;
    }
    if ((flags & AD_K_SAVES_OUT) && !r->saved) {
        ad_buf_incref(out->buf);
        r->saved = out->buf;
    }
    if (r->saved) {
        r->saved_ver = ad_buf_version(r->saved);
    }
    c->saved = NULL;                    /* moved into r */
    c->ext = NULL;
    r->gacc = NULL;
    r->state = AD_REC_LIVE;
    out->tape = tp;
    out->rec = tp->n;
    out->requires_grad = (uint8_t)grad;
    tp->n++;
    tp->live++;
    if (ad_capture_current()) {
        return ad_capture_own(out);
    }
    return AD_OK;
}

void
ad_call_init(ad_record *c, const ad_opdef *def, int kind, int n,
             ad_tensor **xs, ad_tensor *out)
{
    memset(c, 0, sizeof(*c));
    c->def = def;
    c->kind = (uint8_t)kind;
    c->nin = n;
    if (n > AD_REC_INLINE) {
        c->ins = xs;
    }
    else {
        for (int i = 0; i < n; i++) {
            c->in[i] = xs[i];
        }
    }
    c->out = out;
}

/* Drop what a call holds besides its output: its saved buffer and a
 * custom context (NULL once record_call moved them into a record). */
static void
call_release(ad_record *c)
{
    ad_buf_decref(c->saved);
    c->saved = NULL;
    ad_custom_release(c->ext);
    c->ext = NULL;
}

/* An op without AD_OP_ANY_DTYPE computes on floats alone: an int64 or
 * bool input is a TypeError naming the op, before any kernel runs. */
static ad_status
check_float_inputs(ad_record *c)
{
    ad_tensor **xs = c->nin > AD_REC_INLINE ? c->ins : c->in;
    if (c->def->flags & AD_OP_ANY_DTYPE) {
        return AD_OK;
    }
    for (int i = 0; i < c->nin; i++) {
        if (!ad_is_float(xs[i]->dtype)) {
            const char *name = c->def->name;
            if (c->def->nkinds) {
                name = c->def->kinds[c->kind].name;
            }
            return ad_error(AD_ERR_TYPE, "%s is not implemented for %s "
                            "tensors (input %d); convert with .float() or "
                            ".double() first", name,
                            ad_dtype_name(xs[i]->dtype), i);
        }
    }
    return AD_OK;
}

ad_status
ad_call_run(ad_record *c, int64_t work, ad_tensor **out)
{
    ad_status s = check_float_inputs(c);
    if (s) {
        ad_call_abandon(c);
        return s;
    }
    void *nogil = ad_nogil_begin(work);
    s = c->def->forward(c);
    ad_nogil_end(nogil);
    if (s) {
        ad_call_abandon(c);
        return s;
    }
    return ad_call_commit(c, out);
}

ad_status
ad_call_commit(ad_record *c, ad_tensor **out)
{
    ad_status s = AD_OK;
    /* An int64 or bool output (a comparison, an index) never requires
     * grad, whatever its inputs do. */
    int grad = ad_is_float(c->out->dtype) &&
               ad_needs_record(c->nin, c->nin > AD_REC_INLINE ? c->ins
                                                              : c->in);
    /* While capturing, every op is recorded: the program replays them. */
    if (grad || ad_capture_current()) {
        s = record_call(c, grad);
    }
    if (s) {
        ad_call_abandon(c);
        return s;
    }
    call_release(c);                    /* what a recording did not take */
    *out = c->out;
    return AD_OK;
}

void
ad_call_abandon(ad_record *c)
{
    call_release(c);
    ad_decref(c->out);
    c->out = NULL;
}

/* ---- the sweep ------------------------------------------------------- */

/* During a replay's sweep: (leaf, grad) pairs whose grads to refill. */
static AD_TLS ad_tensor **tls_alias;
static AD_TLS int64_t tls_nalias;

int
ad_sweep_active(void)
{
    return tls_sweeping;
}

static int64_t
leaf_hash(const ad_tensor *t, int64_t cap)
{
    uint64_t h = (uint64_t)(uintptr_t)t * 0x9E3779B97F4A7C15ull;
    return (int64_t)(h >> 17) & (cap - 1);
}

/* The pending-gradient slot of leaf t in this sweep, added (empty) on
 * first use; NULL when out of memory. */
static ad_buffer **
leaf_slot(ad_sweep *sw, ad_tensor *t)
{
    if (sw->caphash) {
        for (int64_t h = leaf_hash(t, sw->caphash);;
             h = (h + 1) & (sw->caphash - 1)) {
            int64_t k = sw->hash[h];
            if (k == 0) {
                break;
            }
            if (sw->leaves[k - 1] == t) {
                return &sw->lgrad[k - 1];
            }
        }
    }
    if (sw->nleaves == sw->capleaves) {
        int64_t cap = sw->capleaves;
        if (ad_grow((void **)&sw->leaves, &cap, sizeof(ad_tensor *)) ||
            ad_grow((void **)&sw->lgrad, &sw->capleaves, sizeof(ad_buffer *))) {
            return NULL;
        }
    }
    if (2 * (sw->nleaves + 1) > sw->caphash) {
        int64_t cap = sw->caphash ? 2 * sw->caphash : 64;
        int64_t *nh = calloc((size_t)cap, sizeof(int64_t));
        if (!nh) {
            return NULL;
        }
        free(sw->hash);
        sw->hash = nh;
        sw->caphash = cap;
        for (int64_t k = 0; k < sw->nleaves; k++) {
            if (sw->leaves[k]->rec >= 0) {
                continue;               /* a retained non-leaf */
            }
            int64_t h = leaf_hash(sw->leaves[k], cap);
            while (nh[h]) {
                h = (h + 1) & (cap - 1);
            }
            nh[h] = k + 1;
        }
    }
    int64_t h = leaf_hash(t, sw->caphash);
    while (sw->hash[h]) {
        h = (h + 1) & (sw->caphash - 1);
    }
    sw->hash[h] = sw->nleaves + 1;
    sw->leaves[sw->nleaves] = t;
    sw->lgrad[sw->nleaves] = NULL;
    return &sw->lgrad[sw->nleaves++];
}

/* A retained non-leaf's gradient, held like a leaf's until the deposit. */
static int
retain_slot(ad_sweep *sw, ad_tensor *t, ad_buffer *g)
{
    if (sw->nleaves == sw->capleaves) {
        int64_t cap = sw->capleaves;
        if (ad_grow((void **)&sw->leaves, &cap, sizeof(ad_tensor *)) ||
            ad_grow((void **)&sw->lgrad, &sw->capleaves, sizeof(ad_buffer *))) {
            return -1;
        }
    }
    ad_buf_incref(g);
    sw->leaves[sw->nleaves] = t;
    sw->lgrad[sw->nleaves++] = g;
    return 0;
}

static void
sweep_reset_leaves(ad_sweep *sw)
{
    if (sw->nleaves == 0) {
        return;                 /* the hash holds entries only with leaves */
    }
    for (int64_t k = 0; k < sw->nleaves; k++) {
        ad_buf_decref(sw->lgrad[k]);
        sw->lgrad[k] = NULL;
    }
    sw->nleaves = 0;
    if (sw->caphash) {
        memset(sw->hash, 0, (size_t)sw->caphash * sizeof(int64_t));
    }
}

static ad_buffer *
buf_copy(const ad_buffer *src, size_t nbytes)
{
    ad_buffer *b = ad_buf_alloc(nbytes);
    if (b) {
        memcpy(AD_BUF_DATA(b), AD_BUF_DATA(src), nbytes);
    }
    return b;
}

/* *slot += g, copying first if *slot is shared. */
static ad_status
accumulate(ad_buffer **slot, ad_buffer *g, const ad_tensor *t)
{
    size_t nb = ad_nbytes(t);
    if (ad_buf_shared(*slot)) {
        ad_buffer *c = buf_copy(*slot, nb);
        if (!c) {
            return ad_error(AD_ERR_NOMEM, "out of memory in backward");
        }
        ad_buf_decref(*slot);
        *slot = c;
    }
    ad_k(t->dtype)->axpy(AD_BUF_DATA(*slot), AD_BUF_DATA(g), t->size, 1.0);
    return AD_OK;
}

ad_status
ad_acc_grad(ad_record *r, int i, ad_buffer **g, int steal)
{
    ad_tensor *t = ad_rec_input(r, i);
    ad_sweep *sw = &tls_sweep;
    ad_status s = AD_OK;
    ad_buffer **slot;
    if (!t->requires_grad) {
        goto done;
    }
    if (t->rec >= 0) {
        slot = &t->tape->recs[t->rec].gacc;
        if (*slot == NULL) {
            sw->pending++;
        }
    }
    else if (!(slot = leaf_slot(sw, t))) {
        s = ad_error(AD_ERR_NOMEM, "out of memory in backward");
        goto done;
    }
    if (*slot == NULL) {
        if (steal) {
            *slot = *g;
            *g = NULL;
            return AD_OK;
        }
        *slot = buf_copy(*g, ad_nbytes(t));
        if (!*slot) {
            return ad_error(AD_ERR_NOMEM, "out of memory in backward");
        }
        return AD_OK;
    }
    s = accumulate(slot, *g, t);
done:
    if (steal) {
        ad_buf_decref(*g);
        *g = NULL;
    }
    return s;
}

static ad_status
check_versions(ad_record *r)
{
    int n = r->nin < AD_REC_INLINE ? r->nin : AD_REC_INLINE;
    if (r->saved && ad_buf_version(r->saved) != r->saved_ver) {
        char sb[AD_SHAPE_BUF];
        ad_tensor *o = r->out;
        return ad_error(AD_ERR_STATE, "one of the tensors needed for "
                        "gradient computation has been modified by an "
                        "in-place operation: the %s output of shape %s, "
                        "saved by the op that made it, is at version %u; "
                        "expected version %u", ad_dtype_name(o->dtype),
                        ad_shape_str(o->ndim, o->shape, sb, sizeof(sb)),
                        ad_buf_version(r->saved), r->saved_ver);
    }
    if (r->nin > AD_REC_INLINE) {
        return AD_OK;           /* concat reads no input values */
    }
    for (int i = 0; i < n; i++) {
        ad_tensor *x = r->in[i];
        uint32_t v = ad_buf_version(x->buf);
        if (v != r->ver[i]) {
            char sb[AD_SHAPE_BUF];
            return ad_error(AD_ERR_STATE, "one of the tensors needed for "
                            "gradient computation has been modified by an "
                            "in-place operation: a %s tensor of shape %s is "
                            "at version %u; expected version %u",
                            ad_dtype_name(x->dtype),
                            ad_shape_str(x->ndim, x->shape, sb, sizeof(sb)),
                            v, r->ver[i]);
        }
    }
    return AD_OK;
}

/* A replay gives t back the grad tensor its capture made: the same
 * object, so what the recorded step (or Python) read from t.grad sees the
 * new values.  Returns 1 when done, 0 when t has no such tensor.  Under
 * the grad lock. */
static int
deposit_alias(ad_tensor *t, ad_buffer **g)
{
    for (int64_t k = 0; k < tls_nalias; k++) {
        if (tls_alias[2 * k] != t) {
            continue;
        }
        ad_tensor *a = tls_alias[2 * k + 1];
        if (!ad_buf_shared(a->buf) && !ad_buf_shared(*g)) {
            ad_buf_decref(a->buf);      /* nobody else sees the old one */
            a->buf = *g;
        }
        else {
            memcpy(ad_data(a), AD_BUF_DATA(*g), ad_nbytes(t));
            ad_buf_decref(*g);
        }
        *g = NULL;
        ad_buf_bump(a->buf);
        ad_ref(a);
        t->grad = a;
        return 1;
    }
    return 0;
}

/* Add a finished gradient into t->grad (creating it on first use).
 * Under the grad lock; frees no tensor. */
static ad_status
deposit(ad_tensor *t, ad_buffer **g)
{
    if (t->grad == NULL && tls_nalias && deposit_alias(t, g)) {
        return AD_OK;
    }
    if (t->grad == NULL) {
        if (ad_buf_shared(*g)) {
            /* Shared (a retained grad passed on down the graph): .grad
             * gets its own copy, so in-place changes to one tensor's
             * .grad cannot show in another's. */
            ad_buffer *c = buf_copy(*g, ad_nbytes(t));
            if (!c) {
                ad_buf_decref(*g);
                *g = NULL;
                return ad_error(AD_ERR_NOMEM, "out of memory in backward");
            }
            ad_buf_decref(*g);
            *g = c;
        }
        ad_status s = ad_new_view(*g, t->dtype, t->ndim, t->shape, &t->grad);
        ad_buf_decref(*g);
        *g = NULL;
        if (s == AD_OK && ad_capture_current()) {
            s = ad_capture_grad(t, t->grad);
        }
        return s;
    }
    /* In place, as torch: a view of .grad (p.grad.detach(), what a
     * compiled step returned) sees the accumulated gradient. */
    ad_k(t->dtype)->axpy(ad_data(t->grad), AD_BUF_DATA(*g), t->size, 1.0);
    ad_buf_bump(t->grad->buf);
    ad_buf_decref(*g);
    *g = NULL;
    return ad_capture_current() ? ad_capture_grad(t, t->grad) : AD_OK;
}

/* After a failed rule: drop every gradient still pending from record i
 * down, and the leaves' pending gradients.  Leaves' .grad are untouched. */
static void
sweep_abort(ad_tape *tp, int64_t i)
{
    ad_sweep *sw = &tls_sweep;
    for (int64_t j = i; j >= 0 && sw->pending > 0; j--) {
        if (tp->recs[j].gacc) {
            ad_buf_decref(tp->recs[j].gacc);
            tp->recs[j].gacc = NULL;
            sw->pending--;
        }
    }
    sweep_reset_leaves(sw);
    sw->ndone = 0;
}

/* ---- the watch: buckets handed over as the sweep finishes them ------- */

/* The gradient this sweep holds for leaf t, or NULL. */
static const ad_buffer *
leaf_pending(const ad_sweep *sw, const ad_tensor *t)
{
    if (!sw || !sw->caphash) {
        return NULL;
    }
    for (int64_t h = leaf_hash(t, sw->caphash);;
         h = (h + 1) & (sw->caphash - 1)) {
        int64_t k = sw->hash[h];
        if (k == 0) {
            return NULL;
        }
        if (sw->leaves[k - 1] == t) {
            return sw->lgrad[k - 1];
        }
    }
}

static int
watch_find(const ad_watch *w, const ad_tensor *t)
{
    for (int64_t h = leaf_hash(t, w->caphash);;
         h = (h + 1) & (w->caphash - 1)) {
        int64_t k = w->hash[h];
        if (k == 0) {
            return -1;
        }
        if (w->leaves[k - 1] == t) {
            return (int)(k - 1);
        }
    }
}

static void
watch_forget_seen(ad_watch *w)
{
    for (int k = 0; k < w->n; k++) {
        ad_tensor *g = w->gseen[k];
        w->gseen[k] = NULL;
        ad_decref(g);
    }
}

static void
watch_release(ad_watch *w)
{
    if (__atomic_sub_fetch(&w->refs, 1, __ATOMIC_ACQ_REL) != 0) {
        return;
    }
    watch_forget_seen(w);
    for (int k = 0; k < w->n; k++) {
        ad_decref(w->leaves[k]);
    }
    if (w->ctx_free) {
        w->ctx_free(w->ctx);
    }
    for (int b = 0; b < w->nb; b++) {
        free(w->buf ? w->buf[b] : NULL);
    }
    free(w->leaves); free(w->start); free(w->bucket); free(w->off);
    free(w->total); free(w->buf); free(w->len); free(w->hash);
    free(w->minrec); free(w->order); free(w->left); free(w->fired);
    free(w->gseen); free(w->vseen);
    free(w);
}

/* weight * (.grad + pend) of leaf k into its bucket (as ad_grads_pack
 * packs the .grad the deposit will leave: the same values, bit for bit).
 * Under the grad lock. */
static void
watch_pack(ad_watch *w, int k, const ad_buffer *pend)
{
    ad_tensor *t = w->leaves[k], *g = t->grad;
    int b = w->bucket[k];
    int64_t m = t->size;
    if (g && (g->size != m || g->dtype != t->dtype)) {
        g = NULL;               /* cannot happen: the grad setter checks */
    }
    int has = g != NULL || pend != NULL;
    double wt = w->weight;
#define WATCH_PACK(T)                                                      \
    do {                                                                   \
        T *d = (T *)w->buf[b] + w->off[k];                                 \
        const T *gs = g ? ad_data(g) : NULL;                               \
        const T *ps = pend ? (const T *)AD_BUF_DATA(pend) : NULL;          \
        for (int64_t i = 0; i < m; i++) {                                  \
            T v = gs ? (ps ? (T)(gs[i] + ps[i]) : gs[i])                   \
                     : (ps ? ps[i] : (T)0);                                \
            d[i] = (T)(wt * v);                                            \
        }                                                                  \
        ((T *)w->buf[b])[w->total[b] + (k - w->start[b])] = has ? 1 : 0;  \
    } while (0)
    if (t->dtype == AD_F64) {
        WATCH_PACK(double);
    }
    else {
        WATCH_PACK(float);
    }
#undef WATCH_PACK
}

/* Bucket b's weight and failure flag, then hand it over. */
static void
watch_hand(ad_watch *w, int b, int failed)
{
    int64_t at = w->total[b] + (w->start[b + 1] - w->start[b]);
    if (w->leaves[w->start[b]]->dtype == AD_F64) {
        ((double *)w->buf[b])[at] = w->weight;
        ((double *)w->buf[b])[at + 1] = failed;
    }
    else {
        ((float *)w->buf[b])[at] = (float)w->weight;
        ((float *)w->buf[b])[at + 1] = (float)failed;
    }
    w->fired[b] = 1;
    w->ready(w->ctx, b);
}

/* Leaf k's gradient is final: pack it; a complete bucket other than the
 * last is handed over at once (the last one waits for the sweep's end). */
static void
watch_final(ad_watch *w, int k, const ad_sweep *sw)
{
    ad_grad_lock();
    watch_pack(w, k, leaf_pending(sw, w->leaves[k]));
    ad_grad_unlock();
    int b = w->bucket[k];
    if (--w->left[b] == 0 && b != w->nb - 1) {
        watch_hand(w, b, 0);
    }
}

/* Remember each watched leaf's .grad (a reference) and its version. */
static void
watch_seen(ad_watch *w)
{
    watch_forget_seen(w);
    ad_grad_lock();
    for (int k = 0; k < w->n; k++) {
        ad_tensor *g = w->leaves[k]->grad;
        if (g) {
            ad_ref(g);
            w->vseen[k] = ad_buf_version(g->buf);
        }
        w->gseen[k] = g;
    }
    ad_grad_unlock();
}

/* The armed watch of this thread, NULL when none. */
static ad_watch *
watch_current(void)
{
    ad_watch *w = tls_watch;
    if (w && __atomic_load_n(&w->closed, __ATOMIC_ACQUIRE)) {
        tls_watch = NULL;
        watch_release(w);
        return NULL;
    }
    return w && w->state != 0 ? w : NULL;
}

static ad_status
refuse_watched(const char *what)
{
    return ad_error(AD_ERR_STATE, "%s cannot run while a "
                    "DistributedOptimizer(overlap=True) is armed on this "
                    "thread: a compiled backward does not hand gradient "
                    "buckets over; use overlap=False with ad.compile", what);
}

/* Which watch the sweep of tp's records 0..top feeds (*out, NULL for
 * none); fails when its buckets were handed over already. */
static ad_status
watch_begin(ad_tape *tp, int64_t top, ad_watch **out)
{
    *out = NULL;
    ad_watch *w = watch_current();
    if (!w) {
        return AD_OK;
    }
    int any = 0;
    for (int k = 0; k < w->n; k++) {
        w->minrec[k] = INT64_MAX;       /* no consumer: final at once */
    }
    for (int64_t j = 0; j <= top; j++) {
        ad_record *r = &tp->recs[j];
        if (r->state != AD_REC_LIVE) {
            continue;
        }
        for (int i = 0; i < r->nin; i++) {
            ad_tensor *x = ad_rec_input(r, i);
            if (x->rec >= 0 || !x->requires_grad) {
                continue;
            }
            int k = watch_find(w, x);
            if (k >= 0 && w->minrec[k] == INT64_MAX) {
                w->minrec[k] = j;
                any = 1;
            }
        }
    }
    if (!any) {
        return AD_OK;
    }
    if (w->state == 2) {
        return ad_error(AD_ERR_STATE, "backward() reached the parameters of "
                        "a DistributedOptimizer(overlap=True) whose "
                        "gradients were already handed to the allreduce by "
                        "an earlier backward(); call step() between "
                        "backward()s, or run the earlier ones under "
                        "optimizer.no_sync() to accumulate gradients");
    }
    /* leaves by minrec descending (insertion sort: a few hundred) */
    for (int k = 0; k < w->n; k++) {
        int j = k;
        while (j > 0 && w->minrec[w->order[j - 1]] < w->minrec[k]) {
            w->order[j] = w->order[j - 1];
            j--;
        }
        w->order[j] = k;
    }
    for (int b = 0; b < w->nb; b++) {
        w->left[b] = w->start[b + 1] - w->start[b];
        w->fired[b] = 0;
    }
    *out = w;
    return AD_OK;
}

/* The sweep is about to run the rule of record i (or stops, i = -1):
 * every leaf no record at or below i consumes is final. */
static int
watch_advance(ad_watch *w, int cur, int64_t i, const ad_sweep *sw)
{
    while (cur < w->n && w->minrec[w->order[cur]] > i) {
        watch_final(w, w->order[cur++], sw);
    }
    return cur;
}

/* The sweep ended with status s: the buckets not handed over yet go now
 * (all of them flagged when it failed). */
static void
watch_end(ad_watch *w, ad_status s)
{
    for (int b = 0; b < w->nb; b++) {
        if (!w->fired[b]) {
            watch_hand(w, b, s != AD_OK);
        }
    }
    w->state = 2;
    if (s == AD_OK) {
        watch_seen(w);
    }
}

ad_status
ad_watch_new(int n, ad_tensor **leaves, int nb, const int *start,
             ad_ready_fn ready, void *ctx, void (*ctx_free)(void *ctx),
             ad_watch **out)
{
    char sb[AD_SHAPE_BUF];
    *out = NULL;
    if (n < 1 || nb < 1 || !ready || start[0] != 0 || start[nb] != n) {
        return ad_error(AD_ERR_VALUE, "a watch needs leaves, buckets "
                        "covering them (start[0] = 0, start[nbuckets] = n) "
                        "and a ready callback");
    }
    for (int b = 0; b < nb; b++) {
        if (start[b + 1] <= start[b]) {
            return ad_error(AD_ERR_VALUE, "bucket %d of the watch is empty",
                            b);
        }
        for (int k = start[b]; k < start[b + 1]; k++) {
            ad_tensor *t = leaves[k];
            if (t->dtype != leaves[start[b]]->dtype ||
                (t->dtype != AD_F32 && t->dtype != AD_F64)) {
                return ad_error(AD_ERR_TYPE, "watched leaf %d is %s in a "
                                "bucket of %s (buckets hold float32 or "
                                "float64 of one dtype)", k,
                                ad_dtype_name(t->dtype),
                                ad_dtype_name(leaves[start[b]]->dtype));
            }
            if (t->rec >= 0 || !t->requires_grad) {
                return ad_error(AD_ERR_VALUE, "watched tensor %d (%s) is "
                                "not a leaf that requires grad", k,
                                ad_shape_str(t->ndim, t->shape, sb,
                                             sizeof(sb)));
            }
        }
    }
    ad_watch *w = calloc(1, sizeof(*w));
    if (!w) {
        return ad_error(AD_ERR_NOMEM, "out of memory making a watch");
    }
    w->n = n;
    w->nb = nb;
    w->refs = 1;
    w->caphash = 16;
    while (w->caphash < 2 * (int64_t)n + 2) {
        w->caphash *= 2;
    }
    w->leaves = calloc((size_t)n, sizeof(*w->leaves));
    w->start = calloc((size_t)nb + 1, sizeof(int));
    w->bucket = calloc((size_t)n, sizeof(int));
    w->off = calloc((size_t)n, sizeof(int64_t));
    w->total = calloc((size_t)nb, sizeof(int64_t));
    w->buf = calloc((size_t)nb, sizeof(void *));
    w->len = calloc((size_t)nb, sizeof(int64_t));
    w->hash = calloc((size_t)w->caphash, sizeof(int64_t));
    w->minrec = calloc((size_t)n, sizeof(int64_t));
    w->order = calloc((size_t)n, sizeof(int));
    w->left = calloc((size_t)nb, sizeof(int));
    w->fired = calloc((size_t)nb, 1);
    w->gseen = calloc((size_t)n, sizeof(ad_tensor *));
    w->vseen = calloc((size_t)n, sizeof(uint32_t));
    int ok = w->leaves && w->start && w->bucket && w->off && w->total &&
             w->buf && w->len && w->hash && w->minrec && w->order &&
             w->left && w->fired && w->gseen && w->vseen;
    for (int b = 0; ok && b < nb; b++) {
        int64_t tot = 0;
        for (int k = start[b]; k < start[b + 1]; k++) {
            w->bucket[k] = b;
            w->off[k] = tot;
            tot += leaves[k]->size;
        }
        w->total[b] = tot;
        w->len[b] = tot + (start[b + 1] - start[b]) + 2;
        w->buf[b] = calloc((size_t)w->len[b],
                           leaves[start[b]]->dtype == AD_F64 ? 8 : 4);
        ok = w->buf[b] != NULL;
    }
    if (!ok) {
        watch_release(w);
        return ad_error(AD_ERR_NOMEM, "out of memory making a watch");
    }
    memcpy(w->start, start, ((size_t)nb + 1) * sizeof(int));
    for (int k = 0; k < n; k++) {
        if (watch_find(w, leaves[k]) >= 0) {
            watch_release(w);
            return ad_error(AD_ERR_VALUE, "watched leaf %d appears twice",
                            k);
        }
        int64_t h = leaf_hash(leaves[k], w->caphash);
        while (w->hash[h]) {
            h = (h + 1) & (w->caphash - 1);
        }
        w->hash[h] = k + 1;
        ad_ref(leaves[k]);
        w->leaves[k] = leaves[k];
    }
    w->ready = ready;
    w->ctx = ctx;
    w->ctx_free = ctx_free;
    *out = w;
    return AD_OK;
}

void *
ad_watch_buf(ad_watch *w, int b, int64_t *len)
{
    if (b < 0 || b >= w->nb) {
        *len = 0;
        return NULL;
    }
    *len = w->len[b];
    return w->buf[b];
}

ad_status
ad_watch_arm(ad_watch *w, double weight)
{
    if (tls_sweeping) {
        return ad_error(AD_ERR_STATE, "a watch cannot be armed during "
                        "backward()");
    }
    ad_watch *cur = tls_watch;
    if (cur && cur != w) {
        if (__atomic_load_n(&cur->closed, __ATOMIC_ACQUIRE)) {
            tls_watch = NULL;
            watch_release(cur);
        }
        else if (cur->state != 0) {
            return ad_error(AD_ERR_STATE, "another "
                            "DistributedOptimizer(overlap=True) is armed "
                            "on this thread; one at a time (disarm it, or "
                            "use overlap=False for the other)");
        }
        else {
            tls_watch = NULL;
            watch_release(cur);
        }
    }
    if (tls_watch != w) {
        __atomic_add_fetch(&w->refs, 1, __ATOMIC_ACQ_REL);
        tls_watch = w;
    }
    watch_forget_seen(w);
    memset(w->fired, 0, (size_t)w->nb);
    w->weight = weight;
    w->state = 1;
    return AD_OK;
}

void
ad_watch_disarm(ad_watch *w)
{
    w->state = 0;
}

int
ad_watch_state(const ad_watch *w)
{
    return w->state;
}

ad_status
ad_watch_flush(ad_watch *w)
{
    if (w->state != 1) {
        return ad_error(AD_ERR_STATE, "the watch is not armed (state %d)",
                        w->state);
    }
    ad_grad_lock();
    for (int k = 0; k < w->n; k++) {
        if (!w->fired[w->bucket[k]]) {
            watch_pack(w, k, NULL);
        }
    }
    ad_grad_unlock();
    watch_end(w, AD_OK);
    return AD_OK;
}

int
ad_watch_check(ad_watch *w)
{
    int bad = -1;
    ad_grad_lock();
    for (int k = 0; k < w->n && bad < 0; k++) {
        ad_tensor *g = w->leaves[k]->grad;
        if (g != w->gseen[k] ||
            (g && ad_buf_version(g->buf) != w->vseen[k])) {
            bad = k;
        }
    }
    ad_grad_unlock();
    return bad;
}

void
ad_watch_close(ad_watch *w)
{
    if (w) {
        __atomic_store_n(&w->closed, 1, __ATOMIC_RELEASE);
    }
}

void
ad_watch_free(ad_watch *w)
{
    if (!w) {
        return;
    }
    w->state = 0;
    ad_watch_close(w);
    if (tls_watch == w) {
        tls_watch = NULL;
        watch_release(w);
    }
    watch_release(w);
}

static const char freed_msg[] =
    "Trying to backward through the graph a second time (or directly "
    "access saved tensors after they have already been freed). Saved "
    "intermediate values of the graph are freed when you call "
    ".backward(); specify retain_graph=True if you need to backward "
    "through the graph a second time";

static ad_status sweep(ad_tensor *root, ad_tensor *grad, int replay);

static ad_status
refuse_nested(void)
{
    return ad_error(AD_ERR_STATE, "backward() cannot run while another "
                    "backward() is running on this thread (from a custom "
                    "Function's backward, or code it triggered); use "
                    "autodiff.autograd.grad there");
}

ad_status
ad_backward_sweep(ad_tensor *root, ad_tensor *grad)
{
    if (tls_sweeping) {
        return refuse_nested();
    }
    if (ad_capture_current() && watch_current()) {
        return refuse_watched("backward() inside an ad.compile recording");
    }
    tls_depth++;                /* context releases wait for the release */
    tls_sweeping++;
    ad_status s = sweep(root, grad, 0);
    tls_sweeping--;
    if (ad_capture_current()) {
        ad_status c = ad_capture_backward(root, grad, s == AD_OK);
        if (s == AD_OK) {
            s = c;
        }
    }
    tls_depth--;
    if (s != AD_OK) {
        tls_sweep.ndone = 0;
        flush_contexts();       /* no release follows a failed sweep */
    }
    return s;
}

ad_status
ad_sweep_replay(ad_tensor *root, ad_tensor *grad, ad_tensor **alias,
                int64_t nalias)
{
    if (tls_sweeping) {
        return refuse_nested();
    }
    if (watch_current()) {
        return refuse_watched("the backward of a compiled step");
    }
    tls_alias = alias;
    tls_nalias = nalias;
    tls_depth++;
    tls_sweeping++;
    ad_status s = sweep(root, grad, 1);
    tls_sweeping--;
    tls_depth--;
    tls_alias = NULL;
    tls_nalias = 0;
    tls_sweep.ndone = 0;
    flush_contexts();
    return s;
}

/* Why root's graph cannot be swept by this thread. */
static ad_status
foreign_root(const ad_tape *rt)
{
    if (rt->kind == AD_TAPE_PROGRAM) {
        return ad_error(AD_ERR_STATE, "backward() on an output of a compiled "
                        "function (autodiff.compile): its graph belongs to "
                        "the compiled program; call backward() inside the "
                        "compiled function, or detach() the output");
    }
    if (rt->kind == AD_TAPE_SCRATCH) {
        return ad_error(AD_ERR_STATE, "backward() on a tensor computed "
                        "inside a custom Function's backward: its graph was "
                        "recorded on that backward's own tape; detach() it");
    }
    if (tape_mine(rt)) {
        return ad_error(AD_ERR_STATE, "backward() of a graph recorded "
                        "eagerly on this thread cannot run while a compiled "
                        "function is recording (or inside a custom "
                        "Function's backward)");
    }
    return ad_error(AD_ERR_STATE, "backward() must run on the thread that "
                    "recorded the graph");
}

static ad_status
sweep(ad_tensor *root, ad_tensor *grad, int replay)
{
    ad_sweep *sw = &tls_sweep;
    char s1[AD_SHAPE_BUF], s2[AD_SHAPE_BUF];
    ad_status s = AD_OK;

    sw->pending = 0;
    sweep_reset_leaves(sw);
    sw->ndone = 0;
    if (!root->requires_grad) {
        return ad_error(AD_ERR_STATE, "element 0 of tensors does not "
                        "require grad and does not have a grad_fn");
    }
    if (grad == NULL && root->size != 1) {
        return ad_error(AD_ERR_STATE, "grad can be implicitly created only "
                        "for tensors with one element; backward() on a "
                        "tensor of shape %s needs a grad argument",
                        ad_shape_str(root->ndim, root->shape, s1,
                                     sizeof(s1)));
    }
    if (grad && grad->size != root->size) {
        return ad_error(AD_ERR_SHAPE, "grad of shape %s does not match the "
                        "tensor's shape %s",
                        ad_shape_str(grad->ndim, grad->shape, s1, sizeof(s1)),
                        ad_shape_str(root->ndim, root->shape, s2,
                                     sizeof(s2)));
    }
    if (!replay && root->rec >= 0 && root->tape != tls_tape) {
        return foreign_root(root->tape);
    }
    if (!replay && root->rec >= 0 && tape_mine(root->tape)) {
        take_foreign(root->tape);
    }
    ad_watch *w = NULL;
    if (!replay && root->rec >= 0 &&
        (s = watch_begin(root->tape, root->rec, &w)) != AD_OK) {
        return s;
    }
    int wcur = 0;
    ad_buffer *seed = ad_buf_alloc(ad_nbytes(root));
    if (!seed) {
        s = ad_error(AD_ERR_NOMEM, "out of memory in backward");
        if (w) {
            watch_end(w, s);
        }
        return s;
    }
    if (grad) {
        ad_cast_buf(ad_data(grad), grad->dtype, AD_BUF_DATA(seed),
                    root->dtype, root->size);
    }
    else {
        ad_kany(root->dtype)->fill(AD_BUF_DATA(seed), root->size, 1.0);
    }
    if (root->rec < 0) {
        ad_grad_lock();
        s = deposit(root, &seed);
        ad_grad_unlock();
        return s;
    }

    ad_tape *tp = root->tape;
    int64_t i = root->rec;
    tp->recs[i].gacc = seed;
    sw->pending = 1;
    tls_swept = tp;
    for (; i >= 0 && sw->pending > 0; i--) {
        ad_record *r = &tp->recs[i];
        if (w) {
            wcur = watch_advance(w, wcur, i, sw);
        }
        if (r->gacc == NULL) {
            continue;
        }
        sw->pending--;
        if (r->state != AD_REC_LIVE) {
            s = ad_error(AD_ERR_STATE, "%s", freed_msg);
        }
        if (s == AD_OK) {
            s = check_versions(r);
        }
        if (s == AD_OK && r->out->retains_grad &&
            retain_slot(sw, r->out, r->gacc)) {
            /* Held like a leaf's gradient and deposited only once the
             * whole sweep succeeded (shared: accumulation copies). */
            s = ad_error(AD_ERR_NOMEM, "out of memory in backward");
        }
        if (s == AD_OK) {
            /* An op without a backward (a comparison, argmax) has an
             * int64 or bool output, which never receives a gradient. */
            s = r->def->backward
                    ? r->def->backward(r, &r->gacc)
                    : ad_error(AD_ERR_STATE, "%s has no gradient",
                               r->def->name);
        }
        ad_buf_decref(r->gacc);
        r->gacc = NULL;
        if (s == AD_OK && sw->ndone == sw->capdone &&
            ad_grow((void **)&sw->done, &sw->capdone, sizeof(int64_t))) {
            s = ad_error(AD_ERR_NOMEM, "out of memory in backward");
        }
        if (s != AD_OK) {
            tls_swept = NULL;
            sweep_abort(tp, i - 1);
            if (w) {
                watch_end(w, s);        /* flagged: every rank raises */
            }
            return s;
        }
        sw->done[sw->ndone++] = i;
    }
    tls_swept = NULL;
    if (w) {
        watch_advance(w, wcur, -1, sw);
    }
    /* Leaves may be shared with sweeps on other threads: their .grad is
     * written under the grad lock, all at once. */
    ad_grad_lock();
    for (int64_t k = 0; k < sw->nleaves; k++) {
        if (s == AD_OK && sw->lgrad[k]) {
            s = deposit(sw->leaves[k], &sw->lgrad[k]);
        }
    }
    ad_grad_unlock();
    sweep_reset_leaves(sw);
    if (w) {
        watch_end(w, s);
    }
    return s;
}

void
ad_backward_release(ad_tensor *root)
{
    /* Consume the swept records: free what they saved and their inputs.
     * Their slots stay put during this loop (nothing records, no Python
     * runs: custom contexts are released after it), so indices remain
     * valid even when the cascade kills records further down the list. */
    ad_sweep *sw = &tls_sweep;
    if (root->rec < 0 || ad_capture_current() || root->tape != tls_tape) {
        sw->ndone = 0;          /* a captured graph is kept for replay */
        return;
    }
    ad_tape *tp = root->tape;
    tls_depth++;
    ad_ref(root);               /* keep the tape alive through the loop */
    for (int64_t k = 0; k < sw->ndone; k++) {
        ad_record *r = &tp->recs[sw->done[k]];
        if (r->state == AD_REC_LIVE) {
            r->state = AD_REC_CONSUMED;
            record_drop_refs(r);
        }
    }
    sw->ndone = 0;
    ad_decref(root);
    take_foreign(tp);
    tls_depth--;
    flush_contexts();
}

ad_status
ad_backward(ad_tensor *root, ad_tensor *grad, int retain_graph)
{
    ad_status s = ad_backward_sweep(root, grad);
    if (s == AD_OK && !retain_graph) {
        ad_backward_release(root);
    }
    tls_sweep.ndone = 0;
    if (s == AD_OK && retain_graph) {
        flush_contexts();
    }
    return s;
}

/* ---- the graph, read by the differentiable backward ------------------ */

ad_status
ad_node(const ad_tensor *t, ad_node_info *info)
{
    memset(info, 0, sizeof(*info));
    info->op = -1;
    if (t->rec < 0) {
        return AD_OK;
    }
    if (t->tape->kind != AD_TAPE_PROGRAM && !tape_mine(t->tape)) {
        return ad_error(AD_ERR_STATE, "this graph was recorded on another "
                        "thread (or inside a custom Function's backward); "
                        "autodiff.autograd.grad must run on the thread that "
                        "recorded it -- detach() the tensor first");
    }
    ad_record *r = &t->tape->recs[t->rec];
    if (r->state != AD_REC_LIVE) {
        return ad_error(AD_ERR_STATE, "%s", freed_msg);
    }
    ad_status s = check_versions(r);
    if (s) {
        return s;
    }
    info->op = r->def->code;
    info->kind = r->kind;
    info->nin = r->nin;
    info->attrs = r->at;
    info->saved = r->saved && r->def->saved != AD_SAVED_OUT
                  ? AD_BUF_DATA(r->saved) : NULL;
    info->ext = r->ext;
    return AD_OK;
}

ad_tensor *
ad_node_input(const ad_tensor *t, int i)
{
    if (t->rec < 0) {
        return NULL;
    }
    ad_record *r = &t->tape->recs[t->rec];
    return (i >= 0 && i < r->nin) ? ad_rec_input(r, i) : NULL;
}

ad_status
ad_zero_grad(ad_tensor *t)
{
    /* Decided when it runs, also in a replay: zero the grad if there is
     * one, as the Python loop that called it would. */
    if (ad_capture_current()) {
        ad_status s = ad_capture_instr(AD_I_ZERO_GRAD, t, NULL, 0.0);
        if (s) {
            return s;
        }
    }
    ad_grad_lock();
    ad_tensor *g = t->grad;
    if (g) {
        ad_kany(g->dtype)->fill(ad_data(g), g->size, 0.0);
        ad_mark_modified(g);
    }
    ad_grad_unlock();
    return AD_OK;
}

ad_status
ad_set_grad(ad_tensor *t, ad_tensor *g)
{
    ad_status s = AD_OK;
    ad_grad_lock();
    for (ad_tensor *c = g; c; c = c->grad) {
        if (c == t) {
            ad_grad_unlock();
            return ad_error(AD_ERR_VALUE, "assigning this grad would make a "
                            "cycle of .grad references (the new grad, or a "
                            "grad of its grad, is the tensor itself) that "
                            "could never be freed; assign a copy (clone() or "
                            "detach()) instead");
        }
    }
    if (ad_capture_current()) {
        s = ad_capture_instr(AD_I_SET_GRAD, t, g, 0.0);
    }
    ad_tensor *old = NULL;
    if (s == AD_OK) {
        if (g) {
            ad_ref(g);
        }
        old = t->grad;
        t->grad = g;
    }
    ad_grad_unlock();
    ad_decref(old);             /* outside the lock: may run Python */
    return s;
}

ad_tensor *
ad_get_grad(ad_tensor *t)
{
    ad_grad_lock();
    ad_tensor *g = t->grad;
    if (g) {
        ad_ref(g);
    }
    ad_grad_unlock();
    return g;
}

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
 * none is skipped.  The sweep stops as soon as no gradient is pending.
 * Creation order is a topological order, so no sort is ever needed.
 */
#include "ad_impl.h"

#include <pthread.h>
#include <stdlib.h>

static AD_TLS ad_tape *tls_tape;
static pthread_key_t tape_key;
static pthread_once_t tape_once = PTHREAD_ONCE_INIT;

static void tape_free(ad_tape *tp)
{
    free(tp->recs);
    free(tp);
}

static void
tape_thread_exit(void *arg)
{
    ad_tape *tp = arg;
    if (tp->live == 0) {
        tape_free(tp);
    }
    else {
        tp->orphan = 1;         /* freed when its last record dies */
    }
}

static void
tape_make_key(void)
{
    pthread_key_create(&tape_key, tape_thread_exit);
}

static ad_tape *
tape_get(void)
{
    if (AD_UNLIKELY(!tls_tape)) {
        ad_tape *tp = calloc(1, sizeof(ad_tape));
        if (!tp) {
            return NULL;
        }
        pthread_once(&tape_once, tape_make_key);
        pthread_setspecific(tape_key, tp);
        tls_tape = tp;
    }
    return tls_tape;
}

ad_tape *
ad_tape_new(void)
{
    return calloc(1, sizeof(ad_tape));
}

ad_tape *
ad_tape_swap(ad_tape *tp)
{
    ad_tape *old = tape_get();
    tls_tape = tp;
    return old;
}

void
ad_tape_release(ad_tape *tp)
{
    if (tp->live == 0) {
        tape_free(tp);
    }
    else {
        tp->orphan = 1;
    }
}

int64_t
ad_tape_count(int64_t *live)
{
    ad_tape *tp = tls_tape;
    *live = tp ? tp->live : 0;
    return tp ? tp->n : 0;
}

/* ---- release -------------------------------------------------------- */

/* Tensors whose count reached zero, waiting to be torn down. */
static AD_TLS ad_tensor **tls_dead;
static AD_TLS int64_t tls_ndead, tls_capdead;
static AD_TLS int tls_releasing;

static void drop(ad_tensor *t);
static void scratch_register(void);

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
        ad_custom_release(ctx);
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
    if (tp->orphan && tp->live == 0) {
        tape_free(tp);
    }
}

static void
teardown(ad_tensor *t)
{
    ad_buf_decref(t->buf);
    ad_buf_decref(t->gacc);
    if (t->grad) {
        drop(t->grad);
    }
    if (t->rec >= 0) {
        record_kill(t->tape, t->rec);
    }
    ad_tensor_struct_free(t);
}

/* Decrement; a tensor reaching zero is queued, and the outermost call
 * drains the queue, so teardown never recurses. */
static void
drop(ad_tensor *t)
{
    if (--t->refcnt > 0) {
        return;
    }
    if (tls_ndead == tls_capdead) {
        int64_t cap = tls_capdead ? 2 * tls_capdead : 256;
        scratch_register();
        ad_tensor **nd = realloc(tls_dead, (size_t)cap * sizeof(*nd));
        if (!nd) {
            teardown(t);        /* no room to queue: recurse instead */
            return;
        }
        tls_dead = nd;
        tls_capdead = cap;
    }
    tls_dead[tls_ndead++] = t;
    if (tls_releasing) {
        return;
    }
    tls_releasing = 1;
    while (tls_ndead > 0) {
        teardown(tls_dead[--tls_ndead]);
    }
    tls_releasing = 0;
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

static ad_status
record_op(ad_tensor *out, int op, int kind, int n, ad_tensor **xs,
          ad_record **rec, int grad)
{
    ad_tape *tp = tape_get();
    if (!tp) {
        return ad_error(AD_ERR_NOMEM, "out of memory creating a tape");
    }
    for (int i = 0; i < n; i++) {
        if (xs[i]->rec >= 0 && xs[i]->tape != tp) {
            return ad_error(AD_ERR_STATE, "an input of this op was computed "
                            "on another thread's tape; each thread records "
                            "its own graph -- detach() the tensor first");
        }
    }
    ad_status s = tape_reserve(tp);
    if (s) {
        return s;
    }
    ad_record *r = &tp->recs[tp->n];
    memset(r, 0, sizeof(*r));
    if (n > AD_REC_INLINE) {
        r->ins = malloc((size_t)n * sizeof(ad_tensor *));
        if (!r->ins) {
            return ad_error(AD_ERR_NOMEM, "out of memory recording an op");
        }
    }
    ad_tensor **dst = n > AD_REC_INLINE ? r->ins : r->in;
    for (int i = 0; i < n; i++) {
        dst[i] = xs[i];
        xs[i]->refcnt++;
        if (i < AD_REC_INLINE) {
            r->ver[i] = xs[i]->buf->version;
        }
    }
    r->nin = n;
    r->op = (uint8_t)op;
    r->kind = (uint8_t)kind;
    r->state = AD_REC_LIVE;
    r->out = out;
    out->tape = tp;
    out->rec = tp->n;
    out->requires_grad = (uint8_t)grad;
    tp->n++;
    tp->live++;
    *rec = r;
    if (ad_capture_current()) {
        return ad_capture_own(out);
    }
    return AD_OK;
}

ad_status
ad_record_op(ad_tensor *out, int op, int kind, int n, ad_tensor **xs,
             ad_record **rec)
{
    return record_op(out, op, kind, n, xs, rec, 1);
}

ad_status
ad_finish(ad_tensor *out, int op, int kind, int n, ad_tensor **xs,
          ad_record **rec)
{
    *rec = NULL;
    int grad = ad_needs_record(n, xs);
    if (!grad && !ad_capture_current()) {
        return AD_OK;
    }
    /* While capturing, every op is recorded: the program replays them. */
    ad_status s = record_op(out, op, kind, n, xs, rec, grad);
    if (s) {
        ad_decref(out);
    }
    return s;
}

/* ---- the sweep ------------------------------------------------------- */

typedef struct {
    int64_t pending;            /* records with a gradient not yet swept */
    ad_tensor **leaves;         /* leaves that received a gradient */
    int64_t nleaves, capleaves;
    int64_t *done;              /* records swept, to consume afterwards */
    int64_t ndone, capdone;
} ad_sweep;

static AD_TLS ad_sweep tls_sweep;
static AD_TLS int tls_sweeping;         /* a sweep is running */
/* During a replay's sweep: (leaf, grad) pairs whose grads to refill. */
static AD_TLS ad_tensor **tls_alias;
static AD_TLS int64_t tls_nalias;

int
ad_sweep_active(void)
{
    return tls_sweeping;
}

/* The release queue and the sweep's arrays are per thread: free them when
 * the thread exits (a thread's static TLS is still valid while its key
 * destructors run), or every thread that freed a graph or ran a backward
 * would leak them. */
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static AD_TLS int tls_scratch_registered;

static void
scratch_thread_exit(void *arg)
{
    (void)arg;
    tls_scratch_registered = 0;
    free(tls_dead);
    tls_dead = NULL;
    tls_ndead = tls_capdead = 0;
    free(tls_sweep.leaves);
    free(tls_sweep.done);
    memset(&tls_sweep, 0, sizeof(tls_sweep));
}

static void
scratch_make_key(void)
{
    pthread_key_create(&scratch_key, scratch_thread_exit);
}

static void
scratch_register(void)
{
    if (AD_UNLIKELY(!tls_scratch_registered)) {
        pthread_once(&scratch_once, scratch_make_key);
        pthread_setspecific(scratch_key, &tls_scratch_registered);
        tls_scratch_registered = 1;
    }
}

static int
grow(void **p, int64_t *cap, size_t item)
{
    int64_t nc = *cap ? 2 * *cap : 64;
    scratch_register();
    void *np = realloc(*p, (size_t)nc * item);
    if (!np) {
        return -1;
    }
    *p = np;
    *cap = nc;
    return 0;
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
    if ((*slot)->refcnt > 1) {
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
    if (!t->requires_grad) {
        goto done;
    }
    ad_buffer **slot = t->rec >= 0 ? &t->tape->recs[t->rec].gacc : &t->gacc;
    if (*slot == NULL) {
        if (t->rec < 0) {
            if (sw->nleaves == sw->capleaves &&
                grow((void **)&sw->leaves, &sw->capleaves,
                     sizeof(ad_tensor *))) {
                s = ad_error(AD_ERR_NOMEM, "out of memory in backward");
                goto done;
            }
            sw->leaves[sw->nleaves++] = t;
        }
        else {
            sw->pending++;
        }
        if (steal) {
            *slot = *g;
            *g = NULL;
        }
        else {
            *slot = buf_copy(*g, ad_nbytes(t));
            if (!*slot) {
                return ad_error(AD_ERR_NOMEM, "out of memory in backward");
            }
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

const ad_backward_fn ad_backward_table[AD_OP_COUNT] = {
    [AD_OP_UNARY] = ad_bw_unary,
    [AD_OP_BINARY] = ad_bw_binary,
    [AD_OP_WHERE] = ad_bw_where,
    [AD_OP_REDUCE] = ad_bw_reduce,
    [AD_OP_RESHAPE] = ad_bw_reshape,
    [AD_OP_PERMUTE] = ad_bw_permute,
    [AD_OP_BROADCAST] = ad_bw_broadcast,
    [AD_OP_CONCAT] = ad_bw_concat,
    [AD_OP_GATHER] = ad_bw_gather,
    [AD_OP_CAST] = ad_bw_cast,
    [AD_OP_MATMUL] = ad_bw_matmul,
    [AD_OP_SOFTMAX] = ad_bw_softmax,
    [AD_OP_LOSS] = ad_bw_loss,
    [AD_OP_NLL] = ad_bw_nll,
    [AD_OP_LINEAR] = ad_bw_linear,
    [AD_OP_SCATTER] = ad_bw_scatter,
    [AD_OP_CUSTOM] = ad_bw_custom,
    [AD_OP_DROPOUT] = ad_bw_dropout,
};

const ad_forward_fn ad_forward_table[AD_OP_COUNT] = {
    [AD_OP_UNARY] = ad_fw_unary,
    [AD_OP_BINARY] = ad_fw_binary,
    [AD_OP_WHERE] = ad_fw_where,
    [AD_OP_REDUCE] = ad_fw_reduce,
    [AD_OP_RESHAPE] = ad_fw_reshape,
    [AD_OP_PERMUTE] = ad_fw_permute,
    [AD_OP_BROADCAST] = ad_fw_broadcast,
    [AD_OP_CONCAT] = ad_fw_concat,
    [AD_OP_GATHER] = ad_fw_gather,
    [AD_OP_CAST] = ad_fw_cast,
    [AD_OP_MATMUL] = ad_fw_matmul,
    [AD_OP_SOFTMAX] = ad_fw_softmax,
    [AD_OP_LOSS] = ad_fw_loss,
    [AD_OP_NLL] = ad_fw_nll,
    [AD_OP_LINEAR] = ad_fw_linear,
    [AD_OP_SCATTER] = ad_fw_scatter,
    [AD_OP_CUSTOM] = ad_fw_custom,
    [AD_OP_DROPOUT] = ad_fw_dropout,
};

static ad_status
check_versions(ad_record *r)
{
    int n = r->nin < AD_REC_INLINE ? r->nin : AD_REC_INLINE;
    if (r->saved && r->saved->version != r->saved_ver) {
        char sb[AD_SHAPE_BUF];
        ad_tensor *o = r->out;
        return ad_error(AD_ERR_STATE, "one of the tensors needed for "
                        "gradient computation has been modified by an "
                        "in-place operation: the %s output of shape %s, "
                        "saved by the op that made it, is at version %u; "
                        "expected version %u", ad_dtype_name(o->dtype),
                        ad_shape_str(o->ndim, o->shape, sb, sizeof(sb)),
                        r->saved->version, r->saved_ver);
    }
    if (r->nin > AD_REC_INLINE) {
        return AD_OK;           /* concat reads no input values */
    }
    for (int i = 0; i < n; i++) {
        ad_tensor *x = r->in[i];
        if (x->buf->version != r->ver[i]) {
            char sb[AD_SHAPE_BUF];
            return ad_error(AD_ERR_STATE, "one of the tensors needed for "
                            "gradient computation has been modified by an "
                            "in-place operation: a %s tensor of shape %s is "
                            "at version %u; expected version %u",
                            ad_dtype_name(x->dtype),
                            ad_shape_str(x->ndim, x->shape, sb, sizeof(sb)),
                            x->buf->version, r->ver[i]);
        }
    }
    return AD_OK;
}

/* A replay gives t back the grad tensor its capture made: the same
 * object, so what the recorded step (or Python) read from t.grad sees the
 * new values.  Returns 1 when done, 0 when t has no such tensor. */
static int
deposit_alias(ad_tensor *t, ad_buffer **g)
{
    for (int64_t k = 0; k < tls_nalias; k++) {
        if (tls_alias[2 * k] != t) {
            continue;
        }
        ad_tensor *a = tls_alias[2 * k + 1];
        if (a->buf->refcnt == 1 && (*g)->refcnt == 1) {
            ad_buf_decref(a->buf);      /* nobody else sees the old one */
            a->buf = *g;
        }
        else {
            memcpy(ad_data(a), AD_BUF_DATA(*g), ad_nbytes(t));
            ad_buf_decref(*g);
        }
        *g = NULL;
        a->buf->version++;
        a->refcnt++;
        t->grad = a;
        return 1;
    }
    return 0;
}

/* Add a finished gradient into t->grad (creating it on first use). */
static ad_status
deposit(ad_tensor *t, ad_buffer **g)
{
    if (t->grad == NULL && tls_nalias && deposit_alias(t, g)) {
        return AD_OK;
    }
    if (t->grad == NULL) {
        if ((*g)->refcnt > 1) {
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
    t->grad->buf->version++;
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
    for (int64_t k = 0; k < sw->nleaves; k++) {
        ad_buf_decref(sw->leaves[k]->gacc);
        sw->leaves[k]->gacc = NULL;
    }
    sw->nleaves = 0;
    sw->ndone = 0;
}

static const char freed_msg[] =
    "Trying to backward through the graph a second time (or directly "
    "access saved tensors after they have already been freed). Saved "
    "intermediate values of the graph are freed when you call "
    ".backward(); specify retain_graph=True if you need to backward "
    "through the graph a second time";

static ad_status sweep(ad_tensor *root, ad_tensor *grad, int replay);

ad_status
ad_backward_sweep(ad_tensor *root, ad_tensor *grad)
{
    tls_sweeping++;
    ad_status s = sweep(root, grad, 0);
    tls_sweeping--;
    if (ad_capture_current()) {
        ad_status c = ad_capture_backward(root, grad, s == AD_OK);
        if (s == AD_OK) {
            s = c;
        }
    }
    return s;
}

ad_status
ad_sweep_replay(ad_tensor *root, ad_tensor *grad, ad_tensor **alias,
                int64_t nalias)
{
    tls_alias = alias;
    tls_nalias = nalias;
    tls_sweeping++;
    ad_status s = sweep(root, grad, 1);
    tls_sweeping--;
    tls_alias = NULL;
    tls_nalias = 0;
    tls_sweep.ndone = 0;
    return s;
}

static ad_status
sweep(ad_tensor *root, ad_tensor *grad, int replay)
{
    ad_sweep *sw = &tls_sweep;
    char s1[AD_SHAPE_BUF], s2[AD_SHAPE_BUF];
    ad_status s = AD_OK;

    sw->pending = 0;
    sw->nleaves = 0;
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
        return ad_error(AD_ERR_STATE, "backward() must run on the thread "
                        "that recorded the graph");
    }
    ad_buffer *seed = ad_buf_alloc(ad_nbytes(root));
    if (!seed) {
        return ad_error(AD_ERR_NOMEM, "out of memory in backward");
    }
    if (grad) {
        ad_cast_buf(ad_data(grad), grad->dtype, AD_BUF_DATA(seed),
                    root->dtype, root->size);
    }
    else {
        ad_k(root->dtype)->fill(AD_BUF_DATA(seed), root->size, 1.0);
    }
    if (root->rec < 0) {
        return deposit(root, &seed);
    }

    ad_tape *tp = root->tape;
    int64_t i = root->rec;
    tp->recs[i].gacc = seed;
    sw->pending = 1;
    for (; i >= 0 && sw->pending > 0; i--) {
        ad_record *r = &tp->recs[i];
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
        if (s == AD_OK && r->out->retains_grad) {
            /* Held like a leaf's gradient and deposited only once the
             * whole sweep succeeded (shared: accumulation copies). */
            ad_tensor *t = r->out;
            if (sw->nleaves == sw->capleaves &&
                grow((void **)&sw->leaves, &sw->capleaves,
                     sizeof(ad_tensor *))) {
                s = ad_error(AD_ERR_NOMEM, "out of memory in backward");
            }
            else {
                ad_buf_incref(r->gacc);
                t->gacc = r->gacc;
                sw->leaves[sw->nleaves++] = t;
            }
        }
        if (s == AD_OK) {
            s = ad_backward_table[r->op](r, &r->gacc);
        }
        ad_buf_decref(r->gacc);
        r->gacc = NULL;
        if (s == AD_OK && sw->ndone == sw->capdone &&
            grow((void **)&sw->done, &sw->capdone, sizeof(int64_t))) {
            s = ad_error(AD_ERR_NOMEM, "out of memory in backward");
        }
        if (s != AD_OK) {
            sweep_abort(tp, i - 1);
            return s;
        }
        sw->done[sw->ndone++] = i;
    }
    for (int64_t k = 0; k < sw->nleaves; k++) {
        ad_tensor *t = sw->leaves[k];
        if (s == AD_OK) {
            s = deposit(t, &t->gacc);
        }
        ad_buf_decref(t->gacc);
        t->gacc = NULL;
    }
    sw->nleaves = 0;
    return s;
}

void
ad_backward_release(ad_tensor *root)
{
    /* Consume the swept records: free what they saved and their inputs.
     * Their slots stay put during this loop, so indices remain valid even
     * when the cascade kills records further down the list. */
    ad_sweep *sw = &tls_sweep;
    if (root->rec < 0 || ad_capture_current()) {
        sw->ndone = 0;          /* a captured graph is kept for replay */
        return;
    }
    ad_tape *tp = root->tape;
    root->refcnt++;             /* keep the tape alive through the loop */
    for (int64_t k = 0; k < sw->ndone; k++) {
        ad_record *r = &tp->recs[sw->done[k]];
        if (r->state == AD_REC_LIVE) {
            r->state = AD_REC_CONSUMED;
            record_drop_refs(r);
        }
    }
    sw->ndone = 0;
    ad_decref(root);
}

ad_status
ad_backward(ad_tensor *root, ad_tensor *grad, int retain_graph)
{
    ad_status s = ad_backward_sweep(root, grad);
    if (s == AD_OK && !retain_graph) {
        ad_backward_release(root);
    }
    tls_sweep.ndone = 0;
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
    ad_record *r = &t->tape->recs[t->rec];
    if (r->state != AD_REC_LIVE) {
        return ad_error(AD_ERR_STATE, "%s", freed_msg);
    }
    ad_status s = check_versions(r);
    if (s) {
        return s;
    }
    info->op = r->op;
    info->kind = r->kind;
    info->flag = r->flag;
    info->nin = r->nin;
    info->a = r->a;
    info->b = r->b;
    info->i0 = r->i0;
    memcpy(info->iv, r->iv, sizeof(info->iv));
    info->saved = r->saved ? AD_BUF_DATA(r->saved) : NULL;
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
    if (t->grad) {
        ad_k(t->grad->dtype)->fill(ad_data(t->grad), t->grad->size, 0.0);
        ad_mark_modified(t->grad);
    }
    return AD_OK;
}

ad_status
ad_set_grad(ad_tensor *t, ad_tensor *g)
{
    if (ad_capture_current()) {
        ad_status s = ad_capture_instr(AD_I_SET_GRAD, t, g, 0.0);
        if (s) {
            return s;
        }
    }
    if (g) {
        g->refcnt++;
    }
    ad_tensor *old = t->grad;
    t->grad = g;
    ad_decref(old);
    return AD_OK;
}

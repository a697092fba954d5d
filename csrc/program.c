/*
 * program.c -- record a training step once, replay it with no Python.
 *
 * While a capture is active, the thread records onto the program's own
 * tape, and every op gets a record -- also ops that need no gradient --
 * whose output the program keeps alive.  The tape is then the list of
 * forward kernels in order.  Everything else the step does is appended
 * as an instruction: a backward sweep, an optimizer update, setting a
 * .grad, in-place writes, and copying new labels in.  Forward records
 * between two instructions become one FWD range.
 *
 * Replay walks the instructions: FWD re-runs each record's forward kernel
 * into its existing output buffer (r->def->forward), BACKWARD sweeps the
 * program tape without consuming it, and so on -- the same kernels in the
 * same order on the same buffers, so results are bit-for-bit those of
 * eager execution.  Values that Python read during the capture (item(),
 * numpy(), comparisons, Python control flow) stay frozen, as with
 * jax.jit or CUDA graphs.
 */
#include "ad_impl.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct {
    int kind;
    int64_t lo, hi;             /* FWD: program-tape records [lo, hi) */
    ad_tensor *t0, *t1;         /* owned references (t1 may be NULL) */
    double a;
    const void *src;            /* COPY_IN, INPUT */
    void *dst;
    size_t nbytes;
    int src_kind;               /* INPUT: AD_F32, AD_F64 or AD_SRC_I64 */
    const ad_optim_cfg *cfg;    /* OPTIM: the caller's arrays and config, */
    int n;                      /* read at every replay (live */
    ad_tensor **params, **state;/* hyperparameters) */
    int64_t *steps;
    ad_tensor **alias;          /* BACKWARD: (leaf, grad) pairs, owned */
    int64_t nalias;
} ad_instr;

#define AD_MAX_INPUTS 64

struct ad_program {
    ad_tape *tape, *prev_tape;
    ad_instr *ins;
    int64_t n, cap;
    int64_t flushed;            /* tape records already in a FWD range */
    ad_tensor **owned;
    int64_t nowned, capowned;
    ad_tensor **pending;        /* grads a sweep created: (leaf, grad) */
    int64_t npending, cappending;
    const char *in_ptr[AD_MAX_INPUTS];
    size_t in_len[AD_MAX_INPUTS];
    int nin;
    int done;
    uint64_t epoch;             /* ad_epoch() at the end of the capture */
    int busy;                   /* a thread is running it */
};

static AD_TLS ad_program *tls_capture;

static const ad_recorder recorder;

int
ad_capturing(void)
{
    return tls_capture != NULL;
}

ad_status
ad_capture_begin(ad_program **out)
{
    if (tls_capture) {
        return ad_error(AD_ERR_STATE, "a capture (ad.compile recording) is "
                        "already active on this thread");
    }
    ad_program *p = calloc(1, sizeof(ad_program));
    if (!p || !(p->tape = ad_tape_new(AD_TAPE_PROGRAM))) {
        free(p);
        return ad_error(AD_ERR_NOMEM, "out of memory starting a capture");
    }
    p->prev_tape = ad_tape_swap(p->tape);
    tls_capture = p;
    ad_recorder_set(&recorder);
    *out = p;
    return AD_OK;
}

ad_status
ad_capture_input(ad_program *p, const void *ptr, size_t nbytes)
{
    if (p->nin == AD_MAX_INPUTS) {
        return ad_error(AD_ERR_VALUE, "a compiled function takes at most %d "
                        "array inputs", AD_MAX_INPUTS);
    }
    p->in_ptr[p->nin] = ptr;
    p->in_len[p->nin] = nbytes;
    p->nin++;
    return AD_OK;
}

/* The program keeps every op output of the capture alive. */
static ad_status
capture_own(ad_tensor *t)
{
    ad_program *p = tls_capture;
    if (p->nowned == p->capowned &&
        ad_grow((void **)&p->owned, &p->capowned, sizeof(ad_tensor *))) {
        return ad_error(AD_ERR_NOMEM, "out of memory in a capture");
    }
    ad_ref(t);
    p->owned[p->nowned++] = t;
    return AD_OK;
}

/* Append in, after a FWD range for the tape records [flushed, upto). */
static ad_status
push_after(ad_program *p, int64_t upto, const ad_instr *in)
{
    while (p->n + 2 > p->cap) {
        if (ad_grow((void **)&p->ins, &p->cap, sizeof(ad_instr))) {
            return ad_error(AD_ERR_NOMEM, "out of memory in a capture");
        }
    }
    if (upto > p->flushed) {
        ad_instr f = {0};
        f.kind = AD_I_FWD;
        f.lo = p->flushed;
        f.hi = upto;
        p->ins[p->n++] = f;
        p->flushed = upto;
    }
    if (in) {
        p->ins[p->n++] = *in;
        if (in->t0) {
            ad_ref(in->t0);
        }
        if (in->t1) {
            ad_ref(in->t1);
        }
    }
    return AD_OK;
}

static ad_status
push(ad_program *p, const ad_instr *in)
{
    return push_after(p, p->tape->n, in);
}

static int
registered(const ad_program *p, const void *src, size_t nbytes)
{
    const char *s = src;
    for (int i = 0; i < p->nin; i++) {
        if (s >= p->in_ptr[i] && s + nbytes <= p->in_ptr[i] + p->in_len[i]) {
            return 1;
        }
    }
    return 0;
}

static ad_status
capture_instr(int kind, ad_tensor *t0, ad_tensor *t1, double a)
{
    ad_instr in = {0};
    in.kind = kind;
    in.t0 = t0;
    in.t1 = t1;
    in.a = a;
    return push(tls_capture, &in);
}

static ad_status
capture_optim(const ad_optim_cfg *cfg, int n, ad_tensor **params,
                 ad_tensor **state, int64_t *steps)
{
    /* By pointer: a replay reads the configuration as it is then, so a
     * learning rate set after the capture (a scheduler) takes effect. */
    ad_instr in = {0};
    in.kind = AD_I_OPTIM;
    in.cfg = cfg;
    in.n = n;
    in.params = params;
    in.state = state;
    in.steps = steps;
    return push(tls_capture, &in);
}

/* Labels read by out's record (the last one on the tape): when they come
 * from a registered input or a tensor (src_t: a placeholder argument, an
 * earlier record's output, a constant -- its buffer does not move), copy
 * them in before it runs on replay. */
static int
capture_labels(const ad_tensor *out, void *dst, const void *src,
               size_t nbytes, ad_tensor *src_t)
{
    ad_program *p = tls_capture;
    if (src_t) {
        if (capture_own(src_t)) {
            return -1;
        }
    }
    else if (!registered(p, src, nbytes)) {
        return 0;                       /* frozen */
    }
    ad_instr in = {0};
    in.kind = AD_I_COPY_IN;
    in.src = src;
    in.dst = dst;
    in.nbytes = nbytes;
    /* The record must run after the copy: flush up to, not including, it. */
    return push_after(p, out->rec, &in) ? -1 : 1;
}

static size_t
src_itemsize(int kind)
{
    return ad_itemsize(kind);
}

static void
fill_from(ad_tensor *dst, const void *src, int kind)
{
    ad_cast_buf(src, kind, ad_data(dst), dst->dtype, dst->size);
    ad_mark_modified(dst);
}

ad_status
ad_fill_from(ad_tensor *dst, const void *src, int src_kind)
{
    if (src_kind != AD_F32 && src_kind != AD_F64 && src_kind != AD_SRC_I64) {
        return ad_error(AD_ERR_VALUE, "unknown source kind %d", src_kind);
    }
    ad_program *p = tls_capture;
    if (p) {
        size_t nb = (size_t)dst->size * src_itemsize(src_kind);
        if (!registered(p, src, nb)) {
            return ad_error(AD_ERR_STATE, "ad_fill_from: the source is not "
                            "an input of the active capture");
        }
        ad_instr in = {0};
        in.kind = AD_I_INPUT;
        in.t0 = dst;
        in.src = src;
        in.src_kind = src_kind;
        ad_status s = push(p, &in);
        if (s) {
            return s;
        }
    }
    fill_from(dst, src, src_kind);
    return AD_OK;
}

/* A sweep of the capture deposited into t->grad = g (made or
 * accumulated): replays deposit into g again, so whatever the step read
 * from t.grad sees every replay's gradient. */
static ad_status
capture_grad(ad_tensor *t, ad_tensor *g)
{
    ad_program *p = tls_capture;
    if (p->npending + 2 > p->cappending &&
        ad_grow((void **)&p->pending, &p->cappending,
                   2 * sizeof(ad_tensor *))) {
        return ad_error(AD_ERR_NOMEM, "out of memory in a capture");
    }
    ad_ref(t);
    ad_ref(g);
    p->pending[p->npending++] = t;
    p->pending[p->npending++] = g;
    return AD_OK;
}

static void
drop_pending(ad_program *p)
{
    for (int64_t i = 0; i < p->npending; i++) {
        ad_decref(p->pending[i]);
    }
    p->npending = 0;
}

static ad_status
capture_backward(ad_tensor *root, ad_tensor *grad, int ok)
{
    ad_program *p = tls_capture;
    if (!ok) {
        drop_pending(p);
        return AD_OK;
    }
    ad_instr in = {0};
    in.kind = AD_I_BACKWARD;
    in.t0 = root;
    in.t1 = grad;
    if (p->npending) {
        in.alias = malloc((size_t)p->npending * sizeof(ad_tensor *));
        if (!in.alias) {
            drop_pending(p);
            return ad_error(AD_ERR_NOMEM, "out of memory in a capture");
        }
        memcpy(in.alias, p->pending, (size_t)p->npending *
               sizeof(ad_tensor *));
        in.nalias = p->npending / 2;
    }
    ad_status s = push(p, &in);
    if (s) {
        free(in.alias);
        drop_pending(p);
        return s;
    }
    p->npending = 0;            /* moved into the instruction */
    return AD_OK;
}

ad_status
ad_capture_end(ad_program *p)
{
    ad_status s = push(p, NULL);
    ad_tape_swap(p->prev_tape);
    tls_capture = NULL;
    ad_recorder_set(NULL);
    p->done = 1;
    p->epoch = ad_epoch();
    return s;
}

static const ad_recorder recorder = {
    .own = capture_own, .instr = capture_instr, .optim = capture_optim,
    .grad = capture_grad, .backward = capture_backward,
    .labels = capture_labels,
};

static ad_status program_run(ad_program *p);

/* Every leaf the program deposits gradients into has no .grad or the one
 * the capture deposited into: otherwise (a grad assigned since) what the
 * step read from .grad would not be the gradient a replay computes. */
static int
grads_as_recorded(const ad_program *p)
{
    for (int64_t i = 0; i < p->n; i++) {
        const ad_instr *in = &p->ins[i];
        for (int64_t k = 0; k < in->nalias; k++) {
            const ad_tensor *leaf = in->alias[2 * k], *g = leaf->grad;
            if (g == NULL || g == in->alias[2 * k + 1]) {
                continue;
            }
            int known = 0;      /* a later backward's grad for it? */
            for (int64_t j = 0; j < p->n && !known; j++) {
                for (int64_t m = 0; m < p->ins[j].nalias; m++) {
                    if (p->ins[j].alias[2 * m] == leaf &&
                        p->ins[j].alias[2 * m + 1] == g) {
                        known = 1;
                        break;
                    }
                }
            }
            if (!known) {
                return 0;
            }
        }
    }
    return 1;
}

static ad_status
run_fwd(ad_program *p, int64_t lo, int64_t hi)
{
    for (int64_t i = lo; i < hi; i++) {
        ad_record *r = &p->tape->recs[i];
        if (r->state == AD_REC_DEAD) {
            continue;
        }
        for (int k = 0; k < r->nin && r->nin <= AD_REC_INLINE; k++) {
            r->ver[k] = ad_buf_version(r->in[k]->buf);  /* as if recorded now */
        }
        ad_status s = r->def->forward(r);
        if (s) {
            return s;
        }
        if (r->saved) {
            r->saved_ver = ad_buf_version(r->saved);
        }
    }
    return AD_OK;
}

ad_status
ad_program_run(ad_program *p)
{
    if (!p->done || tls_capture) {
        return ad_error(AD_ERR_STATE, "a compiled program cannot run while "
                        "a capture is active");
    }
    if (ad_sweep_active()) {
        return ad_error(AD_ERR_STATE, "a compiled function cannot run inside "
                        "backward() (from a custom Function's backward)");
    }
    if (p->epoch != ad_epoch() || !grads_as_recorded(p)) {
        return AD_RERECORD;
    }
    if (__atomic_exchange_n(&p->busy, 1, __ATOMIC_ACQUIRE)) {
        return ad_error(AD_ERR_STATE, "this compiled function is already "
                        "running on another thread; a compiled function "
                        "serves one call at a time (compile one per thread)");
    }
    ad_status s = program_run(p);
    __atomic_store_n(&p->busy, 0, __ATOMIC_RELEASE);
    return s;
}

/* ---- replicas: several programs at once ------------------------------ */

typedef struct {
    ad_program **ps;
    ad_rng_stream *streams;
    ad_status st[AD_MAX_CREW + 1];
    char msg[AD_MAX_CREW + 1][512];
} runs_ctx;

static void
run_each(void *cp, int i)
{
    runs_ctx *c = cp;
    ad_rng_stream *prev = NULL;
    if (c->streams) {
        prev = ad_rng_stream_swap(&c->streams[i]);
    }
    c->st[i] = program_run(c->ps[i]);
    if (c->st[i] != AD_OK) {
        snprintf(c->msg[i], sizeof(c->msg[i]), "%s", ad_last_error());
    }
    if (c->streams) {
        ad_rng_stream_swap(prev);
    }
}

ad_status
ad_programs_run(ad_program **ps, int n, ad_rng_stream *streams)
{
    if (n < 1 || n > AD_MAX_CREW + 1) {
        return ad_error(AD_ERR_VALUE, "ad_programs_run: 1 to %d programs, "
                        "got %d", AD_MAX_CREW + 1, n);
    }
    if (tls_capture) {
        return ad_error(AD_ERR_STATE, "compiled programs cannot run while "
                        "a capture is active");
    }
    if (ad_sweep_active()) {
        return ad_error(AD_ERR_STATE, "a compiled function cannot run inside "
                        "backward() (from a custom Function's backward)");
    }
    for (int i = 0; i < n; i++) {
        if (!ps[i] || !ps[i]->done) {
            return ad_error(AD_ERR_STATE, "ad_programs_run: program %d was "
                            "not recorded", i);
        }
    }
    for (int i = 0; i < n; i++) {
        if (ps[i]->epoch != ad_epoch() || !grads_as_recorded(ps[i])) {
            return AD_RERECORD;         /* before any runs */
        }
    }
    for (int i = 0; i < n; i++) {
        if (__atomic_exchange_n(&ps[i]->busy, 1, __ATOMIC_ACQUIRE)) {
            for (int j = 0; j < i; j++) {
                __atomic_store_n(&ps[j]->busy, 0, __ATOMIC_RELEASE);
            }
            return ad_error(AD_ERR_STATE, "compiled program %d is already "
                            "running (given twice, or running on another "
                            "thread)", i);
        }
    }
    runs_ctx *c = malloc(sizeof *c);
    if (!c) {
        for (int i = 0; i < n; i++) {
            __atomic_store_n(&ps[i]->busy, 0, __ATOMIC_RELEASE);
        }
        return ad_error(AD_ERR_NOMEM, "out of memory running programs");
    }
    c->ps = ps;
    c->streams = streams;
    ad_run_each(n, run_each, c);
    ad_status s = AD_OK;
    for (int i = 0; i < n; i++) {
        __atomic_store_n(&ps[i]->busy, 0, __ATOMIC_RELEASE);
        if (s == AD_OK && c->st[i] != AD_OK) {
            s = c->st[i] == AD_RERECORD ? AD_RERECORD :
                ad_error(c->st[i], "replica %d: %s", i, c->msg[i]);
        }
    }
    free(c);
    return s;
}

static ad_status
program_run(ad_program *p)
{
    for (int64_t i = 0; i < p->n; i++) {
        ad_instr *in = &p->ins[i];
        ad_status s = AD_OK;
        switch (in->kind) {
        case AD_I_FWD:
            s = run_fwd(p, in->lo, in->hi);
            break;
        case AD_I_BACKWARD:
            s = ad_sweep_replay(in->t0, in->t1, in->alias, in->nalias);
            break;
        case AD_I_OPTIM:
            s = ad_optim_step(in->cfg, in->n, in->params, in->state,
                              in->steps);
            break;
        case AD_I_SET_GRAD:
            s = ad_set_grad(in->t0, in->t1);
            break;
        case AD_I_FILL:
            s = ad_fill_(in->t0, in->a);
            break;
        case AD_I_AXPY:
            s = ad_axpy_(in->t0, in->a, in->t1);
            break;
        case AD_I_COPY:
            s = ad_copy_data(in->t0, in->t1);
            break;
        case AD_I_COPY_IN:
            memcpy(in->dst, in->src, in->nbytes);
            break;
        case AD_I_INPUT:
            fill_from(in->t0, in->src, in->src_kind);
            break;
        case AD_I_ZERO_GRAD:
            s = ad_zero_grad(in->t0);
            break;
        }
        if (s) {
            return s;
        }
    }
    return AD_OK;
}

int64_t
ad_program_size(const ad_program *p, int64_t *records)
{
    *records = p->tape->n;
    return p->n;
}

int64_t
ad_program_work(const ad_program *p)
{
    int64_t w = 0;
    for (int64_t i = 0; i < p->tape->n; i++) {
        const ad_record *r = &p->tape->recs[i];
        if (r->state != AD_REC_DEAD && r->out) {
            w += r->out->size;
        }
    }
    return w;
}

void
ad_program_free(ad_program *p)
{
    if (!p) {
        return;
    }
    if (tls_capture == p) {
        ad_tape_swap(p->prev_tape);
        tls_capture = NULL;
        ad_recorder_set(NULL);
    }
    for (int64_t i = 0; i < p->n; i++) {
        ad_decref(p->ins[i].t0);
        ad_decref(p->ins[i].t1);
        for (int64_t k = 0; k < 2 * p->ins[i].nalias; k++) {
            ad_decref(p->ins[i].alias[k]);
        }
        free(p->ins[i].alias);
    }
    drop_pending(p);
    free(p->pending);
    for (int64_t i = 0; i < p->nowned; i++) {
        ad_decref(p->owned[i]);
    }
    free(p->ins);
    free(p->owned);
    ad_tape_release(p->tape);
    free(p);
}

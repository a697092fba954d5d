/*
 * threads.c -- the engine's persistent thread pool: ad_parallel_for splits
 * [0, n) into contiguous chunks run by the calling thread and sleeping
 * worker threads.  Uses nothing from the rest of the engine (pthread and
 * C11 atomics only), so any kernel may call it.
 *
 * Workers are created lazily, at the first call that can use them, and
 * are never joined: they sleep on a condition variable between jobs and
 * the process's exit ends them (nothing runs at exit, so exit cannot hang
 * on them).  A child of fork() has no workers: the atfork handler resets
 * the pool, which creates them again when needed.
 *
 * One job at a time: a caller that finds the pool busy (another thread's
 * kernel, a compiled replay on another thread) runs its whole range
 * itself, and so does a call from inside a piece (nested) or from a
 * worker.  The pieces are fixed by n, grain and the thread count c:
 * p = min(n / grain, 4 c) pieces of per = ceil(n / p) (the last shorter),
 * claimed one at a time by the caller and the woken workers, so a worker
 * the scheduler is slow to run (a busy machine) leaves its share to the
 * others; callers make their results independent of the pieces (each
 * output computed whole inside one piece).  Workers run only the
 * callback: they allocate nothing from the per-thread pools and never
 * touch a tape.
 *
 * The crew (ad_run_each, at the end) is separate: threads that each run
 * one whole task of a call (a replica's compiled step), as ordinary engine
 * threads.
 *
 * Waiting: a worker or crew thread without work, and a caller waiting for
 * the rest of its job, first poll (plain loads, the clock read every 32
 * of them) for AUTODIFF_SPIN_US microseconds (default 500), then sleep on
 * a condition variable.  Waking a sleeping thread costs 25-50 us on the
 * virtual machines measured (a futex wake and an interprocessor
 * interrupt through the hypervisor), more than a small step's kernels:
 * a spinning thread starts within a microsecond.  No PAUSE in the loop: a
 * guest's PAUSE loop makes the hypervisor deschedule the virtual cpu
 * (pause-loop exiting), measured slower than plain polling.  A spinning
 * thread gives its core up at once (goes to sleep) while a BLAS call runs
 * on several threads, and a pool worker also while a crew call runs:
 * those threads need the cores.
 *
 * Alone (ad_alone_swap, and every crew task): the thread runs as one of
 * several replicas, the others on the other cores; its ad_parallel_for
 * runs inline and its BLAS calls on one thread, so replicas never
 * compete for cores, and a product's bits do not depend on the thread
 * count (recording and replay of a replica both run alone).
 *
 * Small products (ad_blas_begin): a GEMM of fewer than AD_BLAS_SMALL
 * multiply-adds runs on one BLAS thread whatever the count: OpenBLAS's
 * threads lose on them inside a step, where the operands were just
 * written by the other core (bench/RESULTS.md).
 *
 * ad_parallel_for_blas is the same for pieces that call BLAS: while such
 * a job runs (split or not) the registered BLAS libraries run on one
 * thread each (set back after), so the pool's threads and the BLAS's never
 * compete for the cores, and the pieces' GEMMs give the one-thread bits
 * (OpenBLAS's threaded dgemm, and sgemm at some shapes, do not).
 */
#include "autodiff.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#define AD_FP_BITS 0x8040u      /* MXCSR: flush to zero | denormals are zero */
#endif

#define AD_MAX_WORKERS 255
#define AD_BLAS_SMALL ((int64_t)1 << 22)

/* ---- waiting --------------------------------------------------------- */

static pthread_once_t spin_once = PTHREAD_ONCE_INIT;
static int spin_limit_us = 500;

static void
spin_read_env(void)
{
    const char *e = getenv("AUTODIFF_SPIN_US");
    if (e && *e) {
        char *end;
        long v = strtol(e, &end, 10);
        if (*end == '\0' && v >= 0 && v <= 1000000) {
            spin_limit_us = (int)v;
        }
    }
}

static int64_t
clock_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static atomic_int blas_threaded;        /* BLAS calls on several threads */
/* The BLAS's thread count as ad.set_num_threads last set it (not as a
 * conv job's pin has it for the moment: a choice made from this value
 * must not depend on what another thread runs). */
static atomic_int blas_want = 1;
static atomic_int crew_busy;            /* a crew call is running */

/* Whether a poll that started at *t0 (-1: not yet) has had its time;
 * the clock is read at every 32nd poll i. */
static int
spin_over(int64_t *t0, unsigned i)
{
    if (i & 31) {
        return 0;
    }
    int64_t t = clock_us();
    if (*t0 < 0) {
        pthread_once(&spin_once, spin_read_env);
        *t0 = t;
    }
    return t - *t0 >= spin_limit_us;
}

#define SPIN_RELAX() __asm__ __volatile__("" ::: "memory")

int
ad_spin_us(void)
{
    pthread_once(&spin_once, spin_read_env);
    return spin_limit_us;
}

/* Poll until *v != seen (1), or the time is up or the cores are wanted
 * elsewhere (0: the caller sleeps).  yield_to_crew: a pool worker, which
 * also gives way to a crew call. */
static int
spin_until_changed(_Atomic uint64_t *v, uint64_t seen, int yield_to_crew)
{
    int64_t t0 = -1;
    for (unsigned i = 0;; i++) {
        if (atomic_load_explicit(v, memory_order_acquire) != seen) {
            return 1;
        }
        if (spin_over(&t0, i) ||
            atomic_load_explicit(&blas_threaded, memory_order_relaxed) ||
            (yield_to_crew &&
             atomic_load_explicit(&crew_busy, memory_order_relaxed))) {
            return 0;
        }
        SPIN_RELAX();
    }
}

/* Alone: see the top; crew_inside: a crew task (either thread). */
static _Thread_local int alone_flag;
static _Thread_local int crew_inside;

static int
alone(void)
{
    return alone_flag || crew_inside;
}

int
ad_alone_swap(int on)
{
    int prev = alone_flag;
    alone_flag = on != 0;
    return prev;
}

/* ---- the floating-point mode ----------------------------------------- */

/* The floating-point mode of a job (flush-denormal bits of MXCSR): the
 * submitting thread's, read when it submits, and taken on by every thread
 * that runs a piece or task of it, so a kernel's bits do not depend on
 * which thread computes them (ad.set_flush_denormal sets the caller's). */
static unsigned
fp_mode(void)
{
#ifdef AD_FP_BITS
    return _mm_getcsr() & AD_FP_BITS;
#else
    return 0;
#endif
}

static void
fp_mode_take(unsigned m)
{
#ifdef AD_FP_BITS
    unsigned c = _mm_getcsr();
    if ((c & AD_FP_BITS) != m) {
        _mm_setcsr((c & ~AD_FP_BITS) | m);
    }
#else
    (void)m;
#endif
}

int
ad_set_flush_denormal(int on)
{
#ifdef AD_FP_BITS
    fp_mode_take(on ? AD_FP_BITS : 0);
    return 1;
#else
    (void)on;
    return 0;
#endif
}

int
ad_flush_denormal(void)
{
    return fp_mode() != 0;
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static atomic_int want = 1;     /* ad_set_num_threads */
static atomic_int busy;         /* a job is running (its submitter owns it) */
static _Thread_local int inside; /* a worker, or a submitter in its chunk */
static int nworkers;            /* created; changed only by busy's owner */

/* The job, written under mu by busy's owner before gen changes.  Pieces
 * are claimed through claim = (gen << 32) | next piece, so a worker that
 * wakes late for an old job cannot claim a piece of a newer one. */
static ad_range_fn job_fn;
static void *job_ctx;
static int64_t job_n, job_per;
static int job_pieces;
static unsigned job_fp;         /* the submitter's fp_mode */
static uint64_t gen;            /* under mu: one more per job */
static _Atomic uint64_t gen_seen; /* gen, read by spinning workers */
static _Atomic uint64_t claim;
static atomic_int done;         /* pieces finished */

typedef struct {
    int id;
    uint64_t seen;
} worker_arg;

/* Run pieces of job g until none is left; the number run. */
static int
run_pieces(uint32_t g, ad_range_fn fn, void *ctx, int64_t n, int64_t per,
           int pieces)
{
    int ran = 0;
    uint64_t v = atomic_load(&claim);
    for (;;) {
        if ((uint32_t)(v >> 32) != g || (int)(uint32_t)v >= pieces) {
            return ran;
        }
        if (!atomic_compare_exchange_weak(&claim, &v, v + 1)) {
            continue;
        }
        int64_t lo = (int64_t)(uint32_t)v * per, hi = lo + per;
        fn(ctx, lo, hi < n ? hi : n);
        ran++;
        v = atomic_load(&claim);
    }
}

static void *
worker_main(void *argp)
{
    worker_arg a = *(worker_arg *)argp;
    free(argp);
    inside = 1;
    for (;;) {
        spin_until_changed(&gen_seen, a.seen, 1);
        pthread_mutex_lock(&mu);
        while (gen == a.seen) {
            pthread_cond_wait(&wake_cv, &mu);
        }
        a.seen = gen;
        ad_range_fn fn = job_fn;
        void *ctx = job_ctx;
        int64_t n = job_n, per = job_per;
        int pieces = job_pieces;
        unsigned fp = job_fp;
        pthread_mutex_unlock(&mu);
        fp_mode_take(fp);
        int ran = run_pieces((uint32_t)a.seen, fn, ctx, n, per, pieces);
        pthread_mutex_lock(&mu);
        if (ran && atomic_fetch_add(&done, ran) + ran == pieces) {
            pthread_cond_signal(&done_cv);
        }
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

/* fork(): the child has only the forking thread; a pool without workers
 * and fresh locks (the parent's may have been held at the fork). */
static void pin_reset(void);

static void
atfork_child(void)
{
    pin_reset();
    pthread_mutex_init(&mu, NULL);
    pthread_cond_init(&wake_cv, NULL);
    pthread_cond_init(&done_cv, NULL);
    nworkers = 0;
    gen = 0;
    atomic_store(&gen_seen, 0);
    atomic_store(&claim, 0);
    atomic_store(&done, 0);
    atomic_store(&busy, 0);
    inside = 0;
}

static void crew_atfork_child(void);

static void
register_atfork(void)
{
    pthread_atfork(NULL, NULL, atfork_child);
    pthread_atfork(NULL, NULL, crew_atfork_child);
}

/* Up to k workers (busy is held); how many there are. */
static int
grow(int k)
{
    pthread_once(&atfork_once, register_atfork);
    while (nworkers < k) {
        worker_arg *a = malloc(sizeof *a);
        pthread_attr_t at;
        pthread_t t;
        if (!a) {
            break;
        }
        a->id = nworkers + 1;
        a->seen = gen;          /* gen changes only under busy: ours */
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&t, &at, worker_main, a);
        pthread_attr_destroy(&at);
        if (rc != 0) {
            free(a);
            break;
        }
        nworkers++;
    }
    return nworkers;
}

/* The BLAS libraries' thread setters (ad_set_blas_thread_fns): written
 * once at import, before any job that reads them. */
#define AD_MAX_BLAS 4
static ad_blas_set_threads_fn blas_set[AD_MAX_BLAS];
static ad_blas_get_threads_fn blas_get[AD_MAX_BLAS];
static atomic_int nblas;

int
ad_set_blas_thread_fns(int n, ad_blas_set_threads_fn *set,
                       ad_blas_get_threads_fn *get)
{
    if (n < 0 || n > AD_MAX_BLAS) {
        return -1;
    }
    atomic_store(&nblas, 0);
    for (int i = 0; i < n; i++) {
        if (!set[i] || !get[i]) {
            return -1;
        }
        blas_set[i] = set[i];
        blas_get[i] = get[i];
    }
    atomic_store(&nblas, n);
    return 0;
}

/* The BLAS pinned to one thread while any ad_parallel_for_blas job runs
 * (counted: jobs on several Python threads may overlap); the first pin
 * saves the thread counts, the last unpin restores them. */
static pthread_mutex_t pin_mu = PTHREAD_MUTEX_INITIALIZER;
static int pins, pinned_prev[AD_MAX_BLAS], pinned_n;

/* fork(): the child's lock is fresh and nothing of its is pinned (a
 * parent's job pinned at the fork leaves the child's BLAS at one
 * thread). */
static void
pin_reset(void)
{
    pthread_mutex_init(&pin_mu, NULL);
    pins = 0;
}

static void
blas_pin(void)
{
    int nb = atomic_load(&nblas);
    if (nb == 0) {
        return;
    }
    pthread_mutex_lock(&pin_mu);
    if (pins++ == 0) {
        pinned_n = nb;
        for (int i = 0; i < nb; i++) {
            pinned_prev[i] = blas_get[i]();
            if (pinned_prev[i] != 1) {
                blas_set[i](1);
            }
        }
    }
    pthread_mutex_unlock(&pin_mu);
}

static void
blas_unpin(void)
{
    if (atomic_load(&nblas) == 0) {
        return;
    }
    pthread_mutex_lock(&pin_mu);
    if (pins > 0 && --pins == 0) {
        for (int i = 0; i < pinned_n; i++) {
            if (pinned_prev[i] != 1) {
                blas_set[i](pinned_prev[i]);
            }
        }
    }
    pthread_mutex_unlock(&pin_mu);
}

void
ad_parallel_for_blas(int64_t n, int64_t grain, ad_range_fn fn, void *ctx)
{
    blas_pin();
    ad_parallel_for(n, grain, fn, ctx);
    blas_unpin();
}

void
ad_parallel_for(int64_t n, int64_t grain, ad_range_fn fn, void *ctx)
{
    if (n <= 0) {
        return;
    }
    if (grain < 1) {
        grain = 1;
    }
    int64_t c = atomic_load_explicit(&want, memory_order_relaxed);
    if (c > AD_MAX_WORKERS + 1) {
        c = AD_MAX_WORKERS + 1;
    }
    if (c > n / grain) {
        c = n / grain;
    }
    if (c <= 1 || inside || alone() || atomic_exchange(&busy, 1)) {
        fn(ctx, 0, n);
        return;
    }
    int w = grow((int)c - 1);
    if (c > w + 1) {
        c = w + 1;
    }
    /* up to four pieces a thread, claimed as the threads get to them:
     * a worker the scheduler is slow to run leaves its share to the
     * others instead of holding the caller up */
    int64_t pieces = n / grain < 4 * c ? n / grain : 4 * c;
    int64_t per = (n + pieces - 1) / pieces;
    pieces = (n + per - 1) / per;
    pthread_mutex_lock(&mu);
    job_fn = fn;
    job_ctx = ctx;
    job_n = n;
    job_per = per;
    job_pieces = (int)pieces;
    job_fp = fp_mode();
    gen++;
    atomic_store(&gen_seen, gen);
    atomic_store(&done, 0);
    atomic_store(&claim, (uint64_t)(uint32_t)gen << 32);
    pthread_cond_broadcast(&wake_cv);
    pthread_mutex_unlock(&mu);
    inside = 1;
    int ran = run_pieces((uint32_t)gen, fn, ctx, n, per, (int)pieces);
    inside = 0;
    atomic_fetch_add(&done, ran);
    int64_t t0 = -1;
    for (unsigned i = 0; atomic_load(&done) < pieces && !spin_over(&t0, i);
         i++) {
        SPIN_RELAX();
    }
    pthread_mutex_lock(&mu);
    while (atomic_load(&done) < pieces) {
        pthread_cond_wait(&done_cv, &mu);
    }
    pthread_mutex_unlock(&mu);
    atomic_store(&busy, 0);
}

/* The thread count of later jobs (n >= 1; the caller checks); at most
 * AD_MAX_WORKERS + 1 threads run one job. */
void
ad_set_num_threads(int n)
{
    atomic_store(&want, n < 1 ? 1 : n);
}

int
ad_get_num_threads(void)
{
    return atomic_load(&want);
}

void
ad_set_blas_threads(int n)
{
    atomic_store(&blas_want, n < 1 ? 1 : n);
}

int
ad_get_blas_threads(void)
{
    return atomic_load(&blas_want);
}

int
ad_blas_one_thread(int64_t m, int64_t n, int64_t k)
{
    return atomic_load(&blas_want) <= 1 || alone() ||
           m * n * k < AD_BLAS_SMALL;
}

int
ad_blas_begin(int64_t m, int64_t n, int64_t k)
{
    if (atomic_load(&blas_want) <= 1) {
        return 0;               /* the BLAS is at one thread already */
    }
    if (ad_blas_one_thread(m, n, k)) {
        blas_pin();
        return 1;
    }
    atomic_fetch_add(&blas_threaded, 1);
    return 2;
}

void
ad_blas_end(int how)
{
    if (how == 1) {
        blas_unpin();
    }
    else if (how == 2) {
        atomic_fetch_sub(&blas_threaded, 1);
    }
}

/* ---- the crew ---------------------------------------------------------
 *
 * Crew thread k runs task k + 1 of every call that has one.  A call
 * publishes its task (fn, ctx) and then bumps go[k] of each crew thread it
 * uses (release); the thread polls its go[k] (acquire, spin_until_changed:
 * AUTODIFF_SPIN_US), then sleeps on crew_wake.  A thread reads fn and ctx
 * only after seeing its own go[k] move, and the caller rewrites them only
 * after every task of the call finished, so a late thread never mixes two
 * calls.  The poll covers the update and the Python between two training
 * steps, so a step's replicas start without a wake-up through the kernel;
 * a thread idle longer sleeps and costs nothing.
 */
static pthread_mutex_t crew_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t crew_wake = PTHREAD_COND_INITIALIZER;
static pthread_cond_t crew_done = PTHREAD_COND_INITIALIZER;
static int crew_n;                      /* created; changed by busy's owner */
static ad_each_fn crew_fn;
static void *crew_ctx;
static unsigned crew_fp;                /* the caller's fp_mode */
static _Atomic uint64_t crew_go[AD_MAX_CREW];
static uint64_t crew_seen0[AD_MAX_CREW]; /* crew_go[k] when k was made */
static atomic_int crew_sleepers;
static atomic_int crew_left;            /* tasks of the call not finished */

static void *
crew_main(void *argp)
{
    int k = (int)(intptr_t)argp;
    uint64_t seen = crew_seen0[k];      /* before the first call's bump */
    crew_inside = 1;
    for (;;) {
        if (!spin_until_changed(&crew_go[k], seen, 0)) {
            pthread_mutex_lock(&crew_mu);
            atomic_fetch_add(&crew_sleepers, 1);
            while (atomic_load(&crew_go[k]) == seen) {
                pthread_cond_wait(&crew_wake, &crew_mu);
            }
            atomic_fetch_sub(&crew_sleepers, 1);
            pthread_mutex_unlock(&crew_mu);
        }
        seen = atomic_load_explicit(&crew_go[k], memory_order_acquire);
        fp_mode_take(crew_fp);
        crew_fn(crew_ctx, k + 1);
        if (atomic_fetch_sub(&crew_left, 1) == 1) {
            pthread_mutex_lock(&crew_mu);
            pthread_cond_signal(&crew_done);
            pthread_mutex_unlock(&crew_mu);
        }
    }
    return NULL;
}

static void
crew_atfork_child(void)
{
    pthread_mutex_init(&crew_mu, NULL);
    pthread_cond_init(&crew_wake, NULL);
    pthread_cond_init(&crew_done, NULL);
    crew_n = 0;
    atomic_store(&crew_busy, 0);
    atomic_store(&crew_sleepers, 0);
    atomic_store(&crew_left, 0);
    crew_inside = 0;
}

/* Up to k crew threads (crew_busy is held); how many there are. */
static int
crew_grow(int k)
{
    pthread_once(&atfork_once, register_atfork);
    while (crew_n < k) {
        pthread_attr_t at;
        pthread_t t;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        crew_seen0[crew_n] = atomic_load(&crew_go[crew_n]);
        int rc = pthread_create(&t, &at, crew_main,
                                (void *)(intptr_t)crew_n);
        pthread_attr_destroy(&at);
        if (rc != 0) {
            break;
        }
        crew_n++;
    }
    return crew_n;
}

void
ad_run_each(int n, ad_each_fn fn, void *ctx)
{
    if (n <= 0) {
        return;
    }
    if (n == 1 || n > AD_MAX_CREW + 1 || crew_inside ||
        atomic_exchange(&crew_busy, 1)) {
        for (int i = 0; i < n; i++) {
            fn(ctx, i);
        }
        return;
    }
    int use = crew_grow(n - 1);
    if (use > n - 1) {
        use = n - 1;
    }
    crew_fn = fn;
    crew_ctx = ctx;
    crew_fp = fp_mode();
    atomic_store(&crew_left, use);
    for (int k = 0; k < use; k++) {
        atomic_fetch_add_explicit(&crew_go[k], 1, memory_order_release);
    }
    if (atomic_load(&crew_sleepers)) {
        pthread_mutex_lock(&crew_mu);
        pthread_cond_broadcast(&crew_wake);
        pthread_mutex_unlock(&crew_mu);
    }
    crew_inside = 1;
    fn(ctx, 0);
    for (int i = use + 1; i < n; i++) {     /* no thread could be made */
        fn(ctx, i);
    }
    crew_inside = 0;
    int64_t t0 = -1;
    for (unsigned i = 0; atomic_load(&crew_left) > 0 && !spin_over(&t0, i);
         i++) {
        SPIN_RELAX();
    }
    if (atomic_load(&crew_left) > 0) {
        pthread_mutex_lock(&crew_mu);
        while (atomic_load(&crew_left) > 0) {
            pthread_cond_wait(&crew_done, &crew_mu);
        }
        pthread_mutex_unlock(&crew_mu);
    }
    atomic_store(&crew_busy, 0);
}

/*
 * pool.c -- buffers from per-thread size-class free lists.
 *
 * Size classes: powers of two up to 1 MiB, then eight classes per power
 * of two (2^k + j 2^(k-3), j = 1..8), so no buffer wastes more than 12.5%
 * of its size above 1 MiB; requests of 256 MiB or more are not pooled
 * (allocated at their size and returned to the system when freed).  A
 * training loop that makes the same shapes every step finds each buffer
 * it needs in a free list after the first step and never calls malloc.
 *
 * The lists are per thread (no locks); a buffer freed on another thread
 * joins the freeing thread's lists -- up to a cap: a thread keeps at most
 * max(64 MiB, twice the peak bytes it had in use) pooled.  A buffer freed
 * beyond that first evicts pooled buffers of other classes (largest
 * first: stale ones from earlier work), else it goes back to the system,
 * so a thread that frees what another one makes (a data loader's
 * batches) does not hoard them, and a loop's own buffers stay pooled.
 * Caches die with their thread.
 */
#include "ad_impl.h"

#include <pthread.h>
#include <stdlib.h>

#define AD_MIN_CLASS 6          /* 64 bytes */
#define AD_SMALL_LOG 20         /* powers of two up to 1 MiB */
#define AD_NSMALL (AD_SMALL_LOG - AD_MIN_CLASS + 1)
#define AD_SUB 8                /* classes per power of two above */
#define AD_SUB_LOG 3
#define AD_POOL_LOG 28          /* 256 MiB and more: not pooled */
#define AD_NCLASSES (AD_NSMALL + (AD_POOL_LOG - AD_SMALL_LOG) * AD_SUB)
#define AD_POOL_FLOOR ((int64_t)64 << 20)
#define AD_TENSOR_CACHE 4096

typedef struct {
    ad_buffer *free[AD_NCLASSES];
    int64_t pooled_bytes;
    int64_t in_use;             /* allocated here minus freed here */
    int64_t peak;               /* max of in_use */
    ad_tensor *tfree;           /* cached tensor structs */
    int64_t ntfree;
    int registered;
} ad_pool;

static AD_TLS ad_pool tls_pool;
static pthread_key_t pool_key;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

/* Process-wide counters; relaxed atomics since any thread may touch them. */
static int64_t g_in_use, g_pooled, g_allocs, g_frees;
#define ADD(v, d) __atomic_add_fetch(&(v), (d), __ATOMIC_RELAXED)
#define GET(v) __atomic_load_n(&(v), __ATOMIC_RELAXED)

static void
pool_release_all(ad_pool *p)
{
    for (int c = 0; c < AD_NCLASSES; c++) {
        ad_buffer *b = p->free[c];
        while (b) {
            ad_buffer *next = b->next;
            ADD(g_pooled, -(int64_t)b->capacity);
            ADD(g_frees, 1);
            free(b);
            b = next;
        }
        p->free[c] = NULL;
    }
    p->pooled_bytes = 0;
    while (p->tfree) {
        ad_tensor *t = p->tfree;
        p->tfree = (ad_tensor *)t->buf;
        free(t);
    }
    p->ntfree = 0;
}

/* Free pooled buffers, largest classes first, except those of class
 * keep, until at most target bytes stay pooled. */
static void
pool_evict(ad_pool *p, int64_t target, int keep)
{
    for (int c = AD_NCLASSES - 1; c >= 0 && p->pooled_bytes > target; c--) {
        while (c != keep && p->free[c] && p->pooled_bytes > target) {
            ad_buffer *b = p->free[c];
            p->free[c] = b->next;
            p->pooled_bytes -= (int64_t)b->capacity;
            ADD(g_pooled, -(int64_t)b->capacity);
            ADD(g_frees, 1);
            free(b);
        }
    }
}

static void
pool_thread_exit(void *arg)
{
    (void)arg;
    pool_release_all(&tls_pool);
}

static void
pool_make_key(void)
{
    pthread_key_create(&pool_key, pool_thread_exit);
}

static ad_pool *
pool_get(void)
{
    ad_pool *p = &tls_pool;
    if (AD_UNLIKELY(!p->registered)) {
        pthread_once(&pool_once, pool_make_key);
        pthread_setspecific(pool_key, p);
        p->registered = 1;
    }
    return p;
}

/* The class of a request of nbytes and its capacity; -1 (capacity
 * rounded up to 4 KiB) when too big to pool. */
static int
size_class(size_t nbytes, size_t *cap)
{
    if (nbytes <= ((size_t)1 << AD_SMALL_LOG)) {
        int c = AD_MIN_CLASS;
        while (((size_t)1 << c) < nbytes) {
            c++;
        }
        *cap = (size_t)1 << c;
        return c - AD_MIN_CLASS;
    }
    if (nbytes >= ((size_t)1 << AD_POOL_LOG)) {
        *cap = (nbytes + 4095) & ~(size_t)4095;
        return -1;
    }
    int k = 63 - __builtin_clzll((unsigned long long)(nbytes - 1));
    size_t base = (size_t)1 << k, step = base >> AD_SUB_LOG;
    size_t j = (nbytes - base + step - 1) / step;       /* 1 .. AD_SUB */
    *cap = base + j * step;
    return AD_NSMALL + (k - AD_SMALL_LOG) * AD_SUB + (int)j - 1;
}

ad_buffer *
ad_buf_alloc(size_t nbytes)
{
    ad_pool *p = pool_get();
    if (nbytes > ((size_t)1 << 44)) {
        return NULL;
    }
    size_t cap;
    int c = size_class(nbytes, &cap);
    ad_buffer *b = c >= 0 ? p->free[c] : NULL;
    if (b) {
        p->free[c] = b->next;
        p->pooled_bytes -= (int64_t)b->capacity;
        ADD(g_pooled, -(int64_t)b->capacity);
    }
    else {
        b = aligned_alloc(64, AD_BUF_HEADER + cap);
        if (!b) {
            return NULL;
        }
        ADD(g_allocs, 1);
        b->capacity = cap;
        b->size_class = c;
    }
    b->refcnt = 1;
    b->version = 0;
    b->next = NULL;
    p->in_use += (int64_t)b->capacity;
    if (p->in_use > p->peak) {
        p->peak = p->in_use;
    }
    ADD(g_in_use, (int64_t)b->capacity);
    return b;
}

ad_buffer *
ad_buf_zeros(size_t nbytes)
{
    ad_buffer *b = ad_buf_alloc(nbytes);
    if (b) {
        memset(AD_BUF_DATA(b), 0, nbytes);
    }
    return b;
}

void
ad_buf_decref(ad_buffer *b)
{
    if (!b || __atomic_sub_fetch(&b->refcnt, 1, __ATOMIC_ACQ_REL) > 0) {
        return;
    }
    ad_pool *p = pool_get();
    int64_t cap = (int64_t)b->capacity;
    int64_t limit = 2 * p->peak > AD_POOL_FLOOR ? 2 * p->peak : AD_POOL_FLOOR;
    ADD(g_in_use, -cap);
    p->in_use -= cap;
    if (b->size_class >= 0 && p->pooled_bytes + cap > limit) {
        /* Over the cap: make room by dropping buffers of other classes
         * (stale ones, from earlier work), so a loop's own buffers stay
         * pooled; a stream of one class spills. */
        pool_evict(p, limit - cap, b->size_class);
    }
    if (b->size_class < 0 || p->pooled_bytes + cap > limit) {
        ADD(g_frees, 1);
        free(b);
        return;
    }
    b->next = p->free[b->size_class];
    p->free[b->size_class] = b;
    p->pooled_bytes += cap;
    ADD(g_pooled, cap);
}

ad_tensor *
ad_tensor_struct_alloc(void)
{
    ad_pool *p = pool_get();
    ad_tensor *t = p->tfree;
    if (t) {
        p->tfree = (ad_tensor *)t->buf;
        p->ntfree--;
    }
    else {
        t = malloc(sizeof(ad_tensor));
        if (!t) {
            return NULL;
        }
        ADD(g_allocs, 1);
    }
    memset(t, 0, sizeof(*t));
    t->rec = -1;
    return t;
}

void
ad_tensor_struct_free(ad_tensor *t)
{
    ad_pool *p = pool_get();
    if (p->ntfree >= AD_TENSOR_CACHE) {
        ADD(g_frees, 1);
        free(t);
        return;
    }
    t->buf = (ad_buffer *)p->tfree;     /* reuse the field as the link */
    p->tfree = t;
    p->ntfree++;
}

void
ad_pool_trim(void)
{
    pool_release_all(pool_get());
}

int
ad_grow(void **p, int64_t *cap, size_t item)
{
    int64_t nc = *cap ? 2 * *cap : 64;
    void *np = realloc(*p, (size_t)nc * item);
    if (!np) {
        return -1;
    }
    *p = np;
    *cap = nc;
    return 0;
}

/* The pool's half of ad_get_memory_stats (tape.c adds the tape's). */
void
ad_pool_stats(ad_memory_stats *out)
{
    out->bytes_in_use = GET(g_in_use);
    out->bytes_pooled = GET(g_pooled);
    out->allocations = GET(g_allocs);
    out->frees = GET(g_frees);
}

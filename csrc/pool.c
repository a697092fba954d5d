/*
 * pool.c -- buffers from per-thread size-class free lists.
 *
 * A buffer's size class is the next power of two of its byte count, so a
 * training loop that makes the same shapes every step finds each buffer it
 * needs in a free list after the first step and never calls malloc.  The
 * lists are per thread (no locks); a buffer freed on another thread simply
 * joins that thread's lists.  Caches die with their thread.
 */
#include "ad_impl.h"

#include <pthread.h>
#include <stdlib.h>

#define AD_MIN_CLASS 6          /* 64 bytes */
#define AD_NCLASSES 48
#define AD_MAX_POOLED_CLASS 30  /* blocks above 1 GiB go straight back */
#define AD_TENSOR_CACHE 4096

typedef struct {
    ad_buffer *free[AD_NCLASSES];
    int64_t pooled_bytes;
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

static int
size_class(size_t nbytes)
{
    int c = AD_MIN_CLASS;
    while (((size_t)1 << c) < nbytes && c < AD_NCLASSES - 1) {
        c++;
    }
    return c;
}

ad_buffer *
ad_buf_alloc(size_t nbytes)
{
    ad_pool *p = pool_get();
    if (nbytes > ((size_t)1 << 44)) {
        return NULL;
    }
    int c = size_class(nbytes);
    ad_buffer *b = p->free[c];
    if (b) {
        p->free[c] = b->next;
        p->pooled_bytes -= (int64_t)b->capacity;
        ADD(g_pooled, -(int64_t)b->capacity);
    }
    else {
        size_t cap = (size_t)1 << c;
        b = aligned_alloc(64, AD_BUF_HEADER + cap);
        if (!b) {
            return NULL;
        }
        ADD(g_allocs, 1);
        b->capacity = cap;
        b->size_class = c <= AD_MAX_POOLED_CLASS ? c : -1;
    }
    b->refcnt = 1;
    b->version = 0;
    b->next = NULL;
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
    if (!b || --b->refcnt > 0) {
        return;
    }
    ADD(g_in_use, -(int64_t)b->capacity);
    if (b->size_class < 0) {
        ADD(g_frees, 1);
        free(b);
        return;
    }
    ad_pool *p = pool_get();
    b->next = p->free[b->size_class];
    p->free[b->size_class] = b;
    p->pooled_bytes += (int64_t)b->capacity;
    ADD(g_pooled, (int64_t)b->capacity);
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

int64_t ad_tape_count(int64_t *live);  /* tape.c */

void
ad_get_memory_stats(ad_memory_stats *out)
{
    out->bytes_in_use = GET(g_in_use);
    out->bytes_pooled = GET(g_pooled);
    out->allocations = GET(g_allocs);
    out->frees = GET(g_frees);
    out->tape_records = ad_tape_count(&out->tape_live);
}

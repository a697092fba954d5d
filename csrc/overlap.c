/*
 * overlap.c -- the mailbox between a backward sweep and the thread that
 * reduces its gradient buckets (autodiff.distributed, overlap=True): the
 * sweep posts bucket b (ad_mailbox_post is the watch's ready callback, see
 * ad_watch_new in tape.c), the communication thread takes the buckets in
 * its fixed order.  Plain pthreads, no engine state.
 */
#include "autodiff.h"

#include <pthread.h>
#include <stdlib.h>

struct ad_mailbox {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int n, closed;
    unsigned char *posted;
};

ad_mailbox *
ad_mailbox_new(int n)
{
    ad_mailbox *mb = calloc(1, sizeof(*mb));
    if (!mb) {
        return NULL;
    }
    mb->posted = calloc((size_t)(n > 0 ? n : 1), 1);
    if (!mb->posted) {
        free(mb);
        return NULL;
    }
    mb->n = n;
    pthread_mutex_init(&mb->lock, NULL);
    pthread_cond_init(&mb->cond, NULL);
    return mb;
}

void
ad_mailbox_post(void *ctx, int b)
{
    ad_mailbox *mb = ctx;
    pthread_mutex_lock(&mb->lock);
    if (b >= 0 && b < mb->n) {
        mb->posted[b] = 1;
    }
    pthread_cond_broadcast(&mb->cond);
    pthread_mutex_unlock(&mb->lock);
}

int
ad_mailbox_take(ad_mailbox *mb, int b)
{
    int r = -1;
    pthread_mutex_lock(&mb->lock);
    while (!mb->closed && b >= 0 && b < mb->n && !mb->posted[b]) {
        pthread_cond_wait(&mb->cond, &mb->lock);
    }
    if (!mb->closed && b >= 0 && b < mb->n) {
        mb->posted[b] = 0;
        r = 0;
    }
    pthread_mutex_unlock(&mb->lock);
    return r;
}

void
ad_mailbox_close(ad_mailbox *mb)
{
    pthread_mutex_lock(&mb->lock);
    mb->closed = 1;
    pthread_cond_broadcast(&mb->cond);
    pthread_mutex_unlock(&mb->lock);
}

void
ad_mailbox_free(void *ctx)
{
    ad_mailbox *mb = ctx;
    if (!mb) {
        return;
    }
    pthread_mutex_destroy(&mb->lock);
    pthread_cond_destroy(&mb->cond);
    free(mb->posted);
    free(mb);
}

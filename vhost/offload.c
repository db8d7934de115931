/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhost/offload.c — a fixed set of worker threads fed by one FIFO. */
#include "vhost/offload.h"

#include <stdbool.h>

struct HbOffloadPool {
    GMutex lock;
    GCond cond;             /* a job was queued, or stop */
    HbOffloadJob *head, *tail;
    unsigned idle;          /* workers asleep in g_cond_wait() */
    bool stop;
    unsigned nthreads;
    GThread **threads;
};

static gpointer worker_main(gpointer opaque)
{
    HbOffloadPool *pool = opaque;

    g_mutex_lock(&pool->lock);
    for (;;) {
        HbOffloadJob *job;

        while (!pool->head && !pool->stop) {
            pool->idle++;
            g_cond_wait(&pool->cond, &pool->lock);
            pool->idle--;
        }
        if (!pool->head) {
            break;          /* stop, and nothing left */
        }
        job = pool->head;
        pool->head = job->next;
        if (!pool->head) {
            pool->tail = NULL;
        }
        g_mutex_unlock(&pool->lock);
        job->run(job);
        g_mutex_lock(&pool->lock);
    }
    g_mutex_unlock(&pool->lock);
    return NULL;
}

HbOffloadPool *hb_offload_pool_new(unsigned nthreads, const char *name, GError **errp)
{
    HbOffloadPool *pool = g_new0(HbOffloadPool, 1);

    g_mutex_init(&pool->lock);
    g_cond_init(&pool->cond);
    pool->threads = g_new0(GThread *, nthreads);
    for (unsigned i = 0; i < nthreads; i++) {
        g_autofree char *tname = g_strdup_printf("%s-%u", name, i);
        pool->threads[i] = g_thread_try_new(tname, worker_main, pool, errp);
        if (!pool->threads[i]) {
            break;
        }
        pool->nthreads++;
    }
    if (!pool->nthreads) {
        hb_offload_pool_free(pool);
        return NULL;
    }
    /* Fewer workers than asked for still work. */
    g_clear_error(errp);
    return pool;
}

void hb_offload_submit(HbOffloadPool *pool, HbOffloadJob *job)
{
    job->next = NULL;
    g_mutex_lock(&pool->lock);
    if (pool->tail) {
        pool->tail->next = job;
    } else {
        pool->head = job;
    }
    pool->tail = job;
    /* A busy worker takes the job when it is done: no wake-up needed then. */
    if (pool->idle) {
        g_cond_signal(&pool->cond);
    }
    g_mutex_unlock(&pool->lock);
}

bool hb_offload_cancel(HbOffloadPool *pool, HbOffloadJob *job)
{
    HbOffloadJob *prev = NULL;
    bool found = false;

    g_mutex_lock(&pool->lock);
    for (HbOffloadJob *j = pool->head; j; prev = j, j = j->next) {
        if (j == job) {
            if (prev) {
                prev->next = j->next;
            } else {
                pool->head = j->next;
            }
            if (pool->tail == j) {
                pool->tail = prev;
            }
            found = true;
            break;
        }
    }
    g_mutex_unlock(&pool->lock);
    return found;
}

void hb_offload_pool_free(HbOffloadPool *pool)
{
    if (!pool) {
        return;
    }
    g_mutex_lock(&pool->lock);
    pool->stop = true;
    g_cond_broadcast(&pool->cond);
    g_mutex_unlock(&pool->lock);
    for (unsigned i = 0; i < pool->nthreads; i++) {
        g_thread_join(pool->threads[i]);
    }
    g_free(pool->threads);
    g_cond_clear(&pool->cond);
    g_mutex_clear(&pool->lock);
    g_free(pool);
}

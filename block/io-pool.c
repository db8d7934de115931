/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/io-pool.c — blocking calls on a thread pool, completed on the submitter's context. */
#include "block/io-pool.h"

static GOnce pool_once = G_ONCE_INIT;

static void pool_run(gpointer data, gpointer user_data)
{
    HbIoPoolJob *job = data;
    int ret = job->fn(job);

    hb_aio_ctx_post(job->ctx, &job->cb, ret);
}

static gpointer pool_create(gpointer unused)
{
    /* Non-exclusive: threads are made on demand and leave when idle. */
    return g_thread_pool_new(pool_run, NULL, HB_IO_POOL_MAX, FALSE, NULL);
}

void hb_io_pool_submit(HbAioCtx *ctx, HbIoPoolJob *job)
{
    GThreadPool *p = g_once(&pool_once, pool_create, NULL);

    job->ctx = ctx;
    hb_aio_ctx_expect(ctx);
    g_thread_pool_push(p, job, NULL);
}

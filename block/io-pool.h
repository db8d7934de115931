/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/io-pool.h — blocking calls on a thread pool, completed on the submitter's context. */
#ifndef HB_BLOCK_IO_POOL_H
#define HB_BLOCK_IO_POOL_H

/*
 * Theory of operation
 *
 * What cannot be asynchronous (aio=threads, a driver's slow path, an
 * ioctl) still must not block an I/O thread: it runs here, on one of up
 * to HB_IO_POOL_MAX threads, and its result is posted back to the context
 * of the thread that submitted it (block/aio.h), whose callback then runs
 * there as for any other completion.  Threads start on demand and leave
 * after a few idle seconds, so an idle daemon has none.
 */

#include "block/aio.h"

/* Deep enough to keep a device busy: QEMU's thread pool has 64 too. */
#define HB_IO_POOL_MAX 64

typedef struct HbIoPoolJob HbIoPoolJob;

/* Runs on a pool thread, with no completion context: return 0 or -errno. */
typedef int HbIoPoolFn(HbIoPoolJob *job);

struct HbIoPoolJob {
    HbAioCb cb;             /* completed with fn's result on ctx */
    HbIoPoolFn *fn;
    HbAioCtx *ctx;
};

/**
 * hb_io_pool_submit() - run @job->fn on the pool, then complete @job->cb
 * on @ctx with its result.
 * @ctx: the caller's current context (not NULL)
 * @job: owned by the caller until @job->cb.done runs
 */
void hb_io_pool_submit(HbAioCtx *ctx, HbIoPoolJob *job);

#endif

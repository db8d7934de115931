/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhost/offload.h — a small pool of worker threads that run requests beside the I/O threads. */
#ifndef HB_EXPORT_OFFLOAD_H
#define HB_EXPORT_OFFLOAD_H

#include <glib.h>
#include <stdbool.h>

/*
 * Theory of operation
 *
 * An I/O thread runs a request itself when that is cheap, and hands it to
 * this pool when the request would keep it busy long enough that a second
 * CPU is worth waking (a 1 MiB copy out of the page cache, a write that the
 * kernel makes slow).  Jobs run in FIFO order on any worker; a job tells its
 * owner it is done by its own means (queue-runner.c has a completion list
 * per ring).  The pool never waits for jobs: whoever submitted them drains
 * them before freeing what they point to.
 *
 * The pool is shared by every export: if one export's storage hangs, its
 * jobs hold the workers and other exports' jobs wait in the FIFO.  So a
 * submitter that has waited too long takes back its jobs no worker has
 * started (hb_offload_cancel) and runs them itself.
 */

typedef struct HbOffloadJob HbOffloadJob;
struct HbOffloadJob {
    void (*run)(HbOffloadJob *job);
    HbOffloadJob *next;     /* the pool's */
};

typedef struct HbOffloadPool HbOffloadPool;

/**
 * hb_offload_pool_new() - start @nthreads workers named "@name-N".
 * Return: the pool, or NULL with @errp set if no thread could start.
 */
HbOffloadPool *hb_offload_pool_new(unsigned nthreads, const char *name, GError **errp);

/* Queue @job; the next free worker calls job->run(job).  Any thread. */
void hb_offload_submit(HbOffloadPool *pool, HbOffloadJob *job);

/*
 * Take @job back if no worker has started it: true, and it will not run;
 * false if it is running or has run.  Any thread.
 */
bool hb_offload_cancel(HbOffloadPool *pool, HbOffloadJob *job);

/* Stop and join the workers.  No job may be queued or running. */
void hb_offload_pool_free(HbOffloadPool *pool);

#endif

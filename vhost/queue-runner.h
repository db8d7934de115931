/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhost/queue-runner.h — serve one virtqueue: run requests inline or on the offload pool. */
#ifndef HB_EXPORT_QUEUE_RUNNER_H
#define HB_EXPORT_QUEUE_RUNNER_H

#include <stdbool.h>

#include "vhost/offload.h"
#include "vhost/vhost-user.h"
#include "vhost/virtio-blk.h"

/*
 * Theory of operation
 *
 * The I/O thread owning a ring pops its requests and runs the cheap ones
 * itself: for a 4k read out of the page cache, waking another thread would
 * cost more than the read.  A read, when reads have lately taken long (an
 * exponential average of measured service times, kept per ring), goes to
 * the offload pool instead, if something else is waiting behind it: then
 * the I/O thread goes on popping and completing while the workers copy,
 * and large reads use every CPU, as QSD's thread pool does.  A request
 * alone in the ring runs inline: a hand-off would only add latency.  Writes
 * always run inline (see queue-runner.c).  If no worker starts any of a
 * ring's requests for a while, other exports hold the pool (their storage
 * may hang): the ring takes back what is still queued and runs inline.
 *
 * Completions are pushed to the used ring by the I/O thread only, in the
 * order the workers finish them (virtio allows any order; the inflight
 * region tracks each head on its own).  hb_queue_runner_run() returns only
 * when the ring is empty and no request is left with a worker, so a thread
 * holding the ring's mutex still sees a drained ring (vhost-user.h).
 */

typedef struct HbQueueRunner HbQueueRunner;

/* @pool may be NULL: every request then runs inline. */
HbQueueRunner *hb_queue_runner_new(HbVirtioBlk *blk, HbOffloadPool *pool);

/**
 * hb_queue_runner_set_starve_us() - how long the ring waits for a worker to
 * start one of its reads before it decides the pool is held by others and
 * takes its reads back (default 2 ms).  Tests that check where requests
 * ran raise it, so that a loaded machine's scheduling delay is not taken
 * for a held pool.
 */
void hb_queue_runner_set_starve_us(HbQueueRunner *r, int64_t us);

/**
 * hb_queue_runner_run() - serve ring @q until it is empty, or for a
 * budget of 100 ms (then it kicks the ring itself, to be served again on
 * the thread's next turn); either way drained: nothing with a worker.
 * Called with the ring's mutex held.
 * Return: false if the front-end broke the ring (the connection is then
 * dropped); every request handed out was completed before returning.
 */
bool hb_queue_runner_run(HbQueueRunner *r, HbVuDev *dev, HbVuQueue *q);

/**
 * hb_queue_runner_inflight() - how many of the ring's requests @r has
 * started and not yet pushed: with the backend or with the workers.
 * For tests and assertions: between two runs it is always 0.
 * Return: that count.
 */
unsigned hb_queue_runner_inflight(const HbQueueRunner *r);

void hb_queue_runner_free(HbQueueRunner *r);

#endif

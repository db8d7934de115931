/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/aio.h — a thread's completion context: its io_uring and the completions posted to it. */
#ifndef HB_BLOCK_AIO_H
#define HB_BLOCK_AIO_H

/*
 * Theory of operation
 *
 * An asynchronous request completes on the thread that submitted it.  That
 * thread owns an HbAioCtx, made current with hb_aio_ctx_set_current():
 *
 * - its io_uring (when the kernel allows one), on which the file driver
 *   queues SQEs; their CQEs carry the HbAioCb to call;
 * - a list of completions other threads post to it (the blocking pool of
 *   aio=threads, and drivers' synchronous fallbacks run on that pool).
 *
 * Nothing completes behind the owner's back: callbacks run only inside
 * hb_aio_ctx_poll() or hb_aio_ctx_wait(), called by the owner, or inline,
 * inside the submit call itself, when a request finishes at once (an
 * error found before any I/O, null-co, a thread without a context).
 *
 * A thread without a context (the main thread, tools, pool workers) has
 * no asynchronous I/O: hb_node_submit() runs the request synchronously and
 * calls its callback before returning.  The synchronous API is therefore
 * safe everywhere, and the asynchronous one is fast where a context is.
 */

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct HbAioCtx HbAioCtx;
typedef struct HbAioCb HbAioCb;

/*
 * A completion: embedded in the request state of whoever waits for it,
 * found again with container_of().  @done runs once, on the submitting
 * thread, with 0 or -errno.
 */
typedef void HbAioDoneFn(HbAioCb *cb, int ret);

struct HbAioCb {
    HbAioDoneFn *done;
    HbAioCb *next;      /* the context's posted list */
    int ret;            /* the result while on that list */
};

struct io_uring_sqe;

/**
 * hb_aio_ctx_new() - make a completion context for the calling thread.
 * @want_uring: try to set up an io_uring
 * @errp: error if the eventfd cannot be made
 *
 * An io_uring that cannot be set up (ENOSYS, EPERM under seccomp, the
 * memlock limit) is not an error: hb_aio_ctx_uring_error() says why.
 * Return: the context, or NULL.
 */
HbAioCtx *hb_aio_ctx_new(bool want_uring, GError **errp);

/* Free @ctx (nothing may be in flight); NULL is fine. */
void hb_aio_ctx_free(HbAioCtx *ctx);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(HbAioCtx, hb_aio_ctx_free)

/* Make @ctx the calling thread's context (NULL: none). */
void hb_aio_ctx_set_current(HbAioCtx *ctx);

/* The calling thread's context, or NULL. */
HbAioCtx *hb_aio_ctx_current(void);

/* Whether @ctx has an io_uring. */
bool hb_aio_ctx_has_uring(const HbAioCtx *ctx);

/* Why @ctx has no io_uring (-errno), or 0. */
int hb_aio_ctx_uring_error(const HbAioCtx *ctx);

/* Requests submitted on @ctx whose callback has not run yet. */
unsigned hb_aio_ctx_inflight(const HbAioCtx *ctx);

/* SQEs prepared on @ctx and not yet handed to the kernel. */
unsigned hb_aio_ctx_queued(const HbAioCtx *ctx);

/**
 * hb_aio_ctx_get_sqe() - an io_uring SQE for @cb, for drivers.
 * @ctx: a context with an io_uring, the caller's current one
 * @cb: what to complete when the CQE comes; the SQE's user_data
 *
 * Queued SQEs go to the kernel at hb_aio_ctx_submit() (batched), or here
 * when the submission queue is full.
 * Return: the SQE to fill in, or NULL if the ring cannot take one now.
 */
struct io_uring_sqe *hb_aio_ctx_get_sqe(HbAioCtx *ctx, HbAioCb *cb);

/**
 * hb_aio_ctx_submit() - hand every queued SQE to the kernel.
 * Return: 0, or -errno if the ring is unusable; the SQEs then stay queued
 * for the next call.
 */
int hb_aio_ctx_submit(HbAioCtx *ctx);

/**
 * hb_aio_ctx_submit_if_queued() - hand the queued SQEs to the kernel now if
 * there are at least @min of them; otherwise leave them for the batch.
 * @ctx: the caller's current context, with an io_uring
 * @min: how many queued SQEs make a submission worth it now
 *
 * For drivers whose device is slow next to a system call: a disk takes
 * each submission as one batch, and a batch of the whole queue depth
 * makes the queue move in lock-step (see file.c, FILE_DIRECT_BATCH).
 * Return: as hb_aio_ctx_submit(); 0 when it submitted nothing.
 */
int hb_aio_ctx_submit_if_queued(HbAioCtx *ctx, unsigned min);

/**
 * hb_aio_ctx_expect() - a request of @ctx is running elsewhere (the pool)
 * and will be posted back with hb_aio_ctx_post().
 */
void hb_aio_ctx_expect(HbAioCtx *ctx);

/**
 * hb_aio_ctx_post() - complete @cb on @ctx's thread with @ret.  Any thread;
 * after hb_aio_ctx_expect() on the owner.
 */
void hb_aio_ctx_post(HbAioCtx *ctx, HbAioCb *cb, int ret);

/**
 * hb_aio_ctx_poll() - run the callbacks of every request that has
 * finished, without waiting.  Owner only.
 * Return: how many ran.
 */
unsigned hb_aio_ctx_poll(HbAioCtx *ctx);

/**
 * hb_aio_ctx_wait() - submit what is queued, sleep until a request
 * finishes or @timeout_us passes (< 0: no limit), then poll.  Owner only.
 * Return: how many callbacks ran.
 */
unsigned hb_aio_ctx_wait(HbAioCtx *ctx, int64_t timeout_us);

/**
 * hb_aio_ctx_wait_or_fd() - hb_aio_ctx_wait(), but the sleep also ends
 * when @fd becomes readable.  Owner only.
 * @fd_ready: set to whether @fd was found readable (it is not read)
 * Return: how many callbacks ran.
 */
unsigned hb_aio_ctx_wait_or_fd(HbAioCtx *ctx, int64_t timeout_us, int fd, bool *fd_ready);

/*
 * A timer of a context: @cb.done(@cb, 0) runs on the owner, inside
 * hb_aio_ctx_poll() or hb_aio_ctx_wait(), once the monotonic clock has
 * reached @deadline_ns.  hb_aio_ctx_wait() sleeps no longer than to the
 * nearest deadline, and does sleep while a timer is armed even with no
 * request in flight (a throttled request waits on one: block/throttle.c).
 * Embedded in the waiter's state; owner thread only.
 */
typedef struct HbAioTimer {
    HbAioCb cb;
    int64_t deadline_ns;
    struct HbAioTimer *next;    /* the context's list, by deadline */
    bool armed;
} HbAioTimer;

/* The clock of timers: CLOCK_MONOTONIC, in ns. */
int64_t hb_aio_now_ns(void);

/**
 * hb_aio_ctx_timer_arm() - run @t->cb.done at @deadline_ns (see HbAioTimer).
 * @ctx: the caller's current context
 * @t: not armed
 */
void hb_aio_ctx_timer_arm(HbAioCtx *ctx, HbAioTimer *t, int64_t deadline_ns);

/* Disarm @t if it is armed; its callback will not run.  Owner only. */
void hb_aio_ctx_timer_cancel(HbAioCtx *ctx, HbAioTimer *t);

/**
 * hb_aio_ctx_next_deadline_ns() - the nearest deadline of @ctx's armed
 * timers, for an owner that sleeps elsewhere (an I/O thread's epoll) and
 * must wake for them.  Owner only.
 * Return: the deadline in ns of hb_aio_now_ns(), or -1 if none is armed.
 */
int64_t hb_aio_ctx_next_deadline_ns(const HbAioCtx *ctx);

/**
 * hb_aio_ctx_cancel_timers() - disarm every timer of @ctx, running each
 * one's callback with -ECANCELED, so that whoever armed one frees what it
 * holds.  The owner, before it frees @ctx.
 */
void hb_aio_ctx_cancel_timers(HbAioCtx *ctx);

/**
 * hb_aio_reserve_rings() - make @n restricted rings now, for the I/O
 * threads that start later, and never set one up again: after this,
 * hb_aio_ctx_new() takes a reserved ring (or makes a context without one
 * when none is left), and hb_aio_ctx_free() gives it back.  The daemon
 * calls it before its seccomp sandbox, which then allows no
 * io_uring_setup: a ring set up by code that took the daemon over would
 * not be restricted.
 * Return: false with @errp set if a context could not be made at all;
 * fewer rings than @n (the memlock limit, no io_uring) are no error.
 */
bool hb_aio_reserve_rings(unsigned n, GError **errp);

/**
 * hb_aio_uring_probe() - whether this process may use io_uring at all:
 * 0, or the -errno io_uring_setup() gave (ENOSYS: no kernel support; EPERM:
 * disabled by sysctl kernel.io_uring_disabled or a seccomp filter).
 * Tried once; the answer is kept.
 */
int hb_aio_uring_probe(void);

#endif

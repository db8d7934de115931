/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhost/queue-runner.c — pop, run inline or offload, complete: one virtqueue's loop. */
#include "vhost/queue-runner.h"

#include <sys/eventfd.h>
#include <time.h>

/*
 * After the ring runs dry it is polled this long before the thread sleeps.
 * On a busy queue the next request comes within microseconds, and sleeping
 * in epoll_wait and being woken by a kick costs far more (context switches
 * were three quarters of the I/O thread's time under 4k qd32 without it).
 * QEMU's iothreads poll for up to 32 us too.  An idle queue pays once per
 * batch.  The same bound applies to waiting for a worker's completion.
 */
#define RUNNER_POLL_NS 32000

/* Reads are offloaded once their recent service time is at least this. */
#define RUNNER_OFFLOAD_MIN_NS 6000

/* Requests one ring may have with the workers at once. */
#define RUNNER_MAX_OFFLOADED 64

/*
 * Waiting this long for a worker means the pool is held by others (another
 * export's storage may hang): take back what no worker has started, run it
 * here, and keep everything inline for RUNNER_STARVED_BACKOFF_US.
 */
#define RUNNER_STARVED_US 2000

/*
 * A guest that keeps its ring full would keep run() going for ever, and with
 * it the ring's mutex: the control thread (GET_VRING_BASE, reset) and export
 * deletion would wait behind it.  After this long, run() stops taking new
 * requests, finishes those it has, kicks the ring itself and returns; the
 * thread serves the ring again on its next turn, after whatever else waits.
 */
#define RUNNER_BUDGET_NS (100 * 1000 * 1000)
#define RUNNER_STARVED_BACKOFF_US 100000

/*
 * A throttled ring.  When the backend says the next request would be held
 * (HbVirtioBlkBackend.admission_wait_ns: a throttle group over its limit),
 * the runner leaves it in the ring, finishes what it has started and
 * returns, having asked the backend to kick the ring when the wait is over
 * (signal_at).  The thread serves its other rings meanwhile: a throttled
 * request parked in the runner would hold them all up, as the runner
 * returns only with nothing in flight.  A request the runner did start has
 * passed admission and waits at most its own share.
 */

/*
 * Only reads are offloaded.  Buffered writes to one file serialize on its
 * inode lock in the kernel: two threads writing 4k at random into the same
 * page-cached file made 0.4x to 1.2x the IOPS of one on this project's VM
 * (bench/pwrite-threads), so a hand-off per write would buy nothing.  Reads
 * out of the page cache take no such lock, and LUKS decryption after them
 * parallelizes too.
 */

typedef struct RunnerReq RunnerReq;
struct RunnerReq {
    HbOffloadJob job;           /* first: the pool hands it back */
    HbQueueRunner *runner;
    RunnerReq *next;            /* free list, or completion list */
    unsigned slot;              /* index in runner->out while offloaded */
    gint started;               /* a worker took it */
    bool is_read;
    int ret;                    /* hb_virtio_blk_start()'s: -EINVAL if malformed */
    int64_t start_ns;           /* offloaded: when the worker took it */
    HbVirtioBlkReq vreq;
    HbVirtqElem elem;           /* 16 KiB of iovecs; the backend's io_priv after it */
};

struct HbQueueRunner {
    HbVirtioBlk *blk;
    HbOffloadPool *pool;
    RunnerReq *free_reqs;       /* I/O thread only */
    size_t req_size;            /* RunnerReq and the backend's io_priv */
    unsigned offloaded;         /* with the workers, not yet reaped; I/O thread only */
    unsigned inflight;          /* started here, with the backend; I/O thread only */
    bool unnotified;            /* pushed to the used ring, driver not yet told */
    bool starting;              /* inside start_here(): a completion now is inline */
    HbVuDev *dev;               /* the ring being run (run()'s arguments) */
    HbVuQueue *q;
    RunnerReq *out[RUNNER_MAX_OFFLOADED];   /* those requests */
    int64_t inline_until;       /* monotonic us: no offloading before, after starving */
    int64_t starve_us;          /* RUNNER_STARVED_US unless a test says otherwise */
    gint read_cost_ns;          /* average service time of reads; any thread */
    int64_t hold_until_ns;      /* the throttle holds the next request until then; 0: not */
    int64_t wake_armed_ns;      /* the deadline of the last wake asked for (signal_at) */
    unsigned wake_gen;          /* the kick fd's generation it was asked for */
    bool wake_unavailable;      /* signal_at failed: no admission (see admit()) */

    GMutex done_lock;
    GCond done_cond;
    RunnerReq *done;            /* finished by a worker, not yet pushed */
    bool waiting;               /* the I/O thread sleeps on done_cond */
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

HbQueueRunner *hb_queue_runner_new(HbVirtioBlk *blk, HbOffloadPool *pool)
{
    HbQueueRunner *r = g_new0(HbQueueRunner, 1);

    r->blk = blk;
    r->pool = pool;

    r->starve_us = RUNNER_STARVED_US;
    g_mutex_init(&r->done_lock);
    g_cond_init(&r->done_cond);
    return r;
}

void hb_queue_runner_set_starve_us(HbQueueRunner *r, int64_t us)
{
    r->starve_us = us;
}

unsigned hb_queue_runner_inflight(const HbQueueRunner *r)
{
    /* A worker's finished request stays in offloaded until reaped. */
    return r->inflight + r->offloaded;
}

void hb_queue_runner_free(HbQueueRunner *r)
{
    if (!r) {
        return;
    }
    g_assert(!r->offloaded && !r->done && !r->inflight);
    while (r->free_reqs) {
        RunnerReq *req = r->free_reqs;
        r->free_reqs = req->next;
        g_free(req);
    }
    g_cond_clear(&r->done_cond);
    g_mutex_clear(&r->done_lock);
    g_free(r);
}

static RunnerReq *req_get(HbQueueRunner *r)
{
    RunnerReq *req = r->free_reqs;

    if (req) {
        r->free_reqs = req->next;
        return req;
    }
    if (!r->req_size) {
        /* Here, not in _new(): the owner may fill in @blk after making us. */
        r->req_size = G_STRUCT_OFFSET(RunnerReq, elem) + sizeof(HbVirtqElem);
        r->req_size = (r->req_size + 15) & ~(size_t)15;
        r->req_size += r->blk->be.io_priv_size;
    }
    req = g_malloc(r->req_size);
    req->runner = r;
    req->vreq.elem = &req->elem;
    req->vreq.io.priv = r->blk->be.io_priv_size ?
        (char *)req + r->req_size - r->blk->be.io_priv_size : NULL;
    return req;
}

static void req_put(HbQueueRunner *r, RunnerReq *req)
{
    req->next = r->free_reqs;
    r->free_reqs = req;
}

/* Fold one measured read service time into the ring's average. */
static void note_read_cost(HbQueueRunner *r, int64_t took)
{
    /* An average over the last eight or so: races only lose a sample. */
    gint *avg = &r->read_cost_ns;
    int old = g_atomic_int_get(avg);

    took = MIN(took, (int64_t)G_MAXINT / 2);
    g_atomic_int_set(avg, (int)(old + (took - old) / 8));
}

/* A worker finished @vreq: hand it to the I/O thread. */
static void complete_offloaded(HbVirtioBlkReq *vreq)
{
    RunnerReq *req = (RunnerReq *)((char *)vreq - G_STRUCT_OFFSET(RunnerReq, vreq));
    HbQueueRunner *r = req->runner;

    note_read_cost(r, now_ns() - req->start_ns);
    g_mutex_lock(&r->done_lock);
    req->next = r->done;
    g_atomic_pointer_set(&r->done, req);
    if (r->waiting) {
        g_cond_signal(&r->done_cond);
    }
    g_mutex_unlock(&r->done_lock);
}

/*
 * Run @req on a worker.  The worker has no completion context, so the
 * backend completes it before start returns; complete_offloaded() then
 * passes it on, timing it first: after that the ring may drain and its
 * runner go.  A malformed request (start fails) is passed on by hand.
 */
static void req_run_offloaded(HbOffloadJob *job)
{
    RunnerReq *req = (RunnerReq *)job;
    HbQueueRunner *r = req->runner;

    req->start_ns = now_ns();
    g_atomic_int_set(&req->started, 1);
    req->vreq.complete = complete_offloaded;
    req->ret = 0;
    /* Once completed, @req belongs to the I/O thread again: no touching it. */
    int ret = hb_virtio_blk_start(r->blk, &req->vreq);
    if (ret < 0) {
        req->ret = ret;
        complete_offloaded(&req->vreq);
    }
}

static bool want_offload(HbQueueRunner *r, RunnerReq *req, HbVirtq *vq)
{
    /*
     * An asynchronous backend keeps many requests in flight from this
     * thread and spreads its CPU-heavy ones (large page-cache copies,
     * decryption) over the block layer's I/O pool itself; a worker here
     * would only turn its reads synchronous again.
     */
    if (r->blk->be.poll) {
        return false;
    }
    if (!r->pool || !req->is_read || r->offloaded >= RUNNER_MAX_OFFLOADED ||
        g_atomic_int_get(&r->read_cost_ns) < RUNNER_OFFLOAD_MIN_NS) {
        return false;
    }
    if (r->inline_until && g_get_monotonic_time() < r->inline_until) {
        return false;
    }
    /* Alone in the ring, the request is served fastest right here. */
    return r->offloaded || hb_virtq_pending(vq) > 0;
}

/* Kick ring @q at @deadline_ns; at once if the backend cannot arrange it. */
static void wake_at(HbQueueRunner *r, HbVuQueue *q, int64_t deadline_ns)
{
    if (r->wake_armed_ns > now_ns() && r->wake_armed_ns <= deadline_ns &&
        r->wake_gen == q->kick_gen) {
        return;                 /* an earlier wake of this kick fd is armed: it looks again */
    }
    if (q->kick_fd < 0 || !r->blk->be.signal_at(r->blk->be.opaque, q->kick_fd, deadline_ns)) {
        /*
         * No wake-up later: kick now, and admit everything from here on,
         * so the throttle node holds requests as before rather than the
         * ring spinning on a kick it gives itself.
         */
        r->wake_unavailable = true;
        hb_vu_queue_wake(q);
        return;
    }
    r->wake_armed_ns = deadline_ns;
    r->wake_gen = q->kick_gen;
}

/*
 * Whether a request of @type (read from its header) may start now; if
 * not, when it may is noted in hold_until_ns.  Flushes and the like are
 * never held.
 */
static bool admit(HbQueueRunner *r, int type)
{
    int64_t wait;

    if (!r->blk->be.admission_wait_ns || !r->blk->be.signal_at || r->wake_unavailable ||
        (type != HB_VIRTIO_BLK_T_IN && type != HB_VIRTIO_BLK_T_OUT &&
         type != HB_VIRTIO_BLK_T_DISCARD && type != HB_VIRTIO_BLK_T_WRITE_ZEROES)) {
        return true;
    }
    wait = r->blk->be.admission_wait_ns(r->blk->be.opaque, type != HB_VIRTIO_BLK_T_IN);
    if (wait <= 0) {
        return true;
    }
    r->hold_until_ns = now_ns() + wait;
    return false;
}

/* Push @req's completion to the ring (I/O thread). */
static void push_used(HbQueueRunner *r, RunnerReq *req)
{
    if (__builtin_expect(r->q->vq.log != NULL, 0)) {
        hb_virtq_log_request(&r->q->vq, &req->elem);   /* migrating */
        /*
         * virtio-blk took the status byte off the end of the last
         * writable iovec (the data must stay aligned for O_DIRECT), so
         * the walk above no longer sees it: a status page left unmarked
         * reaches the destination stale.
         */
        hb_virtq_log_ptr(&r->q->vq, req->vreq.status, 1);
    }
    hb_virtq_push(&r->q->vq, req->elem.head, req->vreq.written);
    /*
     * A request that completed while it was being started (null-co, the
     * page cache) is told at once if the driver asks: it consumes that one
     * while this thread takes the next, on the other CPU.  Completions the
     * backend or the workers bring in a batch are told once for the batch
     * (tell_driver()).
     */
    if (r->starting && r->q->vq.event_idx) {
        hb_vu_queue_notify(r->dev, r->q);
    } else {
        r->unnotified = true;
    }
}

/* Complete an offloaded @req on the ring; false if it could carry no status. */
static bool req_complete(HbVuDev *dev, HbVuQueue *q, RunnerReq *req)
{
    if (req->ret < 0) {
        return false;
    }
    push_used(req->runner, req);
    return true;
}

/* The backend finished a request started on this thread. */
static void complete_here(HbVirtioBlkReq *vreq)
{
    RunnerReq *req = (RunnerReq *)((char *)vreq - G_STRUCT_OFFSET(RunnerReq, vreq));
    HbQueueRunner *r = req->runner;

    r->inflight--;
    push_used(r, req);
    req_put(r, req);
}

/*
 * Start @req on this thread.  A synchronous backend completes it before
 * the start returns, and a read's time is then its cost (want_offload()).
 * Return: false if it is too malformed to carry a status.
 */
static bool start_here(HbQueueRunner *r, RunnerReq *req)
{
    bool is_read = req->is_read;
    int64_t start = is_read ? now_ns() : 0;
    unsigned before = r->inflight;

    r->inflight++;
    req->vreq.complete = complete_here;
    /*
     * Mostly only @req can complete in here; another request's completion
     * reaped while a full submission queue is flushed is told at once too,
     * which costs one call more, not one fewer.
     */
    r->starting = true;
    int ret = hb_virtio_blk_start(r->blk, &req->vreq);
    r->starting = false;
    if (ret < 0) {
        r->inflight--;
        req_put(r, req);
        return false;
    }
    /* Completed already (req is back on the free list): that was all of it. */
    if (is_read && r->inflight == before) {
        note_read_cost(r, now_ns() - start);
    }
    return true;
}

/*
 * Let the backend submit what it batched and complete what finished,
 * waiting up to @wait_us if nothing has.  Return: how many completed.
 */
static unsigned poll_backend(HbQueueRunner *r, int64_t wait_us)
{
    unsigned before = r->inflight;

    if (!r->blk->be.poll) {
        return 0;
    }
    r->blk->be.poll(r->blk->be.opaque, wait_us);
    return before - r->inflight;
}

static void out_add(HbQueueRunner *r, RunnerReq *req)
{
    req->started = 0;
    req->slot = r->offloaded;
    r->out[r->offloaded++] = req;
}

static void out_remove(HbQueueRunner *r, RunnerReq *req)
{
    RunnerReq *last = r->out[--r->offloaded];

    r->out[req->slot] = last;
    last->slot = req->slot;
}

/* Push what the workers finished; return how many (or -1 on a bad one). */
static int reap(HbQueueRunner *r, HbVuDev *dev, HbVuQueue *q)
{
    RunnerReq *list;
    int n = 0;
    bool ok = true;

    if (!g_atomic_pointer_get(&r->done)) {
        return 0;
    }
    g_mutex_lock(&r->done_lock);
    list = r->done;
    r->done = NULL;
    g_mutex_unlock(&r->done_lock);
    while (list) {
        RunnerReq *req = list;
        list = req->next;
        out_remove(r, req);
        ok = req_complete(dev, q, req) && ok;
        req_put(r, req);
        n++;
    }
    return ok ? n : -1;
}

/*
 * Sleep until a worker finishes something (r->offloaded > 0), or until
 * @timeout_us passed (0: no limit).  Return: false on timeout.
 */
static bool wait_done(HbQueueRunner *r, int64_t timeout_us)
{
    int64_t end = g_get_monotonic_time() + timeout_us;
    bool ok = true;

    g_mutex_lock(&r->done_lock);
    while (!r->done && ok) {
        r->waiting = true;
        if (timeout_us) {
            ok = g_cond_wait_until(&r->done_cond, &r->done_lock, end) || r->done;
        } else {
            g_cond_wait(&r->done_cond, &r->done_lock);
        }
    }
    r->waiting = false;
    g_mutex_unlock(&r->done_lock);
    return ok;
}

/*
 * No completion came for a while.  If a worker runs one of ours, it is only
 * slow: wait on.  Otherwise the workers are all taken by others: run here
 * what none has started.  Return: false if one of those could carry no
 * status (ring broken).
 */
static bool reclaim(HbQueueRunner *r, HbVuDev *dev, HbVuQueue *q)
{
    bool ok = true;

    for (unsigned i = 0; i < r->offloaded; i++) {
        if (g_atomic_int_get(&r->out[i]->started)) {
            return true;
        }
    }
    r->inline_until = g_get_monotonic_time() + RUNNER_STARVED_BACKOFF_US;
    for (unsigned i = 0; i < r->offloaded;) {
        RunnerReq *req = r->out[i];
        if (!hb_offload_cancel(r->pool, &req->job)) {
            i++;                /* running or done: reaped as usual */
            continue;
        }
        out_remove(r, req);     /* moves another request into slot i */
        ok = start_here(r, req) && ok;
    }
    return ok;
}

/* The ring is broken: wait for the workers and the backend, then give up on it. */
static bool drain_and_fail(HbQueueRunner *r, HbVuDev *dev, HbVuQueue *q)
{
    while (r->offloaded || r->inflight) {
        if (r->offloaded && !wait_done(r, r->inflight ? 100 : r->starve_us)) {
            reclaim(r, dev, q);
        }
        reap(r, dev, q);
        if (r->inflight) {
            poll_backend(r, r->offloaded ? 0 : 10000);
        }
    }
    /* What was pushed is complete: the driver hears of it (no EVENT_IDX). */
    r->unnotified = false;
    hb_vu_queue_notify(dev, q);
    return false;
}

/*
 * Nothing to pop (or, @yielding, nothing we may pop) and nothing
 * completed: wait for whatever is out, the workers' requests or the
 * backend's.  Return: false if the ring broke.
 */
static bool wait_for_completions(HbQueueRunner *r, HbVuDev *dev, HbVuQueue *q,
                                 bool yielding)
{
    if (r->offloaded) {
        /*
         * The workers need the CPUs more than a poll does: sleep until
         * one finishes (briefly, if the backend has requests too).
         * Requests the guest adds meanwhile are popped then.
         */
        if (!wait_done(r, r->inflight ? 50 : r->starve_us) && !r->inflight &&
            !reclaim(r, dev, q)) {
            return false;
        }
        if (r->inflight) {
            poll_backend(r, 0);
        }
        return true;
    }
    /*
     * Only the backend has requests: sleep until a completion comes (the
     * guest's new requests are popped after it).  No busy poll here, as
     * there is for an empty ring: the device takes tens of microseconds,
     * and spinning through them took the CPU from the completion's own
     * path and the guest (4k at depth 1 on an O_DIRECT file: 8.5k IOPS
     * spinning 32 us, 13k sleeping at once, 2 vCPUs).
     */
    /*
     * Yielding, the runner takes nothing more from the ring, which may
     * well hold requests (a throttled one left there on purpose): a kick,
     * or a ring found not empty, would only wake it to take nothing.
     */
    if (yielding || !r->blk->be.poll_or_fd || q->kick_fd < 0) {
        poll_backend(r, 10000);
        return true;
    }
    /*
     * Sleep on the kick too: a request the driver adds now would otherwise
     * wait in the ring for the next completion, leaving the device with
     * one request fewer than the driver's depth all that time.  A request
     * that came in meanwhile is taken at once.  When a completion ends the
     * sleep, the request for a kick is taken back: the loop looks at the
     * ring anyway, and a kick per request is what a driver at depth 1
     * would otherwise pay (8% of 4k IOPS at depth 1 on an O_DIRECT file).
     */
    if (hb_virtq_enable_notify(&q->vq)) {
        hb_virtq_suppress_notify(&q->vq);
        return true;
    }
    if (r->blk->be.poll_or_fd(r->blk->be.opaque, 10000, q->kick_fd)) {
        eventfd_t v;
        eventfd_read(q->kick_fd, &v);   /* readable: does not block */
    }
    hb_virtq_suppress_notify(&q->vq);
    return true;
}

/*
 * With EVENT_IDX, one call for all that a poll of the backend (or a reap
 * of the workers) completed, not a call per completion: a fast driver
 * keeps asking to hear of the next completion, and each call is a syscall
 * and a wake-up that, on a CPU the driver shares, takes the CPU from this
 * thread before the batch is pushed (test async/one-call-per-batch; 4k
 * O_DIRECT reads at depth 32: 150,000 involuntary context switches in 3 s
 * and 95k IOPS with a call each, 9,000 and 112k with one per batch).
 * Without EVENT_IDX the same, and inline completions too are told once
 * per round: one call for all that was pushed since the last (that mode
 * once skipped the call for completions a sleep brought, and a driver at
 * depth 1 waited for ever: test async/call-after-wait/no-event-idx).
 */
static void tell_driver(HbQueueRunner *r, HbVuDev *dev, HbVuQueue *q)
{
    if (r->unnotified) {
        r->unnotified = false;
        hb_vu_queue_notify(dev, q);
    }
}

bool hb_queue_runner_run(HbQueueRunner *r, HbVuDev *dev, HbVuQueue *q)
{
    HbVirtq *vq = &q->vq;
    int64_t poll_end = 0;
    int64_t budget_end = now_ns() + RUNNER_BUDGET_NS;
    bool yielding = false;
    int ret;

    r->dev = dev;
    r->q = q;
    for (;;) {
        bool progress = false;
        RunnerReq *req = req_get(r);

        ret = reap(r, dev, q);
        if (ret < 0) {
            req_put(r, req);
            return drain_and_fail(r, dev, q);
        }
        progress = ret > 0;
        if (r->inflight && poll_backend(r, 0)) {
            progress = true;
        }
        tell_driver(r, dev, q);     /* before popping more: it refills meanwhile */
        if (!yielding && (now_ns() > budget_end || hb_vu_queue_lock_wanted(q))) {
            yielding = true;
        }
        if (yielding && !r->offloaded && !r->inflight) {
            req_put(r, req);
            r->unnotified = false;
            hb_vu_queue_notify(dev, q);
            if (r->hold_until_ns) {
                wake_at(r, q, r->hold_until_ns);   /* when the throttle lets it go */
                r->hold_until_ns = 0;
            } else {
                hb_vu_queue_wake(q);    /* served again on the thread's next turn */
            }
            return true;
        }
        while (!yielding && (ret = hb_virtq_peek(vq, &req->elem)) > 0) {
            int type = hb_virtio_blk_peek_type(&req->elem);
            if (!admit(r, type)) {
                yielding = true;        /* left in the ring: see "A throttled ring" */
                break;
            }
            hb_virtq_take(vq, &req->elem);
            progress = true;
            req->is_read = type == HB_VIRTIO_BLK_T_IN;
            if (want_offload(r, req, vq)) {
                req->job.run = req_run_offloaded;
                out_add(r, req);
                hb_offload_submit(r->pool, &req->job);
                req = req_get(r);
                continue;
            }
            if (!start_here(r, req)) {
                return drain_and_fail(r, dev, q);
            }
            req = req_get(r);
            if (now_ns() > budget_end || hb_vu_queue_lock_wanted(q)) {
                yielding = true;
            }
        }
        req_put(r, req);
        if (ret < 0) {
            return drain_and_fail(r, dev, q);
        }
        /* The batch goes to the backend's queue at once (one syscall for all). */
        if (r->inflight && poll_backend(r, 0)) {
            progress = true;
        }
        /* Zeroes stand in for memory the front-end truncated (mem-guard.h). */
        if (__atomic_load_n(&dev->mem_fault, __ATOMIC_ACQUIRE)) {
            return drain_and_fail(r, dev, q);
        }
        tell_driver(r, dev, q);
        if (progress) {
            poll_end = now_ns() + RUNNER_POLL_NS;
            continue;
        }
        if (r->offloaded || r->inflight) {
            if (!wait_for_completions(r, dev, q, yielding)) {
                return drain_and_fail(r, dev, q);
            }
            continue;
        }
        /*
         * While we poll with EVENT_IDX, guest kicks stay suppressed: the
         * avail_event we published is left behind.  (Without EVENT_IDX the
         * guest kicks; the kick fd is simply read later.)
         */
        if (now_ns() < poll_end) {
            ret = hb_virtq_pending(vq);
            if (ret < 0) {
                return drain_and_fail(r, dev, q);
            }
            if (ret == 0) {
                cpu_relax();
            }
            continue;
        }
        if (!hb_virtq_enable_notify(vq)) {
            break;
        }
    }
    return true;
}

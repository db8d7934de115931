/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/aio-ctx.c — a thread's io_uring and posted completions (see block/aio.h). */
#include "block/aio.h"

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/error.h"

/*
 * Submission-queue size of a thread's ring.  The completion queue is twice
 * that (the kernel's default), and a thread serves the rings of several
 * exports: a virtqueue holds at most 1024 requests, and when the SQ is full
 * get_sqe() submits what is queued and tries again, so this bounds only
 * the batch, not the depth.
 */
#define AIO_RING_ENTRIES 256

/* The only io_uring operations a ring may carry (IORING_REGISTER_RESTRICTIONS). */
static const uint8_t allowed_ops[] = {
    IORING_OP_NOP, IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_READ,
    IORING_OP_WRITE, IORING_OP_FSYNC, IORING_OP_FALLOCATE,
};

struct HbAioCtx {
    struct io_uring ring;
    bool has_ring;
    bool enabled;           /* the ring takes SQEs (IORING_REGISTER_ENABLE_RINGS) */
    int ring_error;         /* why there is none: -errno */
    int efd;                /* CQEs and posts both signal it */
    unsigned inflight;      /* owner only */
    unsigned queued;        /* SQEs not yet submitted; owner only */
    HbAioCb *posted;        /* pushed by other threads (atomic) */
    gint posting;           /* threads inside hb_aio_ctx_post() (atomic) */
    HbAioTimer *timers;     /* armed, nearest deadline first; owner only */
    HbAioTimer *timers_tail; /* the last of them: most new deadlines go after it */
};

static __thread HbAioCtx *current_ctx;

/*
 * A ring that carries only file I/O: set up disabled and restricted to the
 * operations above (ring_enable() lets it run).  io_uring's operations
 * bypass seccomp, so the restriction is what keeps a compromised thread
 * from using the ring to open files or sockets.
 */
static int ring_setup(HbAioCtx *ctx)
{
    struct io_uring_params p = { 0 };
    struct io_uring_restriction res[G_N_ELEMENTS(allowed_ops) + 1];
    unsigned n = 0;
    int ret;

    /*
     * Not COOP_TASKRUN (nor DEFER_TASKRUN): with it, a completion is
     * posted (and the eventfd signalled) only when this thread next enters
     * the kernel through io_uring, and a thread asleep in poll() on the
     * eventfd would sleep through it.  Not SINGLE_ISSUER either: a
     * reserved ring (below) serves whichever I/O thread takes it.
     */
    p.flags = IORING_SETUP_R_DISABLED;
    ret = io_uring_queue_init_params(AIO_RING_ENTRIES, &ctx->ring, &p);
    if (ret < 0) {
        return ret;
    }
    /* Before the restrictions, which also forbid later register calls. */
    ret = io_uring_register_eventfd(&ctx->ring, ctx->efd);
    if (ret < 0) {
        io_uring_queue_exit(&ctx->ring);
        return ret;
    }
    for (unsigned i = 0; i < G_N_ELEMENTS(allowed_ops); i++) {
        res[n].opcode = IORING_RESTRICTION_SQE_OP;
        res[n].sqe_op = allowed_ops[i];
        n++;
    }
    /*
     * Debian 12's liburing 2.3 declares io_uring_register_restrictions()
     * and io_uring_enable_rings() but does not export them: the generic
     * register call does the same.
     */
    ret = io_uring_register(ctx->ring.ring_fd, IORING_REGISTER_RESTRICTIONS,
                            res, n);
    if (ret < 0) {
        io_uring_queue_exit(&ctx->ring);
        return ret;
    }
    return 0;
}

/* The second half: the ring starts taking SQEs. */
static int ring_enable(HbAioCtx *ctx)
{
    return io_uring_register(ctx->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
}

/*
 * Contexts made before the sandbox (hb_aio_reserve_rings()), with their
 * restricted rings not yet enabled, or enabled and given back by a thread
 * that ended.  Once there is a reserve, no ring is ever set up later.
 */
static GMutex reserve_lock;
static GPtrArray *reserve;      /* HbAioCtx *, NULL until reserved */

/* A context with an eventfd and, if @want_uring, a restricted disabled ring. */
static HbAioCtx *ctx_make(bool want_uring, GError **errp)
{
    HbAioCtx *ctx = g_new0(HbAioCtx, 1);

    ctx->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (ctx->efd < 0) {
        hb_error_set_errno(errp, errno, "Cannot create a completion eventfd");
        g_free(ctx);
        return NULL;
    }
    ctx->ring_error = -ENOTSUP;
    if (want_uring) {
        ctx->ring_error = ring_setup(ctx);
        ctx->has_ring = ctx->ring_error == 0;
    }
    return ctx;
}

static void ctx_destroy(HbAioCtx *ctx)
{
    if (ctx->has_ring) {
        io_uring_queue_exit(&ctx->ring);
    }
    close(ctx->efd);
    g_free(ctx);
}

bool hb_aio_reserve_rings(unsigned n, GError **errp)
{
    g_mutex_lock(&reserve_lock);
    if (!reserve) {
        reserve = g_ptr_array_new();
    }
    for (unsigned i = 0; i < n && hb_aio_uring_probe() == 0; i++) {
        HbAioCtx *ctx = ctx_make(true, errp);
        if (!ctx) {
            g_mutex_unlock(&reserve_lock);
            return false;
        }
        if (!ctx->has_ring) {
            /* The memlock limit, most likely: fewer rings, not an error. */
            ctx_destroy(ctx);
            break;
        }
        g_ptr_array_add(reserve, ctx);
    }
    g_mutex_unlock(&reserve_lock);
    return true;
}

/* Let @ctx's ring take SQEs, once; a ring that will not is dropped. */
static void ctx_enable(HbAioCtx *ctx)
{
    if (!ctx->has_ring || ctx->enabled) {
        return;
    }
    ctx->ring_error = ring_enable(ctx);
    ctx->enabled = ctx->ring_error == 0;
    if (!ctx->enabled) {
        io_uring_queue_exit(&ctx->ring);
        ctx->has_ring = false;
    }
}

HbAioCtx *hb_aio_ctx_new(bool want_uring, GError **errp)
{
    HbAioCtx *ctx = NULL;
    bool reserved = false;

    g_mutex_lock(&reserve_lock);
    if (reserve) {
        reserved = true;
        if (want_uring && reserve->len) {
            ctx = g_ptr_array_steal_index(reserve, reserve->len - 1);
        }
    }
    g_mutex_unlock(&reserve_lock);
    if (!ctx) {
        /* With a reserve, never a ring of our own: the sandbox has no setup. */
        ctx = ctx_make(want_uring && !reserved, errp);
        if (ctx && reserved && want_uring) {
            ctx->ring_error = -EBUSY;   /* every reserved ring is taken */
        }
    }
    if (ctx) {
        ctx_enable(ctx);
    }
    return ctx;
}

void hb_aio_ctx_free(HbAioCtx *ctx)
{
    if (!ctx) {
        return;
    }
    g_assert(ctx->inflight == 0 && !ctx->timers);
    while (g_atomic_int_get(&ctx->posting)) {
        g_usleep(10);   /* a poster between its publish and its eventfd write */
    }
    if (current_ctx == ctx) {
        current_ctx = NULL;
    }
    g_mutex_lock(&reserve_lock);
    if (reserve && ctx->has_ring) {
        /* Back to the reserve, for the next thread: drained, and nothing posted. */
        eventfd_t v;
        eventfd_read(ctx->efd, &v);
        g_ptr_array_add(reserve, ctx);
        ctx = NULL;
    }
    g_mutex_unlock(&reserve_lock);
    if (ctx) {
        ctx_destroy(ctx);
    }
}

void hb_aio_ctx_set_current(HbAioCtx *ctx)
{
    current_ctx = ctx;
}

HbAioCtx *hb_aio_ctx_current(void)
{
    return current_ctx;
}

bool hb_aio_ctx_has_uring(const HbAioCtx *ctx)
{
    return ctx && ctx->has_ring;
}

int hb_aio_ctx_uring_error(const HbAioCtx *ctx)
{
    return ctx->ring_error;
}

unsigned hb_aio_ctx_inflight(const HbAioCtx *ctx)
{
    return ctx->inflight;
}

unsigned hb_aio_ctx_queued(const HbAioCtx *ctx)
{
    return ctx->queued;
}

int hb_aio_ctx_submit(HbAioCtx *ctx)
{
    int ret = 0;

    while (ctx->queued) {
        ret = io_uring_submit(&ctx->ring);
        if (ret >= 0) {
            ctx->queued -= MIN((unsigned)ret, ctx->queued);
            if (ret == 0) {
                break;
            }
            continue;
        }
        if (ret == -EINTR) {
            continue;
        }
        if (ret == -EAGAIN || ret == -EBUSY) {
            /* The CQ is full: make room by reaping, then go on. */
            hb_aio_ctx_poll(ctx);
            continue;
        }
        /*
         * Anything else means the ring itself is unusable (ENXIO, EFAULT):
         * the SQEs stay queued, and the next submit tries again.
         */
        return ret;
    }
    return 0;
}

int hb_aio_ctx_submit_if_queued(HbAioCtx *ctx, unsigned min)
{
    return ctx->queued >= min ? hb_aio_ctx_submit(ctx) : 0;
}

struct io_uring_sqe *hb_aio_ctx_get_sqe(HbAioCtx *ctx, HbAioCb *cb)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ctx->ring);

    if (!sqe) {
        hb_aio_ctx_submit(ctx);
        sqe = io_uring_get_sqe(&ctx->ring);
        if (!sqe) {
            return NULL;
        }
    }
    io_uring_sqe_set_data(sqe, cb);
    ctx->queued++;
    ctx->inflight++;
    return sqe;
}

void hb_aio_ctx_expect(HbAioCtx *ctx)
{
    ctx->inflight++;
}

void hb_aio_ctx_post(HbAioCtx *ctx, HbAioCb *cb, int ret)
{
    HbAioCb *head = __atomic_load_n(&ctx->posted, __ATOMIC_RELAXED);

    /*
     * Once @cb is on the list the owner may run it, drain, and free @ctx
     * before the eventfd write below: hb_aio_ctx_free() waits for @posting.
     */
    g_atomic_int_inc(&ctx->posting);
    cb->ret = ret;
    do {
        cb->next = head;
    } while (!__atomic_compare_exchange_n(&ctx->posted, &head, cb, true,
                                          __ATOMIC_RELEASE, __ATOMIC_RELAXED));
    /*
     * Only the post that finds the list empty signals: the others join a
     * list whose first post has signalled or is about to.  The owner never
     * sleeps between taking the list and waiting on the eventfd with a
     * signal lost: it takes the list (hb_aio_ctx_poll) before it sleeps,
     * and reads the eventfd before it takes the list again, so a post
     * onto the list it took last finds it empty and signals.
     */
    if (!head) {
        eventfd_write(ctx->efd, 1);
    }
    g_atomic_int_dec_and_test(&ctx->posting);
}

/* Run what other threads posted, oldest first. */
static unsigned run_posted(HbAioCtx *ctx)
{
    HbAioCb *list = __atomic_exchange_n(&ctx->posted, NULL, __ATOMIC_ACQUIRE);
    HbAioCb *rev = NULL;
    unsigned n = 0;

    while (list) {
        HbAioCb *next = list->next;
        list->next = rev;
        rev = list;
        list = next;
    }
    while (rev) {
        HbAioCb *cb = rev;
        rev = rev->next;
        ctx->inflight--;
        cb->done(cb, cb->ret);
        n++;
    }
    return n;
}

static unsigned run_cqes(HbAioCtx *ctx)
{
    struct io_uring_cqe *cqe;
    unsigned n = 0;

    if (!ctx->has_ring) {
        return 0;
    }
    /*
     * One CQE at a time, marked seen before its callback runs: a callback
     * may submit again (a format's next step) and reap recursively.
     */
    while (io_uring_peek_cqe(&ctx->ring, &cqe) == 0) {
        HbAioCb *cb = io_uring_cqe_get_data(cqe);
        int res = cqe->res;

        io_uring_cqe_seen(&ctx->ring, cqe);
        ctx->inflight--;
        cb->done(cb, res);
        n++;
    }
    return n;
}

int64_t hb_aio_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void hb_aio_ctx_timer_arm(HbAioCtx *ctx, HbAioTimer *t, int64_t deadline_ns)
{
    HbAioTimer **p = &ctx->timers;

    g_assert(!t->armed);
    t->deadline_ns = deadline_ns;
    t->armed = true;
    /*
     * A sorted list.  Requests held for one latency (null-co, a throttle
     * at its rate) arm deadlines in the order they come: those go at the
     * tail at once, rather than after a walk past every other one.
     */
    if (!ctx->timers || ctx->timers_tail->deadline_ns <= deadline_ns) {
        t->next = NULL;
        if (ctx->timers) {
            ctx->timers_tail->next = t;
        } else {
            ctx->timers = t;
        }
        ctx->timers_tail = t;
        return;
    }
    /* Somewhere before the tail, which stays the tail. */
    while ((*p)->deadline_ns <= deadline_ns) {
        p = &(*p)->next;
    }
    t->next = *p;
    *p = t;
}

/* Unlink @t, found after @prev (NULL: first) in the list. */
static void timer_unlink(HbAioCtx *ctx, HbAioTimer *prev, HbAioTimer *t)
{
    if (prev) {
        prev->next = t->next;
    } else {
        ctx->timers = t->next;
    }
    if (ctx->timers_tail == t) {
        ctx->timers_tail = prev;
    }
    t->armed = false;
}

void hb_aio_ctx_timer_cancel(HbAioCtx *ctx, HbAioTimer *t)
{
    HbAioTimer *prev = NULL;

    for (HbAioTimer *p = ctx->timers; t->armed && p; prev = p, p = p->next) {
        if (p == t) {
            timer_unlink(ctx, prev, t);
        }
    }
}

int64_t hb_aio_ctx_next_deadline_ns(const HbAioCtx *ctx)
{
    return ctx->timers ? ctx->timers->deadline_ns : -1;
}

void hb_aio_ctx_cancel_timers(HbAioCtx *ctx)
{
    while (ctx->timers) {
        HbAioTimer *t = ctx->timers;
        timer_unlink(ctx, NULL, t);
        t->cb.done(&t->cb, -ECANCELED);
    }
}

/* Run the timers that are due.  Their callbacks may arm new ones. */
static unsigned run_timers(HbAioCtx *ctx)
{
    unsigned n = 0;
    int64_t now = hb_aio_now_ns();

    while (ctx->timers && ctx->timers->deadline_ns <= now) {
        HbAioTimer *t = ctx->timers;
        timer_unlink(ctx, NULL, t);
        t->cb.done(&t->cb, 0);
        n++;
    }
    return n;
}

unsigned hb_aio_ctx_poll(HbAioCtx *ctx)
{
    unsigned n = 0;

    if (__atomic_load_n(&ctx->posted, __ATOMIC_ACQUIRE)) {
        n += run_posted(ctx);
    }
    n += run_cqes(ctx);
    if (ctx->timers) {
        n += run_timers(ctx);
    }
    return n;
}

unsigned hb_aio_ctx_wait(HbAioCtx *ctx, int64_t timeout_us)
{
    bool unused;

    return hb_aio_ctx_wait_or_fd(ctx, timeout_us, -1, &unused);
}

unsigned hb_aio_ctx_wait_or_fd(HbAioCtx *ctx, int64_t timeout_us, int fd, bool *fd_ready)
{
    unsigned n;

    *fd_ready = false;
    if (ctx->queued) {
        hb_aio_ctx_submit(ctx);
    }
    n = hb_aio_ctx_poll(ctx);
    if (n || (!ctx->inflight && !ctx->timers)) {
        return n;
    }
    /* A negative fd is ignored by ppoll: then this is hb_aio_ctx_wait(). */
    struct pollfd pfd[2] = {
        { .fd = ctx->efd, .events = POLLIN },
        { .fd = fd, .events = POLLIN },
    };
    int64_t ns = timeout_us < 0 ? -1 : timeout_us * 1000;
    if (ctx->timers) {
        int64_t until = ctx->timers->deadline_ns - hb_aio_now_ns();
        until = until < 0 ? 0 : until;
        ns = ns < 0 || until < ns ? until : ns;
    }
    /* ns, not ms: a throttled request is released on time (ppoll). */
    struct timespec ts = { .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000 };
    if (ppoll(pfd, 2, ns < 0 ? NULL : &ts, NULL) > 0 && (pfd[0].revents & POLLIN)) {
        eventfd_t v;
        eventfd_read(ctx->efd, &v);
    }
    *fd_ready = fd >= 0 && (pfd[1].revents & POLLIN);
    return hb_aio_ctx_poll(ctx);
}

static gpointer probe_once(gpointer unused)
{
    struct io_uring ring;
    int ret = io_uring_queue_init(1, &ring, 0);

    if (ret == 0) {
        io_uring_queue_exit(&ring);
    }
    return GINT_TO_POINTER(ret);
}

int hb_aio_uring_probe(void)
{
    static GOnce once = G_ONCE_INIT;

    return GPOINTER_TO_INT(g_once(&once, probe_once, NULL));
}

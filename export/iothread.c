/* SPDX-License-Identifier: GPL-2.0-or-later */
/* export/iothread.c — an event loop thread: epoll, wake eventfd, fd handlers, timers, sync barrier. */
#include "export/iothread.h"

#include <errno.h>
#include <sys/prctl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "block/aio.h"
#include "util/error.h"

/*
 * Theory of operation
 *
 * An I/O thread is an epoll set and a loop around epoll_wait(): every
 * registered fd carries a pointer to an HbIoHandler, and the loop calls
 * its fn for each event of the batch epoll_wait() returned.  The thread
 * knows nothing of its users: exports register their listening socket,
 * vhost-user connection and kick fds, on as many threads as they like,
 * and many exports share one thread.
 *
 * Removing an fd is epoll_ctl(EPOLL_CTL_DEL), from any thread; once it
 * returns, no later epoll_wait() reports the fd.  But the thread may hold
 * a batch fetched before, with an event whose handler points into the
 * owner, and it may be running that handler right now.  hb_iothread_sync()
 * closes that window: it returns once the thread has finished every batch
 * it fetched before the call.  The contract for an owner going away is
 * therefore: hb_iothread_del_fd() every fd it has on the thread, then
 * hb_iothread_sync(); after that none of its handlers runs or will run
 * there, and it may free them.
 *
 * sync is a request counter and an acknowledgement counter under a mutex.
 * The caller bumps the request and writes the wake eventfd; the thread,
 * at the end of every loop iteration (after the whole batch), copies the
 * request count into the acknowledgement and signals.  An iteration whose
 * end sees the new request began its batch before or after the call; any
 * batch fetched before the call is that one or an earlier one, so it is
 * finished.  The end-of-iteration check is one atomic load when nobody
 * waits.  A handler must not call sync on its own thread (it would wait
 * for itself).
 *
 * Each thread owns a block-layer completion context (block/aio.h), with
 * an io_uring where the kernel allows one: requests the thread's handlers
 * submit complete on it.  Handlers wait for their own completions before
 * they return (queue-runner.c), so the context needs no fd in the epoll
 * set.  Its timers, though, may be armed by a handler that returned (a
 * ring held back by a throttle arms its own wake-up): the loop sleeps no
 * longer than to the nearest one and runs those that are due.
 *
 * Timers (HbIoTimer) are a list under the lock, nearest deadline first;
 * the head's deadline is also kept in an atomic, so that a turn with no
 * timer armed costs one load, not the lock.  Arming from another thread
 * writes the wake eventfd when the new timer becomes the nearest, so the
 * sleep is recomputed.  Due timers run at the end of a turn, after the
 * batch, without the lock.  Two rules keep a timer whose fn arms it again
 * from holding anyone up: a pass over the due timers runs none that was
 * armed during that pass (it waits for the next turn, so the others due
 * run), and a timer being cancelled cannot be armed (its fn's re-arm is
 * dropped, so the cancel, which waits for a running fn to return, waits
 * for one run at most).
 *
 * With poll_max_ns, after a batch the thread calls epoll_wait() with a zero
 * timeout until an event comes or that many nanoseconds have passed, and
 * only then blocks: a busy ring's next kick is picked up without a sleep
 * and a wake-up (QEMU's iothread poll-max-ns).
 */

#define IOTHREAD_BATCH 64

struct HbIoThread {
    int epfd;
    int wake_fd;
    HbIoHandler wake_h;
    GThread *thread;
    int64_t poll_max_ns;
    gint stop;
    int tid;                /* under lock until published, then constant */
    GMutex lock;
    GCond cond;
    uint64_t sync_req;      /* written under lock, read atomically */
    uint64_t sync_done;     /* written by the thread under lock */
    HbIoTimer *timers;      /* under lock: armed, nearest deadline first */
    HbIoTimer *timer_running;   /* under lock: its fn runs now */
    uint64_t timer_pass;    /* under lock: run_timers() passes so far */
    int64_t timer_next_ns;  /* written under lock, read atomically: the head's, or 0 */
};

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void on_wake(HbIoHandler *h, uint32_t events)
{
    HbIoThread *t = (HbIoThread *)((char *)h - offsetof(HbIoThread, wake_h));
    eventfd_t v;

    eventfd_read(t->wake_fd, &v);
}

/* Take @tm off the list if it is on it.  Under t->lock. */
static void timer_unlink(HbIoThread *t, HbIoTimer *tm)
{
    if (!tm->deadline_ns) {
        return;
    }
    for (HbIoTimer **pp = &t->timers; *pp; pp = &(*pp)->next) {
        if (*pp == tm) {
            *pp = tm->next;
            break;
        }
    }
    tm->deadline_ns = 0;
    tm->next = NULL;
    __atomic_store_n(&t->timer_next_ns, t->timers ? t->timers->deadline_ns : 0,
                     __ATOMIC_RELEASE);
}

void hb_iothread_timer_arm(HbIoThread *t, HbIoTimer *tm, int64_t deadline_ns)
{
    HbIoTimer **pp;
    bool nearest;

    g_mutex_lock(&t->lock);
    if (tm->cancelling) {
        g_mutex_unlock(&t->lock);       /* see hb_iothread_timer_cancel() */
        return;
    }
    timer_unlink(t, tm);
    tm->deadline_ns = MAX(deadline_ns, 1);      /* 0 means "not armed" */
    tm->armed_pass = t->timer_pass;
    for (pp = &t->timers; *pp && (*pp)->deadline_ns <= tm->deadline_ns; pp = &(*pp)->next) {
    }
    tm->next = *pp;
    *pp = tm;
    nearest = t->timers == tm;
    if (nearest) {
        __atomic_store_n(&t->timer_next_ns, tm->deadline_ns, __ATOMIC_RELEASE);
    }
    g_mutex_unlock(&t->lock);
    /* The thread itself computes its sleep after the handler returns. */
    if (nearest && g_thread_self() != t->thread) {
        hb_iothread_wake(t);
    }
}

void hb_iothread_timer_cancel(HbIoThread *t, HbIoTimer *tm)
{
    g_assert(g_thread_self() != t->thread);
    g_mutex_lock(&t->lock);
    /*
     * A running fn may arm its timer again before it returns: that arm is
     * dropped while we wait, or the thread could run it again before this
     * thread gets the lock back, for as long as the load lasts.
     */
    tm->cancelling = true;
    timer_unlink(t, tm);
    while (t->timer_running == tm) {
        g_cond_wait(&t->cond, &t->lock);
    }
    tm->cancelling = false;
    g_mutex_unlock(&t->lock);
}

/* The first timer due at @now that was armed before pass @pass began. */
static HbIoTimer *next_due(HbIoThread *t, int64_t now, uint64_t pass)
{
    for (HbIoTimer *tm = t->timers; tm && tm->deadline_ns <= now; tm = tm->next) {
        if (tm->armed_pass < pass) {
            return tm;
        }
    }
    return NULL;
}

/*
 * Run the timers due at @now, in deadline order.  One that its fn (or
 * anyone) arms again during this pass waits for the next turn, even with
 * a deadline in the past: the others due run first, and the thread gets
 * back to its fds.
 */
static void run_timers(HbIoThread *t, int64_t now)
{
    HbIoTimer *tm;

    g_mutex_lock(&t->lock);
    uint64_t pass = ++t->timer_pass;
    while ((tm = next_due(t, now, pass))) {
        timer_unlink(t, tm);
        t->timer_running = tm;
        g_mutex_unlock(&t->lock);
        tm->fn(tm);
        g_mutex_lock(&t->lock);
        t->timer_running = NULL;
        g_cond_broadcast(&t->cond);     /* a cancel may wait for it */
    }
    g_mutex_unlock(&t->lock);
}

/* The nearest deadline of the thread's timers and of @ctx's, or -1. */
static int64_t next_deadline(HbIoThread *t, HbAioCtx *ctx)
{
    int64_t d = ctx ? hb_aio_ctx_next_deadline_ns(ctx) : -1;
    int64_t td = __atomic_load_n(&t->timer_next_ns, __ATOMIC_ACQUIRE);

    if (td && (d < 0 || td < d)) {
        d = td;
    }
    return d;
}

static void ack_sync(HbIoThread *t)
{
    g_mutex_lock(&t->lock);
    t->sync_done = t->sync_req;
    g_cond_broadcast(&t->cond);
    g_mutex_unlock(&t->lock);
}

static gpointer thread_main(gpointer opaque)
{
    HbIoThread *t = opaque;
    struct epoll_event evs[IOTHREAD_BATCH];
    int64_t poll_until = 0;

    /* Made here: a ring set up with SINGLE_ISSUER belongs to its creator. */
    g_autoptr(HbAioCtx) ctx = hb_aio_ctx_new(hb_aio_uring_probe() == 0, NULL);
    hb_aio_ctx_set_current(ctx);
    /*
     * Timers here release throttled requests and null-co's latency-ns:
     * the kernel's default 50 us of slack on every sleep would add to
     * each (null-co at latency-ns=300000, depth 32: 78k IOPS with it,
     * 88k without).  QEMU sets the same for its timers.
     */
    prctl(PR_SET_TIMERSLACK, 1UL);

    g_mutex_lock(&t->lock);
    t->tid = (int)syscall(SYS_gettid);
    g_cond_broadcast(&t->cond);
    g_mutex_unlock(&t->lock);

    while (!g_atomic_int_get(&t->stop)) {
        int timeout = -1;
        int64_t deadline = next_deadline(t, ctx);

        if (poll_until) {
            if (now_ns() < poll_until) {
                timeout = 0;
            } else {
                poll_until = 0;
            }
        }
        if (deadline >= 0 && timeout != 0) {
            /* Rounded up: waking before the deadline would only loop. */
            int64_t left = deadline - now_ns();
            int64_t ms = left > G_MAXINT64 - 999999 ? G_MAXINT : (left + 999999) / 1000000;
            timeout = (int)CLAMP(ms, 0, G_MAXINT);
        }
        int n = epoll_wait(t->epfd, evs, IOTHREAD_BATCH, timeout);

        for (int i = 0; i < n; i++) {
            HbIoHandler *h = evs[i].data.ptr;
            h->fn(h, evs[i].events);
        }
        int64_t ctx_due = ctx ? hb_aio_ctx_next_deadline_ns(ctx) : -1;
        int64_t td = __atomic_load_n(&t->timer_next_ns, __ATOMIC_ACQUIRE);
        if (ctx_due >= 0 || td) {
            int64_t now = now_ns();
            if (ctx_due >= 0 && ctx_due <= now) {
                hb_aio_ctx_poll(ctx);   /* its timers due: a held-back ring's wake */
            }
            if (td && td <= now) {
                run_timers(t, now);
            }
        }
        if (n > 0 && t->poll_max_ns) {
            poll_until = now_ns() + t->poll_max_ns;
        }
        if (__atomic_load_n(&t->sync_req, __ATOMIC_ACQUIRE) != t->sync_done) {
            ack_sync(t);
        }
    }
    if (ctx) {
        hb_aio_ctx_cancel_timers(ctx);
    }
    hb_aio_ctx_set_current(NULL);
    return NULL;
}

HbIoThread *hb_iothread_new(const char *name, int64_t poll_max_ns, GError **errp)
{
    HbIoThread *t = g_new0(HbIoThread, 1);

    g_mutex_init(&t->lock);
    g_cond_init(&t->cond);
    t->poll_max_ns = poll_max_ns;
    t->wake_h.fn = on_wake;
    t->epfd = epoll_create1(EPOLL_CLOEXEC);
    t->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (t->epfd < 0 || t->wake_fd < 0 ||
        hb_iothread_add_fd(t, t->wake_fd, EPOLLIN, &t->wake_h) < 0) {
        hb_error_set_errno(errp, errno, "Cannot create I/O thread");
        hb_iothread_free(t);
        return NULL;
    }
    t->thread = g_thread_try_new(name, thread_main, t, errp);
    if (!t->thread) {
        hb_iothread_free(t);
        return NULL;
    }
    g_mutex_lock(&t->lock);
    while (!t->tid) {
        g_cond_wait(&t->cond, &t->lock);
    }
    g_mutex_unlock(&t->lock);
    return t;
}

void hb_iothread_free(HbIoThread *t)
{
    if (!t) {
        return;
    }
    if (t->thread) {
        g_atomic_int_set(&t->stop, 1);
        hb_iothread_wake(t);
        g_thread_join(t->thread);
    }
    g_assert(!t->timers);       /* owners cancel theirs first */
    if (t->epfd >= 0) {
        close(t->epfd);
    }
    if (t->wake_fd >= 0) {
        close(t->wake_fd);
    }
    g_cond_clear(&t->cond);
    g_mutex_clear(&t->lock);
    g_free(t);
}

int hb_iothread_add_fd(HbIoThread *t, int fd, uint32_t events, HbIoHandler *h)
{
    struct epoll_event ev = { .events = events, .data.ptr = h };

    return epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

void hb_iothread_del_fd(HbIoThread *t, int fd)
{
    epoll_ctl(t->epfd, EPOLL_CTL_DEL, fd, NULL);
}

void hb_iothread_wake(HbIoThread *t)
{
    eventfd_write(t->wake_fd, 1);
}

void hb_iothread_sync(HbIoThread *t)
{
    uint64_t mine;

    g_assert(g_thread_self() != t->thread);
    g_mutex_lock(&t->lock);
    mine = t->sync_req + 1;
    __atomic_store_n(&t->sync_req, mine, __ATOMIC_RELEASE);
    hb_iothread_wake(t);
    while (t->sync_done < mine) {
        g_cond_wait(&t->cond, &t->lock);
    }
    g_mutex_unlock(&t->lock);
}

int hb_iothread_tid(const HbIoThread *t)
{
    return t->tid;
}

int64_t hb_iothread_poll_max_ns(const HbIoThread *t)
{
    return t->poll_max_ns;
}

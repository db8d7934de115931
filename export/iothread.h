/* SPDX-License-Identifier: GPL-2.0-or-later */
/* export/iothread.h — an event loop thread: an epoll set, a wake eventfd, fd handlers, timers, a barrier. */
#ifndef HB_EXPORT_IOTHREAD_H
#define HB_EXPORT_IOTHREAD_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct HbIoThread HbIoThread;
typedef struct HbIoHandler HbIoHandler;

/*
 * What runs when a registered fd is ready: @events are the epoll events.
 * Owners embed the struct in their own and find themselves with
 * container_of().  Called on the I/O thread, never with a lock of it held.
 */
typedef void HbIoHandlerFn(HbIoHandler *h, uint32_t events);

struct HbIoHandler {
    HbIoHandlerFn *fn;
};

typedef struct HbIoTimer HbIoTimer;

/*
 * A timer of an I/O thread: @fn runs on the thread once CLOCK_MONOTONIC
 * has reached the deadline it was armed for.  Any thread may arm or
 * cancel it, which is what a timerfd per owner gave before, without the
 * fd: an export's fds are what limit how many a daemon can hold
 * (bench/scale.py).  Embedded in the owner's state; zeroed, it is not
 * armed.  @fn is called without a lock of the thread held, and may re-arm
 * its own timer.
 */
typedef void HbIoTimerFn(HbIoTimer *tm);

struct HbIoTimer {
    HbIoTimerFn *fn;
    /* The thread's, under its lock: */
    int64_t deadline_ns;    /* 0 while not armed */
    HbIoTimer *next;        /* the list, nearest deadline first */
    uint64_t armed_pass;    /* the thread's timer pass count when armed */
    bool cancelling;        /* hb_iothread_timer_cancel() waits: arming is a no-op */
};

/**
 * hb_iothread_new() - start an event loop thread.
 * @name: the thread's name (shown by ps -L; 15 characters are kept)
 * @poll_max_ns: after a batch of events, keep polling (epoll_wait with a
 *     zero timeout) this long before blocking; 0 blocks at once
 * @errp: where to put the reason of a failure
 *
 * Returns once the thread runs and its TID is known.
 * Return: the thread, or NULL.
 */
HbIoThread *hb_iothread_new(const char *name, int64_t poll_max_ns, GError **errp);

/**
 * hb_iothread_free() - stop the thread and join it, close its fds.
 * @t: the thread, or NULL; no fd may be registered on it any more
 */
void hb_iothread_free(HbIoThread *t);

/**
 * hb_iothread_add_fd() - call @h->fn on @t whenever @fd is ready.
 * @t: the thread
 * @fd: the fd; it must stay open until removed
 * @events: EPOLLIN and the like (level-triggered)
 * @h: the handler; it must stay valid until hb_iothread_del_fd() and a
 *     hb_iothread_sync() after it
 *
 * Any thread may call it.  Return: 0 or -errno.
 */
int hb_iothread_add_fd(HbIoThread *t, int fd, uint32_t events, HbIoHandler *h);

/**
 * hb_iothread_del_fd() - stop watching @fd.
 * @t: the thread
 * @fd: a registered fd; not being registered is no error
 *
 * Any thread may call it.  An event fetched before may still be handled:
 * hb_iothread_sync() waits for that.
 */
void hb_iothread_del_fd(HbIoThread *t, int fd);

/**
 * hb_iothread_sync() - wait until @t has finished every batch of events
 * it fetched before this call.
 * @t: the thread; not the calling thread itself
 *
 * After hb_iothread_del_fd() of every fd of an owner and this, no handler
 * of that owner runs or will run on @t: the owner may be freed.
 */
void hb_iothread_sync(HbIoThread *t);

/**
 * hb_iothread_wake() - make the thread leave epoll_wait() once.
 * @t: the thread
 */
void hb_iothread_wake(HbIoThread *t);

/**
 * hb_iothread_timer_arm() - run @tm->fn on @t at @deadline_ns.
 * @t: the thread
 * @tm: the timer; if armed already, its old deadline is dropped (as
 *     timerfd_settime() does)
 * @deadline_ns: CLOCK_MONOTONIC in ns; one in the past runs at the
 *     thread's next turn
 *
 * Any thread may call it.  The thread sleeps no longer than to the
 * nearest deadline, in whole milliseconds rounded up.
 */
void hb_iothread_timer_arm(HbIoThread *t, HbIoTimer *tm, int64_t deadline_ns);

/**
 * hb_iothread_timer_cancel() - disarm @tm, and wait until its @fn, if
 * running on @t right now, has returned.
 * @t: the thread @tm was armed on
 * @tm: the timer; not armed is no error
 *
 * Any thread but @t itself.  While it waits, arming @tm does nothing (so
 * @fn re-arming itself cannot keep the cancel waiting).  Afterwards @fn
 * neither runs nor will run unless someone arms @tm again: an owner stops
 * whoever might (its other threads' handlers) first, then cancels, then
 * may free @tm.
 */
void hb_iothread_timer_cancel(HbIoThread *t, HbIoTimer *tm);

/* The thread's Linux TID. */
int hb_iothread_tid(const HbIoThread *t);

/* The poll time it was created with. */
int64_t hb_iothread_poll_max_ns(const HbIoThread *t);

#endif

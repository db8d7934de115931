/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-iothread-timer.c — an I/O thread's timers, armed and cancelled from other threads. */
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "export/iothread.h"

typedef struct {
    HbIoTimer tm;
    HbIoThread *t;
    gint runs;
    gint ran_on;            /* TID of the last run */
    int64_t ran_at;         /* g_get_monotonic_time() of the last run, us */
    gint started, finished; /* slow_fn */
    int64_t rearm_ns;       /* rearm_fn: arm again this far ahead */
    gint *order;            /* order_fn: where to note the run */
    gint *next_slot;
    gint id;
} Probe;

static int64_t mono_ns(void)
{
    return g_get_monotonic_time() * 1000;
}

static void count_fn(HbIoTimer *tm)
{
    Probe *p = (Probe *)tm;

    p->ran_at = g_get_monotonic_time();
    g_atomic_int_set(&p->ran_on, (gint)syscall(SYS_gettid));
    g_atomic_int_inc(&p->runs);
}

/* Wait up to @ms for @p to have run @n times. */
static bool wait_runs(Probe *p, int n, int ms)
{
    for (int i = 0; i < ms && g_atomic_int_get(&p->runs) < n; i++) {
        g_usleep(1000);
    }
    return g_atomic_int_get(&p->runs) >= n;
}

static HbIoThread *new_thread(void)
{
    GError *err = NULL;
    HbIoThread *t = hb_iothread_new("test-timer", 0, &err);

    g_assert_no_error(err);
    return t;
}

/* It runs on the thread, not before its deadline, once. */
static void test_runs_at_deadline(void)
{
    HbIoThread *t = new_thread();
    Probe p = { .tm.fn = count_fn };
    int64_t start = g_get_monotonic_time();

    hb_iothread_timer_arm(t, &p.tm, mono_ns() + 30 * 1000 * 1000);
    g_assert_true(wait_runs(&p, 1, 2000));
    g_assert_cmpint(p.ran_at - start, >=, 30 * 1000);
    g_assert_cmpint(g_atomic_int_get(&p.ran_on), ==, hb_iothread_tid(t));
    g_usleep(50 * 1000);
    g_assert_cmpint(g_atomic_int_get(&p.runs), ==, 1);
    hb_iothread_free(t);
}

/*
 * Arming an armed timer replaces its deadline, as timerfd_settime() does:
 * one armed for an hour and then for now runs now, once.  The thread was
 * asleep with no deadline of its own: the arm must wake it.
 */
static void test_rearm_replaces(void)
{
    HbIoThread *t = new_thread();
    Probe p = { .tm.fn = count_fn };

    hb_iothread_timer_arm(t, &p.tm, mono_ns() + 3600LL * 1000 * 1000 * 1000);
    g_usleep(20 * 1000);
    g_assert_cmpint(g_atomic_int_get(&p.runs), ==, 0);
    hb_iothread_timer_arm(t, &p.tm, mono_ns());
    g_assert_true(wait_runs(&p, 1, 500));
    g_usleep(50 * 1000);
    g_assert_cmpint(g_atomic_int_get(&p.runs), ==, 1);
    /* And the other way: a near deadline pushed far away does not run. */
    hb_iothread_timer_arm(t, &p.tm, mono_ns() + 20 * 1000 * 1000);
    hb_iothread_timer_arm(t, &p.tm, mono_ns() + 3600LL * 1000 * 1000 * 1000);
    g_usleep(80 * 1000);
    g_assert_cmpint(g_atomic_int_get(&p.runs), ==, 1);
    hb_iothread_timer_cancel(t, &p.tm);
    hb_iothread_free(t);
}

static void test_cancel_before_due(void)
{
    HbIoThread *t = new_thread();
    Probe p = { .tm.fn = count_fn };

    hb_iothread_timer_arm(t, &p.tm, mono_ns() + 30 * 1000 * 1000);
    hb_iothread_timer_cancel(t, &p.tm);
    g_usleep(80 * 1000);
    g_assert_cmpint(g_atomic_int_get(&p.runs), ==, 0);
    g_assert_cmpint(p.tm.deadline_ns, ==, 0);
    hb_iothread_timer_cancel(t, &p.tm);     /* not armed: no error */
    hb_iothread_free(t);
}

static void slow_fn(HbIoTimer *tm)
{
    Probe *p = (Probe *)tm;

    g_atomic_int_set(&p->started, 1);
    g_usleep(100 * 1000);
    if (p->rearm_ns) {
        hb_iothread_timer_arm(p->t, tm, mono_ns() + p->rearm_ns);
    }
    g_atomic_int_set(&p->finished, 1);
    g_atomic_int_inc(&p->runs);
}

/* Cancelling a running timer returns only once its fn has. */
static void test_cancel_waits_for_running(void)
{
    HbIoThread *t = new_thread();
    Probe p = { .tm.fn = slow_fn };

    p.t = t;
    hb_iothread_timer_arm(t, &p.tm, mono_ns());
    while (!g_atomic_int_get(&p.started)) {
        g_usleep(100);
    }
    hb_iothread_timer_cancel(t, &p.tm);
    g_assert_cmpint(g_atomic_int_get(&p.finished), ==, 1);
    hb_iothread_free(t);
}

/* A fn that arms its timer again while it is being cancelled ends disarmed. */
static void test_cancel_beats_rearm(void)
{
    HbIoThread *t = new_thread();
    Probe p = { .tm.fn = slow_fn, .rearm_ns = 1 };

    p.t = t;
    hb_iothread_timer_arm(t, &p.tm, mono_ns());
    while (!g_atomic_int_get(&p.started)) {
        g_usleep(100);
    }
    hb_iothread_timer_cancel(t, &p.tm);
    g_assert_cmpint(p.tm.deadline_ns, ==, 0);
    int runs = g_atomic_int_get(&p.runs);
    g_usleep(250 * 1000);
    g_assert_cmpint(g_atomic_int_get(&p.runs), ==, runs);
    hb_iothread_free(t);
}

/* Arm again at a deadline long past: due at once, every turn. */
static void rearm_past_fn(HbIoTimer *tm)
{
    Probe *p = (Probe *)tm;

    g_atomic_int_inc(&p->runs);
    hb_iothread_timer_arm(p->t, tm, 1);
}

/*
 * A fn that re-arms itself before every other deadline does not hold the
 * thread in a loop: the other timers due run too, and so do fds.
 */
static void test_rearm_in_past_yields(void)
{
    HbIoThread *t = new_thread();
    Probe p = { .tm.fn = rearm_past_fn };
    Probe q = { .tm.fn = count_fn };

    p.t = t;
    hb_iothread_timer_arm(t, &p.tm, mono_ns());
    hb_iothread_timer_arm(t, &q.tm, mono_ns() + 1000);
    g_assert_true(wait_runs(&q, 1, 2000));
    g_assert_cmpint(g_atomic_int_get(&p.runs), >, 0);
    hb_iothread_sync(t);        /* the thread still finishes its turns */
    hb_iothread_timer_cancel(t, &p.tm);
    hb_iothread_free(t);
}

/*
 * On one CPU, a fn that re-arms itself for now could run again before the
 * cancelling thread got the lock back after each run, for ever: the cancel
 * drops that re-arm, so it waits for one run at most.
 */
static void test_cancel_not_starved(void)
{
    cpu_set_t one, all;
    Probe p = { .tm.fn = slow_fn, .rearm_ns = 1 };

    g_assert_cmpint(sched_getaffinity(0, sizeof(all), &all), ==, 0);
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu(), &one);
    g_assert_cmpint(sched_setaffinity(0, sizeof(one), &one), ==, 0);
    HbIoThread *t = new_thread();       /* inherits the one CPU */

    p.t = t;
    hb_iothread_timer_arm(t, &p.tm, mono_ns());
    while (!g_atomic_int_get(&p.started)) {
        g_usleep(100);
    }
    int before = g_atomic_int_get(&p.runs);
    hb_iothread_timer_cancel(t, &p.tm);
    g_assert_cmpint(g_atomic_int_get(&p.runs) - before, <=, 1);
    g_assert_cmpint(p.tm.deadline_ns, ==, 0);
    hb_iothread_free(t);
    g_assert_cmpint(sched_setaffinity(0, sizeof(all), &all), ==, 0);
}

static void order_fn(HbIoTimer *tm)
{
    Probe *p = (Probe *)tm;

    p->order[g_atomic_int_add(p->next_slot, 1)] = p->id;
    g_atomic_int_inc(&p->runs);
}

/* Armed out of order, they run nearest deadline first. */
static void test_deadline_order(void)
{
    HbIoThread *t = new_thread();
    gint order[4] = { 0 }, slot = 0;
    const int ms[4] = { 40, 10, 30, 20 };
    Probe p[4];
    int64_t base = mono_ns();

    for (int i = 0; i < 4; i++) {
        p[i] = (Probe){ .tm.fn = order_fn, .order = order, .next_slot = &slot, .id = i };
        hb_iothread_timer_arm(t, &p[i].tm, base + ms[i] * 1000LL * 1000);
    }
    g_assert_true(wait_runs(&p[0], 1, 2000));
    g_assert_cmpint(g_atomic_int_get(&slot), ==, 4);
    g_assert_cmpint(order[0], ==, 1);
    g_assert_cmpint(order[1], ==, 3);
    g_assert_cmpint(order[2], ==, 2);
    g_assert_cmpint(order[3], ==, 0);
    hb_iothread_free(t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/iothread-timer/runs-at-deadline", test_runs_at_deadline);
    g_test_add_func("/iothread-timer/rearm-replaces", test_rearm_replaces);
    g_test_add_func("/iothread-timer/cancel-before-due", test_cancel_before_due);
    g_test_add_func("/iothread-timer/cancel-waits-for-running", test_cancel_waits_for_running);
    g_test_add_func("/iothread-timer/cancel-beats-rearm", test_cancel_beats_rearm);
    g_test_add_func("/iothread-timer/rearm-in-past-yields", test_rearm_in_past_yields);
    g_test_add_func("/iothread-timer/cancel-not-starved", test_cancel_not_starved);
    g_test_add_func("/iothread-timer/deadline-order", test_deadline_order);
    return g_test_run();
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-aio-timers.c — a completion context's timers: order, cancelling, the tail kept right. */
#include "block/aio.h"

#include <errno.h>
#include <string.h>

#define N 64

typedef struct Fired {
    HbAioTimer t[N];
    int order[N];           /* indices of the timers, in firing order */
    int rets[N];
    unsigned n;
} Fired;

static Fired fired;

static void on_fire(HbAioCb *cb, int ret)
{
    HbAioTimer *t = (HbAioTimer *)cb;

    fired.rets[fired.n] = ret;
    fired.order[fired.n++] = (int)(t - fired.t);
}

static HbAioCtx *ctx_new(void)
{
    memset(&fired, 0, sizeof(fired));
    for (int i = 0; i < N; i++) {
        fired.t[i].cb.done = on_fire;
    }
    return hb_aio_ctx_new(false, NULL);
}

/* Deadlines in the past (small absolute values), so one poll runs them all. */
static void arm(HbAioCtx *ctx, int i, int64_t deadline)
{
    hb_aio_ctx_timer_arm(ctx, &fired.t[i], deadline);
}

/* Fired in deadline order; equal deadlines in the order they were armed. */
static void test_order(void)
{
    HbAioCtx *ctx = ctx_new();
    int64_t d[N];
    GRand *rand = g_rand_new_with_seed(7);

    int64_t first = G_MAXINT64;

    for (int i = 0; i < N; i++) {
        /* Rising runs (the tail path), falls and ties (the walk). */
        d[i] = i < 20 ? 100 + i : i < 30 ? 200 - i : g_rand_int_range(rand, 50, 150);
        arm(ctx, i, d[i]);
        first = MIN(first, d[i]);
    }
    g_assert_cmpint(hb_aio_ctx_next_deadline_ns(ctx), ==, first);
    g_assert_cmpuint(hb_aio_ctx_poll(ctx), ==, N);
    g_assert_cmpuint(fired.n, ==, N);
    for (unsigned k = 1; k < N; k++) {
        int a = fired.order[k - 1], b = fired.order[k];
        g_assert_cmpint(d[a], <=, d[b]);
        if (d[a] == d[b]) {
            g_assert_cmpint(a, <, b);
        }
    }
    g_assert_cmpint(hb_aio_ctx_next_deadline_ns(ctx), ==, -1);
    g_rand_free(rand);
    hb_aio_ctx_free(ctx);
}

/* Cancelling the last timer leaves the one before it the tail: a timer
 * armed later than all goes after that one, not after the cancelled one. */
static void test_cancel_keeps_tail(void)
{
    HbAioCtx *ctx = ctx_new();

    arm(ctx, 0, 10);
    arm(ctx, 1, 20);
    arm(ctx, 2, 30);
    hb_aio_ctx_timer_cancel(ctx, &fired.t[2]);      /* the tail */
    arm(ctx, 3, 40);
    hb_aio_ctx_timer_cancel(ctx, &fired.t[0]);      /* the head */
    arm(ctx, 4, 15);                                /* a walk to the middle */
    hb_aio_ctx_timer_cancel(ctx, &fired.t[3]);      /* the tail again */
    hb_aio_ctx_timer_cancel(ctx, &fired.t[3]);      /* not armed: nothing */
    arm(ctx, 5, 25);
    g_assert_cmpuint(hb_aio_ctx_poll(ctx), ==, 3);
    g_assert_cmpint(fired.order[0], ==, 4);
    g_assert_cmpint(fired.order[1], ==, 1);
    g_assert_cmpint(fired.order[2], ==, 5);
    /* All ran: the list is empty, and a new timer is both head and tail. */
    arm(ctx, 6, 5);
    arm(ctx, 7, 6);
    g_assert_cmpuint(hb_aio_ctx_poll(ctx), ==, 2);
    g_assert_cmpint(fired.order[3], ==, 6);
    g_assert_cmpint(fired.order[4], ==, 7);
    hb_aio_ctx_free(ctx);
}

/* A timer not yet due stays; cancelling all at once says so to each. */
static void test_future_and_cancel_all(void)
{
    HbAioCtx *ctx = ctx_new();
    int64_t later = hb_aio_now_ns() + 3600ll * 1000000000;

    arm(ctx, 0, 1);
    arm(ctx, 1, later);
    arm(ctx, 2, later + 1);
    g_assert_cmpuint(hb_aio_ctx_poll(ctx), ==, 1);
    g_assert_cmpint(hb_aio_ctx_next_deadline_ns(ctx), ==, later);
    hb_aio_ctx_cancel_timers(ctx);
    g_assert_cmpuint(fired.n, ==, 3);
    g_assert_cmpint(fired.rets[1], ==, -ECANCELED);
    g_assert_cmpint(fired.rets[2], ==, -ECANCELED);
    arm(ctx, 3, 2);         /* an empty list again: head and tail */
    g_assert_cmpuint(hb_aio_ctx_poll(ctx), ==, 1);
    hb_aio_ctx_free(ctx);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/aio-timers/order", test_order);
    g_test_add_func("/aio-timers/cancel-keeps-tail", test_cancel_keeps_tail);
    g_test_add_func("/aio-timers/future-and-cancel-all", test_future_and_cancel_all);
    return g_test_run();
}

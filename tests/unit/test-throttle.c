/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-throttle.c — leaky buckets with reservation, limit rules, completion-context timers. */
#include "block/aio.h"
#include "block/throttle-group.h"

#include <glib.h>

#define SEC 1000000000LL

static HbThrottleState state_with(QapiThrottleLimits *l)
{
    HbThrottleConfig cfg;
    HbThrottleState ts;

    hb_throttle_config_init(&cfg);
    g_assert_true(hb_throttle_config_update(&cfg, l, NULL));
    hb_throttle_state_set(&ts, &cfg, 0);
    return ts;
}

/* 100 IOPS: the first avg/10 + 1 go at once, then one every 10 ms. */
static void test_iops_rate(void)
{
    QapiThrottleLimits l = { .has_iops_total = true, .iops_total = 100 };
    HbThrottleState ts = state_with(&l);

    for (int k = 0; k < 200; k++) {
        int64_t wait = hb_throttle_state_reserve(&ts, k & 1, 4096, 0);
        int64_t want = k <= 10 ? 0 : (k - 10) * SEC / 100;
        g_assert_cmpint(llabs(wait - want), <, 1000);
    }
    /* Ten seconds later everything has drained: no wait. */
    g_assert_cmpint(hb_throttle_state_reserve(&ts, false, 4096, 10 * SEC), ==, 0);
}

/* Reads and writes have their own buckets; a read limit leaves writes alone. */
static void test_direction(void)
{
    QapiThrottleLimits l = { .has_bps_read = true, .bps_read = 1 << 20 };
    HbThrottleState ts = state_with(&l);

    for (int k = 0; k < 100; k++) {
        g_assert_cmpint(hb_throttle_state_reserve(&ts, true, 1 << 20, 0), ==, 0);
    }
    hb_throttle_state_reserve(&ts, false, 1 << 20, 0);
    /* 1 MiB in, a bucket of 0.1 MiB: the next read waits 0.9 s. */
    int64_t wait = hb_throttle_state_reserve(&ts, false, 4096, 0);
    g_assert_cmpint(llabs(wait - SEC * 9 / 10), <, 1000);
}

/* iops-size: a 64 KiB request is 16 operations of 4 KiB. */
static void test_iops_size(void)
{
    QapiThrottleLimits l = { .has_iops_total = true, .iops_total = 160,
                             .has_iops_size = true, .iops_size = 4096 };
    HbThrottleState ts = state_with(&l);

    hb_throttle_state_reserve(&ts, false, 65536, 0);
    int64_t wait = hb_throttle_state_reserve(&ts, false, 512, 0);
    /* 16 units in a bucket of 16: (16 - 16) / 160 = 0 s; one more is 1/160 s. */
    g_assert_cmpint(wait, ==, 0);
    wait = hb_throttle_state_reserve(&ts, false, 512, 0);
    g_assert_cmpint(llabs(wait - SEC / 160), <, 1000);
}

/* Bursts: up to max * length at once, at no more than max per second. */
static void test_burst(void)
{
    QapiThrottleLimits l = { .has_iops_total = true, .iops_total = 10,
                             .has_iops_total_max = true, .iops_total_max = 100,
                             .has_iops_total_max_length = true, .iops_total_max_length = 2 };
    HbThrottleState ts = state_with(&l);

    for (int k = 0; k < 300; k++) {
        int64_t wait = hb_throttle_state_reserve(&ts, false, 4096, 0);
        int64_t main_wait = k > 200 ? (k - 200) * SEC / 10 : 0;
        int64_t burst_wait = k > 10 ? (k - 10) * SEC / 100 : 0;
        g_assert_cmpint(llabs(wait - MAX(main_wait, burst_wait)), <, 1000);
    }
}

static void test_rules(void)
{
    HbThrottleConfig cfg;
    g_autoptr(GError) err = NULL;
    QapiThrottleLimits both = { .has_iops_total = true, .iops_total = 1,
                                .has_iops_write = true, .iops_write = 1 };
    QapiThrottleLimits ok = { .has_bps_write = true, .bps_write = 5 };

    hb_throttle_config_init(&cfg);
    g_assert_true(hb_throttle_config_update(&cfg, &ok, NULL));
    g_assert_false(hb_throttle_config_update(&cfg, &both, &err));
    g_assert_cmpstr(err->message, ==, "bps/iops/max total values and read/write values"
                    " cannot be used at the same time");
    /* Unchanged by the failure; merged by the success. */
    g_assert_cmpuint(cfg.b[HB_THROTTLE_BPS_WRITE].avg, ==, 5);
    g_assert_cmpuint(cfg.b[HB_THROTTLE_OPS_TOTAL].avg, ==, 0);
    g_autoptr(QapiThrottleLimits) back = hb_throttle_config_limits(&cfg);
    g_assert_true(back->has_iops_size && back->has_bps_total_max_length);
    g_assert_cmpint(back->bps_write, ==, 5);
    g_assert_cmpint(back->bps_write_max, ==, 0);       /* as set, not the default burst */
    g_assert_cmpint(back->bps_write_max_length, ==, 1);
}

static void timer_cb(HbAioCb *cb, int ret)
{
    HbAioTimer *t = (HbAioTimer *)cb;
    GPtrArray *order = *(GPtrArray **)(t + 1);

    (void)ret;
    g_ptr_array_add(order, t);
}

typedef struct {
    HbAioTimer t;
    GPtrArray *order;
} TestTimer;

/* Timers fire in deadline order, the wait sleeps until the nearest, cancel works. */
static void test_ctx_timers(void)
{
    g_autoptr(HbAioCtx) ctx = hb_aio_ctx_new(false, NULL);
    g_autoptr(GPtrArray) order = g_ptr_array_new();
    TestTimer t[3] = { 0 };
    int64_t start = hb_aio_now_ns();

    hb_aio_ctx_set_current(ctx);
    for (int i = 0; i < 3; i++) {
        t[i].t.cb.done = timer_cb;
        t[i].order = order;
    }
    hb_aio_ctx_timer_arm(ctx, &t[0].t, start + 30 * 1000000);
    hb_aio_ctx_timer_arm(ctx, &t[1].t, start + 10 * 1000000);
    hb_aio_ctx_timer_arm(ctx, &t[2].t, start + 20 * 1000000);
    hb_aio_ctx_timer_cancel(ctx, &t[2].t);
    g_assert_false(t[2].t.armed);
    /* Nothing is in flight, but a timer is armed: the wait sleeps to it. */
    while (order->len < 2) {
        hb_aio_ctx_wait(ctx, -1);
    }
    int64_t took = hb_aio_now_ns() - start;
    g_assert_cmpint(took, >=, 30 * 1000000);
    g_assert_cmpint(took, <, 2 * SEC);
    g_assert_true(order->pdata[0] == &t[1].t && order->pdata[1] == &t[0].t);
    /* With no timer and nothing in flight, a wait returns at once. */
    g_assert_cmpuint(hb_aio_ctx_wait(ctx, -1), ==, 0);
    hb_aio_ctx_set_current(NULL);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/throttle/iops-rate", test_iops_rate);
    g_test_add_func("/throttle/direction", test_direction);
    g_test_add_func("/throttle/iops-size", test_iops_size);
    g_test_add_func("/throttle/burst", test_burst);
    g_test_add_func("/throttle/rules", test_rules);
    g_test_add_func("/throttle/ctx-timers", test_ctx_timers);
    return g_test_run();
}

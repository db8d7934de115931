/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-block-acct.c — an export's I/O accounting: counters, failures, histograms, threads. */
#include "block/acct.h"

#include <glib.h>

static QapiUint64List *bounds(unsigned n, const uint64_t *v)
{
    QapiUint64List *head = NULL, **tail = &head;

    for (unsigned i = 0; i < n; i++) {
        *tail = g_new0(QapiUint64List, 1);
        (*tail)->value = v[i];
        tail = &(*tail)->next;
    }
    return head;
}

static void test_counters(void)
{
    HbBlockAcct a = {0};
    g_autoptr(QapiBlockDeviceStats) s = g_new0(QapiBlockDeviceStats, 1);
    int64_t t0 = hb_block_acct_now();

    hb_block_acct_query(&a, s, t0);
    g_assert_false(s->has_idle_time_ns);    /* nothing completed yet */

    hb_block_acct_done(&a, HB_ACCT_READ, 4096, t0 - 1000, hb_block_acct_now(), false);
    hb_block_acct_done(&a, HB_ACCT_READ, 512, t0 - 1000, hb_block_acct_now(), false);
    hb_block_acct_done(&a, HB_ACCT_READ, 8192, t0 - 1000, hb_block_acct_now(), true);
    hb_block_acct_done(&a, HB_ACCT_WRITE, 65536, t0, hb_block_acct_now(), false);
    hb_block_acct_done(&a, HB_ACCT_FLUSH, 0, t0, hb_block_acct_now(), false);
    hb_block_acct_done(&a, HB_ACCT_UNMAP, 1 << 20, t0, hb_block_acct_now(), false);
    hb_block_acct_done(&a, HB_ACCT_UNMAP, 1 << 20, t0, hb_block_acct_now(), true);

    g_clear_pointer(&s, qapi_free_BlockDeviceStats);
    s = g_new0(QapiBlockDeviceStats, 1);
    hb_block_acct_query(&a, s, hb_block_acct_now());
    g_assert_cmpint(s->rd_bytes, ==, 4608);
    g_assert_cmpint(s->rd_operations, ==, 2);
    g_assert_cmpint(s->failed_rd_operations, ==, 1);
    g_assert_cmpint(s->wr_bytes, ==, 65536);
    g_assert_cmpint(s->wr_operations, ==, 1);
    g_assert_cmpint(s->flush_operations, ==, 1);
    g_assert_cmpint(s->unmap_bytes, ==, 1 << 20);
    g_assert_cmpint(s->unmap_operations, ==, 1);
    g_assert_cmpint(s->failed_unmap_operations, ==, 1);
    /* Three reads of at least 1000 ns each, the failed one included. */
    g_assert_cmpint(s->rd_total_time_ns, >=, 3000);
    g_assert_true(s->has_idle_time_ns);
    g_assert_cmpint(s->idle_time_ns, >=, 0);
    g_assert_true(s->account_failed);
    g_assert_false(s->account_invalid);
    g_assert_null(s->rd_latency_histogram);
    hb_block_acct_clear(&a);
}

static void test_bounds_rule(void)
{
    g_autoptr(QapiUint64List) ok = bounds(3, (uint64_t[]){ 1, 10, 100 });
    g_autoptr(QapiUint64List) zero = bounds(2, (uint64_t[]){ 0, 10 });
    g_autoptr(QapiUint64List) equal = bounds(2, (uint64_t[]){ 10, 10 });
    g_autoptr(QapiUint64List) down = bounds(2, (uint64_t[]){ 10, 5 });

    g_assert_true(hb_block_acct_check_bounds(ok));
    g_assert_true(hb_block_acct_check_bounds(NULL));
    g_assert_false(hb_block_acct_check_bounds(zero));
    g_assert_false(hb_block_acct_check_bounds(equal));
    g_assert_false(hb_block_acct_check_bounds(down));
}

static void test_histogram(void)
{
    HbBlockAcct a = {0};
    g_autoptr(QapiUint64List) b = bounds(3, (uint64_t[]){ 1000, 1000000, 1000000000 });
    int64_t now = hb_block_acct_now();

    hb_block_acct_set_histogram(&a, HB_ACCT_WRITE, b);
    /* Latencies: ~0, ~2 ms, ~3 s (start in the past), and one at 1 us exactly is bin 1. */
    hb_block_acct_done(&a, HB_ACCT_WRITE, 1, now + 1000000, hb_block_acct_now(), false);  /* clamps to 0 */
    hb_block_acct_done(&a, HB_ACCT_WRITE, 1, now - 2000000, hb_block_acct_now(), false);
    hb_block_acct_done(&a, HB_ACCT_WRITE, 1, now - 3000000000LL, hb_block_acct_now(), false);

    g_autoptr(QapiBlockDeviceStats) s = g_new0(QapiBlockDeviceStats, 1);
    hb_block_acct_query(&a, s, hb_block_acct_now());
    g_assert_null(s->rd_latency_histogram);
    g_assert_nonnull(s->wr_latency_histogram);
    uint64_t want[] = { 1, 0, 1, 1 };
    unsigned i = 0;
    for (QapiUint64List *e = s->wr_latency_histogram->bins; e; e = e->next, i++) {
        g_assert_cmpuint(i, <, 4);
        g_assert_cmpuint(e->value, ==, want[i]);
    }
    g_assert_cmpuint(i, ==, 4);
    i = 0;
    for (QapiUint64List *e = s->wr_latency_histogram->boundaries; e; e = e->next) {
        i++;
    }
    g_assert_cmpuint(i, ==, 3);

    /* New boundaries start over; NULL removes the histogram. */
    hb_block_acct_set_histogram(&a, HB_ACCT_WRITE, b);
    g_clear_pointer(&s, qapi_free_BlockDeviceStats);
    s = g_new0(QapiBlockDeviceStats, 1);
    hb_block_acct_query(&a, s, hb_block_acct_now());
    for (QapiUint64List *e = s->wr_latency_histogram->bins; e; e = e->next) {
        g_assert_cmpuint(e->value, ==, 0);
    }
    hb_block_acct_set_histogram(&a, HB_ACCT_WRITE, NULL);
    g_clear_pointer(&s, qapi_free_BlockDeviceStats);
    s = g_new0(QapiBlockDeviceStats, 1);
    hb_block_acct_query(&a, s, hb_block_acct_now());
    g_assert_null(s->wr_latency_histogram);
    hb_block_acct_clear(&a);
}

#define THREADS 4
#define PER_THREAD 100000

static gpointer hammer(gpointer opaque)
{
    HbBlockAcct *a = opaque;

    for (int i = 0; i < PER_THREAD; i++) {
        hb_block_acct_done(a, i & 1 ? HB_ACCT_WRITE : HB_ACCT_READ, 4096,
                           hb_block_acct_now(), hb_block_acct_now(), false);
    }
    return NULL;
}

/* Counters and histogram bins lose nothing to concurrent completions, even across a histogram swap. */
static void test_threads(void)
{
    HbBlockAcct a = {0};
    g_autoptr(QapiUint64List) b = bounds(1, (uint64_t[]){ 1000000000 });
    GThread *t[THREADS];

    hb_block_acct_set_histogram(&a, HB_ACCT_READ, b);
    for (int i = 0; i < THREADS; i++) {
        t[i] = g_thread_new("acct", hammer, &a);
    }
    hb_block_acct_set_histogram(&a, HB_ACCT_WRITE, b);
    for (int i = 0; i < THREADS; i++) {
        g_thread_join(t[i]);
    }
    g_autoptr(QapiBlockDeviceStats) s = g_new0(QapiBlockDeviceStats, 1);
    hb_block_acct_query(&a, s, hb_block_acct_now());
    g_assert_cmpint(s->rd_operations, ==, THREADS * PER_THREAD / 2);
    g_assert_cmpint(s->wr_operations, ==, THREADS * PER_THREAD / 2);
    g_assert_cmpint(s->rd_bytes, ==, (int64_t)THREADS * PER_THREAD / 2 * 4096);
    g_assert_cmpuint(s->rd_latency_histogram->bins->value, ==, THREADS * PER_THREAD / 2);
    hb_block_acct_clear(&a);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/block-acct/counters", test_counters);
    g_test_add_func("/block-acct/bounds-rule", test_bounds_rule);
    g_test_add_func("/block-acct/histogram", test_histogram);
    g_test_add_func("/block-acct/threads", test_threads);
    return g_test_run();
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/acct.c — I/O accounting of one volume: relaxed counters, latency histograms. */
#include "block/acct.h"

#include <string.h>

static void hist_account(HbAcctHistogram *h, uint64_t latency_ns)
{
    /* Binary search: the first boundary above the latency is its bin. */
    unsigned lo = 0, hi = h->nbounds;

    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (latency_ns < h->bounds[mid]) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    __atomic_add_fetch(&h->bins[lo], 1, __ATOMIC_RELAXED);
}

void hb_block_acct_done(HbBlockAcct *a, HbAcctType type, uint64_t bytes,
                        int64_t start_ns, int64_t now, bool failed)
{
    HbAcctKind *k = &a->kind[type];
    uint64_t latency = now > start_ns ? (uint64_t)(now - start_ns) : 0;
    HbAcctHistogram *h;

    if (failed) {
        __atomic_add_fetch(&k->failed, 1, __ATOMIC_RELAXED);
    } else {
        __atomic_add_fetch(&k->bytes, bytes, __ATOMIC_RELAXED);
        __atomic_add_fetch(&k->ops, 1, __ATOMIC_RELAXED);
    }
    __atomic_add_fetch(&k->total_ns, latency, __ATOMIC_RELAXED);
    __atomic_store_n(&a->last_ns, now, __ATOMIC_RELAXED);
    h = __atomic_load_n(&k->hist, __ATOMIC_ACQUIRE);
    if (h) {
        hist_account(h, latency);
    }
}

bool hb_block_acct_check_bounds(const QapiUint64List *bounds)
{
    uint64_t prev = 0;

    for (const QapiUint64List *e = bounds; e; e = e->next) {
        if (e->value <= prev) {
            return false;
        }
        prev = e->value;
    }
    return true;
}

void hb_block_acct_set_histogram(HbBlockAcct *a, HbAcctType type,
                                 const QapiUint64List *bounds)
{
    HbAcctHistogram *h = NULL, *old;

    if (bounds) {
        unsigned n = 0;
        for (const QapiUint64List *e = bounds; e; e = e->next) {
            n++;
        }
        h = g_new0(HbAcctHistogram, 1);
        h->nbounds = n;
        h->bounds = g_new(uint64_t, n);
        h->bins = g_new0(uint64_t, n + 1);
        n = 0;
        for (const QapiUint64List *e = bounds; e; e = e->next) {
            h->bounds[n++] = e->value;
        }
    }
    old = __atomic_exchange_n(&a->kind[type].hist, h, __ATOMIC_ACQ_REL);
    if (old) {
        a->retired = g_slist_prepend(a->retired, old);  /* see the theory */
    }
}

static QapiUint64List *u64_list(const uint64_t *v, unsigned n, bool atomic)
{
    QapiUint64List *head = NULL, **tail = &head;

    for (unsigned i = 0; i < n; i++) {
        QapiUint64List *e = g_new0(QapiUint64List, 1);
        e->value = atomic ? __atomic_load_n(&v[i], __ATOMIC_RELAXED) : v[i];
        *tail = e;
        tail = &e->next;
    }
    return head;
}

static QapiBlockLatencyHistogramInfo *hist_info(const HbAcctKind *k)
{
    HbAcctHistogram *h = __atomic_load_n(&k->hist, __ATOMIC_ACQUIRE);
    QapiBlockLatencyHistogramInfo *info;

    if (!h) {
        return NULL;
    }
    info = g_new0(QapiBlockLatencyHistogramInfo, 1);
    info->boundaries = u64_list(h->bounds, h->nbounds, false);
    info->bins = u64_list(h->bins, h->nbounds + 1, true);
    return info;
}

static uint64_t get(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

void hb_block_acct_query(const HbBlockAcct *a, QapiBlockDeviceStats *s,
                         int64_t now_ns)
{
    const HbAcctKind *rd = &a->kind[HB_ACCT_READ], *wr = &a->kind[HB_ACCT_WRITE];
    const HbAcctKind *fl = &a->kind[HB_ACCT_FLUSH], *un = &a->kind[HB_ACCT_UNMAP];
    int64_t last = __atomic_load_n(&a->last_ns, __ATOMIC_RELAXED);

    s->rd_bytes = get(&rd->bytes);
    s->wr_bytes = get(&wr->bytes);
    s->unmap_bytes = get(&un->bytes);
    s->rd_operations = get(&rd->ops);
    s->wr_operations = get(&wr->ops);
    s->flush_operations = get(&fl->ops);
    s->unmap_operations = get(&un->ops);
    s->rd_total_time_ns = get(&rd->total_ns);
    s->wr_total_time_ns = get(&wr->total_ns);
    s->flush_total_time_ns = get(&fl->total_ns);
    s->unmap_total_time_ns = get(&un->total_ns);
    s->failed_rd_operations = get(&rd->failed);
    s->failed_wr_operations = get(&wr->failed);
    s->failed_flush_operations = get(&fl->failed);
    s->failed_unmap_operations = get(&un->failed);
    /* As QEMU: idle time only once something completed. */
    if (last) {
        s->has_idle_time_ns = true;
        s->idle_time_ns = now_ns > last ? now_ns - last : 0;
    }
    s->account_failed = true;
    s->rd_latency_histogram = hist_info(rd);
    s->wr_latency_histogram = hist_info(wr);
    s->flush_latency_histogram = hist_info(fl);
}

static void hist_free(gpointer p)
{
    HbAcctHistogram *h = p;

    g_free(h->bounds);
    g_free(h->bins);
    g_free(h);
}

void hb_block_acct_clear(HbBlockAcct *a)
{
    for (int t = 0; t < HB_ACCT__MAX; t++) {
        if (a->kind[t].hist) {
            hist_free(a->kind[t].hist);
        }
    }
    g_slist_free_full(a->retired, hist_free);
    memset(a, 0, sizeof(*a));
}

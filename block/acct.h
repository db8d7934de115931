/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/acct.h — I/O accounting of one volume (QEMU's BlockAcctStats): query-blockstats. */
#ifndef HB_BLOCK_ACCT_H
#define HB_BLOCK_ACCT_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "qapi-types.h"

/*
 * Theory of operation
 *
 * An export counts the guest requests it hands to its node, as QEMU
 * counts them at its BlockBackend: per kind (read, write, flush, unmap),
 * bytes and operations that succeeded, operations that failed, the
 * latency summed over all of them, the time of the last completion
 * (idle_time_ns), and optionally a latency histogram per kind
 * (block-latency-histogram-set).
 *
 * The hot path is every ring's I/O thread, concurrently.  Each counter is
 * a relaxed atomic add on memory no lock guards; each kind has a cache
 * line of its own, so reads and writes running on two threads do not
 * bounce one line between them.  A reader (query-blockstats, main thread)
 * sees each counter exact but not a snapshot of all of them at one
 * instant, as with QEMU's stats read without the lock.
 *
 * Histograms are immutable in shape once published: setting new
 * boundaries allocates a new one and swaps the pointer (release/acquire);
 * a completion that loaded the old pointer may still count into it, so
 * the old one is kept (retired) until the accounting itself is freed.
 * Their number grows only with block-latency-histogram-set calls.
 */

typedef enum HbAcctType {
    HB_ACCT_READ,
    HB_ACCT_WRITE,      /* writes and write-zeroes, as QEMU's virtio-blk */
    HB_ACCT_FLUSH,
    HB_ACCT_UNMAP,      /* discard */
    HB_ACCT__MAX,
} HbAcctType;

/* One latency histogram: bins[i] counts latencies in [bounds[i-1], bounds[i]). */
typedef struct HbAcctHistogram {
    unsigned nbounds;
    uint64_t *bounds;   /* strictly increasing, ns */
    uint64_t *bins;     /* nbounds + 1, atomic */
} HbAcctHistogram;

/* One kind's counters, on a cache line of its own (see the theory). */
typedef struct HbAcctKind {
    uint64_t bytes;
    uint64_t ops;
    uint64_t failed;
    uint64_t total_ns;
    HbAcctHistogram *hist;          /* atomic pointer; NULL: none */
} __attribute__((aligned(64))) HbAcctKind;

/**
 * struct HbBlockAcct - one volume's accounting.  Zeroed memory is a valid,
 * empty one; hb_block_acct_clear() frees what it allocated.
 */
typedef struct HbBlockAcct {
    HbAcctKind kind[HB_ACCT__MAX];
    int64_t last_ns;                /* last completion, monotonic ns; 0: none yet */
    GSList *retired;                /* HbAcctHistogram *, main thread */
} HbBlockAcct;

/* The monotonic clock in ns: a request's start, for hb_block_acct_done(). */
static inline int64_t hb_block_acct_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/**
 * hb_block_acct_done() - count one completed request.  Any thread.
 * @a: the accounting
 * @type: its kind
 * @bytes: its length (0 for flush)
 * @start_ns: hb_block_acct_now() when it started
 * @now_ns: hb_block_acct_now() when it completed (the caller may share
 *     one reading between the completions of a batch: each costs ~30 ns)
 * @failed: it completed with an error: counted in failed_*, not in bytes
 *     or operations; its latency still counts (account_failed)
 */
void hb_block_acct_done(HbBlockAcct *a, HbAcctType type, uint64_t bytes,
                        int64_t start_ns, int64_t now_ns, bool failed);

/**
 * hb_block_acct_check_bounds() - whether @bounds is a valid list of
 * histogram boundaries: strictly increasing and above zero (QEMU's rule).
 */
bool hb_block_acct_check_bounds(const QapiUint64List *bounds);

/**
 * hb_block_acct_set_histogram() - give kind @type a new, empty histogram
 * with @bounds (checked by hb_block_acct_check_bounds()), or none if
 * @bounds is NULL.  Main thread.
 */
void hb_block_acct_set_histogram(HbBlockAcct *a, HbAcctType type,
                                 const QapiUint64List *bounds);

/**
 * hb_block_acct_query() - fill @s's counters from @a: the members QEMU
 * takes from a BlockBackend (everything but wr_highest_offset).
 * @now_ns: hb_block_acct_now(), for idle_time_ns
 */
void hb_block_acct_query(const HbBlockAcct *a, QapiBlockDeviceStats *s,
                         int64_t now_ns);

/* Free the histograms; @a is zeroed (empty) again.  Main thread, no I/O running. */
void hb_block_acct_clear(HbBlockAcct *a);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/qcow2/qcow2-fast.c — the asynchronous fast path: cached mappings of owned clusters, and the gate that keeps them from being freed under it. */

/*
 * Theory of operation
 *
 * The node glue (qcow2-driver.c) runs a read or write whose every cluster
 * is already mapped, in an L2 table that is already cached, as plain
 * asynchronous I/O on the image file at the translated offsets.  Anything
 * else (an L2 cache miss, allocation, copy-on-write, compressed clusters,
 * backing data, zeroing, discard) takes the ordered slow path: the
 * synchronous request paths of qcow2-io.c, run on the I/O pool.
 *
 * Mapping.  hb_qcow2_fast_map() looks the range up under meta_lock, taken
 * with a trylock: an I/O thread never waits for the slow path's metadata
 * I/O, which holds meta_lock across table loads and flushes; when the
 * lock is busy the request simply takes the slow path.  It qualifies only
 * if each cluster is a normal allocated cluster with the COPIED flag
 * (refcount 1: writing it in place needs no copy-on-write), neither
 * compressed nor zero-flagged; reads may also cover clusters that read as
 * zeroes without I/O.  Writes need a writable image that has not been
 * found corrupt, and clusters outside the metadata (the same overlap
 * checks as the in-place write path; a hit takes the slow path, which
 * finds it again and marks the image corrupt).  No header bit is set on a
 * first write in this driver (the dirty bit is written only at an unclean
 * close: refcounts are always kept current), so a fast write skips
 * nothing the slow path would do first.
 *
 * meta_lock is dropped before the data I/O starts.  The L2 table may then
 * be written back or evicted from the cache: that is fine, the cache only
 * holds copies, and the mapping read stays true for as long as the host
 * cluster is not given to anyone else.  Changing a mapping needs
 * map_lock exclusively, which the fast path does not hold; but a mapping
 * that changes to another cluster of the same guest offset (zeroing,
 * in-place overwrite) only reorders I/O the guest sent concurrently to
 * the same bytes.  The one danger is a host cluster freed (its refcount
 * dropping to 0) and allocated again for another guest offset while a
 * fast request still reads or writes it: that write would land in the
 * other guest offset's data.
 *
 * Gate.  Hence every slow path that frees clusters waits, before the
 * refcounts drop and after the mappings naming them are gone, until no
 * fast request is in flight (hb_qcow2_fence_fast()).  A fast request
 * counts itself in @fast_inflight before its lookup and leaves when all
 * its I/O is done; a slow path raises @fast_fenced, waits for the count
 * to reach zero, frees, and lowers the flag.  A request that finds the
 * flag raised takes the slow path instead, so that the wait ends under
 * any load.  Both sides use sequentially consistent atomics: either the
 * request sees the flag, or the slow path sees the count.  Any request
 * that looked up a mapping before the slow path changed it (both under
 * meta_lock) was counted before that, so the wait covers it.  Only data
 * clusters need this: metadata clusters freed elsewhere (old L1 or
 * reference tables, shared L2 tables) are never the target of fast I/O.
 *
 * The fast request's I/O completes on the I/O thread that submitted it,
 * and the slow path that waits runs on a pool thread (or the main thread,
 * for a resize), never on a thread with fast requests of its own in
 * flight: the wait ends as long as the fast requests' own I/O can run.
 * That I/O must not itself need the pool (a pool filled with waiting slow
 * paths would leave it queued for ever), so the glue takes the fast path
 * only when the file's requests go straight to the thread's io_uring
 * (qcow2-driver.c: pieces_avoid_pool()).  Deferring the frees to
 * whoever sees the count reach zero would remove the wait altogether.
 */
#include "qcow2-int.h"

#include <errno.h>

/**
 * hb_qcow2_fast_enter() - count a fast-path request in, unless a slow
 * path is freeing clusters.
 * @s: image
 *
 * Return: true, and the caller calls hb_qcow2_fast_leave() once all its
 * I/O is done; false when it must take the slow path.
 */
bool hb_qcow2_fast_enter(HbQcow2 *s)
{
    g_atomic_int_inc(&s->fast_inflight);
    if (g_atomic_int_get(&s->fast_fenced)) {
        hb_qcow2_fast_leave(s);
        return false;
    }
    return true;
}

/* hb_qcow2_fast_leave() - a request counted by hb_qcow2_fast_enter() is done. */
void hb_qcow2_fast_leave(HbQcow2 *s)
{
    g_atomic_int_dec_and_test(&s->fast_inflight);
}

/**
 * hb_qcow2_fence_fast() - keep new fast-path requests off and wait until
 * none is in flight; hb_qcow2_unfence_fast() lets them in again.  Called
 * by slow paths between unmapping host clusters and freeing them, holding
 * no lock the fast path could wait for, on a thread with no fast-path
 * request of its own in flight.
 * @s: image
 */
void hb_qcow2_fence_fast(HbQcow2 *s)
{
    g_atomic_int_inc(&s->fast_fenced);
    while (g_atomic_int_get(&s->fast_inflight) > 0) {
        g_usleep(20);
    }
}

/* hb_qcow2_unfence_fast() - end what hb_qcow2_fence_fast() began. */
void hb_qcow2_unfence_fast(HbQcow2 *s)
{
    g_atomic_int_dec_and_test(&s->fast_fenced);
}

/* A data cluster of ours alone, read and written in place. */
static bool entry_is_fast_data(const HbQcow2 *s, uint64_t e)
{
    uint64_t host = e & QCOW2_OFFSET_MASK;

    return (e & QCOW2_OFLAG_COPIED) && !(e & QCOW2_OFLAG_COMPRESSED) &&
           !(e & QCOW2_OFLAG_ZERO) && host && !(host & s->cluster_mask);
}

/* Whether guest bytes from @off to the end of their cluster read as zeroes with no I/O. */
static bool entry_reads_zero(const HbQcow2 *s, uint64_t e, uint64_t off)
{
    if (e & QCOW2_OFLAG_COMPRESSED) {
        return false;
    }
    if ((e & QCOW2_OFLAG_ZERO) && s->hdr.version >= 3) {
        return true;
    }
    return !(e & QCOW2_OFFSET_MASK) &&
           (!s->backing.preadv || off >= (uint64_t)MAX(s->backing.length, 0));
}

/* Look the range up with meta_lock held; see hb_qcow2_fast_map(). */
static int map_locked(HbQcow2 *s, uint64_t offset, uint64_t bytes, bool write,
                      HbQcow2Extent *ext, unsigned *n)
{
    unsigned k = 0;

    for (uint64_t pos = 0; pos < bytes;) {
        uint64_t off = offset + pos;
        uint64_t len = MIN(bytes - pos, s->cluster_size - (off & s->cluster_mask));
        uint64_t entry, host = 0;
        bool zero = false;

        if (hb_qcow2_peek_l2_entry(s, off, &entry) < 0) {
            return -ENOTSUP;    /* not cached, or an error the slow path reports */
        }
        if (entry_is_fast_data(s, entry)) {
            host = (entry & QCOW2_OFFSET_MASK) + (off & s->cluster_mask);
            if (write && (hb_qcow2_overlaps_metadata(s, host, len) ||
                          hb_qcow2_overlaps_l2(s, host, len))) {
                return -ENOTSUP;
            }
        } else if (!write && entry_reads_zero(s, entry, off)) {
            zero = true;
        } else {
            return -ENOTSUP;
        }
        if (k > 0 && ext[k - 1].zero == zero &&
            (zero || ext[k - 1].host + ext[k - 1].bytes == host)) {
            ext[k - 1].bytes += len;
        } else if (k == HB_QCOW2_FAST_EXTENTS) {
            return -ENOTSUP;
        } else {
            ext[k++] = (HbQcow2Extent){ .host = host, .bytes = len, .zero = zero };
        }
        pos += len;
    }
    *n = k;
    return 0;
}

/**
 * hb_qcow2_fast_map() - translate a guest range for the fast path, from
 * cached metadata only.
 * @s: image; the caller is counted in by hb_qcow2_fast_enter()
 * @offset: guest offset
 * @bytes: length (> 0)
 * @write: for a write (zero extents are refused)
 * @ext: out, HB_QCOW2_FAST_EXTENTS pieces at most, in guest order; host
 *       contiguous clusters are merged into one
 * @n: out, pieces filled in
 *
 * Return: 0, or -ENOTSUP when the request must take the slow path (some
 * cluster unqualified or not cached, meta_lock busy, too many pieces).
 */
int hb_qcow2_fast_map(HbQcow2 *s, uint64_t offset, uint64_t bytes, bool write,
                      HbQcow2Extent *ext, unsigned *n)
{
    int ret;

    if (write && (s->read_only || g_atomic_int_get(&s->corrupt_found))) {
        return -ENOTSUP;
    }
    if (!g_mutex_trylock(&s->meta_lock)) {
        return -ENOTSUP;
    }
    ret = map_locked(s, offset, bytes, write, ext, n);
    g_mutex_unlock(&s->meta_lock);
    return ret;
}

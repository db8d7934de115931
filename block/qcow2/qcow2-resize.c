/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/qcow2/qcow2-resize.c — block_resize: grow the virtual size (L1 relocation, zeroed new area, header). */

#include "qcow2-int.h"
#include "util/error.h"

#include <errno.h>
#include <string.h>

/*
 * Growing happens in three steps, while requests keep running:
 *
 * 1. If the L1 table is too small, a bigger one is written to new clusters
 *    and the header switched to it (new table durable first, old clusters
 *    freed after).  The in-memory table is swapped with map_lock held
 *    exclusively and meta_lock held: every path that reads s->l1 holds one
 *    of them, so none can see the freed table.  A bigger L1 with the old
 *    size is a valid image on its own.
 * 2. With preallocation (qemu-img resize --preallocation), the new
 *    clusters get host clusters: one run past the end of the file, its
 *    refcounts counted, the file grown over it (reserved for falloc,
 *    zeroes written for full, a hole for metadata), the refcounts made
 *    durable, and only then the L2 entries pointing at it.  Both locks
 *    are held throughout, so that no allocation lands in the run or
 *    grows the file past it meanwhile.
 *    Then the new area is made to read as zeroes, through the ordinary
 *    request paths (which take the locks themselves).  Nobody else can
 *    reach it yet: the node layer refuses requests past the old size.
 * 3. The metadata is flushed, then the header's size is written and
 *    flushed, then the new size is published.
 *
 * The metadata caches' caps are raised to the new size before step 2
 * (hb_qcow2_cache_limits()).
 *
 * A crash at any point leaves either the old or the new size, and at worst
 * leaked clusters.  Shrinking is refused.
 */

/* L1 entries needed to map @size bytes. */
static uint64_t l1_entries_for(const HbQcow2 *s, uint64_t size)
{
    uint64_t clusters = (size + s->cluster_mask) >> s->hdr.cluster_bits;

    return (clusters + s->l2_size - 1) >> s->l2_bits;
}

/* Point the header at an L1 table: l1_size and l1_table_offset in one write. */
static int write_l1_location(HbQcow2 *s, uint32_t entries, uint64_t offset)
{
    HbQcow2Header h = { .l1_size = entries, .l1_table_offset = offset };
    int ret = hb_qcow2_write_header_fields(s, &h, QCOW2_FIELD_L1_SIZE,
                                           QCOW2_FIELD_L1_TABLE_OFFSET);
    if (ret == 0) {
        ret = hb_qcow2_io_flush(s);
    }
    return ret;
}

/*
 * Move the L1 table to new clusters with room for @entries.  Called with
 * map_lock held exclusively and meta_lock held.
 */
static int grow_l1(HbQcow2 *s, uint64_t entries)
{
    uint64_t nclusters = hb_qcow2_size_to_clusters(s, entries * 8);
    uint64_t bytes = nclusters << s->hdr.cluster_bits;
    g_autofree uint64_t *table = g_try_new0(uint64_t, entries);
    g_autofree uint64_t *disk = g_try_malloc0(bytes);
    int64_t off;
    int ret;

    if (!table || !disk) {
        return -ENOMEM;
    }
    memcpy(table, s->l1, (size_t)s->l1_size * 8);
    for (uint64_t i = 0; i < entries; i++) {
        disk[i] = GUINT64_TO_BE(table[i]);
    }

    off = hb_qcow2_alloc_contiguous(s, nclusters);
    if (off < 0) {
        return (int)off;
    }
    /* The new clusters' refcounts and the table are durable before the header names it. */
    ret = hb_qcow2_cache_writeback(s, &s->rb_cache);
    if (ret == 0) {
        ret = hb_qcow2_io_pwrite(s, off, disk, bytes);
    }
    if (ret == 0) {
        ret = hb_qcow2_io_flush(s);
    }
    if (ret < 0) {
        hb_qcow2_free_range(s, off, bytes);
        return ret;
    }
    s->rb_cache.unflushed = false;

    /*
     * If this fails the header may or may not have changed; keep using the
     * old table (the new one is a leak at worst, never freed while it
     * might be named).
     */
    ret = write_l1_location(s, (uint32_t)entries, off);
    if (ret < 0) {
        return ret;
    }

    uint64_t old_off = s->hdr.l1_table_offset;
    uint64_t old_bytes = (uint64_t)s->l1_size * 8;
    g_free(s->l1);
    s->l1 = g_steal_pointer(&table);
    s->l1_size = (uint32_t)entries;
    s->hdr.l1_size = (uint32_t)entries;
    s->hdr.l1_table_offset = (uint64_t)off;
    /* The header no longer names the old table (flushed above). */
    return old_bytes ? hb_qcow2_free_range(s, old_off, old_bytes) : 0;
}

/*
 * Whether the bytes of the old last cluster past the old size @old may
 * read as something else than zeroes: its data (written through copy on
 * write from a backing file, or left by a shrink elsewhere) or the
 * backing file's, if that is longer than the old size.
 */
static bool old_tail_may_be_nonzero(HbQcow2 *s, uint64_t old)
{
    uint64_t entry;
    int ret;

    g_mutex_lock(&s->meta_lock);
    ret = hb_qcow2_get_l2_entry(s, old & ~s->cluster_mask, &entry);
    g_mutex_unlock(&s->meta_lock);
    if (ret < 0) {
        return true;  /* the write will report the error */
    }
    if (!(entry & QCOW2_OFLAG_COMPRESSED) && (entry & QCOW2_OFLAG_ZERO) &&
        s->hdr.version >= 3) {
        return false;
    }
    if (!(entry & QCOW2_OFLAG_COMPRESSED) && !(entry & QCOW2_OFFSET_MASK)) {
        return s->backing.preadv && s->backing.length > 0 &&
               (uint64_t)s->backing.length > old;
    }
    return true;
}

/*
 * The first guest cluster preallocation maps: the old last cluster when
 * the old size ends inside it and it has no host cluster and reads as
 * zeroes (it may then take one without anything showing), else the next
 * one.  Called with meta_lock held.
 */
static int prealloc_first(HbQcow2 *s, uint64_t old, uint64_t *first)
{
    uint64_t head = old & ~s->cluster_mask, entry;
    int ret;

    *first = (old + s->cluster_mask) & ~s->cluster_mask;
    if (head == old) {
        return 0;
    }
    ret = hb_qcow2_get_l2_entry(s, head, &entry);
    if (ret < 0) {
        return ret;
    }
    bool hostless = !(entry & QCOW2_OFLAG_COMPRESSED) && !(entry & QCOW2_OFFSET_MASK);
    bool zero_flag = s->hdr.version >= 3 && (entry & QCOW2_OFLAG_ZERO);
    bool backing = s->backing.preadv && s->backing.length > 0 &&
                   (uint64_t)s->backing.length > head;
    if (hostless && (zero_flag || !backing)) {
        *first = head;
    }
    return 0;
}

/*
 * Map [*@first, @size) (from prealloc_first()) to one run of new host
 * clusters, the file grown over them as @mode says.  Called with map_lock
 * held exclusively and meta_lock held.
 */
static int map_new_clusters(HbQcow2 *s, uint64_t old, uint64_t size, HbQcow2Prealloc mode,
                            uint64_t *first, GError **errp)
{
    uint64_t end = (size + s->cluster_mask) & ~s->cluster_mask;
    int ret = prealloc_first(s, old, first);

    if (ret < 0) {
        hb_error_set_errno(errp, ret, "Could not read the L2 table");
        return ret;
    }
    if (*first >= end) {
        return 0;
    }
    uint64_t n = (end - *first) >> s->hdr.cluster_bits;
    uint64_t bytes = n << s->hdr.cluster_bits;
    int64_t host = hb_qcow2_alloc_contiguous(s, n);
    if (host < 0) {
        hb_error_set_errno(errp, (int)host, "Failed to allocate clusters for preallocation");
        return (int)host;
    }
    /* The data first: zeroes (or the reservation) are durable before anything names them. */
    ret = s->io.grow(s->io.opaque, (uint64_t)host + bytes,
                     mode == HB_QCOW2_PREALLOC_METADATA ? HB_QCOW2_PREALLOC_OFF : mode, errp);
    if (ret < 0) {
        if (mode != HB_QCOW2_PREALLOC_METADATA) {
            g_prefix_error(errp, "Failed to resize underlying file: ");  /* QEMU's text */
        }
        hb_qcow2_free_range(s, (uint64_t)host, bytes);
        return ret;
    }
    /* Then the run's refcounts, before any L2 entry points into it. */
    ret = hb_qcow2_cache_writeback(s, &s->rb_cache);
    if (ret == 0) {
        ret = hb_qcow2_io_flush(s);
    }
    if (ret < 0) {
        hb_error_set_errno(errp, ret, "Could not write refcounts for preallocation");
        return ret;
    }
    s->rb_cache.unflushed = false;
    for (uint64_t i = 0; i < n && ret == 0; i++) {
        ret = hb_qcow2_set_l2_entry(s, *first + (i << s->hdr.cluster_bits),
                                    ((uint64_t)host + (i << s->hdr.cluster_bits)) |
                                    QCOW2_OFLAG_COPIED);
    }
    if (ret < 0) {
        /* A crash or this error leaves mapped clusters past the size: a leak at worst. */
        hb_error_set_errno(errp, ret, "Could not write L2 entries for preallocation");
    }
    return ret;
}

/* Step 2's preallocation: the locks held around map_new_clusters(). */
static int preallocate(HbQcow2 *s, uint64_t old, uint64_t size, HbQcow2Prealloc mode,
                       uint64_t *first, GError **errp)
{
    int ret;

    g_rw_lock_writer_lock(&s->map_lock);
    g_mutex_lock(&s->meta_lock);
    /* An allocating write to the old last cluster settles first (its entry is read next). */
    hb_qcow2_allocs_wait(s, old & ~s->cluster_mask, old);
    ret = map_new_clusters(s, old, size, mode, first, errp);
    g_mutex_unlock(&s->meta_lock);
    g_rw_lock_writer_unlock(&s->map_lock);
    return ret;
}

/*
 * Step 2: make [@old, @size) read as zeroes.  Like QEMU (which zero-fills
 * the new area whenever the backing file is longer than the old size), the
 * clusters the backing file reaches get the zero flag; past the backing
 * file an unallocated cluster reads as zeroes already, so unlike QEMU those
 * are left unallocated.  The partial cluster at the old end is written
 * with zeroes when its tail may show anything else, unless preallocation
 * gave it a fresh cluster (@first below @old).  Preallocated clusters
 * hide the backing file and read as zeroes already: with falloc and full
 * nothing more is done, with metadata they all get the zero flag but keep
 * their host cluster (the map QEMU leaves).
 */
static int zero_new_area(HbQcow2 *s, uint64_t old, uint64_t size, HbQcow2Prealloc mode,
                         uint64_t first, GError **errp)
{
    uint64_t zero_start = (old + s->cluster_mask) & ~s->cluster_mask;
    int ret;

    if (zero_start > old && first >= old && old_tail_may_be_nonzero(s, old)) {
        ret = hb_qcow2_pwrite_zeroes(s, old, MIN(zero_start, size) - old, false);
        if (ret < 0) {
            hb_error_set_errno(errp, ret, "Failed to zero out the new area");
            return ret;
        }
    }
    if (mode == HB_QCOW2_PREALLOC_FALLOC || mode == HB_QCOW2_PREALLOC_FULL ||
        !s->backing.preadv || s->backing.length <= 0 ||
        (uint64_t)s->backing.length <= old || size <= zero_start) {
        return 0;
    }
    uint64_t end = (size + s->cluster_mask) & ~s->cluster_mask;
    if (mode == HB_QCOW2_PREALLOC_OFF) {
        end = MIN(end, ((uint64_t)s->backing.length + s->cluster_mask) & ~s->cluster_mask);
    }
    /* In slices, so that requests on the old area are not held up for long. */
    uint64_t slice = (uint64_t)s->l2_size << s->hdr.cluster_bits;
    for (uint64_t pos = zero_start; pos < end; pos += slice) {
        ret = hb_qcow2_pwrite_zeroes(s, pos, MIN(slice, end - pos),
                                     mode == HB_QCOW2_PREALLOC_OFF);
        if (ret < 0) {
            hb_error_set_errno(errp, ret, "Failed to zero out new clusters");
            return ret;
        }
    }
    return 0;
}

/**
 * hb_qcow2_truncate() - hb_qcow2_truncate_prealloc() without preallocation.
 * Return: 0, or -errno with @errp set.
 */
int hb_qcow2_truncate(HbQcow2 *s, uint64_t size, GError **errp)
{
    return hb_qcow2_truncate_prealloc(s, size, HB_QCOW2_PREALLOC_OFF, errp);
}

/**
 * hb_qcow2_truncate_prealloc() - block_resize of a qcow2 image: grow its
 * virtual size to @size; the new area reads as zeroes.  Safe while other
 * threads run requests on the image; resizes themselves must not overlap
 * (the caller serializes them).  Error texts are QEMU's.
 * @prealloc: what the new clusters get, as QEMU's qcow2 on growth: off
 *            (nothing), metadata (L2 entries and refcounts, the data a
 *            hole of the file), falloc (and the data reserved), full (and
 *            zeroes written); the last two through @s->io.grow.
 *
 * Return: 0, or -errno with @errp set (-ENOTSUP for shrinking, an image
 * with snapshots or a file that cannot grow so, -EINVAL for a size that
 * is not a multiple of 512).
 */
int hb_qcow2_truncate_prealloc(HbQcow2 *s, uint64_t size, HbQcow2Prealloc prealloc,
                               GError **errp)
{
    uint64_t old = hb_qcow2_virtual_size(s);
    int ret;

    if (size % 512) {
        hb_error_set(errp, "The new size must be a multiple of 512");
        return -EINVAL;
    }
    /*
     * QEMU 7.2 resizes v3 images with snapshots (the snapshots keep their
     * own size); we do not write to such images at all.
     */
    if (s->hdr.nb_snapshots) {
        hb_error_set(errp, s->hdr.version < 3 ? "Can't resize a v2 image which has snapshots"
                                              : "Can't resize an image which has snapshots");
        return -ENOTSUP;
    }
    if (s->read_only) {
        hb_error_set(errp, "Image is read-only");
        return -EACCES;
    }
    if (g_atomic_int_get(&s->corrupt_found)) {
        hb_error_set(errp, "qcow2: Image is corrupt; cannot be opened read/write");
        return -EIO;
    }
    if (size < old) {
        hb_error_set(errp, "qcow2 doesn't support shrinking images yet");
        return -ENOTSUP;
    }
    if (size == old) {
        return 0;
    }
    if ((unsigned)prealloc > HB_QCOW2_PREALLOC_FULL) {
        hb_error_set(errp, "Invalid preallocation mode %u", (unsigned)prealloc);
        return -EINVAL;
    }
    if (prealloc != HB_QCOW2_PREALLOC_OFF && !s->io.grow) {
        hb_error_set(errp, "Preallocation is not supported on this image's file");
        return -ENOTSUP;
    }

    uint64_t entries = l1_entries_for(s, size);
    if (size > QCOW2_MAX_SIZE || entries * 8 > QCOW2_MAX_L1_BYTES) {
        hb_error_set_errno(errp, -EFBIG, "Failed to grow the L1 table");
        return -EFBIG;
    }
    /*
     * v2 has no zero flag: QEMU refuses to grow into an area the backing
     * file would show through (it fails to zero it out), unless falloc or
     * full preallocation hides it behind new clusters.  Refuse before
     * changing anything.
     */
    uint64_t zero_start = (old + s->cluster_mask) & ~s->cluster_mask;
    bool hidden = prealloc == HB_QCOW2_PREALLOC_FALLOC || prealloc == HB_QCOW2_PREALLOC_FULL;
    if (s->hdr.version < 3 && !hidden && s->backing.preadv && s->backing.length > 0 &&
        (uint64_t)s->backing.length > old && size > zero_start) {
        hb_error_set_errno(errp, -ENOTSUP, "Failed to zero out new clusters");
        return -ENOTSUP;
    }

    if (entries > s->l1_size) {
        g_rw_lock_writer_lock(&s->map_lock);
        g_mutex_lock(&s->meta_lock);
        ret = grow_l1(s, entries);
        g_mutex_unlock(&s->meta_lock);
        g_rw_lock_writer_unlock(&s->map_lock);
        if (ret < 0) {
            hb_error_set_errno(errp, ret, "Failed to grow the L1 table");
            return ret;
        }
    }

    /*
     * The caches' caps follow the new size (before zeroing, which may use
     * the new area's L2 tables); after a failure they are merely generous.
     */
    g_mutex_lock(&s->meta_lock);
    hb_qcow2_cache_limits(s, size);
    g_mutex_unlock(&s->meta_lock);

    uint64_t first = size;
    if (prealloc != HB_QCOW2_PREALLOC_OFF) {
        ret = preallocate(s, old, size, prealloc, &first, errp);
        if (ret < 0) {
            return ret;
        }
    }
    ret = zero_new_area(s, old, size, prealloc, first, errp);
    if (ret < 0) {
        return ret;
    }

    /* Zero flags and new L2 tables are durable before the size exposes them. */
    ret = hb_qcow2_flush(s);
    if (ret == 0) {
        HbQcow2Header h = { .size = size };
        g_mutex_lock(&s->meta_lock);
        ret = hb_qcow2_write_header_fields(s, &h, QCOW2_FIELD_SIZE, QCOW2_FIELD_SIZE);
        if (ret == 0) {
            ret = hb_qcow2_io_flush(s);
        }
        if (ret == 0) {
            __atomic_store_n(&s->hdr.size, size, __ATOMIC_RELEASE);
        }
        g_mutex_unlock(&s->meta_lock);
    }
    if (ret < 0) {
        hb_error_set_errno(errp, ret, "Failed to update the image size");
        return ret;
    }
    return 0;
}

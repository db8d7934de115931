/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/qcow2/qcow2-refcount.c — reference counts: lookup, update, cluster allocation, table growth. */

#include "qcow2-int.h"

#include <errno.h>
#include <string.h>

/*
 * Refcounts of 1, 2 and 4 bits are packed LSB-first within a byte; wider
 * ones are big-endian integers.  A refcount block covers 2^rb_bits
 * clusters; reference table entry i points at the block for clusters
 * [i << rb_bits, (i + 1) << rb_bits).
 */

/* hb_qcow2_rc_get() - refcount @i of a (big-endian) refcount block. */
uint64_t hb_qcow2_rc_get(const HbQcow2 *s, const void *block, uint64_t i)
{
    const uint8_t *b = block;

    switch (s->refcount_bits) {
    case 1: case 2: case 4: {
        uint64_t bit = i * s->refcount_bits;
        return (b[bit / 8] >> (bit % 8)) & ((1u << s->refcount_bits) - 1);
    }
    case 8:
        return b[i];
    case 16:
        return ((uint64_t)b[2 * i] << 8) | b[2 * i + 1];
    case 32: {
        uint64_t v = 0;
        for (int k = 0; k < 4; k++) {
            v = (v << 8) | b[4 * i + k];
        }
        return v;
    }
    default: {
        uint64_t v = 0;
        for (int k = 0; k < 8; k++) {
            v = (v << 8) | b[8 * i + k];
        }
        return v;
    }
    }
}

/* hb_qcow2_rc_set() - store refcount @i of a refcount block. */
void hb_qcow2_rc_set(const HbQcow2 *s, void *block, uint64_t i, uint64_t v)
{
    uint8_t *b = block;
    unsigned bytes;

    switch (s->refcount_bits) {
    case 1: case 2: case 4: {
        uint64_t bit = i * s->refcount_bits;
        uint8_t mask = ((1u << s->refcount_bits) - 1) << (bit % 8);
        b[bit / 8] = (b[bit / 8] & ~mask) | ((v << (bit % 8)) & mask);
        return;
    }
    default:
        bytes = s->refcount_bits / 8;
        for (unsigned k = 0; k < bytes; k++) {
            b[bytes * i + k] = v >> (8 * (bytes - 1 - k));
        }
    }
}

static int rb_offset(HbQcow2 *s, uint64_t rt_idx, uint64_t *off)
{
    *off = 0;
    if (rt_idx >= s->reftable_size) {
        return 0;
    }
    *off = s->reftable[rt_idx] & ~511ull;
    if (*off & s->cluster_mask) {
        return -EIO;
    }
    return 0;
}

/**
 * hb_qcow2_get_refcount() - the refcount of host cluster @cluster_index.
 * Return: 0 with *@rc set, or -errno.
 */
int hb_qcow2_get_refcount(HbQcow2 *s, uint64_t cluster_index, uint64_t *rc)
{
    uint64_t off;
    void *block;
    int ret = rb_offset(s, cluster_index >> s->rb_bits, &off);

    *rc = 0;
    if (ret < 0 || off == 0) {
        return ret;
    }
    ret = hb_qcow2_cache_get(s, &s->rb_cache, off, false, &block);
    if (ret < 0) {
        return ret;
    }
    *rc = hb_qcow2_rc_get(s, block, cluster_index & ((1ull << s->rb_bits) - 1));
    return 0;
}

static int write_reftable_entry(HbQcow2 *s, uint64_t rt_idx, uint64_t val)
{
    uint64_t be = GUINT64_TO_BE(val);

    return hb_qcow2_io_pwrite(s, s->hdr.refcount_table_offset + rt_idx * 8, &be, 8);
}

/*
 * A block for reference table entry @rt_idx, placed at the first cluster
 * it covers (free, since nothing there has a refcount yet) so that it
 * counts itself.  It is durable before the table entry names it.
 */
static int create_refcount_block(HbQcow2 *s, uint64_t rt_idx)
{
    uint64_t idx = rt_idx << s->rb_bits;
    uint64_t off = idx << s->hdr.cluster_bits;
    void *block;
    int ret;

    if (off == 0 || hb_qcow2_overlaps_metadata(s, off, s->cluster_size)) {
        return -EIO;
    }
    ret = hb_qcow2_cache_get(s, &s->rb_cache, off, true, &block);
    if (ret < 0) {
        return ret;
    }
    hb_qcow2_rc_set(s, block, 0, 1);
    ret = hb_qcow2_io_pwrite(s, off, block, s->cluster_size);
    if (ret == 0) {
        ret = hb_qcow2_io_flush(s);
    }
    if (ret == 0) {
        ret = write_reftable_entry(s, rt_idx, off);
    }
    if (ret < 0) {
        hb_qcow2_cache_forget(&s->rb_cache, off);
        return ret;
    }
    s->reftable[rt_idx] = off;
    s->reftable_used = MAX(s->reftable_used, rt_idx + 1);
    return 0;
}

/*
 * Grow the reference table to at least @min_entries.  New refcount blocks
 * and the new table go right after the last covered cluster, and count
 * themselves; the header switches to the new table only once it is
 * durable, and the old table is freed only once the header is.
 */
static int grow_reftable(HbQcow2 *s, uint64_t min_entries)
{
    uint64_t old_entries = s->reftable_size;
    uint64_t c0 = old_entries << s->rb_bits;
    uint64_t per_cluster = s->cluster_size / 8;
    uint64_t nb = 0, tc = 0, new_entries = 0;
    int ret;

    for (;;) {
        new_entries = MAX(MAX(min_entries, old_entries * 2), old_entries + nb);
        new_entries = (new_entries + per_cluster - 1) / per_cluster * per_cluster;
        tc = new_entries / per_cluster;
        uint64_t need = (nb + tc + (1ull << s->rb_bits) - 1) >> s->rb_bits;
        if (need <= nb) {
            break;
        }
        nb = need;
    }
    if (new_entries * 8 > QCOW2_MAX_REFTABLE_BYTES ||
        ((c0 + nb + tc) << s->hdr.cluster_bits) > QCOW2_MAX_SIZE) {
        return -EFBIG;
    }

    g_autofree uint8_t *block = g_malloc(s->cluster_size);
    for (uint64_t j = 0; j < nb; j++) {
        memset(block, 0, s->cluster_size);
        uint64_t first = (old_entries + j) << s->rb_bits;
        for (uint64_t k = c0; k < c0 + nb + tc; k++) {
            if ((k >> s->rb_bits) == old_entries + j) {
                hb_qcow2_rc_set(s, block, k - first, 1);
            }
        }
        ret = hb_qcow2_io_pwrite(s, (c0 + j) << s->hdr.cluster_bits, block,
                                 s->cluster_size);
        if (ret < 0) {
            return ret;
        }
    }

    g_autofree uint64_t *table = g_new0(uint64_t, new_entries);
    g_autofree uint64_t *table_be = g_new0(uint64_t, new_entries);
    memcpy(table, s->reftable, old_entries * 8);
    for (uint64_t j = 0; j < nb; j++) {
        table[old_entries + j] = (c0 + j) << s->hdr.cluster_bits;
    }
    for (uint64_t i = 0; i < new_entries; i++) {
        table_be[i] = GUINT64_TO_BE(table[i]);
    }
    uint64_t table_off = (c0 + nb) << s->hdr.cluster_bits;
    ret = hb_qcow2_io_pwrite(s, table_off, table_be, new_entries * 8);
    if (ret == 0) {
        ret = hb_qcow2_io_flush(s);
    }
    if (ret < 0) {
        return ret;
    }

    HbQcow2Header hdr = {
        .refcount_table_offset = table_off, .refcount_table_clusters = (uint32_t)tc,
    };
    ret = hb_qcow2_write_header_fields(s, &hdr, QCOW2_FIELD_REFCOUNT_TABLE_OFFSET,
                                       QCOW2_FIELD_REFCOUNT_TABLE_CLUSTERS);
    if (ret == 0) {
        ret = hb_qcow2_io_flush(s);
    }
    if (ret < 0) {
        return ret;
    }

    uint64_t old_off = s->hdr.refcount_table_offset;
    uint64_t old_bytes = (uint64_t)s->hdr.refcount_table_clusters << s->hdr.cluster_bits;
    g_free(s->reftable);
    s->reftable = g_steal_pointer(&table);
    s->reftable_size = new_entries;
    s->reftable_used = old_entries + nb;
    s->hdr.refcount_table_offset = table_off;
    s->hdr.refcount_table_clusters = tc;
    return hb_qcow2_free_range(s, old_off, old_bytes);
}

static int ensure_covered(HbQcow2 *s, uint64_t cluster_index)
{
    uint64_t rt_idx = cluster_index >> s->rb_bits;
    int ret;

    if (rt_idx >= s->reftable_size) {
        ret = grow_reftable(s, rt_idx + 1);
        if (ret < 0) {
            return ret;
        }
    }
    if ((s->reftable[rt_idx] & ~511ull) == 0) {
        return create_refcount_block(s, rt_idx);
    }
    return 0;
}

/**
 * hb_qcow2_update_refcount() - add @delta to a cluster's refcount.
 * Return: 0, -ERANGE on overflow/underflow, or -errno.
 */
int hb_qcow2_update_refcount(HbQcow2 *s, uint64_t cluster_index, int delta)
{
    uint64_t off;
    void *block;
    int ret = ensure_covered(s, cluster_index);

    if (ret < 0) {
        return ret;
    }
    ret = rb_offset(s, cluster_index >> s->rb_bits, &off);
    if (ret < 0) {
        return ret;
    }
    ret = hb_qcow2_cache_get(s, &s->rb_cache, off, false, &block);
    if (ret < 0) {
        return ret;
    }
    uint64_t i = cluster_index & ((1ull << s->rb_bits) - 1);
    uint64_t rc = hb_qcow2_rc_get(s, block, i);
    if ((delta < 0 && rc < (uint64_t)-delta) ||
        (delta > 0 && s->refcount_max - rc < (uint64_t)delta)) {
        return -ERANGE;
    }
    rc += delta;
    hb_qcow2_rc_set(s, block, i, rc);
    hb_qcow2_cache_mark_dirty(&s->rb_cache, block);
    if (rc == 0) {
        uint64_t host = cluster_index << s->hdr.cluster_bits;
        hb_qcow2_cache_forget(&s->l2_cache, host);
        hb_qcow2_cache_forget(&s->rb_cache, host);
        if (cluster_index < s->free_hint) {
            s->free_hint = cluster_index;
        }
        /* Free now, it may be allocated whole: pack no more streams into it. */
        if ((s->free_byte_offset >> s->hdr.cluster_bits) == cluster_index) {
            s->free_byte_offset = 0;
        }
    }
    return 0;
}

/**
 * hb_qcow2_alloc_clusters() - allocate the first free run of host clusters.
 * @s: image
 * @max: the most clusters wanted (>= 1)
 * @got: out, how many were allocated (1..@max); NULL when @max is 1
 *
 * Return: the host offset of the first, or -errno.
 */
int64_t hb_qcow2_alloc_clusters(HbQcow2 *s, uint64_t max, uint64_t *got)
{
    uint64_t hint_before = s->free_hint;
    uint64_t idx = s->free_hint, run = 0, rc;
    int ret;

    for (;;) {
        if ((idx << s->hdr.cluster_bits) >= QCOW2_MAX_SIZE) {
            return -EFBIG;
        }
        ret = ensure_covered(s, idx);
        if (ret == 0) {
            ret = hb_qcow2_get_refcount(s, idx, &rc);
        }
        if (ret < 0) {
            return ret;
        }
        if (rc == 0) {
            break;
        }
        idx++;
    }
    /*
     * Extend the run while the next cluster is free; creating the refcount
     * block for a new range puts it at that range's first cluster, which
     * ends the run there.
     */
    for (run = 1; run < max; run++) {
        uint64_t next = idx + run;
        if ((next << s->hdr.cluster_bits) >= QCOW2_MAX_SIZE) {
            break;
        }
        ret = ensure_covered(s, next);
        if (ret == 0) {
            ret = hb_qcow2_get_refcount(s, next, &rc);
        }
        if (ret < 0) {
            return ret;
        }
        if (rc != 0) {
            break;
        }
    }
    for (uint64_t i = 0; i < run; i++) {
        ret = hb_qcow2_update_refcount(s, idx + i, 1);
        if (ret < 0) {
            return ret;
        }
    }
    /* Keep a lower hint left by clusters freed meanwhile (table growth). */
    if (s->free_hint >= hint_before) {
        s->free_hint = idx + run;
    }
    if (got) {
        *got = run;
    }
    return (int64_t)(idx << s->hdr.cluster_bits);
}

/*
 * Whether a stream ending past the host cluster at @off (the packing
 * point) may spill over into the next one: only if that one is free.
 */
static int next_cluster_free(HbQcow2 *s, uint64_t off, bool *free)
{
    uint64_t next = (off >> s->hdr.cluster_bits) + 1, rc = 1;
    int ret = 0;

    if ((next << s->hdr.cluster_bits) < QCOW2_MAX_SIZE) {
        /* Covering it first: a new refcount block would go there itself. */
        ret = ensure_covered(s, next);
        if (ret == 0) {
            ret = hb_qcow2_get_refcount(s, next, &rc);
        }
    }
    *free = rc == 0;
    return ret;
}

/**
 * hb_qcow2_alloc_bytes() - room for one compressed stream of @bytes (QEMU's
 * qcow2_alloc_bytes()).
 * @s: image; meta_lock held
 * @bytes: 1 .. cluster size
 *
 * Streams are packed one right after the other, byte granular: a stream
 * goes at s->free_byte_offset, the end of the previous one, and may spill
 * over into the next host cluster if that one is free; else it starts a
 * newly allocated cluster.  Every host cluster a stream touches gets one
 * reference for it, so a cluster holding parts of k streams counts k, and
 * freeing a stream (hb_qcow2_free_range() over the range its L2 entry
 * names, which touches the same clusters) drops exactly its references.
 * A cluster whose refcount is at its maximum takes no more streams.
 *
 * Return: the stream's host byte offset, or -errno.
 */
int64_t hb_qcow2_alloc_bytes(HbQcow2 *s, uint64_t bytes)
{
    uint64_t off = s->free_byte_offset, rc = 0;
    bool spill_ok = true;
    int ret = 0;

    g_assert(bytes > 0 && bytes <= s->cluster_size);
    if (off) {
        ret = hb_qcow2_get_refcount(s, off >> s->hdr.cluster_bits, &rc);
    }
    if (ret == 0 && off && rc && rc < s->refcount_max &&
        (off & s->cluster_mask) + bytes > s->cluster_size) {
        ret = next_cluster_free(s, off, &spill_ok);
    }
    if (ret < 0) {
        return ret;
    }
    if (!off || !rc || rc >= s->refcount_max || !spill_ok) {
        /* A new cluster: allocating it counts this stream's reference. */
        int64_t c = hb_qcow2_alloc_clusters(s, 1, NULL);
        if (c < 0) {
            return c;
        }
        off = (uint64_t)c;
    } else {
        uint64_t first = off >> s->hdr.cluster_bits;
        uint64_t last = (off + bytes - 1) >> s->hdr.cluster_bits;
        for (uint64_t i = first; i <= last; i++) {
            ret = hb_qcow2_update_refcount(s, i, 1);
            if (ret < 0) {
                if (i > first) {
                    hb_qcow2_update_refcount(s, first, -1);
                }
                return ret;
            }
        }
    }
    s->free_byte_offset = ((off + bytes) & s->cluster_mask) ? off + bytes : 0;
    return (int64_t)off;
}

/**
 * hb_qcow2_free_range() - drop one reference from every host cluster
 * touched by [@offset, @offset + @bytes).  The caller has made durable the
 * metadata that no longer references them.
 * Return: 0 or -errno.
 */
int hb_qcow2_free_range(HbQcow2 *s, uint64_t offset, uint64_t bytes)
{
    if (bytes == 0) {
        return 0;
    }
    uint64_t first = offset >> s->hdr.cluster_bits;
    uint64_t last = (offset + bytes - 1) >> s->hdr.cluster_bits;

    for (uint64_t i = first; i <= last; i++) {
        int ret = hb_qcow2_update_refcount(s, i, -1);
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

/* Reference table entries of clusters [@start, @start + @n) with no refcount block. */
static uint64_t uncovered_ranges(const HbQcow2 *s, uint64_t start, uint64_t n)
{
    uint64_t count = 0;

    for (uint64_t r = start >> s->rb_bits; r <= (start + n - 1) >> s->rb_bits; r++) {
        if (r >= s->reftable_size || (s->reftable[r] & ~511ull) == 0) {
            count++;
        }
    }
    return count;
}

/*
 * Where hb_qcow2_alloc_contiguous() can put @k new refcount blocks and then
 * @n clusters: past the end of the file (and of the reference table's own
 * growth), on clusters nobody counts.  Sets *@start and *@k.
 */
static int find_free_area(HbQcow2 *s, uint64_t n, uint64_t *start, uint64_t *k)
{
    int64_t flen = s->io.get_length(s->io.opaque);
    uint64_t c = 1;
    int ret;

    if (flen < 0) {
        return (int)flen;
    }
    for (;;) {
        c = MAX(c, hb_qcow2_size_to_clusters(s, (uint64_t)flen));
        *k = 0;
        for (;;) {
            uint64_t need = uncovered_ranges(s, c, *k + n);
            if (need <= *k) {
                break;
            }
            *k = need;
        }
        if (c + *k + n > (QCOW2_MAX_SIZE >> s->hdr.cluster_bits)) {
            return -EFBIG;
        }
        uint64_t last_rt = (c + *k + n - 1) >> s->rb_bits;
        if (last_rt >= s->reftable_size) {
            /* The new table lands past the covered area: look again after it. */
            ret = grow_reftable(s, last_rt + 1);
            flen = s->io.get_length(s->io.opaque);
            if (ret < 0 || flen < 0) {
                return ret < 0 ? ret : (int)flen;
            }
            continue;
        }
        /* A cluster counted past the end of the file (a leak) is skipped. */
        uint64_t busy = 0;
        for (uint64_t i = c; i < c + *k + n; i++) {
            uint64_t rc;
            ret = hb_qcow2_get_refcount(s, i, &rc);
            if (ret < 0) {
                return ret;
            }
            if (rc) {
                busy = i + 1;
            }
        }
        if (!busy) {
            *start = c;
            return 0;
        }
        c = busy;
    }
}

/**
 * hb_qcow2_alloc_contiguous() - allocate @n clusters in one run, for a
 * table that must be contiguous (a grown L1 table) or the data clusters
 * resize preallocates (one run past the end of the file).
 *
 * hb_qcow2_alloc_clusters() cannot promise a long run: it puts a new
 * refcount block at the first cluster of the range it covers, which cuts
 * any run crossing into that range (with small clusters and wide
 * refcounts a range is only 64 clusters).  So the run goes past the end of
 * the file, and the refcount blocks for the ranges it enters go just in
 * front of it, counting themselves and the run.  The blocks are durable
 * before the reference table names them; increments in ranges that
 * already had a block sit in the refcount cache like any allocation's.
 *
 * Return: the host offset of the first cluster, or -errno.
 */
int64_t hb_qcow2_alloc_contiguous(HbQcow2 *s, uint64_t n)
{
    uint64_t start = 0, k = 0;
    int ret = find_free_area(s, n, &start, &k);

    if (ret < 0) {
        return ret;
    }
    uint64_t end = start + k + n;
    g_autofree uint64_t *ranges = g_new(uint64_t, MAX(k, 1));
    uint64_t j = 0;

    for (uint64_t r = start >> s->rb_bits; r <= (end - 1) >> s->rb_bits; r++) {
        bool covered = r < s->reftable_size && (s->reftable[r] & ~511ull);
        uint64_t lo = MAX(start, r << s->rb_bits);
        uint64_t hi = MIN(end, (r + 1) << s->rb_bits);

        if (!covered) {
            ranges[j++] = r;
            continue;
        }
        for (uint64_t i = lo; i < hi; i++) {
            ret = hb_qcow2_update_refcount(s, i, 1);
            if (ret < 0) {
                return ret;
            }
        }
    }
    g_assert(j == k);

    for (j = 0; j < k; j++) {
        uint64_t r = ranges[j];
        uint64_t off = (start + j) << s->hdr.cluster_bits;
        uint64_t lo = MAX(start, r << s->rb_bits);
        uint64_t hi = MIN(end, (r + 1) << s->rb_bits);
        void *block;

        ret = hb_qcow2_cache_get(s, &s->rb_cache, off, true, &block);
        if (ret < 0) {
            return ret;
        }
        for (uint64_t i = lo; i < hi; i++) {
            hb_qcow2_rc_set(s, block, i - (r << s->rb_bits), 1);
        }
        ret = hb_qcow2_io_pwrite(s, off, block, s->cluster_size);
        if (ret < 0) {
            hb_qcow2_cache_forget(&s->rb_cache, off);
            return ret;
        }
    }
    if (k) {
        /*
         * New blocks may lie in a range that had a block: their own
         * refcounts (in the cache) are durable too before the table names
         * them.
         */
        ret = hb_qcow2_cache_writeback(s, &s->rb_cache);
        if (ret == 0) {
            ret = hb_qcow2_io_flush(s);
        }
        if (ret == 0) {
            s->rb_cache.unflushed = false;
        }
        j = 0;
        while (ret == 0 && j < k) {
            uint64_t off = (start + j) << s->hdr.cluster_bits;
            ret = write_reftable_entry(s, ranges[j], off);
            if (ret == 0) {
                s->reftable[ranges[j]] = off;
                s->reftable_used = MAX(s->reftable_used, ranges[j] + 1);
                j++;
            }
        }
        if (ret < 0) {
            /* Unnamed blocks are just unused clusters past the end. */
            for (; j < k; j++) {
                hb_qcow2_cache_forget(&s->rb_cache, (start + j) << s->hdr.cluster_bits);
            }
            return ret;
        }
    }
    return (int64_t)((start + k) << s->hdr.cluster_bits);
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/qcow2/qcow2-map.c — guest→host mapping: L1/L2 lookup, L2 allocation, metadata overlap checks. */

#include "qcow2-int.h"

#include <errno.h>
#include <string.h>

static uint64_t l1_index(const HbQcow2 *s, uint64_t guest_off)
{
    return guest_off >> (s->hdr.cluster_bits + s->l2_bits);
}

static uint64_t l2_index(const HbQcow2 *s, uint64_t guest_off)
{
    return (guest_off >> s->hdr.cluster_bits) & (s->l2_size - 1);
}

/*
 * The L2 entry for @guest_off; @load: read the table in on a cache miss,
 * else fail with -ENOENT.  A table that is not cluster aligned or lies in
 * other metadata is -EIO.
 */
static int lookup_entry(HbQcow2 *s, uint64_t guest_off, bool load, uint64_t *entry)
{
    uint64_t i = l1_index(s, guest_off);
    uint64_t l2_off = i < s->l1_size ? s->l1[i] & QCOW2_OFFSET_MASK : 0;
    uint64_t *table;
    int ret = 0;

    *entry = 0;
    if (l2_off == 0) {
        return 0;
    }
    if ((l2_off & s->cluster_mask) || hb_qcow2_overlaps_metadata(s, l2_off, 0)) {
        return -EIO;
    }
    if (load) {
        ret = hb_qcow2_cache_get(s, &s->l2_cache, l2_off, false, (void **)&table);
    } else {
        table = hb_qcow2_cache_peek(&s->l2_cache, l2_off);
        ret = table ? 0 : -ENOENT;
    }
    if (ret == 0) {
        *entry = GUINT64_FROM_BE(table[l2_index(s, guest_off)]);
    }
    return ret;
}

/**
 * hb_qcow2_get_l2_entry() - the L2 entry mapping guest cluster @guest_off.
 * Return: 0 with *@entry (host order; 0 when unallocated), or -EIO for a
 * table that is not cluster aligned, or another -errno.
 */
int hb_qcow2_get_l2_entry(HbQcow2 *s, uint64_t guest_off, uint64_t *entry)
{
    return lookup_entry(s, guest_off, true, entry);
}

/**
 * hb_qcow2_peek_l2_entry() - hb_qcow2_get_l2_entry() from the L2 cache
 * alone, with no I/O: for the asynchronous fast path, which must not wait
 * for a table to load.
 * Return: 0 with *@entry, -ENOENT when the table is not cached, or -EIO
 * as hb_qcow2_get_l2_entry().
 */
int hb_qcow2_peek_l2_entry(HbQcow2 *s, uint64_t guest_off, uint64_t *entry)
{
    return lookup_entry(s, guest_off, false, entry);
}

static int write_l1_entry(HbQcow2 *s, uint64_t i, uint64_t val)
{
    uint64_t be = GUINT64_TO_BE(val);
    int ret = hb_qcow2_io_pwrite(s, s->hdr.l1_table_offset + i * 8, &be, 8);

    if (ret == 0) {
        s->l1[i] = val;
    }
    return ret;
}

/*
 * Give L1 entry @i an L2 table we own alone: allocate one (empty, or a copy
 * of a shared one).  The table and the refcounts are durable before the L1
 * entry names the table.
 */
static int l2_make_private(HbQcow2 *s, uint64_t i)
{
    uint64_t old = s->l1[i] & QCOW2_OFFSET_MASK;
    g_autofree void *copy = NULL;
    uint64_t rc = 0;
    void *table;
    int ret;

    if (old) {
        ret = hb_qcow2_get_refcount(s, old >> s->hdr.cluster_bits, &rc);
        if (ret < 0) {
            return ret;
        }
        if (rc == 1) {
            return write_l1_entry(s, i, old | QCOW2_OFLAG_COPIED);
        }
        copy = g_malloc(s->cluster_size);
        ret = hb_qcow2_cache_get(s, &s->l2_cache, old, false, &table);
        if (ret < 0) {
            return ret;
        }
        memcpy(copy, table, s->cluster_size);
    }

    int64_t off = hb_qcow2_alloc_clusters(s, 1, NULL);
    if (off < 0) {
        return (int)off;
    }
    ret = hb_qcow2_cache_writeback(s, &s->rb_cache);
    if (ret < 0) {
        return ret;
    }
    ret = hb_qcow2_cache_get(s, &s->l2_cache, off, true, &table);
    if (ret < 0) {
        return ret;
    }
    if (copy) {
        memcpy(table, copy, s->cluster_size);
    }
    ret = hb_qcow2_io_pwrite(s, off, table, s->cluster_size);
    if (ret == 0) {
        ret = hb_qcow2_io_flush(s);
    }
    if (ret == 0) {
        s->rb_cache.unflushed = false;
        ret = write_l1_entry(s, i, (uint64_t)off | QCOW2_OFLAG_COPIED);
    }
    if (ret < 0) {
        hb_qcow2_cache_forget(&s->l2_cache, off);
        return ret;
    }
    if (old && rc > 1) {
        /* Drop our share of the old table once the L1 update is durable. */
        ret = hb_qcow2_io_flush(s);
        if (ret == 0) {
            ret = hb_qcow2_update_refcount(s, old >> s->hdr.cluster_bits, -1);
        }
    }
    return ret;
}

/**
 * hb_qcow2_own_l2() - give guest cluster @guest_off an L2 table of this
 * image's own (allocated, or copied from one a snapshot shares), as
 * hb_qcow2_set_l2_entry() would: for a caller that allocates the data
 * after the table, as QEMU's compressed writes do.
 * Return: 0 or -errno.
 */
int hb_qcow2_own_l2(HbQcow2 *s, uint64_t guest_off)
{
    uint64_t i = l1_index(s, guest_off);

    if (i >= s->l1_size) {
        return -EIO;
    }
    if (!(s->l1[i] & QCOW2_OFLAG_COPIED) || !(s->l1[i] & QCOW2_OFFSET_MASK)) {
        return l2_make_private(s, i);
    }
    return 0;
}

/**
 * hb_qcow2_set_l2_entry() - map guest cluster @guest_off to @entry
 * (in the L2 cache; durable after hb_qcow2_flush_metadata()).
 * Return: 0 or -errno.
 */
int hb_qcow2_set_l2_entry(HbQcow2 *s, uint64_t guest_off, uint64_t entry)
{
    uint64_t i = l1_index(s, guest_off);
    uint64_t *table;
    int ret;

    if (i >= s->l1_size) {
        return -EIO;
    }
    if (entry == 0 && !(s->l1[i] & QCOW2_OFFSET_MASK)) {
        return 0;  /* already unallocated */
    }
    ret = hb_qcow2_own_l2(s, guest_off);
    if (ret < 0) {
        return ret;
    }
    uint64_t l2_off = s->l1[i] & QCOW2_OFFSET_MASK;
    if (l2_off & s->cluster_mask) {
        return -EIO;
    }
    ret = hb_qcow2_cache_get(s, &s->l2_cache, l2_off, false, (void **)&table);
    if (ret < 0) {
        return ret;
    }
    table[l2_index(s, guest_off)] = GUINT64_TO_BE(entry);
    hb_qcow2_cache_mark_dirty(&s->l2_cache, table);
    return 0;
}

/**
 * hb_qcow2_compressed_loc() - where a compressed cluster's data lies.
 * @entry: an L2 entry with QCOW2_OFLAG_COMPRESSED
 * @off: host offset of the compressed stream
 * @len: bytes to read (may extend past the stream's true end)
 */
void hb_qcow2_compressed_loc(const HbQcow2 *s, uint64_t entry,
                             uint64_t *off, uint64_t *len)
{
    unsigned x = 62 - (s->hdr.cluster_bits - 8);
    uint64_t nsec = ((entry >> x) & ((1ull << (s->hdr.cluster_bits - 8)) - 1)) + 1;

    *off = entry & ((1ull << x) - 1);
    *len = nsec * 512 - (*off & 511);
}

/**
 * hb_qcow2_compressed_entry() - the L2 entry of a compressed cluster whose
 * stream lies at [@off, @off + @len) in the image file: the inverse of
 * hb_qcow2_compressed_loc().
 * @s: image (its cluster_bits set the layout)
 * @off: host byte offset of the stream (byte granular)
 * @len: the stream's length, 1 to cluster size - 1
 * @entry: out: QCOW2_OFLAG_COMPRESSED, the offset in bits 0..x-1 and, in
 *         bits x..61, how many 512-byte sectors the stream takes beyond
 *         the one holding @off (x = 62 - (cluster_bits - 8), qcow2.txt's
 *         "Compressed Clusters Descriptor"); OFLAG_COPIED stays clear
 *
 * Return: 0, or -EFBIG when @off does not fit in x bits.
 */
int hb_qcow2_compressed_entry(const HbQcow2 *s, uint64_t off, uint64_t len,
                              uint64_t *entry)
{
    unsigned x = 62 - (s->hdr.cluster_bits - 8);
    uint64_t more = ((off + len - 1) >> 9) - (off >> 9);

    g_assert(len > 0 && len < s->cluster_size);
    if (off >> x) {
        return -EFBIG;
    }
    *entry = QCOW2_OFLAG_COMPRESSED | (more << x) | off;
    return 0;
}

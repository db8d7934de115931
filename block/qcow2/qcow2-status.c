/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/qcow2/qcow2-status.c — how guest bytes are stored: data, zero, compressed, or left to the backing file. */

#include "qcow2-int.h"

#include <errno.h>

/* The kind of cluster @entry maps, as the read path (qcow2-io.c) reads it. */
static HbQcow2Kind entry_kind(const HbQcow2 *s, uint64_t entry)
{
    if (entry & QCOW2_OFLAG_COMPRESSED) {
        return QCOW2_KIND_COMPRESSED;
    }
    if ((entry & QCOW2_OFLAG_ZERO) && s->hdr.version >= 3) {
        return QCOW2_KIND_ZERO;
    }
    return (entry & QCOW2_OFFSET_MASK) ? QCOW2_KIND_DATA : QCOW2_KIND_UNALLOCATED;
}

/**
 * hb_qcow2_block_status() - how the guest bytes from @offset are stored.
 * @offset: below the virtual size
 * @bytes: how far to look; the answer stops at the end of an L2 table
 * @pnum: set to the bytes the answer holds for (>= 1)
 * @host: set to where those bytes lie in the image file (data, and zero
 *        clusters that keep their allocation), else 0
 *
 * A run covers clusters of one kind and, with a host offset, contiguous
 * in the file, so that a caller can describe it as one extent.
 * Return: the HbQcow2Kind of the run, or -errno (-EIO: a table or data
 * cluster that is not cluster aligned).
 */
int hb_qcow2_block_status(HbQcow2 *s, uint64_t offset, uint64_t bytes,
                          uint64_t *pnum, uint64_t *host)
{
    uint64_t in_cluster = offset & s->cluster_mask;
    uint64_t table_bytes = (uint64_t)s->l2_size << s->hdr.cluster_bits;
    uint64_t table_end = (offset / table_bytes + 1) * table_bytes;
    uint64_t entry, next;
    int ret;

    bytes = MIN(bytes, table_end - offset);
    g_rw_lock_reader_lock(&s->map_lock);
    g_mutex_lock(&s->meta_lock);
    ret = hb_qcow2_get_l2_entry(s, offset, &entry);
    HbQcow2Kind kind = entry_kind(s, entry);
    uint64_t first = entry & QCOW2_OFFSET_MASK;
    if (ret == 0 && kind != QCOW2_KIND_COMPRESSED && (first & s->cluster_mask)) {
        ret = -EIO;
    }
    if (kind == QCOW2_KIND_COMPRESSED) {
        first = 0;  /* the stream's offset is no place guest bytes lie at */
    }
    uint64_t n = MIN(bytes, s->cluster_size - in_cluster);
    /* A failure past the first cluster only ends the run: asked again, it is reported. */
    while (ret == 0 && n < bytes) {
        uint64_t want = first ? first + in_cluster + n : 0;
        if (hb_qcow2_get_l2_entry(s, offset + n, &next) < 0 ||
            entry_kind(s, next) != kind ||
            (kind != QCOW2_KIND_COMPRESSED && (next & QCOW2_OFFSET_MASK) != want)) {
            break;
        }
        n += MIN(bytes - n, s->cluster_size);
    }
    g_mutex_unlock(&s->meta_lock);
    g_rw_lock_reader_unlock(&s->map_lock);
    if (ret < 0) {
        return ret;
    }
    *pnum = n;
    *host = first ? first + in_cluster : 0;
    return (int)kind;
}

/**
 * hb_qcow2_metadata_preallocated() - whether the image looks made with
 * preallocation=metadata: clearly more host clusters in use (a refcount)
 * than the file system holds blocks for (@allocated bytes).  Then data
 * clusters may be holes in the file, and block status asks the file.
 * This is QEMU's test, so that both describe such images alike: in use
 * at least 10/9 of the clusters allocated (and two more).
 * Return: 1 yes, 0 no, or -errno.
 */
int hb_qcow2_metadata_preallocated(HbQcow2 *s, int64_t allocated)
{
    int64_t len = s->io.get_length(s->io.opaque);
    if (len < 0) {
        return (int)len;
    }
    uint64_t real = (uint64_t)MAX(allocated, 0) >> s->hdr.cluster_bits;
    uint64_t threshold = MAX(real * 10 / 9, real + 2);
    uint64_t end = hb_qcow2_size_to_clusters(s, (uint64_t)len);
    uint64_t used = 0;
    int ret = 0;

    g_mutex_lock(&s->meta_lock);
    for (uint64_t i = 0; i < end && used < threshold && ret == 0; i++) {
        uint64_t rc;
        ret = hb_qcow2_get_refcount(s, i, &rc);
        used += rc != 0;
    }
    g_mutex_unlock(&s->meta_lock);
    return ret < 0 ? ret : used >= threshold;
}

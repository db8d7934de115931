/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/qcow2/qcow2-compress-write.c — write whole guest clusters compressed (hotblock-img convert -c). */

#include "qcow2-int.h"

#include <errno.h>
#include <string.h>

/*
 * Theory of operation
 *
 * A compressed write fills guest clusters that hold no data yet; it never
 * overwrites one (QEMU fails such a write the same way, -EIO).  Each
 * cluster is deflated with no lock held, so that parallel writers
 * (convert -m) compress in parallel.  A stream that saves nothing (it does
 * not fit in a cluster less one byte) is written as an ordinary cluster
 * instead, through the normal write path, as QEMU does.
 *
 * Otherwise, with map_lock exclusive and meta_lock held: the guest cluster
 * is checked to be still free, its L2 table made the image's own, room for
 * the stream taken (hb_qcow2_alloc_bytes(): refcount increments, in the
 * refcount cache), the stream written there, and only then the L2 entry
 * set, in the L2 cache.  A dirty L2 table is written back only after the
 * refcount cache has been written and the file flushed, which flushes the
 * stream too: on disk an entry never names a stream whose bytes or
 * refcounts are not there, and a crash leaks at worst (qcow2-int.h).
 *
 * The stream is written with the locks held, unlike an ordinary
 * allocating write's data: it is less than a cluster, and compressed
 * writes come from hotblock-img convert alone, where no guest waits for
 * the locks meanwhile.
 */

/* Whether @e leaves its guest cluster free for a compressed write: no host data. */
static bool entry_is_free(uint64_t e)
{
    return !(e & QCOW2_OFLAG_COMPRESSED) && !(e & QCOW2_OFFSET_MASK);
}

/* 0 if guest cluster @guest holds no data, -EIO if it does, or -errno. */
static int check_free(HbQcow2 *s, uint64_t guest)
{
    uint64_t entry;
    int ret;

    g_mutex_lock(&s->meta_lock);
    ret = hb_qcow2_get_l2_entry(s, guest, &entry);
    g_mutex_unlock(&s->meta_lock);
    return ret < 0 ? ret : entry_is_free(entry) ? 0 : -EIO;
}

/* Store @len bytes of deflate @stream as guest cluster @guest. */
static int write_stream(HbQcow2 *s, uint64_t guest, const void *stream, uint64_t len)
{
    uint64_t entry = 0;
    int64_t host = -1;
    int ret;

    g_rw_lock_writer_lock(&s->map_lock);
    g_mutex_lock(&s->meta_lock);
    /* An ordinary allocating write may be writing this cluster's data: let it end. */
    hb_qcow2_allocs_wait(s, guest, guest + s->cluster_size);
    ret = hb_qcow2_get_l2_entry(s, guest, &entry);
    if (ret == 0 && !entry_is_free(entry)) {
        ret = -EIO;
    }
    if (ret == 0) {
        /* The table first, as QEMU: the streams that follow pack on past it. */
        ret = hb_qcow2_own_l2(s, guest);
    }
    if (ret == 0) {
        host = hb_qcow2_alloc_bytes(s, len);
        ret = host < 0 ? (int)host : 0;
    }
    if (ret == 0) {
        ret = hb_qcow2_compressed_entry(s, (uint64_t)host, len, &entry);
    }
    if (ret == 0) {
        ret = hb_qcow2_io_pwrite(s, (uint64_t)host, stream, len);
    }
    if (ret == 0) {
        ret = hb_qcow2_set_l2_entry(s, guest, entry);
    }
    if (ret < 0 && host >= 0) {
        /* Nothing names the stream: give its references back rather than leak them. */
        hb_qcow2_free_range(s, (uint64_t)host, len);
    }
    g_mutex_unlock(&s->meta_lock);
    g_rw_lock_writer_unlock(&s->map_lock);
    return ret;
}

/**
 * hb_qcow2_pwrite_compressed() - write guest clusters compressed (QEMU's
 * compressed writes, as qemu-img convert -c makes them).
 * @s: image opened for writing
 * @offset: cluster aligned
 * @bytes: whole clusters, but for the image's last cluster, which may end
 *         at the virtual size: its tail is compressed as zeroes
 * @buf: the data
 *
 * Every cluster must be free (unallocated, or zero-flagged with no host
 * cluster): compressed data is never written over data.  Durable after
 * hb_qcow2_flush(), like any write.
 *
 * Return: 0; -EINVAL for a request not made of whole clusters; -EIO for a
 * cluster that holds data (those before it are written); -EROFS; -errno.
 */
int hb_qcow2_pwrite_compressed(HbQcow2 *s, uint64_t offset, uint64_t bytes,
                               const void *buf)
{
    uint64_t cs = s->cluster_size;
    int ret = 0;

    if (s->read_only) {
        return -EROFS;
    }
    if (g_atomic_int_get(&s->corrupt_found)) {
        return -EIO;
    }
    if ((offset & s->cluster_mask) || offset + bytes > hb_qcow2_virtual_size(s) ||
        ((bytes & s->cluster_mask) && offset + bytes != hb_qcow2_virtual_size(s))) {
        return -EINVAL;
    }
    g_autofree uint8_t *cluster = g_try_malloc(cs);
    g_autofree uint8_t *stream = g_try_malloc(cs);
    if (!cluster || !stream) {
        return -ENOMEM;
    }
    for (uint64_t pos = 0; pos < bytes && ret == 0; pos += cs) {
        const uint8_t *data = (const uint8_t *)buf + pos;
        uint64_t n = MIN(cs, bytes - pos);
        int64_t len;

        ret = check_free(s, offset + pos);
        if (ret < 0) {
            break;
        }
        memcpy(cluster, data, n);
        memset(cluster + n, 0, cs - n);
        len = hb_qcow2_deflate(cluster, cs, stream, cs - 1);
        if (len == -ENOSPC) {
            struct iovec v = { .iov_base = (void *)data, .iov_len = n };
            ret = hb_qcow2_pwritev(s, offset + pos, n, &v, 1, false);
        } else if (len < 0) {
            ret = (int)len;
        } else {
            ret = write_stream(s, offset + pos, stream, (uint64_t)len);
        }
    }
    return ret;
}

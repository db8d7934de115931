/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/qcow2/qcow2-compress.c — the qcow2 zlib codec: inflate and deflate one cluster (raw deflate). */

#include "qcow2-int.h"

#include <errno.h>
#include <string.h>
#include <zlib.h>

/**
 * hb_qcow2_inflate() - decompress a cluster.
 * @src: the compressed stream (may be followed by padding)
 * @src_len: bytes in @src
 * @dst: output, exactly @dst_len (one cluster) bytes
 * @dst_len: cluster size
 *
 * qcow2 stores raw deflate streams (no zlib header, 4 KiB window).  The
 * stream must fill the whole cluster.
 *
 * Return: 0 or -EIO.
 */
int hb_qcow2_inflate(const void *src, size_t src_len, void *dst, size_t dst_len)
{
    z_stream z;
    int ret;

    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, -12) != Z_OK) {
        return -ENOMEM;
    }
    z.next_in = (Bytef *)src;
    z.avail_in = src_len;
    z.next_out = dst;
    z.avail_out = dst_len;
    ret = inflate(&z, Z_FINISH);
    /* Z_BUF_ERROR with a full output: the padding after the stream end. */
    ret = ((ret == Z_STREAM_END || ret == Z_BUF_ERROR) && z.avail_out == 0) ? 0 : -EIO;
    inflateEnd(&z);
    return ret;
}

/**
 * hb_qcow2_deflate() - compress a cluster as qcow2 stores it.
 * @src: one cluster of guest data
 * @src_len: cluster size
 * @dst: output buffer
 * @dst_len: the most the stream may take; the caller passes less than a
 *           cluster, since a stream that does not save space is worth
 *           nothing (the cluster is written uncompressed instead)
 *
 * Raw deflate (no zlib header) with a 4 KiB window, as hb_qcow2_inflate()
 * and QEMU read it; default level, as QEMU writes it.
 *
 * Return: the stream's length, -ENOSPC if it does not fit in @dst_len,
 * or -ENOMEM.
 */
int64_t hb_qcow2_deflate(const void *src, size_t src_len, void *dst, size_t dst_len)
{
    z_stream z;
    int64_t ret;

    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
        return -ENOMEM;
    }
    z.next_in = (Bytef *)src;
    z.avail_in = src_len;
    z.next_out = dst;
    z.avail_out = dst_len;
    /* Anything but the stream's end means the output buffer ran out. */
    ret = deflate(&z, Z_FINISH) == Z_STREAM_END ? (int64_t)(dst_len - z.avail_out) : -ENOSPC;
    deflateEnd(&z);
    return ret;
}

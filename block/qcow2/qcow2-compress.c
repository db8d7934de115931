/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/qcow2/qcow2-compress.c — inflate one compressed qcow2 cluster (raw deflate, zlib). */

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

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/block-status.c — what a range of a node reads as (data, zeroes, backing) and where it lies. */
#include "block/node-int.h"

#include <errno.h>

/*
 * Theory of operation
 *
 * A driver answers for its own layer only (HbDriver.block_status): qcow2
 * from its L2 entries, file from SEEK_DATA/SEEK_HOLE; raw and filters
 * forward to their child.  This file adds what is the same for every
 * driver, with QEMU's rules, so that qemu-img map's answers follow:
 *   - a driver without the callback is all data: at its own offset for a
 *     protocol, at no known offset for a format (luks: the bytes are
 *     ciphertext, and nothing above may read them as guest data);
 *   - data or zeroes are ALLOCATED in the layer that answered;
 *   - a format that can have a backing file (it names one: backing_filename)
 *     and leaves bytes to one that is absent, or shorter, reads them as ZERO;
 *   - the chain walk goes down "backing" children until a layer has DATA or
 *     ZERO, counting the depth, and passes through filters.
 * Nothing here reads data; answers may be cut short anywhere (a caller
 * asks again from where an answer ends), so drivers keep theirs simple.
 */

static int driver_status(HbNode *node, uint64_t offset, uint64_t bytes,
                         uint64_t *pnum, uint64_t *map, HbNode **file)
{
    if (!node->drv->block_status) {
        *pnum = bytes;
        if (node->drv->is_format) {
            return HB_BS_DATA;
        }
        *map = offset;
        *file = node;
        return HB_BS_DATA | HB_BS_OFFSET_VALID;
    }
    *pnum = 0;
    int ret = node->drv->block_status(node, offset, bytes, pnum, map, file);
    if (ret >= 0 && (*pnum == 0 || *pnum > bytes)) {
        return -EIO;    /* a driver bug; never loop on it */
    }
    return ret;
}

/*
 * HB_BS_RECURSE: whether the *@pnum bytes at @map in @file are a hole.
 * ZERO when they are (or lie past its end, or the hole runs to its end:
 * all of them), with *@pnum cut to the hole or to the data before one.
 */
static int hole_below(HbNode *file, uint64_t map, uint64_t *pnum)
{
    int64_t flen = hb_node_get_length(file);
    uint64_t n, m2;
    HbNode *f2;

    if (flen < 0) {
        return (int)flen;
    }
    if (map >= (uint64_t)flen) {
        return HB_BS_ZERO;
    }
    int r = hb_node_block_status(file, map, *pnum, &n, &m2, &f2);
    if (r < 0) {
        return r;
    }
    if ((r & HB_BS_ZERO) && map + n >= (uint64_t)flen) {
        return HB_BS_ZERO;
    }
    *pnum = n;
    return r & HB_BS_ZERO;
}

int hb_node_block_status(HbNode *node, uint64_t offset, uint64_t bytes,
                         uint64_t *pnum, uint64_t *map, HbNode **file)
{
    if (g_atomic_int_get(&node->inactive)) {
        return -EPERM;
    }
    int64_t len = hb_node_get_length(node);
    if (len < 0) {
        return (int)len;
    }
    if (bytes == 0 || offset >= (uint64_t)len) {
        return -EINVAL;
    }
    bytes = MIN(bytes, (uint64_t)len - offset);

    uint64_t m = 0;
    HbNode *f = NULL;
    int ret = driver_status(node, offset, bytes, pnum, &m, &f);
    if (ret < 0) {
        return ret;
    }
    if (ret & HB_BS_FORWARD) {
        if (!f) {
            return -EIO;
        }
        return hb_node_block_status(f, m, *pnum, pnum, map, file);
    }
    if ((ret & HB_BS_RECURSE) && (ret & HB_BS_OFFSET_VALID) && !(ret & HB_BS_ZERO)) {
        int r = hole_below(f, m, pnum);
        if (r < 0) {
            return r;
        }
        ret |= r;
    }
    ret &= ~HB_BS_RECURSE;
    if (ret & (HB_BS_DATA | HB_BS_ZERO)) {
        ret |= HB_BS_ALLOCATED;
    } else if (node->drv->backing_filename) {
        HbChild *b = hb_node_child(node, "backing");
        int64_t blen = b ? hb_node_get_length(b->node) : 0;
        if (blen < 0) {
            return (int)blen;
        }
        if (offset >= (uint64_t)blen) {
            ret |= HB_BS_ZERO;
        }
    }
    if (ret & HB_BS_OFFSET_VALID) {
        *map = m;
        *file = f;
    }
    return ret;
}

/* @node, or the first node under it that is not a filter. */
static HbNode *skip_filters(HbNode *node)
{
    while (node->drv->is_filter) {
        HbChild *c = hb_node_child(node, "file");
        if (!c) {
            break;
        }
        node = c->node;
    }
    return node;
}

int hb_node_block_status_chain(HbNode *node, uint64_t offset, uint64_t bytes,
                               HbBlockExtent *ext)
{
    *ext = (HbBlockExtent){ 0 };
    for (;;) {
        node = skip_filters(node);
        int ret = hb_node_block_status(node, offset, bytes, &ext->bytes, &ext->map,
                                       &ext->file);
        if (ret < 0) {
            return ret;
        }
        bytes = ext->bytes;
        ext->flags = (unsigned)ret;
        if (ret & (HB_BS_DATA | HB_BS_ZERO)) {
            return 0;
        }
        HbChild *b = hb_node_child(node, "backing");
        if (!b) {
            ext->flags = 0;
            return 0;
        }
        node = b->node;
        ext->depth++;
    }
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/qcow2/qcow2-repair.c — rebuilding the refcount structure from counted references (check -r all). */

#include "qcow2-int.h"

#include <errno.h>
#include <string.h>

/*
 * Theory of operation
 *
 * When a used cluster has refcount 0 (or no refcount block covers it),
 * fixing that one refcount in place is not safe: writing it may need a
 * new refcount block, and the allocator would place one on a free-looking
 * cluster that is in fact in use.  So the whole structure is written anew
 * from the references hb_qcow2_check() counted: new refcount blocks and a
 * new reference table past the end of the file, where nothing lives,
 * counting themselves.  Until the header names them the old structure is
 * still the image's, so a crash at any point leaves either the old image
 * or the new one.  The old tables are then merely unused clusters.
 */

/* How many refcount blocks and table clusters cover @start clusters and themselves. */
static void layout(const HbQcow2 *s, uint64_t start, uint64_t *nb, uint64_t *nt)
{
    uint64_t per_block = 1ull << s->rb_bits;

    *nb = 0;
    *nt = 0;
    for (;;) {
        uint64_t total = start + *nb + *nt;
        uint64_t b = (total + per_block - 1) / per_block;
        uint64_t t = MAX((b * 8 + s->cluster_size - 1) / s->cluster_size, 1);
        if (b == *nb && t == *nt) {
            return;
        }
        *nb = b;
        *nt = t;
    }
}

/* @refs without the old structure's own references: what the new one must count. */
static uint64_t *counts_without_old(const HbQcow2 *s, const uint32_t *refs,
                                    uint64_t nb_clusters, uint64_t total)
{
    uint64_t *counts = g_try_new0(uint64_t, total);

    if (!counts) {
        return NULL;
    }
    for (uint64_t i = 0; i < nb_clusters; i++) {
        counts[i] = refs[i];
    }
    uint64_t rt = s->hdr.refcount_table_offset >> s->hdr.cluster_bits;
    for (uint64_t i = rt; i < rt + s->hdr.refcount_table_clusters && i < nb_clusters; i++) {
        counts[i] -= counts[i] > 0;
    }
    for (uint32_t i = 0; i < s->reftable_size; i++) {
        uint64_t rb = s->reftable[i] & ~511ull;
        uint64_t c = rb >> s->hdr.cluster_bits;
        if (rb && !(rb & s->cluster_mask) && c < nb_clusters) {
            counts[c] -= counts[c] > 0;
        }
    }
    return counts;
}

/**
 * hb_qcow2_rebuild_refcounts() - replace the refcount structure of @s by
 * one holding @refs (references counted by the check, the old structure's
 * own included: they are left out).
 * @nb_clusters: clusters in the file, and entries in @refs
 *
 * @s must be reopened afterwards: its reference table and refcount cache
 * are the old ones.
 * Return: 0, or -errno (-ERANGE: a count above the refcount width).
 */
int hb_qcow2_rebuild_refcounts(HbQcow2 *s, const uint32_t *refs, uint64_t nb_clusters)
{
    uint64_t per_block = 1ull << s->rb_bits;
    uint64_t nb, nt;

    layout(s, nb_clusters, &nb, &nt);
    uint64_t total = nb_clusters + nb + nt;
    g_autofree uint64_t *counts = counts_without_old(s, refs, nb_clusters, total);
    g_autofree uint8_t *block = g_try_malloc(s->cluster_size);
    g_autofree uint64_t *table = g_try_new0(uint64_t, nt * s->cluster_size / 8);
    if (!counts || !block || !table) {
        return -ENOMEM;
    }
    for (uint64_t i = nb_clusters; i < total; i++) {
        counts[i] = 1;
    }
    for (uint64_t b = 0; b < nb; b++) {
        uint64_t off = (nb_clusters + b) << s->hdr.cluster_bits;
        memset(block, 0, s->cluster_size);
        for (uint64_t k = 0; k < per_block && b * per_block + k < total; k++) {
            uint64_t v = counts[b * per_block + k];
            if (v > s->refcount_max) {
                return -ERANGE;
            }
            hb_qcow2_rc_set(s, block, k, v);
        }
        int ret = hb_qcow2_io_pwrite(s, off, block, s->cluster_size);
        if (ret < 0) {
            return ret;
        }
        table[b] = GUINT64_TO_BE(off);
    }
    HbQcow2Header h = s->hdr;
    h.refcount_table_offset = (nb_clusters + nb) << s->hdr.cluster_bits;
    h.refcount_table_clusters = (uint32_t)nt;
    int ret = hb_qcow2_io_pwrite(s, h.refcount_table_offset, table, nt * s->cluster_size);
    if (ret == 0) {
        ret = hb_qcow2_io_flush(s);
    }
    /* One write of 12 adjacent bytes switches to the new structure. */
    if (ret == 0) {
        ret = hb_qcow2_write_header_fields(s, &h, QCOW2_FIELD_REFCOUNT_TABLE_OFFSET,
                                           QCOW2_FIELD_REFCOUNT_TABLE_CLUSTERS);
    }
    if (ret == 0) {
        ret = hb_qcow2_io_flush(s);
    }
    return ret;
}

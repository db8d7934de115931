/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/qcow2/qcow2-layout.c — where the image's metadata lies in the host file: overlap checks. */

/*
 * Pure functions of the header, the L1 table and the refcount table as
 * loaded: no I/O, no locks taken.  The map, refcount and io layers all
 * guard their writes with them, so they sit at the bottom, beside the host
 * I/O helpers, and call nothing above.
 */
#include "qcow2-int.h"

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + MAX(alen, 1);
}

/**
 * hb_qcow2_overlaps_metadata() - whether host range [@off, @off + @len)
 * (@len 0: the one cluster at @off) touches the header, the L1 table, the
 * reference table, a refcount block or an L2 table.  Guards every data
 * write against an image whose tables point into its own metadata.
 */
bool hb_qcow2_overlaps_metadata(HbQcow2 *s, uint64_t off, uint64_t len)
{
    uint64_t cs = s->cluster_size;

    if (len == 0) {
        len = cs;
    }
    if (off < cs ||
        ranges_overlap(off, len, s->hdr.l1_table_offset, (uint64_t)s->l1_size * 8) ||
        ranges_overlap(off, len, s->hdr.refcount_table_offset,
                       (uint64_t)s->hdr.refcount_table_clusters * cs)) {
        return true;
    }
    for (uint32_t i = 0; i < s->reftable_used; i++) {
        uint64_t rb = s->reftable[i] & ~511ull;
        if (rb && ranges_overlap(off, len, rb, cs)) {
            return true;
        }
    }
    return false;
}

/* hb_qcow2_overlaps_l2() - whether [@off, @off + @len) touches an active L2 table. */
bool hb_qcow2_overlaps_l2(HbQcow2 *s, uint64_t off, uint64_t len)
{
    for (uint32_t i = 0; i < s->l1_size; i++) {
        uint64_t l2 = s->l1[i] & QCOW2_OFFSET_MASK;
        if (l2 && ranges_overlap(off, len, l2, s->cluster_size)) {
            return true;
        }
    }
    return false;
}

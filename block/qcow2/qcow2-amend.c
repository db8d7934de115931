/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/qcow2/qcow2-amend.c — qemu-img amend's qcow2 options: compatibility level, lazy refcounts, refcount width. */

#include "qcow2-int.h"
#include "util/error.h"

#include <errno.h>

/*
 * Every change here is one rewrite of the header cluster (or of one field
 * in it), so a crash leaves the old header or the new one.  A downgrade
 * to version 2 first turns zero clusters into what version 2 can say
 * (as QEMU does); it is refused for snapshots (whose tables QEMU rewrites
 * too), incompatible or autoclear features.  The refcount width is not
 * changed (QEMU rewrites every refcount block for it).
 */

/*
 * Version 2 has no zero clusters: make every one of the active table read
 * as zeroes another way, as QEMU's downgrade does.  Without a backing
 * file an unallocated one simply becomes unallocated; any other is
 * written out as zeroes through the ordinary write path (which reuses a
 * preallocated cluster or allocates one).  No lock held on entry.
 */
static int expand_zero_clusters(HbQcow2 *s, GError **errp)
{
    uint64_t size = hb_qcow2_virtual_size(s);
    g_autofree uint8_t *zeroes = g_malloc0(s->cluster_size);
    uint64_t span = (uint64_t)s->cluster_size << s->l2_bits;
    int ret = 0;

    for (uint64_t off = 0; off < size && ret == 0; off += s->cluster_size) {
        uint64_t entry;
        g_mutex_lock(&s->meta_lock);
        if (!(s->l1[off / span] & QCOW2_OFFSET_MASK)) {
            g_mutex_unlock(&s->meta_lock);
            off = (off / span + 1) * span - s->cluster_size;   /* no L2 table here */
            continue;
        }
        ret = hb_qcow2_get_l2_entry(s, off, &entry);
        g_mutex_unlock(&s->meta_lock);
        if (ret < 0 || (entry & QCOW2_OFLAG_COMPRESSED) || !(entry & QCOW2_OFLAG_ZERO)) {
            continue;
        }
        if (!(entry & QCOW2_OFFSET_MASK) && !s->backing_file) {
            g_rw_lock_writer_lock(&s->map_lock);
            g_mutex_lock(&s->meta_lock);
            ret = hb_qcow2_set_l2_entry(s, off, 0);
            g_mutex_unlock(&s->meta_lock);
            g_rw_lock_writer_unlock(&s->map_lock);
            continue;
        }
        struct iovec iov = { .iov_base = zeroes, .iov_len = MIN(s->cluster_size, size - off) };
        ret = hb_qcow2_pwritev(s, off, iov.iov_len, &iov, 1, false);
    }
    if (ret < 0) {
        hb_error_set_errno(errp, -ret, "Failed to turn zero into data clusters");
    }
    return ret;
}

/* Whether @s can be written as version 2; errp says why not.  Locks held. */
static bool can_downgrade(HbQcow2 *s, GError **errp)
{
    if (s->hdr.refcount_order != 4) {
        hb_error_set(errp, "compat=0.10 requires refcount_bits=16");
        return false;
    }
    if (s->hdr.incompatible_features & ~(uint64_t)QCOW2_INCOMPAT_DIRTY) {
        hb_error_set(errp, "Cannot downgrade an image with incompatible features %#" G_GINT64_MODIFIER
                     "x set", s->hdr.incompatible_features & ~(uint64_t)QCOW2_INCOMPAT_DIRTY);
        return false;
    }
    if (s->hdr.autoclear_features) {
        hb_error_set(errp, "Cannot downgrade an image with autoclear features (bitmaps) set");
        return false;
    }
    if (s->hdr.nb_snapshots) {
        /* QEMU writes out the snapshots' zero clusters too; hotblock does not. */
        hb_error_set(errp, "Internal snapshots prevent downgrade of image");
        return false;
    }
    return true;
}

/**
 * hb_qcow2_amend() - change @s's compatibility level, lazy refcounts bit
 * or refcount width as qemu-img amend -o compat=,lazy_refcounts=,
 * refcount_bits= does.
 * @s: an image open for writing, with no request running
 * @o: what to change
 * @errp: qemu-img's texts where it has them
 * Return: 0, or -errno with @errp set; then the image is as it was.
 */
int hb_qcow2_amend(HbQcow2 *s, const HbQcow2AmendOpts *o, GError **errp)
{
    unsigned version = o->version ? (unsigned)o->version : s->hdr.version;
    bool lazy = o->lazy_refcounts >= 0 ? o->lazy_refcounts
                                       : !!(s->hdr.compatible_features &
                                            QCOW2_COMPAT_LAZY_REFCOUNTS);
    HbQcow2Header h = s->hdr;
    int ret = 0;

    if (o->lazy_refcounts < 0 && version < 3) {
        lazy = false;       /* version 2 has no such bit: it goes, as with QEMU */
    }
    if (lazy && version < 3) {
        hb_error_set(errp, "Lazy refcounts only supported with compatibility level 1.1 "
                     "and above (use compat=1.1 or greater)");
        return -EINVAL;
    }
    if (o->refcount_bits && o->refcount_bits != (1 << s->hdr.refcount_order)) {
        hb_error_set(errp, "Changing refcount_bits of an existing image is not supported "
                     "(it is %d)", 1 << s->hdr.refcount_order);
        return -ENOTSUP;
    }
    if (version < s->hdr.version) {
        g_mutex_lock(&s->meta_lock);
        bool ok = can_downgrade(s, errp);
        g_mutex_unlock(&s->meta_lock);
        if (!ok) {
            return -ENOTSUP;
        }
        ret = expand_zero_clusters(s, errp);
        if (ret < 0) {
            return ret;
        }
    }
    g_rw_lock_writer_lock(&s->map_lock);
    g_mutex_lock(&s->meta_lock);
    /* Metadata first: the new header must describe what is on disk. */
    ret = hb_qcow2_flush_metadata(s);
    if (ret < 0) {
        hb_error_set_errno(errp, -ret, "Could not write back the metadata");
        goto out;
    }
    h.version = version;
    if (version == 2) {
        h.header_length = QCOW2_V2_HEADER_LEN;
    } else if (s->hdr.version == 2) {
        /* As a new version 3 image: every field, compression type zlib. */
        h.incompatible_features = 0;
        h.autoclear_features = 0;
        h.refcount_order = 4;
        h.compression_type = 0;
        h.header_length = (hb_qcow2_field_end(QCOW2_FIELD_COMPRESSION_TYPE) + 7) & ~7u;
    }
    h.compatible_features = lazy ? h.compatible_features | QCOW2_COMPAT_LAZY_REFCOUNTS
                                 : h.compatible_features & ~QCOW2_COMPAT_LAZY_REFCOUNTS;
    if (version == 2) {
        h.compatible_features = 0;
    }
    if (h.version == s->hdr.version && h.header_length == s->hdr.header_length) {
        if (h.compatible_features != s->hdr.compatible_features) {
            ret = hb_qcow2_write_header_fields(s, &h, QCOW2_FIELD_COMPATIBLE_FEATURES,
                                               QCOW2_FIELD_COMPATIBLE_FEATURES);
            if (ret == 0) {
                ret = hb_qcow2_io_flush(s);
            }
            if (ret < 0) {
                hb_error_set_errno(errp, -ret, "Could not write the image header");
            } else {
                s->hdr.compatible_features = h.compatible_features;
            }
        }
        goto out;
    }
    ret = hb_qcow2_set_header(s, &h, errp);
out:
    g_mutex_unlock(&s->meta_lock);
    g_rw_lock_writer_unlock(&s->map_lock);
    return ret;
}

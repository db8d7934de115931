/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/qcow2/qcow2-image.c — open and close a qcow2 image over an HbQcow2Io. */

#include "qcow2-int.h"
#include "util/error.h"

#include <errno.h>
#include <string.h>

static bool load_table(HbQcow2 *s, uint64_t offset, uint32_t entries,
                       uint64_t **out, const char *what, GError **errp)
{
    g_autofree uint64_t *t = g_new0(uint64_t, MAX(entries, 1));

    if (entries) {
        int ret = hb_qcow2_io_pread(s, offset, t, (uint64_t)entries * 8);
        if (ret < 0) {
            hb_error_set_errno(errp, ret, "qcow2: could not read the %s", what);
            return false;
        }
    }
    for (uint32_t i = 0; i < entries; i++) {
        t[i] = GUINT64_FROM_BE(t[i]);
    }
    *out = g_steal_pointer(&t);
    return true;
}

/*
 * A writer trusts the refcount blocks: each must be a distinct, aligned
 * cluster inside the file and outside the header and the tables, or
 * allocation could hand out metadata (or loop over a block shared by
 * every entry).
 */
static bool check_reftable(HbQcow2 *s, int64_t file_len, GError **errp)
{
    g_autoptr(GHashTable) seen = g_hash_table_new(g_int64_hash, g_int64_equal);
    g_autofree uint64_t *offs = g_new0(uint64_t, MAX(s->reftable_used, 1));
    uint64_t rt_end = s->hdr.refcount_table_offset +
                      ((uint64_t)s->hdr.refcount_table_clusters << s->hdr.cluster_bits);
    uint64_t l1_end = s->hdr.l1_table_offset + (uint64_t)s->l1_size * 8;

    for (uint32_t i = 0; i < s->reftable_used; i++) {
        uint64_t off = s->reftable[i] & ~511ull;
        if (!off) {
            continue;
        }
        if ((off & s->cluster_mask) || off >= (uint64_t)file_len || off < s->cluster_size ||
            (off < l1_end && off + s->cluster_size > s->hdr.l1_table_offset) ||
            (off < rt_end && off + s->cluster_size > s->hdr.refcount_table_offset)) {
            hb_error_set(errp, "qcow2: refcount block %u is invalid (offset %#" G_GINT64_MODIFIER
                         "x); repair the image with 'qemu-img check -r all'", i, (gint64)off);
            return false;
        }
        offs[i] = off;
        if (!g_hash_table_add(seen, &offs[i])) {
            hb_error_set(errp, "qcow2: refcount block %u shares offset %#" G_GINT64_MODIFIER
                         "x with another one", i, (gint64)off);
            return false;
        }
    }
    return true;
}

/*
 * Each cache holds at least this many tables (as before; QEMU's minimum
 * is 2 L2 tables and 4 refcount blocks), at most 65,536.
 */
#define CACHE_MIN_TABLES 4u
#define CACHE_MAX_TABLES 65536u

/* The L2 tables an image of @size bytes can have: one per L1 entry in use. */
static uint64_t l2_tables_for(const HbQcow2 *s, uint64_t size)
{
    return (hb_qcow2_size_to_clusters(s, size) + s->l2_size - 1) >> s->l2_bits;
}

/*
 * The refcount blocks the image can need: those in use now, plus enough to
 * count every cluster of the disk fully allocated with its L2 tables and
 * L1 table.  Generous; only leaked and rewritten clusters go past it.
 */
static uint64_t refcount_blocks_for(const HbQcow2 *s, uint64_t size)
{
    uint64_t l2 = l2_tables_for(s, size);
    uint64_t clusters = hb_qcow2_size_to_clusters(s, size) + l2 +
                        hb_qcow2_size_to_clusters(s, MAX(l2, s->l1_size) * 8);

    return s->reftable_used + ((clusters + (1ull << s->rb_bits) - 1) >> s->rb_bits);
}

static unsigned cache_limit(uint64_t asked, uint64_t cap)
{
    return (unsigned)CLAMP(MIN(asked, cap), CACHE_MIN_TABLES, CACHE_MAX_TABLES);
}

/**
 * hb_qcow2_cache_limits() - cap each cache at what an image of @size bytes
 * can use, as QEMU caps its L2 cache: the L2 cache at the number of L2
 * tables that map the whole disk, the refcount cache at the number of
 * refcount blocks the image can need (refcount_blocks_for()); each at
 * least 4 tables.  Called at open and by a resize (with meta_lock held);
 * the caches allocate their tables when used, so a cap costs nothing.
 * @s: image
 * @size: virtual size the caps are for
 */
void hb_qcow2_cache_limits(HbQcow2 *s, uint64_t size)
{
    hb_qcow2_cache_set_limit(&s->l2_cache,
                             cache_limit(s->l2_cache_asked, l2_tables_for(s, size)));
    hb_qcow2_cache_set_limit(&s->rb_cache,
                             cache_limit(s->rb_cache_asked, refcount_blocks_for(s, size)));
}

/*
 * Read the header cluster (at least 512 bytes, zero-filled past the end
 * of a short file) and parse it.
 */
static bool read_header(HbQcow2 *s, int64_t file_len, bool read_only,
                        GError **errp)
{
    g_autofree uint8_t *hbuf = NULL;
    uint8_t first[512];
    HbQcow2Header peek = { 0 };
    int ret;

    memset(first, 0, sizeof(first));
    ret = hb_qcow2_io_pread(s, 0, first, MIN((uint64_t)file_len, sizeof(first)));
    if (ret < 0) {
        hb_error_set_errno(errp, ret, "qcow2: could not read the header");
        return false;
    }
    /* Unvalidated: only to know how much more to read. */
    hb_qcow2_header_decode(&peek, first, hb_qcow2_field_end(QCOW2_FIELD_CLUSTER_BITS));
    size_t hlen = sizeof(first);
    if (peek.cluster_bits >= QCOW2_MIN_CLUSTER_BITS &&
        peek.cluster_bits <= QCOW2_MAX_CLUSTER_BITS) {
        hlen = MIN((uint64_t)file_len, 1ull << peek.cluster_bits);
        hlen = MAX(hlen, sizeof(first));
    }
    hbuf = g_malloc0(hlen);
    memcpy(hbuf, first, sizeof(first));
    if (hlen > sizeof(first) && (uint64_t)file_len > sizeof(first)) {
        ret = hb_qcow2_io_pread(s, sizeof(first), hbuf + sizeof(first),
                                MIN((uint64_t)file_len, hlen) - sizeof(first));
        if (ret < 0) {
            hb_error_set_errno(errp, ret, "qcow2: could not read the header");
            return false;
        }
    }
    if ((uint64_t)file_len < QCOW2_V2_HEADER_LEN ||
        !hb_qcow2_parse_header(s, hbuf, MIN((uint64_t)file_len, hlen), file_len,
                               read_only, errp)) {
        if (errp && !*errp) {
            hb_error_set(errp, "Image is not in qcow2 format");
        }
        return false;
    }
    return true;
}

/* The L1 and reference tables into memory, checked for a writer. */
static bool load_tables(HbQcow2 *s, int64_t file_len, bool read_only,
                        GError **errp)
{
    s->l1_size = s->hdr.l1_size;
    if (!load_table(s, s->hdr.l1_table_offset, s->l1_size, &s->l1, "L1 table", errp)) {
        return false;
    }
    s->reftable_size = (s->hdr.refcount_table_clusters << s->hdr.cluster_bits) / 8;
    if (!load_table(s, s->hdr.refcount_table_offset, s->reftable_size,
                    &s->reftable, "reference count table", errp)) {
        return false;
    }
    for (uint32_t i = 0; i < s->reftable_size; i++) {
        if (s->reftable[i]) {
            s->reftable_used = i + 1;
        }
    }
    return read_only || check_reftable(s, file_len, errp);
}

/* Empty caches (nothing allocated until used), their limits from @o and the size. */
static void init_caches(HbQcow2 *s, const HbQcow2OpenOpts *o)
{
    /* By default cache enough L2 tables to map the whole disk, up to 8 MiB. */
    s->l2_cache_asked = (o->l2_cache_size ? o->l2_cache_size : 8u << 20) / s->cluster_size;
    s->rb_cache_asked = o->refcount_cache_size ? o->refcount_cache_size / s->cluster_size
                                               : CACHE_MIN_TABLES;
    hb_qcow2_cache_init(&s->l2_cache, CACHE_MIN_TABLES, s->cluster_size);
    hb_qcow2_cache_init(&s->rb_cache, CACHE_MIN_TABLES, s->cluster_size);
    /* L2 tables may be written only after the refcounts they rely on. */
    s->l2_cache.depends = &s->rb_cache;
    hb_qcow2_cache_limits(s, s->hdr.size);
}

/*
 * Autoclear bits mark extensions kept consistent by writers that know
 * them (e.g. dirty bitmaps); we do not, so a writer clears them.
 */
static bool clear_autoclear(HbQcow2 *s, GError **errp)
{
    HbQcow2Header zero = { .autoclear_features = 0 };

    if (s->read_only || s->hdr.version < 3 || !s->hdr.autoclear_features) {
        return true;
    }
    int ret = hb_qcow2_write_header_fields(s, &zero, QCOW2_FIELD_AUTOCLEAR_FEATURES,
                                           QCOW2_FIELD_AUTOCLEAR_FEATURES);
    if (ret == 0) {
        ret = hb_qcow2_io_flush(s);
    }
    if (ret < 0) {
        hb_error_set_errno(errp, ret, "qcow2: could not update the header");
        return false;
    }
    s->hdr.autoclear_features = 0;
    return true;
}

/**
 * hb_qcow2_open_image() - open the format core over an image file.
 * @io: how to reach the image file (copied)
 * @o: options (read-only, cache sizes)
 * @errp: why the image is refused
 *
 * Return: the image state, or NULL.  The caller sets ->backing afterwards
 * if the image has one.
 */
HbQcow2 *hb_qcow2_open_image(const HbQcow2Io *io, const HbQcow2OpenOpts *o,
                             GError **errp)
{
    HbQcow2 *s = g_new0(HbQcow2, 1);
    int64_t file_len;

    s->io = *io;
    s->read_only = o->read_only;
    g_mutex_init(&s->meta_lock);
    g_rw_lock_init(&s->map_lock);
    g_cond_init(&s->alloc_cond);
    g_mutex_init(&s->zlock);

    file_len = io->get_length(io->opaque);
    if (file_len < 0) {
        hb_error_set_errno(errp, (int)file_len, "qcow2: could not get the image length");
        goto fail;
    }
    bool lenient = o->read_only || o->repair;
    if (!read_header(s, file_len, lenient, errp) ||
        !load_tables(s, file_len, lenient, errp)) {
        goto fail;
    }
    init_caches(s, o);
    if (!clear_autoclear(s, errp)) {
        goto fail;
    }
    return s;

fail:
    hb_qcow2_free_image(s);
    return NULL;
}

/**
 * hb_qcow2_mark_unclean() - record in the header that the image was not
 * closed cleanly: the dirty bit, which makes QEMU repair the refcounts on
 * its next read-write open and hotblockd refuse one until
 * `qemu-img check -r all` has run.  v2 images have no such bit.  Best
 * effort: the I/O that just failed may fail again.
 * @s: image opened read-write
 *
 * Return: 0 or -errno.
 */
int hb_qcow2_mark_unclean(HbQcow2 *s)
{
    if (s->read_only || s->hdr.version < 3 ||
        (s->hdr.incompatible_features & QCOW2_INCOMPAT_DIRTY)) {
        return 0;
    }
    int ret = hb_qcow2_write_incompat(s, s->hdr.incompatible_features |
                                         QCOW2_INCOMPAT_DIRTY);
    return ret < 0 ? ret : hb_qcow2_io_flush(s);
}

/**
 * hb_qcow2_close_image() - write back the caches and flush; if that fails,
 * or any sync of the image failed while it was open, mark the image dirty
 * (hb_qcow2_mark_unclean()).
 * @s: image; not freed
 *
 * Return: 0 or -errno of the write-back.
 */
int hb_qcow2_close_image(HbQcow2 *s)
{
    if (!s || s->read_only) {
        return 0;
    }
    int ret = hb_qcow2_flush(s);
    hb_qcow2_settle_close(s, ret);
    return ret;
}

/**
 * hb_qcow2_settle_close() - the last step of closing, once the caches were
 * written back with result @flush_ret: if that failed, or any sync failed
 * while the image was open, mark it dirty (hb_qcow2_mark_unclean()).
 * @s: image; not freed
 */
void hb_qcow2_settle_close(HbQcow2 *s, int flush_ret)
{
    if (s && !s->read_only && (flush_ret < 0 || g_atomic_int_get(&s->sync_failed))) {
        hb_qcow2_mark_unclean(s);
    }
}

/**
 * hb_qcow2_drop_metadata() - forget everything read from the image but the
 * header's geometry (size, cluster size, feature bits, for queries), and
 * never write to it again: the node is inactive and another process may
 * change the image.  The caller has written the caches back; a dirty
 * entry left is dropped.  Reopening (hb_qcow2_open_image()) is the way
 * back.
 * @s: image, with no request in flight
 */
void hb_qcow2_drop_metadata(HbQcow2 *s)
{
    hb_qcow2_cache_destroy(&s->l2_cache);
    hb_qcow2_cache_destroy(&s->rb_cache);
    g_clear_pointer(&s->l1, g_free);
    g_clear_pointer(&s->reftable, g_free);
    s->l1_size = 0;
    s->reftable_size = 0;
    s->reftable_used = 0;
    s->free_byte_offset = 0;
    for (unsigned i = 0; i < G_N_ELEMENTS(s->zcache); i++) {
        g_clear_pointer(&s->zcache[i].data, g_free);
    }
    s->read_only = true;
}

/* hb_qcow2_free_image() - release the state without writing anything. */
void hb_qcow2_free_image(HbQcow2 *s)
{
    if (!s) {
        return;
    }
    hb_qcow2_cache_destroy(&s->l2_cache);
    hb_qcow2_cache_destroy(&s->rb_cache);
    g_free(s->l1);
    g_free(s->reftable);
    g_free(s->backing_file);
    g_free(s->backing_fmt);
    for (unsigned i = 0; i < G_N_ELEMENTS(s->zcache); i++) {
        g_free(s->zcache[i].data);
    }
    g_mutex_clear(&s->zlock);
    g_mutex_clear(&s->meta_lock);
    g_rw_lock_clear(&s->map_lock);
    g_cond_clear(&s->alloc_cond);
    g_free(s);
}

/* ---- an HbQcow2Io over a plain file descriptor ---- */

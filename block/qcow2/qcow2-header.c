/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/qcow2/qcow2-header.c — qcow2 header and header extensions: parse, validate, update in place. */

#include "qcow2.h"
#include "qcow2-int.h"
#include "util/error.h"
#include "util/fd-io.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define EXT_END            0x00000000u
#define EXT_BACKING_FORMAT 0xe2792acau
#define EXT_FEATURE_TABLE  0x6803f857u
#define EXT_DATA_FILE      0x44415441u
#define EXT_ENCRYPTION     0x0537be77u

/*
 * Header extensions are only read, except by hb_qcow2_set_backing() and
 * hb_qcow2_set_header() (amend's compatibility level), which rewrite the
 * header cluster with every extension but the backing format's copied as
 * it was; other updates touch single fields.  Unknown extensions stay
 * intact either way.
 */
static bool parse_extensions(HbQcow2 *s, const uint8_t *buf, size_t len,
                             GError **errp)
{
    size_t pos = s->hdr.header_length;
    size_t end = len;

    /* Extensions end before the backing file name when it is in cluster 0. */
    if (s->hdr.backing_file_offset && s->hdr.backing_file_offset < end) {
        end = s->hdr.backing_file_offset;
    }
    while (pos + 8 <= end) {
        uint32_t type = (uint32_t)hb_qcow2_be_get(buf + pos, 4);
        uint32_t elen = (uint32_t)hb_qcow2_be_get(buf + pos + 4, 4);

        pos += 8;
        if (type == EXT_END) {
            return true;
        }
        if (elen > end - pos) {
            hb_error_set(errp, "qcow2: header extension 0x%x is too large", type);
            return false;
        }
        if (type == EXT_BACKING_FORMAT) {
            if (elen == 0 || elen > 1023) {
                hb_error_set(errp, "qcow2: invalid backing format extension");
                return false;
            }
            g_free(s->backing_fmt);
            s->backing_fmt = g_strndup((const char *)buf + pos, elen);
        }
        pos += ((uint64_t)elen + 7) & ~7ull;
    }
    return true;
}

static bool check_table(const char *what, uint64_t offset, uint64_t bytes,
                        uint32_t cluster_size, GError **errp)
{
    if (offset & (cluster_size - 1)) {
        hb_error_set(errp, "qcow2: %s offset is not cluster aligned", what);
        return false;
    }
    if (offset > QCOW2_MAX_SIZE || bytes > QCOW2_MAX_SIZE - offset) {
        hb_error_set(errp, "qcow2: %s is outside the image", what);
        return false;
    }
    return true;
}

/*
 * Decode the fields the version has: a version 2 header ends at 72 bytes
 * (refcounts are 16 bits wide there), version 3 says how long it is.
 */
static bool decode_header(HbQcow2Header *h, const uint8_t *buf, size_t len,
                          GError **errp)
{
    memset(h, 0, sizeof(*h));
    if (len >= QCOW2_V2_HEADER_LEN) {
        hb_qcow2_header_decode(h, buf, QCOW2_V2_HEADER_LEN);
    }
    if (h->magic != QCOW2_MAGIC) {
        hb_error_set(errp, "Image is not in qcow2 format");
        return false;
    }
    if (h->version != 2 && h->version != 3) {
        hb_error_set(errp, "Unsupported qcow2 version %u", h->version);
        return false;
    }
    if (h->version == 2) {
        h->refcount_order = 4;
        h->header_length = QCOW2_V2_HEADER_LEN;
        return true;
    }
    if (len < QCOW2_V3_HEADER_LEN) {
        hb_error_set(errp, "qcow2: header is truncated");
        return false;
    }
    hb_qcow2_header_decode(h, buf, QCOW2_V3_HEADER_LEN);
    if (h->header_length < QCOW2_V3_HEADER_LEN || (h->header_length & 7) != 0 ||
        h->header_length > len) {
        hb_error_set(errp, "qcow2: invalid header length %u", h->header_length);
        return false;
    }
    /* The optional fields the header is long enough for. */
    hb_qcow2_header_decode(h, buf, h->header_length);
    return true;
}

/* Features and settings this implementation cannot honour (as requested). */
static bool check_features(const HbQcow2Header *h, bool read_only, GError **errp)
{
    const uint64_t known = QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT;

    if (h->incompatible_features & QCOW2_INCOMPAT_DATA_FILE) {
        hb_error_set(errp, "qcow2: external data files are not supported");
        return false;
    }
    if (h->incompatible_features & QCOW2_INCOMPAT_EXTL2) {
        hb_error_set(errp, "qcow2: extended L2 entries are not supported");
        return false;
    }
    if ((h->incompatible_features & QCOW2_INCOMPAT_COMPRESSION) ||
        h->compression_type != 0) {
        hb_error_set(errp, "qcow2: compression type %u is not supported (only zlib)",
                     h->compression_type);
        return false;
    }
    if (h->incompatible_features & ~known) {
        hb_error_set(errp, "Unsupported qcow2 feature(s): incompatible bits 0x%" G_GINT64_MODIFIER "x",
                     (gint64)(h->incompatible_features & ~known));
        return false;
    }
    if (!read_only && (h->incompatible_features & QCOW2_INCOMPAT_CORRUPT)) {
        hb_error_set(errp, "qcow2: Image is corrupt; cannot be opened read/write");
        return false;
    }
    if (!read_only && (h->incompatible_features & QCOW2_INCOMPAT_DIRTY)) {
        hb_error_set(errp, "qcow2: Image is dirty (lazy refcounts, or an unclean close); repair it with "
                     "'qemu-img check -r all' before opening it read/write");
        return false;
    }
    if (h->crypt_method != 0) {
        hb_error_set(errp, "qcow2: built-in encryption is not supported; "
                     "use a luks node above qcow2");
        return false;
    }
    if (h->refcount_order > 6) {
        hb_error_set(errp, "qcow2: reference count entry width too large");
        return false;
    }
    if (h->size > QCOW2_MAX_SIZE) {
        hb_error_set(errp, "qcow2: image size too large");
        return false;
    }
    if (!read_only && h->nb_snapshots != 0) {
        hb_error_set(errp, "qcow2: images with internal snapshots can only be opened read-only");
        return false;
    }
    return true;
}

/* The cluster size, and the table geometry that follows from it. */
static bool set_geometry(HbQcow2 *s, GError **errp)
{
    const HbQcow2Header *h = &s->hdr;

    if (h->cluster_bits < QCOW2_MIN_CLUSTER_BITS ||
        h->cluster_bits > QCOW2_MAX_CLUSTER_BITS) {
        hb_error_set(errp, "qcow2: unsupported cluster size: 2^%u", h->cluster_bits);
        return false;
    }
    s->cluster_size = 1u << h->cluster_bits;
    s->cluster_mask = s->cluster_size - 1;
    if (h->header_length > s->cluster_size) {
        hb_error_set(errp, "qcow2: header exceeds cluster size");
        return false;
    }
    return true;
}

static void set_table_geometry(HbQcow2 *s)
{
    const HbQcow2Header *h = &s->hdr;

    s->l2_bits = h->cluster_bits - 3;
    s->l2_size = 1u << s->l2_bits;
    s->refcount_bits = 1u << h->refcount_order;
    s->rb_bits = h->cluster_bits + 3 - h->refcount_order;
    s->refcount_max = h->refcount_order == 6 ? UINT64_MAX
                                             : (1ull << s->refcount_bits) - 1;
}

/* The L1 and reference tables: sized, aligned, inside the file. */
static bool check_tables(HbQcow2 *s, int64_t file_len, GError **errp)
{
    const HbQcow2Header *h = &s->hdr;
    /* The L1 table must cover the virtual size. */
    uint64_t guest_clusters = (h->size + s->cluster_mask) >> h->cluster_bits;
    uint64_t l1_needed = (guest_clusters + s->l2_size - 1) >> s->l2_bits;

    if ((uint64_t)h->l1_size * 8 > QCOW2_MAX_L1_BYTES) {
        hb_error_set(errp, "qcow2: active L1 table too large");
        return false;
    }
    if (h->l1_size < l1_needed) {
        hb_error_set(errp, "qcow2: L1 table is too small for the image size");
        return false;
    }
    if (!check_table("L1 table", h->l1_table_offset, (uint64_t)h->l1_size * 8,
                     s->cluster_size, errp)) {
        return false;
    }
    if (h->refcount_table_clusters == 0 ||
        (uint64_t)h->refcount_table_clusters << h->cluster_bits >
            QCOW2_MAX_REFTABLE_BYTES) {
        hb_error_set(errp, "qcow2: invalid reference count table size");
        return false;
    }
    if (!check_table("reference count table", h->refcount_table_offset,
                     (uint64_t)h->refcount_table_clusters << h->cluster_bits,
                     s->cluster_size, errp)) {
        return false;
    }
    if (h->refcount_table_offset == 0 || (h->l1_size && h->l1_table_offset == 0)) {
        hb_error_set(errp, "qcow2: metadata table overlaps the header");
        return false;
    }
    if (file_len >= 0 &&
        (h->refcount_table_offset >= (uint64_t)file_len ||
         (h->l1_size && h->l1_table_offset >= (uint64_t)file_len))) {
        hb_error_set(errp, "qcow2: metadata table lies beyond the end of the file");
        return false;
    }
    return true;
}

/* The backing file name, which must lie in the header cluster. */
static bool read_backing_name(HbQcow2 *s, const uint8_t *buf, size_t len,
                              GError **errp)
{
    const HbQcow2Header *h = &s->hdr;

    if (!h->backing_file_offset) {
        return true;
    }
    if (h->backing_file_size == 0 || h->backing_file_size > 1023 ||
        h->backing_file_offset > len ||
        h->backing_file_size > len - h->backing_file_offset) {
        hb_error_set(errp, "qcow2: invalid backing file name location");
        return false;
    }
    s->backing_file = g_strndup((const char *)buf + h->backing_file_offset,
                                h->backing_file_size);
    if (strlen(s->backing_file) != h->backing_file_size) {
        hb_error_set(errp, "qcow2: backing file name contains NUL");
        return false;
    }
    return true;
}

/**
 * hb_qcow2_parse_header() - decode and validate a qcow2 header.
 * @s: the image state to fill (hdr and derived geometry)
 * @buf: the first bytes of the image (at least 72; ideally one cluster)
 * @len: bytes in @buf
 * @file_len: image file length, to reject tables beyond it
 * @read_only: whether the image is opened read-only
 * @errp: why the image is refused
 *
 * Return: true when the image can be opened as requested.
 */
bool hb_qcow2_parse_header(HbQcow2 *s, const uint8_t *buf, size_t len,
                           int64_t file_len, bool read_only, GError **errp)
{
    if (!decode_header(&s->hdr, buf, len, errp) || !set_geometry(s, errp) ||
        !check_features(&s->hdr, read_only, errp)) {
        return false;
    }
    set_table_geometry(s);
    return check_tables(s, file_len, errp) &&
           read_backing_name(s, buf, len, errp) &&
           parse_extensions(s, buf, len, errp);
}

/**
 * hb_qcow2_write_header_fields() - update consecutive header fields in
 * place (no flush; the caller orders it).
 * @s: image
 * @h: holds the new values of @first..@last; other members are ignored
 * @first: the first field written
 * @last: the last one (at or after @first)
 *
 * s->hdr is not changed: the caller updates it once the write succeeded.
 *
 * Return: 0 or -errno.
 */
int hb_qcow2_write_header_fields(HbQcow2 *s, const HbQcow2Header *h,
                                 HbQcow2Field first, HbQcow2Field last)
{
    uint8_t buf[128];

    g_assert(hb_qcow2_field_end(last) - hb_qcow2_field_offset(first) <= sizeof(buf));
    size_t n = hb_qcow2_header_encode_run(h, first, last, buf);
    return hb_qcow2_io_pwrite(s, hb_qcow2_field_offset(first), buf, n);
}

/**
 * hb_qcow2_write_incompat() - rewrite the incompatible feature bits.
 * @s: image (v3 only; v2 has no feature bits and this is a no-op)
 * @bits: new value
 *
 * Return: 0 or -errno.
 */
int hb_qcow2_write_incompat(HbQcow2 *s, uint64_t bits)
{
    HbQcow2Header h = { .incompatible_features = bits };

    if (s->hdr.version < 3) {
        return 0;
    }
    int ret = hb_qcow2_write_header_fields(s, &h, QCOW2_FIELD_INCOMPATIBLE_FEATURES,
                                           QCOW2_FIELD_INCOMPATIBLE_FEATURES);
    if (ret == 0) {
        s->hdr.incompatible_features = bits;
    }
    return ret;
}

/* The backing format extension for @fmt at @buf + @pos; the bytes it takes. */
static size_t put_backing_format(uint8_t *buf, size_t pos, const char *fmt)
{
    size_t n = strlen(fmt);

    hb_qcow2_be_put(buf + pos, 4, EXT_BACKING_FORMAT);
    hb_qcow2_be_put(buf + pos + 4, 4, n);
    memcpy(buf + pos + 8, fmt, n);
    return 8 + ((n + 7) & ~(size_t)7);
}

/*
 * The header cluster of @s anew in @nu: header @h (its own header_length:
 * a version 2 or 3 layout), a backing format extension for @fmt (if any),
 * every other extension of @old byte for byte, the end marker, then
 * @file.  Return: bytes used, or 0 when it does not fit (a name or
 * extensions too long for the cluster).
 */
static size_t build_header_cluster(HbQcow2 *s, const uint8_t *old, uint8_t *nu,
                                   const HbQcow2Header *h, const char *file, const char *fmt)
{
    size_t cs = s->cluster_size;
    size_t old_hl = s->hdr.header_length;
    size_t end = s->hdr.backing_file_offset && s->hdr.backing_file_offset < cs
                 ? s->hdr.backing_file_offset : cs;
    size_t pos = h->header_length;

    if (fmt && strlen(fmt) + 16 + pos > cs) {
        return 0;
    }
    if (fmt) {
        pos += put_backing_format(nu, pos, fmt);
    }
    for (size_t p = old_hl; p + 8 <= end;) {
        uint32_t type = (uint32_t)hb_qcow2_be_get(old + p, 4);
        uint64_t size = 8 + ((hb_qcow2_be_get(old + p + 4, 4) + 7) & ~7ull);
        if (type == EXT_END || size > end - p) {
            break;  /* parse_extensions() accepted the header: this is its end */
        }
        if (type != EXT_BACKING_FORMAT) {
            if (pos + size + 8 > cs) {
                return 0;
            }
            memcpy(nu + pos, old + p, size);
            pos += size;
        }
        p += size;
    }
    pos += 8;   /* the end marker: zeroes */
    HbQcow2Header nh = *h;
    nh.backing_file_offset = 0;
    nh.backing_file_size = 0;
    if (file) {
        size_t n = strlen(file);
        if (n > 1023 || pos + n > cs) {
            return 0;
        }
        memcpy(nu + pos, file, n);
        nh.backing_file_offset = pos;
        nh.backing_file_size = (uint32_t)n;
        pos += n;
    }
    /* A header as long as before keeps its bytes (fields this code does
     * not know, in a longer version 3 header); the known ones go over them. */
    if (nh.header_length == old_hl) {
        memcpy(nu, old, old_hl);
    }
    hb_qcow2_header_encode(&nh, nu, nh.header_length);
    return pos;
}

/*
 * Write header @h (with @file and @fmt as the backing file) in place of
 * @s's header cluster, in one write, then flush; on success @s's copy of
 * the header follows.  Return: 0, or -errno with @errp set.
 */
static int rewrite_header_cluster(HbQcow2 *s, const HbQcow2Header *h, const char *file,
                                  const char *fmt, GError **errp)
{
    g_autofree uint8_t *old = g_malloc0(s->cluster_size);
    g_autofree uint8_t *nu = g_malloc0(s->cluster_size);
    int ret = hb_qcow2_io_pread(s, 0, old, s->cluster_size);

    if (ret < 0) {
        hb_error_set_errno(errp, -ret, "Could not read the image header");
        return ret;
    }
    if (build_header_cluster(s, old, nu, h, file, fmt) == 0) {
        hb_error_set(errp, "The backing file name does not fit in the header cluster");
        return -ENOSPC;
    }
    ret = hb_qcow2_io_pwrite(s, 0, nu, s->cluster_size);
    if (ret == 0) {
        ret = hb_qcow2_io_flush(s);
    }
    if (ret < 0) {
        hb_error_set_errno(errp, -ret, "Could not write the image header");
        return ret;
    }
    hb_qcow2_header_decode(&s->hdr, nu, h->header_length);
    if (s->hdr.version < 3) {
        /* What a version 2 header does not carry reads as version 3's defaults. */
        s->hdr.incompatible_features = s->hdr.compatible_features = 0;
        s->hdr.autoclear_features = 0;
        s->hdr.refcount_order = 4;
        s->hdr.header_length = QCOW2_V2_HEADER_LEN;
    }
    if (file != s->backing_file) {
        g_free(s->backing_file);
        s->backing_file = g_strdup(file);
    }
    if (fmt != s->backing_fmt) {
        g_free(s->backing_fmt);
        s->backing_fmt = g_strdup(fmt);
    }
    return 0;
}

/**
 * hb_qcow2_set_header() - rewrite the header cluster with the fields of
 * @h (version 2 or 3 layout, by @h->version and @h->header_length),
 * keeping the backing file, its format and every other extension.  For
 * changes that move fields (the compatibility level).
 * Return: 0, or -errno with @errp set.
 */
int hb_qcow2_set_header(HbQcow2 *s, const HbQcow2Header *h, GError **errp)
{
    return rewrite_header_cluster(s, h, s->backing_file, s->backing_fmt, errp);
}

/**
 * hb_qcow2_set_backing() - name another backing file (and format) in the
 * header, or none (@file NULL): qemu-img rebase.  Only the header cluster
 * changes, in one write: the header's two backing fields, the backing
 * format extension, the name.  Other extensions are kept as they are.
 * Return: 0, or -errno with @errp set.
 */
int hb_qcow2_set_backing(HbQcow2 *s, const char *file, const char *fmt, GError **errp)
{
    return rewrite_header_cluster(s, &s->hdr, file, fmt, errp);
}

bool hb_qcow2_change_backing(const char *path, const char *file, const char *fmt,
                             GError **errp)
{
    HbQcow2OpenOpts oo = { .read_only = false };
    HbQcow2Io io;
    HB_AUTOFD int fd = open(path, O_RDWR | O_CLOEXEC);

    if (fd < 0) {
        hb_error_set_errno(errp, errno, "Could not open '%s'", path);
        return false;
    }
    hb_qcow2_io_from_fd(&io, &fd);
    /* Opened to write, so a dirty or corrupt image is refused; nothing is
     * written but the header cluster (and autoclear bits, as any writer). */
    HbQcow2 *s = hb_qcow2_open_image(&io, &oo, errp);
    if (!s) {
        return false;
    }
    int ret = hb_qcow2_set_backing(s, file, fmt, errp);
    hb_qcow2_free_image(s);
    return ret == 0;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/qcow2/qcow2-create.c — write a new, empty qcow2 image with POSIX I/O (hotblock-img create). */

#include "qcow2.h"
#include "qcow2-int.h"
#include "util/error.h"
#include "util/size.h"
#include "util/fd-io.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXT_BACKING_FORMAT 0xe2792acau

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, v >> 32);
    put32(p + 4, (uint32_t)v);
}

static bool take_uint(GHashTable *opts, const char *key, uint64_t dflt,
                      uint64_t *out, GError **errp)
{
    const char *v = g_hash_table_lookup(opts, key);

    *out = dflt;
    if (!v) {
        return true;
    }
    if (!hb_parse_size(v, out)) {
        hb_error_set(errp, "Parameter '%s' expects a size", key);
        return false;
    }
    g_hash_table_remove(opts, key);
    return true;
}

static char *take_str(GHashTable *opts, const char *key)
{
    char *v = g_strdup(g_hash_table_lookup(opts, key));

    g_hash_table_remove(opts, key);
    return v;
}

/* Virtual size of a backing file: qcow2 header size or the raw length. */
static int64_t backing_size(const char *path)
{
    uint8_t h[32];
    struct stat st;
    HB_AUTOFD int fd = open(path, O_RDONLY | O_CLOEXEC);
    int64_t ret = -errno;

    if (fd < 0) {
        return ret;
    }
    if (pread(fd, h, sizeof(h), 0) == (ssize_t)sizeof(h) &&
        GUINT32_FROM_BE(*(uint32_t *)h) == QCOW2_MAGIC) {
        ret = (int64_t)GUINT64_FROM_BE(*(uint64_t *)(h + 24));
    } else if (fstat(fd, &st) == 0) {
        ret = st.st_size;
    }
    return ret;
}

bool hb_qcow2_create(const char *filename, int64_t size, GHashTable *opts,
                     GError **errp)
{
    uint64_t cs, refcount_bits;
    g_autofree char *compat = take_str(opts, "compat");
    g_autofree char *backing = take_str(opts, "backing_file");
    g_autofree char *backing_fmt = take_str(opts, "backing_fmt");
    g_autofree char *lazy = take_str(opts, "lazy_refcounts");
    g_autofree char *ctype = take_str(opts, "compression_type");
    g_autofree char *prealloc = take_str(opts, "preallocation");
    g_autofree char *extl2 = take_str(opts, "extended_l2");
    unsigned version = 3;
    bool lazy_on = false;

    if (!take_uint(opts, "cluster_size", 65536, &cs, errp) ||
        !take_uint(opts, "refcount_bits", 16, &refcount_bits, errp)) {
        return false;
    }
    if (cs < 512 || cs > (2u << 20) || (cs & (cs - 1))) {
        hb_error_set(errp, "Cluster size must be a power of two between 512 and 2048k");
        return false;
    }
    if (refcount_bits < 1 || refcount_bits > 64 || (refcount_bits & (refcount_bits - 1))) {
        hb_error_set(errp, "Refcount width must be a power of two and may not exceed 64 bits");
        return false;
    }
    if (compat) {
        if (!strcmp(compat, "0.10") || !strcmp(compat, "v2")) {
            version = 2;
        } else if (strcmp(compat, "1.1") && strcmp(compat, "v3")) {
            hb_error_set(errp, "Invalid parameter '%s'", compat);
            return false;
        }
    }
    if (lazy && !(lazy_on = !strcmp(lazy, "on") || !strcmp(lazy, "true")) &&
        strcmp(lazy, "off") && strcmp(lazy, "false")) {
        hb_error_set(errp, "Parameter 'lazy_refcounts' expects 'on' or 'off'");
        return false;
    }
    if (lazy_on && version == 2) {
        hb_error_set(errp, "Lazy refcounts only supported with compatibility level 1.1 and above "
                     "(use version=v3 or greater)");
        return false;
    }
    if (ctype && strcmp(ctype, "zlib")) {
        hb_error_set(errp, "Compression type '%s' is not supported", ctype);
        return false;
    }
    if (prealloc && strcmp(prealloc, "off")) {
        hb_error_set(errp, "Preallocation mode '%s' is not supported", prealloc);
        return false;
    }
    if (extl2 && strcmp(extl2, "off") && strcmp(extl2, "false")) {
        hb_error_set(errp, "Extended L2 entries are not supported");
        return false;
    }
    if (version == 2 && refcount_bits != 16) {
        hb_error_set(errp, "Different refcount widths than 16 bits require "
                     "compatibility level 1.1 or above (use compat=1.1 or greater)");
        return false;
    }
    if (backing_fmt && !backing) {
        hb_error_set(errp, "Backing format requires a backing file");
        return false;
    }
    if (backing && (strlen(backing) > 1023 ||
                    (backing_fmt && strlen(backing_fmt) > 1023))) {
        hb_error_set(errp, "Backing file name too long");
        return false;
    }
    if (size < 0 && backing) {
        g_autofree char *dir = g_path_get_dirname(filename);
        g_autofree char *bpath = g_path_is_absolute(backing)
                                 ? g_strdup(backing)
                                 : g_build_filename(dir, backing, NULL);
        size = backing_size(bpath);
        if (size < 0) {
            hb_error_set_errno(errp, (int)size, "Could not open backing file '%s'", backing);
            return false;
        }
    }
    if (size < 0 || (uint64_t)size > QCOW2_MAX_SIZE) {
        hb_error_set(errp, "Image size must be given and less than 2^61 bytes");
        return false;
    }

    unsigned cbits = g_bit_nth_lsf(cs, -1);
    unsigned rorder = g_bit_nth_lsf(refcount_bits, -1);
    uint64_t l2_entries = cs / 8;
    uint64_t l1_size = (((uint64_t)size + cs - 1) / cs + l2_entries - 1) / l2_entries;
    uint64_t l1_clusters = (l1_size * 8 + cs - 1) / cs;
    uint64_t rbe = cs * 8 / refcount_bits;
    uint64_t rt_clusters = 1, rb_count = 1, meta;

    if (l1_size * 8 > QCOW2_MAX_L1_BYTES) {
        hb_error_set(errp, "The image size is too large for file format 'qcow2' "
                     "(try using a larger cluster size)");
        return false;
    }
    for (;;) {
        meta = 1 + rt_clusters + rb_count + l1_clusters;
        uint64_t rb = (meta + rbe - 1) / rbe;
        uint64_t rt = (rb * 8 + cs - 1) / cs;
        if (rb == rb_count && rt == rt_clusters) {
            break;
        }
        rb_count = rb;
        rt_clusters = rt;
    }
    uint64_t rt_off = cs, rb_off = rt_off + rt_clusters * cs;
    uint64_t l1_off = rb_off + rb_count * cs;

    g_autofree uint8_t *hdr = g_malloc0(cs);
    put32(hdr, QCOW2_MAGIC);
    put32(hdr + 4, version);
    put32(hdr + 20, cbits);
    put64(hdr + 24, size);
    put32(hdr + 36, l1_size);
    put64(hdr + 40, l1_off);
    put64(hdr + 48, rt_off);
    put32(hdr + 56, rt_clusters);
    size_t pos = 72;
    if (version == 3) {
        put64(hdr + 80, lazy_on ? QCOW2_COMPAT_LAZY_REFCOUNTS : 0);
        put32(hdr + 96, rorder);
        put32(hdr + 100, 112);  /* with the compression type byte, padded */
        pos = 112;
    }
    if (backing_fmt) {
        size_t n = strlen(backing_fmt);
        put32(hdr + pos, EXT_BACKING_FORMAT);
        put32(hdr + pos + 4, n);
        memcpy(hdr + pos + 8, backing_fmt, n);
        pos += 8 + ((n + 7) & ~7ul);
    }
    pos += 8;  /* end-of-extensions marker: zeroes */
    if (backing) {
        size_t n = strlen(backing);
        if (pos + n > cs) {
            hb_error_set(errp, "Backing file name too long for the cluster size");
            return false;
        }
        memcpy(hdr + pos, backing, n);
        put64(hdr + 8, pos);
        put32(hdr + 16, n);
    }

    HB_AUTOFD int fd = open(filename, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        hb_error_set_errno(errp, errno, "Could not create '%s'", filename);
        return false;
    }
    bool ok = ftruncate(fd, 0) == 0 && hb_pwrite_all(fd, hdr, cs, 0) == 0;

    /* Reference table and blocks: every metadata cluster has refcount 1. */
    HbQcow2 geo = { .refcount_bits = refcount_bits };
    g_autofree uint8_t *buf = g_malloc0(cs);
    for (uint64_t i = 0; ok && i < rt_clusters; i++) {
        memset(buf, 0, cs);
        for (uint64_t j = 0; j < cs / 8; j++) {
            uint64_t e = i * (cs / 8) + j;
            if (e < rb_count) {
                put64(buf + 8 * j, rb_off + e * cs);
            }
        }
        ok = hb_pwrite_all(fd, buf, cs, rt_off + i * cs) == 0;
    }
    for (uint64_t b = 0; ok && b < rb_count; b++) {
        memset(buf, 0, cs);
        for (uint64_t k = 0; k < rbe && b * rbe + k < meta; k++) {
            hb_qcow2_rc_set(&geo, buf, k, 1);
        }
        ok = hb_pwrite_all(fd, buf, cs, rb_off + b * cs) == 0;
    }
    memset(buf, 0, cs);
    for (uint64_t i = 0; ok && i < l1_clusters; i++) {
        ok = hb_pwrite_all(fd, buf, cs, l1_off + i * cs) == 0;
    }
    if (ok) {
        ok = fsync(fd) == 0;
    }
    if (!ok) {
        hb_error_set_errno(errp, errno, "Could not write '%s'", filename);
        unlink(filename);
        return false;
    }
    return true;
}

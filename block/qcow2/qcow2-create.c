/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/qcow2/qcow2-create.c — write a new, empty qcow2 image with POSIX I/O (hotblock-img create). */

#include "qcow2.h"
#include "qcow2-int.h"
#include "util/error.h"
#include "util/opts-take.h"
#include "util/size.h"
#include "util/fd-io.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXT_BACKING_FORMAT 0xe2792acau

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

/* Virtual size of a backing file: qcow2 header size or the raw length. */
static int64_t backing_size(const char *path)
{
    uint8_t buf[32];
    HbQcow2Header h = { 0 };
    struct stat st;
    HB_AUTOFD int fd = open(path, O_RDONLY | O_CLOEXEC);
    int64_t ret = -errno;

    if (fd < 0) {
        return ret;
    }
    if (pread(fd, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf)) {
        hb_qcow2_header_decode(&h, buf, sizeof(buf));
    }
    if (h.magic == QCOW2_MAGIC) {
        ret = (int64_t)h.size;
    } else if (fstat(fd, &st) == 0) {
        ret = st.st_size;
    }
    return ret;
}

/* What -o asked for, once taken from the table: the typed options and the strings they point to. */
typedef struct CreateOpts {
    HbQcow2CreateOpts t;
    char *backing;          /* owned, or NULL */
    char *backing_fmt;      /* owned, or NULL */
} CreateOpts;

static void create_opts_clear(CreateOpts *c)
{
    g_free(c->backing);
    g_free(c->backing_fmt);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(CreateOpts, create_opts_clear)

/* compat and lazy_refcounts: the version and the compatible bit. */
static bool parse_compat(const char *compat, const char *lazy, HbQcow2CreateOpts *c,
                         GError **errp)
{
    c->version = 3;
    if (compat) {
        if (!strcmp(compat, "0.10") || !strcmp(compat, "v2")) {
            c->version = 2;
        } else if (strcmp(compat, "1.1") && strcmp(compat, "v3")) {
            hb_error_set(errp, "Invalid parameter '%s'", compat);
            return false;
        }
    }
    if (lazy && !(c->lazy_refcounts = !strcmp(lazy, "on") || !strcmp(lazy, "true")) &&
        strcmp(lazy, "off") && strcmp(lazy, "false")) {
        hb_error_set(errp, "Parameter 'lazy_refcounts' expects 'on' or 'off'");
        return false;
    }
    if (c->lazy_refcounts && c->version == 2) {
        hb_error_set(errp, "Lazy refcounts only supported with compatibility level 1.1 and above "
                     "(use version=v3 or greater)");
        return false;
    }
    return true;
}

/* Options hotblock accepts only at their one supported value. */
static bool check_fixed_opts(const char *ctype, const char *prealloc,
                             const char *extl2, GError **errp)
{
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
    return true;
}

static bool check_widths(const HbQcow2CreateOpts *c, GError **errp)
{
    uint64_t cs = c->cluster_size, rb = c->refcount_bits;

    if (cs < 512 || cs > (2u << 20) || (cs & (cs - 1))) {
        hb_error_set(errp, "Cluster size must be a power of two between 512 and 2048k");
        return false;
    }
    if (rb < 1 || rb > 64 || (rb & (rb - 1))) {
        hb_error_set(errp, "Refcount width must be a power of two and may not exceed 64 bits");
        return false;
    }
    return true;
}

/*
 * Take every key hb_qcow2_create() knows from @opts (all of them, even
 * when one is wrong), then check them.
 */
static bool take_create_opts(GHashTable *opts, CreateOpts *co, GError **errp)
{
    HbQcow2CreateOpts *c = &co->t;
    g_autofree char *compat = hb_opts_take_str(opts, "compat");
    g_autofree char *lazy = hb_opts_take_str(opts, "lazy_refcounts");
    g_autofree char *ctype = hb_opts_take_str(opts, "compression_type");
    g_autofree char *prealloc = hb_opts_take_str(opts, "preallocation");
    g_autofree char *extl2 = hb_opts_take_str(opts, "extended_l2");

    c->backing = co->backing = hb_opts_take_str(opts, "backing_file");
    c->backing_fmt = co->backing_fmt = hb_opts_take_str(opts, "backing_fmt");
    if (!take_uint(opts, "cluster_size", 65536, &c->cluster_size, errp) ||
        !take_uint(opts, "refcount_bits", 16, &c->refcount_bits, errp) ||
        !check_widths(c, errp) || !parse_compat(compat, lazy, c, errp) ||
        !check_fixed_opts(ctype, prealloc, extl2, errp)) {
        return false;
    }
    if (c->version == 2 && c->refcount_bits != 16) {
        hb_error_set(errp, "Different refcount widths than 16 bits require "
                     "compatibility level 1.1 or above (use compat=1.1 or greater)");
        return false;
    }
    /* qemu-img's text; the rest is hb_qcow2_format()'s to check. */
    if (c->backing_fmt && !c->backing) {
        hb_error_set(errp, "Backing format requires a backing file");
        return false;
    }
    return true;
}

/* The virtual size: as given, or the backing file's. */
static bool resolve_size(const char *filename, const HbQcow2CreateOpts *c,
                         int64_t *size, GError **errp)
{
    if (*size < 0 && c->backing) {
        g_autofree char *dir = g_path_get_dirname(filename);
        g_autofree char *bpath = g_path_is_absolute(c->backing)
                                 ? g_strdup(c->backing)
                                 : g_build_filename(dir, c->backing, NULL);
        *size = backing_size(bpath);
        if (*size < 0) {
            hb_error_set_errno(errp, (int)*size, "Could not open backing file '%s'",
                               c->backing);
            return false;
        }
    }
    if (*size < 0 || (uint64_t)*size > QCOW2_MAX_SIZE) {
        hb_error_set(errp, "Image size must be given and less than 2^61 bytes");
        return false;
    }
    return true;
}

/*
 * Where everything goes: the header cluster, the reference table, its
 * refcount blocks (enough to count every metadata cluster, themselves
 * included), then the L1 table.
 */
typedef struct Layout {
    uint64_t cs;
    uint64_t l1_size, l1_clusters, l1_off;
    uint64_t rt_clusters, rt_off;
    uint64_t rb_count, rb_off;
    uint64_t meta;          /* clusters of metadata, header included */
} Layout;

static bool plan_layout(const HbQcow2CreateOpts *c, uint64_t size, Layout *l,
                        GError **errp)
{
    uint64_t cs = c->cluster_size;
    uint64_t l2_entries = cs / 8;
    uint64_t rbe = cs * 8 / c->refcount_bits;

    l->cs = cs;
    l->l1_size = ((size + cs - 1) / cs + l2_entries - 1) / l2_entries;
    l->l1_clusters = (l->l1_size * 8 + cs - 1) / cs;
    if (l->l1_size * 8 > QCOW2_MAX_L1_BYTES) {
        hb_error_set(errp, "The image size is too large for file format 'qcow2' "
                     "(try using a larger cluster size)");
        return false;
    }
    l->rt_clusters = 1;
    l->rb_count = 1;
    for (;;) {
        l->meta = 1 + l->rt_clusters + l->rb_count + l->l1_clusters;
        uint64_t rb = (l->meta + rbe - 1) / rbe;
        uint64_t rt = (rb * 8 + cs - 1) / cs;
        if (rb == l->rb_count && rt == l->rt_clusters) {
            break;
        }
        l->rb_count = rb;
        l->rt_clusters = rt;
    }
    l->rt_off = cs;
    l->rb_off = l->rt_off + l->rt_clusters * cs;
    l->l1_off = l->rb_off + l->rb_count * cs;
    return true;
}

/*
 * The header cluster: the header, a backing format extension, the end of
 * the extensions, the backing file name.
 */
static bool build_header(const HbQcow2CreateOpts *c, uint64_t size, const Layout *l,
                         uint8_t *buf, GError **errp)
{
    HbQcow2Header h = {
        .magic = QCOW2_MAGIC,
        .version = c->version,
        .cluster_bits = g_bit_nth_lsf(l->cs, -1),
        .size = size,
        .l1_size = l->l1_size,
        .l1_table_offset = l->l1_off,
        .refcount_table_offset = l->rt_off,
        .refcount_table_clusters = l->rt_clusters,
        .header_length = QCOW2_V2_HEADER_LEN,
    };
    if (c->version == 3) {
        h.compatible_features = c->lazy_refcounts ? QCOW2_COMPAT_LAZY_REFCOUNTS : 0;
        h.refcount_order = g_bit_nth_lsf(c->refcount_bits, -1);
        /* With the compression type byte, padded to 8 bytes. */
        h.header_length = (hb_qcow2_field_end(QCOW2_FIELD_COMPRESSION_TYPE) + 7) & ~7u;
    }
    size_t pos = h.header_length;
    if (c->backing_fmt) {
        size_t n = strlen(c->backing_fmt);
        hb_qcow2_be_put(buf + pos, 4, EXT_BACKING_FORMAT);
        hb_qcow2_be_put(buf + pos + 4, 4, n);
        memcpy(buf + pos + 8, c->backing_fmt, n);
        pos += 8 + ((n + 7) & ~7ul);
    }
    pos += 8;  /* end-of-extensions marker: zeroes */
    if (c->backing) {
        size_t n = strlen(c->backing);
        if (pos + n > l->cs) {
            hb_error_set(errp, "Backing file name too long for the cluster size");
            return false;
        }
        memcpy(buf + pos, c->backing, n);
        h.backing_file_offset = pos;
        h.backing_file_size = n;
    }
    hb_qcow2_header_encode(&h, buf, h.header_length);
    return true;
}

/* Everything after the header: every metadata cluster has refcount 1. */
static int write_tables(HbQcow2WriteFn write, void *opaque, const HbQcow2CreateOpts *c,
                        const Layout *l)
{
    uint64_t cs = l->cs;
    uint64_t rbe = cs * 8 / c->refcount_bits;
    HbQcow2 geo = { .refcount_bits = c->refcount_bits };
    g_autofree uint8_t *buf = g_malloc0(cs);
    int ret = 0;

    for (uint64_t i = 0; !ret && i < l->rt_clusters; i++) {
        memset(buf, 0, cs);
        for (uint64_t j = 0; j < cs / 8; j++) {
            uint64_t e = i * (cs / 8) + j;
            if (e < l->rb_count) {
                hb_qcow2_be_put(buf + 8 * j, 8, l->rb_off + e * cs);
            }
        }
        ret = write(opaque, l->rt_off + i * cs, buf, cs);
    }
    for (uint64_t b = 0; !ret && b < l->rb_count; b++) {
        memset(buf, 0, cs);
        for (uint64_t k = 0; k < rbe && b * rbe + k < l->meta; k++) {
            hb_qcow2_rc_set(&geo, buf, k, 1);
        }
        ret = write(opaque, l->rb_off + b * cs, buf, cs);
    }
    memset(buf, 0, cs);
    for (uint64_t i = 0; !ret && i < l->l1_clusters; i++) {
        ret = write(opaque, l->l1_off + i * cs, buf, cs);
    }
    return ret;
}

/* The checks of the typed options that the -o table's parsing has not already made. */
static bool check_typed(const HbQcow2CreateOpts *c, uint64_t size, GError **errp)
{
    if (!check_widths(c, errp)) {
        return false;
    }
    if (c->version != 2 && c->version != 3) {
        hb_error_set(errp, "Invalid qcow2 version %u", c->version);
        return false;
    }
    if (c->lazy_refcounts && c->version < 3) {
        hb_error_set(errp, "Lazy refcounts only supported with compatibility level 1.1 and above "
                     "(use version=v3 or greater)");
        return false;
    }
    if (c->version < 3 && c->refcount_bits != 16) {
        hb_error_set(errp, "Different refcount widths than 16 bits require compatibility "
                     "level 1.1 or above (use version=v3 or greater)");
        return false;
    }
    if (c->backing_fmt && !c->backing) {
        hb_error_set(errp, "Backing format cannot be used without backing file");
        return false;
    }
    if (c->backing && (strlen(c->backing) > 1023 ||
                       (c->backing_fmt && strlen(c->backing_fmt) > 1023))) {
        hb_error_set(errp, "Backing file name too long");
        return false;
    }
    if (size > QCOW2_MAX_SIZE) {
        hb_error_set(errp, "Image size must be given and less than 2^61 bytes");
        return false;
    }
    return true;
}

bool hb_qcow2_format(const HbQcow2CreateOpts *opts, uint64_t size, HbQcow2WriteFn write,
                     void *opaque, GError **errp)
{
    Layout l;

    if (!check_typed(opts, size, errp) || !plan_layout(opts, size, &l, errp)) {
        return false;
    }
    g_autofree uint8_t *hdr = g_malloc0(l.cs);
    if (!build_header(opts, size, &l, hdr, errp)) {
        return false;
    }
    int ret = write(opaque, 0, hdr, l.cs);
    if (!ret) {
        ret = write_tables(write, opaque, opts, &l);
    }
    if (ret) {
        hb_error_set_errno(errp, ret, "Could not write qcow2 header");
        return false;
    }
    return true;
}

static int fd_write(void *opaque, uint64_t offset, const void *buf, size_t len)
{
    return hb_pwrite_all(*(int *)opaque, buf, len, offset);
}

bool hb_qcow2_create(const char *filename, int64_t size, GHashTable *opts,
                     GError **errp)
{
    g_auto(CreateOpts) c = { 0 };

    if (!take_create_opts(opts, &c, errp) ||
        !resolve_size(filename, &c.t, &size, errp)) {
        return false;
    }
    /* qemu-img's sizes are whole sectors already; the layout is planned before the file is made. */
    Layout l;
    if (!plan_layout(&c.t, (uint64_t)size, &l, errp)) {
        return false;
    }
    HB_AUTOFD int fd = open(filename, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        hb_error_set_errno(errp, errno, "Could not create '%s'", filename);
        return false;
    }
    GError *local = NULL;
    if (ftruncate(fd, 0) < 0 ||
        !hb_qcow2_format(&c.t, (uint64_t)size, fd_write, &fd, &local) || fsync(fd) < 0) {
        if (local) {
            g_propagate_error(errp, local);
        } else {
            hb_error_set_errno(errp, errno, "Could not write '%s'", filename);
        }
        unlink(filename);
        return false;
    }
    return true;
}

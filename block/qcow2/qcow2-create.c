/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/qcow2/qcow2-create.c — write a new qcow2 image, empty or preallocated: hotblock-img create (an fd) and blockdev-create (a node). */

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

/* preallocation=: QEMU's PreallocMode names. */
static bool parse_prealloc(const char *v, HbQcow2Prealloc *out, GError **errp)
{
    static const char *const names[] = {
        [HB_QCOW2_PREALLOC_OFF] = "off",
        [HB_QCOW2_PREALLOC_METADATA] = "metadata",
        [HB_QCOW2_PREALLOC_FALLOC] = "falloc",
        [HB_QCOW2_PREALLOC_FULL] = "full",
    };

    *out = HB_QCOW2_PREALLOC_OFF;
    if (!v) {
        return true;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        if (!strcmp(v, names[i])) {
            *out = (HbQcow2Prealloc)i;
            return true;
        }
    }
    hb_error_set(errp, "Parameter 'preallocation' does not accept value '%s'", v);
    return false;
}

/* Options hotblock accepts only at their one supported value. */
static bool check_fixed_opts(const char *ctype, const char *extl2, GError **errp)
{
    if (ctype && strcmp(ctype, "zlib")) {
        hb_error_set(errp, "Compression type '%s' is not supported", ctype);
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
        !parse_prealloc(prealloc, &c->prealloc, errp) ||
        !check_fixed_opts(ctype, extl2, errp)) {
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

/* QEMU's text for an image whose tables or file cannot be that large. */
static void too_large(GError **errp)
{
    hb_error_set(errp, "The image size is too large for file format 'qcow2' "
                 "(try using a larger cluster size)");
}

/*
 * Where everything goes: the header cluster, the reference table, its
 * refcount blocks (enough to count every cluster of the new file,
 * themselves included), the L1 table, then with preallocation all the
 * L2 tables and after them the data clusters, in guest order: a guest's
 * sequential I/O stays sequential on the host (QEMU's falloc and full
 * keep the data together too; its metadata mode puts each L2 table before
 * the clusters it maps, which for a small image is the same layout).
 */
typedef struct Layout {
    uint64_t cs;
    uint64_t l1_size, l1_clusters, l1_off;
    uint64_t rt_clusters, rt_off;
    uint64_t rb_count, rb_off;
    uint64_t data_clusters;  /* preallocated: one per cluster of the virtual size */
    uint64_t l2_count;       /* preallocated L2 tables (all of l1_size) */
    uint64_t area_off;       /* the first L2 table */
    uint64_t data_off;       /* the first data cluster */
    uint64_t clusters;       /* clusters with refcount 1, header included */
    bool sparse;             /* metadata clusters written only up to their last entry */
} Layout;

static bool plan_layout(const HbQcow2CreateOpts *c, uint64_t size, Layout *l,
                        GError **errp)
{
    uint64_t cs = c->cluster_size;
    uint64_t l2_entries = cs / 8;
    uint64_t rbe = cs * 8 / c->refcount_bits;

    *l = (Layout){ .cs = cs };
    l->l1_size = ((size + cs - 1) / cs + l2_entries - 1) / l2_entries;
    l->l1_clusters = (l->l1_size * 8 + cs - 1) / cs;
    if (l->l1_size * 8 > QCOW2_MAX_L1_BYTES) {
        too_large(errp);
        return false;
    }
    if (c->prealloc != HB_QCOW2_PREALLOC_OFF) {
        l->data_clusters = (size + cs - 1) / cs;
        l->l2_count = l->l1_size;
        l->sparse = c->prealloc == HB_QCOW2_PREALLOC_METADATA;
    }
    l->rt_clusters = 1;
    l->rb_count = 1;
    for (;;) {
        l->clusters = 1 + l->rt_clusters + l->rb_count + l->l1_clusters +
                      l->l2_count + l->data_clusters;
        uint64_t rb = (l->clusters + rbe - 1) / rbe;
        uint64_t rt = (rb * 8 + cs - 1) / cs;
        if (rb == l->rb_count && rt == l->rt_clusters) {
            break;
        }
        l->rb_count = rb;
        l->rt_clusters = rt;
    }
    if (l->rt_clusters * cs > QCOW2_MAX_REFTABLE_BYTES) {
        too_large(errp);
        return false;
    }
    l->rt_off = cs;
    l->rb_off = l->rt_off + l->rt_clusters * cs;
    l->l1_off = l->rb_off + l->rb_count * cs;
    l->area_off = l->l1_off + l->l1_clusters * cs;
    l->data_off = l->area_off + l->l2_count * cs;
    /* An L2 or L1 entry holds host offsets below 2^56 only (QEMU: EFBIG). */
    if (l->data_off + l->data_clusters * cs - cs > QCOW2_OFFSET_MASK) {
        too_large(errp);
        return false;
    }
    return true;
}

/*
 * One metadata cluster.  With preallocation=metadata the file has its
 * full length already: only up to the last non-zero sector is written,
 * the rest stays a hole.  That matters beyond disk usage: QEMU (and
 * hb_qcow2_metadata_preallocated()) tell a metadata-preallocated image,
 * whose data clusters are holes that read as zeroes, by comparing the
 * clusters in use with the blocks the file holds: a sparse image is told
 * one for sure.  falloc and full write whole clusters, so that with their
 * data allocated the image is never taken for one.
 */
static int write_cluster(const HbQcow2Sink *sink, const Layout *l, uint64_t off,
                         const uint8_t *buf)
{
    size_t len = l->cs;

    if (l->sparse) {
        while (len && !buf[len - 1]) {
            len--;
        }
        len = (len + 511) & ~(size_t)511;
        if (!len) {
            return 0;
        }
    }
    return sink->write(sink->opaque, off, buf, len);
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

/*
 * @clusters clusters of a table at @at whose first @n entries point at
 * consecutive clusters from @first, with @flags: the reference table
 * (at the refcount blocks), the L1 table (at the L2 tables), and the L2
 * tables, which lie together, at the data clusters.
 */
static int write_pointers(const HbQcow2Sink *sink, const Layout *l, uint64_t at,
                          uint64_t clusters, uint64_t n, uint64_t first, uint64_t flags)
{
    uint64_t cs = l->cs, per = cs / 8;
    g_autofree uint8_t *buf = g_malloc0(cs);
    int ret = 0;

    for (uint64_t i = 0; !ret && i < clusters; i++) {
        memset(buf, 0, cs);
        for (uint64_t j = 0; j < per && i * per + j < n; j++) {
            hb_qcow2_be_put(buf + 8 * j, 8, flags | (first + (i * per + j) * cs));
        }
        ret = write_cluster(sink, l, at + i * cs, buf);
    }
    return ret;
}

/* The reference table and the refcount blocks: every cluster of the new file has refcount 1. */
static int write_refcounts(const HbQcow2Sink *sink, const HbQcow2CreateOpts *c, const Layout *l)
{
    uint64_t cs = l->cs;
    uint64_t rbe = cs * 8 / c->refcount_bits;
    HbQcow2 geo = { .refcount_bits = c->refcount_bits };
    g_autofree uint8_t *buf = g_malloc0(cs);
    int ret = write_pointers(sink, l, l->rt_off, l->rt_clusters, l->rb_count, l->rb_off, 0);

    for (uint64_t b = 0; !ret && b < l->rb_count; b++) {
        memset(buf, 0, cs);
        for (uint64_t k = 0; k < rbe && b * rbe + k < l->clusters; k++) {
            hb_qcow2_rc_set(&geo, buf, k, 1);
        }
        ret = write_cluster(sink, l, l->rb_off + b * cs, buf);
    }
    return ret;
}

/* The preallocated L2 tables: refcount 1 everywhere, so OFLAG_COPIED is set. */
static int write_l2_tables(const HbQcow2Sink *sink, const Layout *l)
{
    return write_pointers(sink, l, l->area_off, l->l2_count, l->data_clusters, l->data_off,
                          QCOW2_OFLAG_COPIED);
}

/* The L1 table: empty, or pointing at the preallocated L2 tables. */
static int write_l1(const HbQcow2Sink *sink, const Layout *l)
{
    return write_pointers(sink, l, l->l1_off, l->l1_clusters, l->l2_count, l->area_off,
                          QCOW2_OFLAG_COPIED);
}

/* The end of the file: the last data cluster's, or the L1 table's. */
static uint64_t file_end(const Layout *l)
{
    return l->data_off + l->data_clusters * l->cs;
}

/* Zeroes over [@off, @off + @len), in chunks of at most 1 MiB. */
static int write_zeroes(const HbQcow2Sink *sink, uint64_t off, uint64_t len)
{
    size_t chunk = (size_t)MIN(len, (uint64_t)1 << 20);
    g_autofree uint8_t *zero = g_malloc0(chunk);
    int ret = 0;

    for (uint64_t pos = 0; !ret && pos < len; pos += chunk) {
        ret = sink->write(sink->opaque, off + pos, zero, (size_t)MIN(chunk, len - pos));
    }
    return ret;
}

/* falloc and full: the data area up to the virtual size (as QEMU: not a last cluster's tail). */
static bool prealloc_data(const HbQcow2Sink *sink, const HbQcow2CreateOpts *c, uint64_t size,
                          const Layout *l, GError **errp)
{
    int ret = c->prealloc == HB_QCOW2_PREALLOC_FALLOC
              ? sink->allocate(sink->opaque, l->data_off, size)
              : write_zeroes(sink, l->data_off, size);

    if (ret == -EFBIG) {
        too_large(errp);
        return false;
    }
    if (ret < 0) {
        hb_error_set_errno(errp, ret, c->prealloc == HB_QCOW2_PREALLOC_FALLOC
                           ? "Could not preallocate new data"
                           : "Could not write zeros for preallocation");
        return false;
    }
    return true;
}

/*
 * Preallocation's first steps: the file long enough for every cluster
 * (the cheap test that the file system can hold it), then the data area.
 */
static bool prealloc_start(const HbQcow2Sink *sink, const HbQcow2CreateOpts *c,
                           uint64_t size, const Layout *l, GError **errp)
{
    int ret;

    /* Both callers round sizes to whole sectors: the metadata mode's last
     * sector write below relies on it. */
    g_assert(size % 512 == 0);
    ret = sink->truncate(sink->opaque, file_end(l));
    if (ret == -EFBIG) {
        too_large(errp);
        return false;
    }
    if (ret < 0) {
        hb_error_set_errno(errp, ret, "Could not resize file");
        return false;
    }
    if (c->prealloc != HB_QCOW2_PREALLOC_METADATA) {
        return prealloc_data(sink, c, size, l, errp);
    }
    /*
     * As qemu-img 7.2 does (seen, not documented): when the data does not
     * end on a 4 KiB boundary its last sector is written (zeroes), so that
     * qemu-img map describes both images alike.
     */
    static const uint8_t zero[512];
    if (size % 4096 == 0) {
        return true;
    }
    ret = sink->write(sink->opaque, l->data_off + size - sizeof(zero), zero, sizeof(zero));
    if (ret < 0) {
        hb_error_set_errno(errp, ret, "Could not write zeros for preallocation");
        return false;
    }
    return true;
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
    if ((unsigned)c->prealloc > HB_QCOW2_PREALLOC_FULL) {
        hb_error_set(errp, "Invalid preallocation mode %u", (unsigned)c->prealloc);
        return false;
    }
    /* QEMU's rule: without subclusters a preallocated cluster would hide the backing file's. */
    if (c->backing && c->prealloc != HB_QCOW2_PREALLOC_OFF) {
        hb_error_set(errp, "Backing file and preallocation can only be used at the same "
                     "time if extended_l2 is on");
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

/* A write, then a flush when preallocating: the order the crash-safety promise needs. */
static int write_step(int ret, const HbQcow2Sink *sink, const Layout *l)
{
    if (!ret && l->l2_count) {
        ret = sink->flush(sink->opaque);
    }
    return ret;
}

bool hb_qcow2_format(const HbQcow2CreateOpts *opts, uint64_t size, const HbQcow2Sink *sink,
                     GError **errp)
{
    Layout l;

    if (!check_typed(opts, size, errp) || !plan_layout(opts, size, &l, errp)) {
        return false;
    }
    g_autofree uint8_t *hdr = g_malloc0(l.cs);
    if (!build_header(opts, size, &l, hdr, errp)) {
        return false;
    }
    if (l.l2_count && !prealloc_start(sink, opts, size, &l, errp)) {
        return false;
    }
    /* Refcounts, L2 tables, L1 table, header: each durable before what points at it. */
    int ret = write_step(write_refcounts(sink, opts, &l), sink, &l);
    ret = ret ? ret : write_step(write_l2_tables(sink, &l), sink, &l);
    ret = ret ? ret : write_step(write_l1(sink, &l), sink, &l);
    ret = ret ? ret : write_cluster(sink, &l, 0, hdr);
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

static int fd_truncate(void *opaque, uint64_t len)
{
    return ftruncate(*(int *)opaque, (off_t)len) < 0 ? -errno : 0;
}

static int fd_allocate(void *opaque, uint64_t offset, uint64_t len)
{
    return -posix_fallocate(*(int *)opaque, (off_t)offset, (off_t)len);
}

static int fd_flush(void *opaque)
{
    return fdatasync(*(int *)opaque) < 0 ? -errno : 0;
}

bool hb_qcow2_create(const char *filename, int64_t size, GHashTable *opts,
                     GError **errp)
{
    g_auto(CreateOpts) c = { 0 };

    if (!take_create_opts(opts, &c, errp) ||
        !resolve_size(filename, &c.t, &size, errp)) {
        return false;
    }
    /* qemu-img's sizes are whole sectors already; the options are checked before the file is made. */
    Layout l;
    if (!check_typed(&c.t, (uint64_t)size, errp) || !plan_layout(&c.t, (uint64_t)size, &l, errp)) {
        return false;
    }
    HB_AUTOFD int fd = open(filename, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        hb_error_set_errno(errp, errno, "Could not create '%s'", filename);
        return false;
    }
    HbQcow2Sink sink = { .write = fd_write, .truncate = fd_truncate, .allocate = fd_allocate,
                         .flush = fd_flush, .opaque = &fd };
    GError *local = NULL;
    if (ftruncate(fd, 0) < 0 ||
        !hb_qcow2_format(&c.t, (uint64_t)size, &sink, &local) || fsync(fd) < 0) {
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

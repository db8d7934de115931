/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-qcow2.c — qcow2 format core: refcount packing, header checks, inflate, crash ordering, resize. */

#include "block/qcow2/qcow2.h"
#include "block/qcow2/qcow2-int.h"
#include "test-qcow2-common.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

/* ---- an in-memory image that records every write and flush ---- */

typedef struct MemOp {
    bool flush;
    uint64_t off;
    GBytes *data;
} MemOp;

typedef struct MemIo {
    GByteArray *img;
    GArray *ops;   /* MemOp */
    int flush_error;   /* -errno every flush returns (fault injection), or 0 */
} MemIo;

static int mem_preadv(void *opaque, uint64_t off, uint64_t bytes,
                      const struct iovec *iov, int niov)
{
    MemIo *m = opaque;

    for (int i = 0; i < niov; i++) {
        for (size_t k = 0; k < iov[i].iov_len; k++, off++) {
            ((uint8_t *)iov[i].iov_base)[k] = off < m->img->len ? m->img->data[off] : 0;
        }
    }
    return 0;
}

static int mem_pwritev(void *opaque, uint64_t off, uint64_t bytes,
                       const struct iovec *iov, int niov)
{
    MemIo *m = opaque;
    g_autofree uint8_t *flat = g_malloc(bytes);
    uint64_t pos = 0;

    for (int i = 0; i < niov; i++) {
        memcpy(flat + pos, iov[i].iov_base, iov[i].iov_len);
        pos += iov[i].iov_len;
    }
    if (off + bytes > m->img->len) {
        guint old = m->img->len;
        g_byte_array_set_size(m->img, off + bytes);
        memset(m->img->data + old, 0, off + bytes - old);
    }
    memcpy(m->img->data + off, flat, bytes);
    MemOp op = { .off = off, .data = g_bytes_new(flat, bytes) };
    g_array_append_val(m->ops, op);
    return 0;
}

static int mem_flush(void *opaque)
{
    MemIo *m = opaque;
    MemOp op = { .flush = true };

    if (m->flush_error) {
        return m->flush_error;
    }
    g_array_append_val(m->ops, op);
    return 0;
}

static int64_t mem_length(void *opaque)
{
    return ((MemIo *)opaque)->img->len;
}

/* Resize's preallocation: the new part as zeroes written, then a flush (durable on return). */
static int mem_grow(void *opaque, uint64_t length, HbQcow2Prealloc mode, GError **errp)
{
    MemIo *m = opaque;

    (void)mode;
    (void)errp;
    if (length > m->img->len) {
        uint64_t n = length - m->img->len;
        g_autofree uint8_t *zero = g_malloc0(n);
        struct iovec iov = { .iov_base = zero, .iov_len = n };
        mem_pwritev(m, m->img->len, n, &iov, 1);
    }
    return mem_flush(m);
}

static GByteArray *create_image(const char *opts_str, int64_t size)
{
    g_autofree char *path = g_build_filename(g_get_tmp_dir(), "hb-test-qcow2-XXXXXX", NULL);
    int fd = g_mkstemp(path);
    g_autoptr(GHashTable) opts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_auto(GStrv) kv = g_strsplit(opts_str, ",", -1);
    g_autoptr(GError) err = NULL;
    gchar *contents;
    gsize len;

    close(fd);
    for (int i = 0; kv[i]; i++) {
        char *eq = strchr(kv[i], '=');
        if (eq) {
            g_hash_table_insert(opts, g_strndup(kv[i], eq - kv[i]), g_strdup(eq + 1));
        }
    }
    g_assert_true(hb_qcow2_create(path, size, opts, &err));
    g_assert_no_error(err);
    g_assert_true(g_file_get_contents(path, &contents, &len, NULL));
    unlink(path);
    return g_byte_array_new_take((guint8 *)contents, len);
}

static HbQcow2 *open_mem(MemIo *m, bool ro)
{
    HbQcow2Io io = {
        .opaque = m, .preadv = mem_preadv, .pwritev = mem_pwritev,
        .flush = mem_flush, .get_length = mem_length, .grow = mem_grow,
    };
    HbQcow2OpenOpts oo = { .read_only = ro };
    g_autoptr(GError) err = NULL;
    HbQcow2 *s = hb_qcow2_open_image(&io, &oo, &err);

    g_assert_no_error(err);
    return s;
}

/* hb_qcow2_check() of an in-memory image, through a temporary file. */
static HbQcow2CheckResult check_bytes(const uint8_t *data, size_t len)
{
    g_autofree char *path = g_build_filename(g_get_tmp_dir(), "hb-test-qcow2-XXXXXX", NULL);
    int fd = g_mkstemp(path);
    g_autoptr(GError) err = NULL;
    g_autoptr(GString) rep = g_string_new("");
    HbQcow2CheckResult res;

    g_assert_cmpint(write(fd, data, len), ==, (ssize_t)len);
    close(fd);
    g_assert_true(hb_qcow2_check(path, &res, rep, &err));
    g_assert_no_error(err);
    if (res.corruptions) {
        g_test_message("%s", rep->str);
    }
    unlink(path);
    return res;
}

/* ---- tests ---- */

static void test_refcount_packing(void)
{
    for (unsigned order = 0; order <= 6; order++) {
        HbQcow2 s = { .refcount_bits = 1u << order };
        uint8_t block[512];
        uint64_t max = order == 6 ? UINT64_MAX : (1ull << (1u << order)) - 1;
        unsigned n = 512 * 8 >> order;

        memset(block, 0, sizeof(block));
        for (unsigned i = 0; i < n; i++) {
            hb_qcow2_rc_set(&s, block, i, (i * 2654435761u) & max);
        }
        for (unsigned i = 0; i < n; i++) {
            g_assert_cmpuint(hb_qcow2_rc_get(&s, block, i), ==, (i * 2654435761u) & max);
        }
        hb_qcow2_rc_set(&s, block, 3, max);
        g_assert_cmpuint(hb_qcow2_rc_get(&s, block, 3), ==, max);
        g_assert_cmpuint(hb_qcow2_rc_get(&s, block, 2), ==, (2 * 2654435761u) & max);
    }
    /* Sub-byte widths are LSB first: entry 0 of a 1-bit block is bit 0. */
    HbQcow2 one = { .refcount_bits = 1 };
    uint8_t b[1] = { 0 };
    hb_qcow2_rc_set(&one, b, 0, 1);
    g_assert_cmpuint(b[0], ==, 1);
    /* 16 bits are big-endian. */
    HbQcow2 sixteen = { .refcount_bits = 16 };
    uint8_t w[4] = { 0 };
    hb_qcow2_rc_set(&sixteen, w, 1, 0x0102);
    g_assert_cmpuint(w[2], ==, 1);
    g_assert_cmpuint(w[3], ==, 2);
}

/* The header of an in-memory version 3 image, through the codec. */
static HbQcow2Header hdr_of(const GByteArray *img)
{
    HbQcow2Header h = { 0 };

    hb_qcow2_header_decode(&h, img->data, img->len);
    return h;
}

/* Overwrite header field @f of an in-memory image with @v. */
static void put_field(GByteArray *img, HbQcow2Field f, uint64_t v)
{
    HbQcow2Header h = { 0 };

    hb_qcow2_header_set(&h, f, v);
    hb_qcow2_header_encode_run(&h, f, f, img->data + hb_qcow2_field_offset(f));
}

typedef struct HdrPatch {
    HbQcow2Field field;
    uint64_t value;
} HdrPatch;

/* Header fields to change, ended by QCOW2_FIELD__COUNT. */
#define PATCH(...) ((const HdrPatch[]){ __VA_ARGS__, { QCOW2_FIELD__COUNT, 0 } })

static void expect_refused(GByteArray *img, const HdrPatch *patch, bool ro,
                           const char *msg)
{
    g_autoptr(GByteArray) copy = g_byte_array_sized_new(img->len);
    g_byte_array_append(copy, img->data, img->len);
    for (; patch->field != QCOW2_FIELD__COUNT; patch++) {
        put_field(copy, patch->field, patch->value);
    }
    MemIo m = { .img = copy, .ops = g_array_new(FALSE, TRUE, sizeof(MemOp)) };
    HbQcow2Io io = {
        .opaque = &m, .preadv = mem_preadv, .pwritev = mem_pwritev,
        .flush = mem_flush, .get_length = mem_length,
    };
    HbQcow2OpenOpts oo = { .read_only = ro };
    g_autoptr(GError) err = NULL;

    g_assert_null(hb_qcow2_open_image(&io, &oo, &err));
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, msg));
    g_array_free(m.ops, TRUE);
}

static void test_header_validation(void)
{
    g_autoptr(GByteArray) img = create_image("cluster_size=4096", 1 << 20);

    expect_refused(img, PATCH({ QCOW2_FIELD_VERSION, 1 }), true,
                   "Unsupported qcow2 version 1");
    expect_refused(img, PATCH({ QCOW2_FIELD_CLUSTER_BITS, 8 }), true,
                   "unsupported cluster size");
    expect_refused(img, PATCH({ QCOW2_FIELD_INCOMPATIBLE_FEATURES, 1ull << 5 }), true,
                   "incompatible bits 0x20");
    expect_refused(img, PATCH({ QCOW2_FIELD_INCOMPATIBLE_FEATURES, QCOW2_INCOMPAT_DIRTY }),
                   false, "dirty");
    expect_refused(img, PATCH({ QCOW2_FIELD_INCOMPATIBLE_FEATURES, QCOW2_INCOMPAT_CORRUPT }),
                   false, "corrupt");
    expect_refused(img, PATCH({ QCOW2_FIELD_HEADER_LENGTH, 5000 }), true,
                   "invalid header length");
    expect_refused(img, PATCH({ QCOW2_FIELD_L1_TABLE_OFFSET, 4096 * 3 + 8 }), true,
                   "not cluster aligned");
    /* Backing name beyond the header cluster. */
    expect_refused(img, PATCH({ QCOW2_FIELD_BACKING_FILE_OFFSET, 4090 }), true,
                   "backing file name");
    expect_refused(img, PATCH({ QCOW2_FIELD_BACKING_FILE_OFFSET, 0x0fd0 },
                              { QCOW2_FIELD_BACKING_FILE_SIZE, 100 }),
                   true, "backing file name");
}

static void test_inflate(void)
{
    uint8_t src[4096], comp[8192], out[4096];
    z_stream z;

    for (int i = 0; i < 4096; i++) {
        src[i] = i % 7 == 0 ? i : 'a';
    }
    memset(&z, 0, sizeof(z));
    g_assert_cmpint(deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9,
                                 Z_DEFAULT_STRATEGY), ==, Z_OK);
    z.next_in = src;
    z.avail_in = sizeof(src);
    z.next_out = comp;
    z.avail_out = sizeof(comp);
    g_assert_cmpint(deflate(&z, Z_FINISH), ==, Z_STREAM_END);
    size_t clen = z.total_out;
    deflateEnd(&z);

    /* Trailing sector padding after the stream is fine. */
    memset(comp + clen, 0xee, 100);
    g_assert_cmpint(hb_qcow2_inflate(comp, clen + 100, out, sizeof(out)), ==, 0);
    g_assert_cmpmem(out, sizeof(out), src, sizeof(src));
    /* A truncated stream or one too short for the cluster is an error. */
    g_assert_cmpint(hb_qcow2_inflate(comp, clen / 2, out, sizeof(out)), ==, -EIO);
    uint8_t big[8192];
    g_assert_cmpint(hb_qcow2_inflate(comp, clen, big, sizeof(big)), ==, -EIO);
    memset(comp, 0xff, 64);
    g_assert_cmpint(hb_qcow2_inflate(comp, 64, out, sizeof(out)), ==, -EIO);
}

/*
 * Crash ordering: replay every prefix of the recorded write/flush sequence
 * (a SIGKILL model), and for power loss, every flush epoch with its writes
 * applied in reverse order up to each point (the device may persist them in
 * any order); no prefix may show a corruption.
 */
static void run_ops(HbQcow2 *s, unsigned seed, int nops)
{
    GRand *r = g_rand_new_with_seed(seed);
    uint64_t size = s->hdr.size;
    uint8_t buf[3000];

    for (int i = 0; i < nops; i++) {
        uint64_t len = g_rand_int_range(r, 1, sizeof(buf));
        uint64_t off = g_rand_int_range(r, 0, size - len);
        int k = g_rand_int_range(r, 0, 10);
        struct iovec iov = { .iov_base = buf, .iov_len = len };

        memset(buf, i + 1, len);
        if (k < 7) {
            g_assert_cmpint(hb_qcow2_pwritev(s, off, len, &iov, 1, false), ==, 0);
        } else if (k < 8) {
            g_assert_cmpint(hb_qcow2_pwrite_zeroes(s, off, len, true), ==, 0);
        } else if (k < 9) {
            g_assert_cmpint(hb_qcow2_pdiscard(s, off, len), ==, 0);
        } else {
            g_assert_cmpint(hb_qcow2_flush(s), ==, 0);
        }
    }
    g_rand_free(r);
}

static void apply(GByteArray *img, const MemOp *op)
{
    gsize n;
    const uint8_t *d = g_bytes_get_data(op->data, &n);

    if (op->off + n > img->len) {
        guint old = img->len;
        g_byte_array_set_size(img, op->off + n);
        memset(img->data + old, 0, op->off + n - old);
    }
    memcpy(img->data + op->off, d, n);
}

static void free_ops(GArray *ops)
{
    for (guint i = 0; i < ops->len; i++) {
        MemOp *op = &g_array_index(ops, MemOp, i);
        if (op->data) {
            g_bytes_unref(op->data);
        }
    }
    g_array_free(ops, TRUE);
}

/*
 * Replay @ops (recorded on an image that started as @initial) as a crash
 * would leave them, checking each result has at most @max corruptions.
 */
static void check_crash_replays_max(GByteArray *initial, GArray *ops, uint64_t max)
{
    /* Every prefix (process killed). */
    g_autoptr(GByteArray) replay = g_byte_array_new();
    g_byte_array_append(replay, initial->data, initial->len);
    guint step = MAX(1, ops->len / 150);
    for (guint i = 0; i < ops->len; i++) {
        const MemOp *op = &g_array_index(ops, MemOp, i);
        if (!op->flush) {
            apply(replay, op);
        }
        if (i % step == 0 || i + 1 == ops->len) {
            HbQcow2CheckResult res = check_bytes(replay->data, replay->len);
            g_assert_cmpuint(res.corruptions, <=, max);
        }
    }

    /* Power loss: within an epoch, later writes may land before earlier ones. */
    g_autoptr(GByteArray) durable = g_byte_array_new();
    g_byte_array_append(durable, initial->data, initial->len);
    guint epoch_start = 0;
    for (guint i = 0; i <= ops->len; i++) {
        bool end = i == ops->len || g_array_index(ops, MemOp, i).flush;
        if (!end) {
            continue;
        }
        for (guint keep = epoch_start; keep < i; keep += MAX(1, (i - epoch_start) / 6)) {
            g_autoptr(GByteArray) t = g_byte_array_new();
            g_byte_array_append(t, durable->data, durable->len);
            for (guint j = i; j-- > keep;) {
                apply(t, &g_array_index(ops, MemOp, j));
            }
            g_assert_cmpuint(check_bytes(t->data, t->len).corruptions, <=, max);
        }
        for (guint j = epoch_start; j < i; j++) {
            apply(durable, &g_array_index(ops, MemOp, j));
        }
        epoch_start = i + 1;
    }
}

static void check_crash_replays(GByteArray *initial, GArray *ops)
{
    check_crash_replays_max(initial, ops, 0);
}

static void test_crash_ordering(gconstpointer data)
{
    const char *opts = data;
    g_autoptr(GByteArray) initial = create_image(opts, 256 * 1024);
    g_autoptr(GByteArray) img = g_byte_array_sized_new(initial->len);
    g_byte_array_append(img, initial->data, initial->len);
    MemIo m = { .img = img, .ops = g_array_new(FALSE, TRUE, sizeof(MemOp)) };
    HbQcow2 *s = open_mem(&m, false);

    run_ops(s, 5, 120);
    g_assert_cmpint(hb_qcow2_close_image(s), ==, 0);
    hb_qcow2_free_image(s);
    g_assert_cmpuint(check_bytes(img->data, img->len).corruptions, ==, 0);
    g_assert_cmpuint(check_bytes(img->data, img->len).leaks, ==, 0);

    check_crash_replays(initial, m.ops);
    free_ops(m.ops);
}

/*
 * check -r all's rebuild of the refcount structure: a used cluster with
 * refcount 0 is repaired, and a crash anywhere in it (process killed, or
 * power lost with writes of one flush epoch reordered) leaves the damaged
 * image as it was or the repaired one, never a worse one.
 */
static void test_rebuild_refcounts_crash_safe(void)
{
    g_autoptr(GByteArray) img = create_image("cluster_size=4096", 1 << 20);
    MemIo m = { .img = img, .ops = g_array_new(FALSE, TRUE, sizeof(MemOp)) };
    HbQcow2 *s = open_mem(&m, false);
    uint8_t buf[4096];
    struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };

    memset(buf, 0x77, sizeof(buf));
    for (int i = 0; i < 12; i++) {
        g_assert_cmpint(hb_qcow2_pwritev(s, (uint64_t)i * 65536, sizeof(buf), &iov, 1,
                                         false), ==, 0);
    }
    g_assert_cmpint(hb_qcow2_close_image(s), ==, 0);
    hb_qcow2_free_image(s);

    /* A clean image's refcounts are its references: what a check counts. */
    s = open_mem(&m, true);
    uint64_t n = img->len / 4096;
    g_autofree uint32_t *refs = g_new0(uint32_t, n);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t rc;
        g_assert_cmpint(hb_qcow2_get_refcount(s, i, &rc), ==, 0);
        refs[i] = (uint32_t)rc;
    }
    g_assert_cmpuint(refs[n - 1], ==, 1);       /* the last data cluster */
    hb_qcow2_rc_set(s, img->data + (s->reftable[0] & ~511ull), n - 1, 0);
    hb_qcow2_free_image(s);
    uint64_t damage = check_bytes(img->data, img->len).corruptions;
    g_assert_cmpuint(damage, >=, 1);

    g_autoptr(GByteArray) initial = g_byte_array_new();
    g_byte_array_append(initial, img->data, img->len);
    free_ops(m.ops);
    m.ops = g_array_new(FALSE, TRUE, sizeof(MemOp));
    s = open_mem(&m, false);
    g_assert_cmpint(hb_qcow2_rebuild_refcounts(s, refs, n), ==, 0);
    hb_qcow2_free_image(s);
    HbQcow2CheckResult res = check_bytes(img->data, img->len);
    g_assert_cmpuint(res.corruptions, ==, 0);
    g_assert_cmpuint(res.leaks, ==, 0);

    check_crash_replays_max(initial, m.ops, damage);
    free_ops(m.ops);
}

/*
 * Closing writes every acknowledged write's metadata back, with no flush
 * from the guest before it; when that fails (here: the sync returns EIO),
 * close says so and leaves the image marked dirty, so it is repaired
 * before anyone writes to it again.
 */
static void test_close_writes_back(void)
{
    g_autoptr(GByteArray) img = create_image("cluster_size=65536", 64 << 20);
    MemIo m = { .img = img, .ops = g_array_new(FALSE, TRUE, sizeof(MemOp)) };
    HbQcow2 *s = open_mem(&m, false);
    uint8_t buf[4096];
    struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };

    memset(buf, 0x5a, sizeof(buf));
    for (int i = 0; i < 20; i++) {
        g_assert_cmpint(hb_qcow2_pwritev(s, (uint64_t)i * (3 << 20), sizeof(buf),
                                         &iov, 1, false), ==, 0);
    }
    g_assert_cmpint(hb_qcow2_close_image(s), ==, 0);
    hb_qcow2_free_image(s);
    g_assert_cmpuint(check_bytes(img->data, img->len).corruptions, ==, 0);
    g_assert_cmpuint(check_bytes(img->data, img->len).leaks, ==, 0);
    s = open_mem(&m, true);
    for (int i = 0; i < 20; i++) {
        memset(buf, 0, sizeof(buf));
        g_assert_cmpint(hb_qcow2_preadv(s, (uint64_t)i * (3 << 20), sizeof(buf),
                                        &iov, 1), ==, 0);
        g_assert_cmpint(buf[0], ==, 0x5a);
        g_assert_cmpint(buf[4095], ==, 0x5a);
    }
    hb_qcow2_free_image(s);
    free_ops(m.ops);
}

static void test_close_failure_marks_dirty(void)
{
    g_autoptr(GByteArray) img = create_image("cluster_size=65536", 64 << 20);
    MemIo m = { .img = img, .ops = g_array_new(FALSE, TRUE, sizeof(MemOp)) };
    HbQcow2 *s = open_mem(&m, false);
    uint8_t buf[4096] = { 1 };
    struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };

    g_assert_cmpint(hb_qcow2_pwritev(s, 1 << 20, sizeof(buf), &iov, 1, false), ==, 0);
    g_assert_cmpint(hdr_of(img).incompatible_features & QCOW2_INCOMPAT_DIRTY, ==, 0);
    m.flush_error = -EIO;
    g_assert_cmpint(hb_qcow2_close_image(s), ==, -EIO);
    hb_qcow2_free_image(s);
    g_assert_cmpint(hdr_of(img).incompatible_features & QCOW2_INCOMPAT_DIRTY, ==,
                    QCOW2_INCOMPAT_DIRTY);

    m.flush_error = 0;
    g_autoptr(GError) err = NULL;
    HbQcow2Io io = {
        .opaque = &m, .preadv = mem_preadv, .pwritev = mem_pwritev,
        .flush = mem_flush, .get_length = mem_length,
    };
    HbQcow2OpenOpts oo = { .read_only = false };
    g_assert_null(hb_qcow2_open_image(&io, &oo, &err));
    g_assert_nonnull(strstr(err->message, "Image is dirty"));
    free_ops(m.ops);
}

/*
 * A failed sync is reported once by the kernel; the next may "succeed"
 * with the data gone.  So one failed flush while open, even if every later
 * one works, leaves the image marked dirty at close.
 */
static void test_sync_failure_remembered(void)
{
    g_autoptr(GByteArray) img = create_image("cluster_size=65536", 64 << 20);
    MemIo m = { .img = img, .ops = g_array_new(FALSE, TRUE, sizeof(MemOp)) };
    HbQcow2 *s = open_mem(&m, false);
    uint8_t buf[4096] = { 2 };
    struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };

    g_assert_cmpint(hb_qcow2_pwritev(s, 1 << 20, sizeof(buf), &iov, 1, false), ==, 0);
    m.flush_error = -EIO;
    g_assert_cmpint(hb_qcow2_flush(s), ==, -EIO);   /* the guest's FLUSH fails */
    m.flush_error = 0;
    g_assert_cmpint(hb_qcow2_close_image(s), ==, 0);
    hb_qcow2_free_image(s);
    g_assert_cmpint(hdr_of(img).incompatible_features & QCOW2_INCOMPAT_DIRTY, ==,
                    QCOW2_INCOMPAT_DIRTY);
    free_ops(m.ops);
}

/* ---- block_resize (hb_qcow2_truncate) ---- */

/* Bytes of a test pattern: @seed and the guest offset, so misplaced data shows. */
static void fill_pattern(uint8_t *buf, uint64_t off, uint64_t len, unsigned seed)
{
    for (uint64_t i = 0; i < len; i++) {
        uint64_t o = off + i;
        buf[i] = (uint8_t)(seed * 37 + (o >> 9) * 11 + o * 3 + 1);
    }
}

static void write_pattern(HbQcow2 *s, uint64_t off, uint64_t len, unsigned seed)
{
    g_autofree uint8_t *buf = g_malloc(len);
    struct iovec iov = { .iov_base = buf, .iov_len = len };

    fill_pattern(buf, off, len, seed);
    g_assert_cmpint(hb_qcow2_pwritev(s, off, len, &iov, 1, false), ==, 0);
}

static void expect_pattern(HbQcow2 *s, uint64_t off, uint64_t len, unsigned seed)
{
    g_autofree uint8_t *buf = g_malloc(len);
    g_autofree uint8_t *want = g_malloc(len);
    struct iovec iov = { .iov_base = buf, .iov_len = len };

    fill_pattern(want, off, len, seed);
    g_assert_cmpint(hb_qcow2_preadv(s, off, len, &iov, 1), ==, 0);
    g_assert_cmpmem(buf, len, want, len);
}

static int truncate_expect(HbQcow2 *s, uint64_t size, int want, const char *msg)
{
    g_autoptr(GError) err = NULL;
    int ret = hb_qcow2_truncate(s, size, &err);

    g_assert_cmpint(ret, ==, want);
    if (want == 0) {
        g_assert_no_error(err);
        g_assert_cmpuint(hb_qcow2_virtual_size(s), ==, size);
    } else {
        g_assert_nonnull(err);
        g_assert_cmpstr(err->message, ==, msg);
    }
    return ret;
}

static void close_mem(HbQcow2 *s)
{
    g_assert_cmpint(hb_qcow2_close_image(s), ==, 0);
    hb_qcow2_free_image(s);
}

static void expect_clean(const GByteArray *img)
{
    HbQcow2CheckResult res = check_bytes(img->data, img->len);

    g_assert_cmpuint(res.corruptions, ==, 0);
    g_assert_cmpuint(res.leaks, ==, 0);
    g_assert_cmpuint(res.check_errors, ==, 0);
}

/* Run qemu-img with @args (NULL-terminated) on @path; return its exit status. */
static int run_qemu_img(const char *qemu_img, const char *const *args, const char *path,
                        char **out)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autofree char *err = NULL;
    g_autofree char *ignored = NULL;
    g_autoptr(GError) gerr = NULL;
    int status = -1;

    if (!out) {
        out = &ignored;  /* not into the TAP stream */
    }

    g_ptr_array_add(argv, (char *)qemu_img);
    for (int i = 0; args[i]; i++) {
        g_ptr_array_add(argv, (char *)args[i]);
    }
    g_ptr_array_add(argv, (char *)path);
    g_ptr_array_add(argv, NULL);
    g_assert_true(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                               out, &err, &status, &gerr));
    g_assert_no_error(gerr);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        g_test_message("qemu-img %s: %s", args[0], err ? err : "");
        return -1;
    }
    return 0;
}

/*
 * The oracle: qemu-img check finds no error or leak, qemu-img info
 * reports @vsize, and (with @s, for small images) qemu-img convert to raw
 * gives the bytes our read path gives.  Without qemu-img the test fails:
 * a test that passes without checking would hide that nothing was checked.
 */
static void qemu_img_verify(const GByteArray *img, uint64_t vsize, HbQcow2 *s)
{
    g_autofree char *qemu_img = g_find_program_in_path("qemu-img");
    if (!qemu_img) {
        g_test_fail_printf("qemu-img is not installed (on PATH): the oracle checks "
                           "cannot run; install qemu-utils");
        return;
    }
    g_autofree char *path = g_build_filename(g_get_tmp_dir(), "hb-test-qcow2-XXXXXX", NULL);
    int fd = g_mkstemp(path);
    g_assert_cmpint(write(fd, img->data, img->len), ==, (ssize_t)img->len);
    close(fd);

    g_autofree char *out = NULL;
    const char *check[] = { "check", "-f", "qcow2", NULL };
    g_assert_cmpint(run_qemu_img(qemu_img, check, path, NULL), ==, 0);
    const char *info[] = { "info", "--output=json", "-f", "qcow2", NULL };
    g_assert_cmpint(run_qemu_img(qemu_img, info, path, &out), ==, 0);
    g_autofree char *want = g_strdup_printf("\"virtual-size\": %" G_GUINT64_FORMAT ",", vsize);
    g_assert_nonnull(strstr(out, want));

    if (s) {
        g_autofree char *raw = g_strconcat(path, ".raw", NULL);
        const char *conv[] = { "convert", "-f", "qcow2", "-O", "raw", path, NULL };
        g_autoptr(GPtrArray) a = g_ptr_array_new();
        for (int i = 0; conv[i]; i++) {
            g_ptr_array_add(a, (char *)conv[i]);
        }
        g_ptr_array_add(a, NULL);
        g_assert_cmpint(run_qemu_img(qemu_img, (const char *const *)a->pdata, raw, NULL), ==, 0);
        gchar *theirs;
        gsize len;
        g_assert_true(g_file_get_contents(raw, &theirs, &len, NULL));
        g_assert_cmpuint(len, ==, vsize);
        g_autofree uint8_t *ours = g_malloc(vsize);
        struct iovec iov = { .iov_base = ours, .iov_len = vsize };
        g_assert_cmpint(hb_qcow2_preadv(s, 0, vsize, &iov, 1), ==, 0);
        g_assert_true(memcmp(ours, theirs, vsize) == 0);
        g_free(theirs);
        unlink(raw);
    }
    unlink(path);
}

/*
 * qemu-img resize --preallocation: with 512-byte clusters the growth needs
 * a bigger L1 table, new L2 tables and new refcount blocks.  Every new
 * cluster is mapped, reads zeroes and is written in place; the image is
 * clean, and a crash anywhere (process killed, or power lost) leaves no
 * corruption: the run's refcounts are durable before an L2 entry names it.
 */
static void test_resize_prealloc(gconstpointer data)
{
    HbQcow2Prealloc mode = (HbQcow2Prealloc)GPOINTER_TO_INT(data);
    uint64_t old = 64 * 1024 + 1536, size = (3 << 20) + 1024;
    g_autoptr(GByteArray) initial = create_image("cluster_size=512", (int64_t)old);
    g_autoptr(GByteArray) img = g_byte_array_sized_new(initial->len);
    g_byte_array_append(img, initial->data, initial->len);
    MemIo m = { .img = img, .ops = g_array_new(FALSE, TRUE, sizeof(MemOp)) };
    HbQcow2 *s = open_mem(&m, false);
    g_autoptr(GError) err = NULL;

    write_pattern(s, 0, 5000, 1);
    write_pattern(s, old - 1000, 1000, 2);
    g_assert_cmpint(hb_qcow2_truncate_prealloc(s, size, mode, &err), ==, 0);
    g_assert_no_error(err);
    g_assert_cmpuint(hb_qcow2_virtual_size(s), ==, size);
    for (uint64_t off = old; off < size; off += s->cluster_size) {
        uint64_t entry;
        g_assert_cmpint(hb_qcow2_get_l2_entry(s, off, &entry), ==, 0);
        g_assert_cmpuint(entry & QCOW2_OFFSET_MASK, !=, 0);
        g_assert_cmpuint(entry & (QCOW2_OFLAG_ZERO | QCOW2_OFLAG_COMPRESSED), ==, 0);
    }
    expect_pattern(s, 0, 5000, 1);
    expect_pattern(s, old - 1000, 1000, 2);
    expect_fill(s, old, size - old, 0);
    /* Preallocated: writing the new area does not grow the file. */
    guint len = img->len;
    write_pattern(s, old, 3000, 3);
    write_pattern(s, size - 3000, 3000, 4);
    g_assert_cmpuint(img->len, ==, len);
    expect_pattern(s, size - 3000, 3000, 4);
    close_mem(s);
    expect_clean(img);
    qemu_img_verify(img, size, NULL);

    check_crash_replays(initial, m.ops);
    free_ops(m.ops);
}

/* Grow within the L1 table: only the header's size changes. */
static void test_resize_within_l1(void)
{
    g_autoptr(GByteArray) img = create_image("cluster_size=65536", (1 << 20) + 512);
    MemIo m = { .img = img, .ops = g_array_new(FALSE, TRUE, sizeof(MemOp)) };
    HbQcow2 *s = open_mem(&m, false);
    uint64_t old = (1 << 20) + 512, size = 100 << 20;
    uint64_t l1_off = s->hdr.l1_table_offset;

    write_pattern(s, 0, 4096, 1);
    write_pattern(s, old - 3000, 3000, 2);
    /*
     * Stale bytes past the old end in the last cluster (as a shrink by
     * another tool could leave them) must not reappear.
     */
    uint64_t entry;
    g_assert_cmpint(hb_qcow2_get_l2_entry(s, old - 1, &entry), ==, 0);
    g_assert_cmpint(hb_qcow2_flush(s), ==, 0);
    memset(img->data + (entry & QCOW2_OFFSET_MASK) + (old & s->cluster_mask), 0xee, 512);

    truncate_expect(s, size, 0, NULL);
    g_assert_cmpuint(s->hdr.l1_table_offset, ==, l1_off);
    g_assert_cmpuint(s->l1_size, ==, 1);
    expect_pattern(s, 0, 4096, 1);
    expect_pattern(s, old - 3000, 3000, 2);
    expect_fill(s, old, 256 * 1024, 0);
    expect_fill(s, size - 8192, 8192, 0);
    write_pattern(s, size - 5000, 5000, 3);
    expect_pattern(s, size - 5000, 5000, 3);
    close_mem(s);

    s = open_mem(&m, false);
    g_assert_cmpuint(hb_qcow2_virtual_size(s), ==, size);
    expect_pattern(s, 0, 4096, 1);
    expect_pattern(s, old - 3000, 3000, 2);
    expect_fill(s, old, 4096, 0);
    expect_pattern(s, size - 5000, 5000, 3);
    close_mem(s);
    expect_clean(img);
    qemu_img_verify(img, size, NULL);
    free_ops(m.ops);
}

typedef struct ResizeCase {
    const char *opts;
    uint64_t old_size;
    uint64_t sizes[3];   /* successive grows, 0-terminated */
    bool oracle_compare; /* small enough to compare all bytes with qemu-img's */
} ResizeCase;

/*
 * Grow past the L1 table (relocated each time), with data written before
 * and after; reopen; qemu-img agrees; and every crash point of the whole
 * sequence leaves a consistent image.
 */
static void test_resize_l1(gconstpointer data)
{
    const ResizeCase *c = data;
    g_autoptr(GByteArray) initial = create_image(c->opts, c->old_size);
    g_autoptr(GByteArray) img = g_byte_array_sized_new(initial->len);
    g_byte_array_append(img, initial->data, initial->len);
    MemIo m = { .img = img, .ops = g_array_new(FALSE, TRUE, sizeof(MemOp)) };
    HbQcow2 *s = open_mem(&m, false);
    uint64_t prev = c->old_size;
    unsigned seed = 10;

    write_pattern(s, 0, 7000, seed);
    write_pattern(s, prev / 2 + 100, 20000, seed + 1);
    write_pattern(s, prev - 4096, 4096, seed + 2);
    for (int i = 0; i < 3 && c->sizes[i]; i++) {
        uint64_t size = c->sizes[i];
        uint64_t l1_off = s->hdr.l1_table_offset;
        uint64_t want_l1 = ((size + s->cluster_mask) / s->cluster_size + s->l2_size - 1) /
                           s->l2_size;

        g_assert_cmpuint(want_l1, >, s->l1_size);
        truncate_expect(s, size, 0, NULL);
        g_assert_cmpuint(s->l1_size, ==, want_l1);
        g_assert_cmpuint(s->hdr.l1_table_offset, !=, l1_off);
        /* The header names the new table. */
        HbQcow2Header h = hdr_of(img);
        g_assert_cmpuint(h.l1_size, ==, want_l1);
        g_assert_cmpuint(h.l1_table_offset, ==, s->hdr.l1_table_offset);
        g_assert_cmpuint(h.size, ==, size);

        expect_pattern(s, 0, 7000, 10);
        expect_pattern(s, c->old_size / 2 + 100, 20000, 11);
        expect_pattern(s, c->old_size - 4096, 4096, 12);
        expect_fill(s, prev, 8192, 0);
        expect_fill(s, size - 4096, 4096, 0);
        /* New area: the first and the last L2 ranges, and one in between. */
        seed += 3;
        write_pattern(s, prev, 3000, seed);
        write_pattern(s, prev + (size - prev) / 2 + 777, 9000, seed + 1);
        write_pattern(s, size - 6000, 6000, seed + 2);
        expect_pattern(s, prev, 3000, seed);
        expect_pattern(s, prev + (size - prev) / 2 + 777, 9000, seed + 1);
        expect_pattern(s, size - 6000, 6000, seed + 2);
        /* The old area is still writable where it had no data. */
        write_pattern(s, c->old_size / 4, 1500, seed + 40);
        expect_pattern(s, c->old_size / 4, 1500, seed + 40);
        prev = size;
    }
    close_mem(s);
    expect_clean(img);

    s = open_mem(&m, false);
    g_assert_cmpuint(hb_qcow2_virtual_size(s), ==, prev);
    expect_pattern(s, 0, 7000, 10);
    expect_pattern(s, c->old_size - 4096, 4096, 12);
    expect_pattern(s, prev - 6000, 6000, seed + 2);
    qemu_img_verify(img, prev, c->oracle_compare ? s : NULL);
    close_mem(s);

    check_crash_replays(initial, m.ops);
    free_ops(m.ops);
}

/* Refusals, with QEMU's texts; none of them writes anything. */
static void test_resize_refused(void)
{
    g_autoptr(GByteArray) img = create_image("cluster_size=65536", 1 << 20);
    MemIo m = { .img = img, .ops = g_array_new(FALSE, TRUE, sizeof(MemOp)) };
    HbQcow2 *s = open_mem(&m, false);

    truncate_expect(s, (2 << 20) + 100, -EINVAL, "The new size must be a multiple of 512");
    truncate_expect(s, 512 * 1024, -ENOTSUP, "qcow2 doesn't support shrinking images yet");
    truncate_expect(s, 1 << 20, 0, NULL);  /* same size: nothing to do */
    truncate_expect(s, 1ull << 62, -EFBIG, "Failed to grow the L1 table: File too large");
    g_assert_cmpuint(m.ops->len, ==, 0);
    close_mem(s);
    guint nops = m.ops->len;  /* close flushed */

    /* A read-only image (the node layer refuses first; the core checks too). */
    s = open_mem(&m, true);
    truncate_expect(s, 2 << 20, -EACCES, "Image is read-only");
    close_mem(s);

    /* Internal snapshots (such images open read-only only). */
    put_field(img, QCOW2_FIELD_NB_SNAPSHOTS, 1);
    s = open_mem(&m, true);
    truncate_expect(s, 2 << 20, -ENOTSUP, "Can't resize an image which has snapshots");
    close_mem(s);
    g_autoptr(GByteArray) v2 = create_image("compat=0.10", 1 << 20);
    put_field(v2, QCOW2_FIELD_NB_SNAPSHOTS, 1);
    MemIo m2 = { .img = v2, .ops = m.ops };
    s = open_mem(&m2, true);
    truncate_expect(s, 2 << 20, -ENOTSUP, "Can't resize a v2 image which has snapshots");
    close_mem(s);
    g_assert_cmpuint(m.ops->len, ==, nops);
    free_ops(m.ops);
}

/* ---- a backing file in memory ---- */

typedef struct MemBacking {
    uint64_t len;
    uint8_t byte;
} MemBacking;

static int backing_preadv(void *opaque, uint64_t off, uint64_t bytes,
                          const struct iovec *iov, int niov)
{
    MemBacking *b = opaque;

    g_assert_cmpuint(off + bytes, <=, b->len);
    for (int i = 0; i < niov; i++) {
        memset(iov[i].iov_base, b->byte, iov[i].iov_len);
    }
    return 0;
}

static HbQcow2 *open_with_backing(MemIo *m, MemBacking *b)
{
    HbQcow2 *s = open_mem(m, false);

    s->backing.opaque = b;
    s->backing.preadv = backing_preadv;
    s->backing.length = b->len;
    return s;
}

/*
 * A backing file longer than the image: the new area must read as
 * zeroes, not as backing data (QEMU zero-fills it); the old area still
 * shows the backing file.
 */
static void test_resize_backing(void)
{
    uint64_t old = (1 << 20) + 512, mid = 3 << 20, size = 8 << 20;
    g_autoptr(GByteArray) initial = create_image("cluster_size=4096", old);
    g_autoptr(GByteArray) img = g_byte_array_sized_new(initial->len);
    g_byte_array_append(img, initial->data, initial->len);
    MemIo m = { .img = img, .ops = g_array_new(FALSE, TRUE, sizeof(MemOp)) };
    MemBacking b = { .len = 5 << 20, .byte = 0xab };
    HbQcow2 *s = open_with_backing(&m, &b);
    uint64_t entry;

    expect_fill(s, 0, 4096, 0xab);
    /* Copy on write fills the last cluster's tail past the end with backing data. */
    write_pattern(s, old - 1024, 512, 1);
    truncate_expect(s, mid, 0, NULL);
    expect_fill(s, old - 512, 512, 0xab);
    expect_pattern(s, old - 1024, 512, 1);
    expect_fill(s, old, mid - old, 0);
    expect_fill(s, 8192, 4096, 0xab);
    /* Within the backing file: zero flags; past it nothing is allocated. */
    truncate_expect(s, size, 0, NULL);
    expect_fill(s, old, size - old, 0);
    g_assert_cmpint(hb_qcow2_get_l2_entry(s, mid + 4096, &entry), ==, 0);
    g_assert_cmpuint(entry, ==, QCOW2_OFLAG_ZERO);
    g_assert_cmpint(hb_qcow2_get_l2_entry(s, b.len - 4096, &entry), ==, 0);
    g_assert_cmpuint(entry, ==, QCOW2_OFLAG_ZERO);
    g_assert_cmpint(hb_qcow2_get_l2_entry(s, b.len, &entry), ==, 0);
    g_assert_cmpuint(entry, ==, 0);
    write_pattern(s, b.len - 100, 600, 2);
    close_mem(s);
    expect_clean(img);

    s = open_with_backing(&m, &b);
    g_assert_cmpuint(hb_qcow2_virtual_size(s), ==, size);
    expect_fill(s, 0, 4096, 0xab);
    expect_pattern(s, old - 1024, 512, 1);
    expect_fill(s, old, b.len - 100 - old, 0);
    expect_pattern(s, b.len - 100, 600, 2);
    expect_fill(s, b.len + 500, size - b.len - 500, 0);
    close_mem(s);
    check_crash_replays(initial, m.ops);
    free_ops(m.ops);

    /*
     * v2 has no zero flag: QEMU fails to zero out the new clusters and so
     * refuses, unless the backing file ends before the new clusters.
     */
    g_autoptr(GByteArray) v2 = create_image("cluster_size=4096,compat=0.10", old);
    MemIo m2 = { .img = v2, .ops = g_array_new(FALSE, TRUE, sizeof(MemOp)) };
    s = open_with_backing(&m2, &b);
    truncate_expect(s, mid, -ENOTSUP,
                    "Failed to zero out new clusters: Operation not supported");
    g_assert_cmpuint(m2.ops->len, ==, 0);
    truncate_expect(s, old + 1024, 0, NULL);   /* within the last cluster */
    expect_fill(s, old - 512, 512, 0xab);
    expect_fill(s, old, 1024, 0);
    /* A backing file shorter than the image: nothing to hide. */
    b.len = old - 4096;
    s->backing.length = b.len;
    truncate_expect(s, mid, 0, NULL);
    expect_fill(s, old - 512, 512, 0xab);  /* copied into the last cluster */
    expect_fill(s, old, mid - old, 0);
    close_mem(s);
    expect_clean(v2);
    free_ops(m2.ops);
}

/* ---- growing while other threads read and write ---- */

#define CONC_BLOCK 4096
#define CONC_HOT (8u << 20)   /* allocated before the threads start */

typedef struct ConcState {
    HbQcow2 *s;
    uint8_t *gen;        /* per block: generation last written, 0 = never */
    gint stop;
    unsigned parity;     /* this thread's blocks: index % 2 == parity */
    uint64_t ops;
} ConcState;

static void conc_fill(uint8_t *buf, uint64_t block, uint8_t gen)
{
    fill_pattern(buf, block * CONC_BLOCK, CONC_BLOCK, gen);
}

static void conc_write(HbQcow2 *s, uint8_t *gen, uint64_t block)
{
    uint8_t buf[CONC_BLOCK];
    struct iovec iov = { .iov_base = buf, .iov_len = CONC_BLOCK };
    uint8_t g = (uint8_t)(gen[block] % 250 + 1);

    conc_fill(buf, block, g);
    g_assert_cmpint(hb_qcow2_pwritev(s, block * CONC_BLOCK, CONC_BLOCK, &iov, 1, false), ==, 0);
    gen[block] = g;
}

static void conc_verify(HbQcow2 *s, uint64_t block, uint8_t gen)
{
    uint8_t buf[CONC_BLOCK], want[CONC_BLOCK];
    struct iovec iov = { .iov_base = buf, .iov_len = CONC_BLOCK };

    g_assert_cmpint(hb_qcow2_preadv(s, block * CONC_BLOCK, CONC_BLOCK, &iov, 1), ==, 0);
    if (gen) {
        conc_fill(want, block, gen);
    } else {
        memset(want, 0, sizeof(want));
    }
    if (memcmp(buf, want, CONC_BLOCK) != 0) {
        g_error("block %" G_GUINT64_FORMAT " (gen %u) reads wrong", block, gen);
    }
}

/*
 * Mostly overwrites of allocated blocks (the path that checks the L1 table
 * for overlaps under map_lock alone) and reads; some writes anywhere in the
 * current size, the area just added included.
 */
static gpointer conc_worker(gpointer opaque)
{
    ConcState *c = opaque;
    GRand *r = g_rand_new_with_seed(1234 + c->parity);

    while (!g_atomic_int_get(&c->stop)) {
        int k = g_rand_int_range(r, 0, 8);
        uint64_t span = k == 0 ? hb_qcow2_virtual_size(c->s) : CONC_HOT;
        uint64_t block = g_rand_int_range(r, 0, (gint32)(span / CONC_BLOCK / 2)) * 2 + c->parity;

        if (k < 5) {
            conc_write(c->s, c->gen, block);
        } else {
            conc_verify(c->s, block, c->gen[block]);
        }
        __atomic_add_fetch(&c->ops, 1, __ATOMIC_RELAXED);   /* read by the test thread */
    }
    g_rand_free(r);
    return NULL;
}

/* The fd Io without fdatasync: durability is not what this test is about. */
static int no_flush(void *opaque)
{
    return 0;
}

static void test_resize_concurrent(void)
{
    g_autofree char *path = g_build_filename(g_get_tmp_dir(), "hb-test-qcow2-XXXXXX", NULL);
    int fd = g_mkstemp(path);
    g_autoptr(GHashTable) opts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autoptr(GError) err = NULL;
    const uint64_t max = 3ull << 30;
    HbQcow2Io io;
    HbQcow2OpenOpts oo = { 0 };

    close(fd);
    g_hash_table_insert(opts, g_strdup("cluster_size"), g_strdup("4096"));
    g_assert_true(hb_qcow2_create(path, CONC_HOT, opts, &err));
    g_assert_no_error(err);
    fd = open(path, O_RDWR);
    g_assert_cmpint(fd, >=, 0);
    hb_qcow2_io_from_fd(&io, &fd);
    io.flush = no_flush;
    HbQcow2 *s = hb_qcow2_open_image(&io, &oo, &err);
    g_assert_no_error(err);

    g_autofree uint8_t *gen = g_malloc0(max / CONC_BLOCK);
    for (uint64_t b = 0; b < CONC_HOT / CONC_BLOCK; b++) {
        conc_write(s, gen, b);
    }
    ConcState c[2];
    GThread *t[2];
    for (int i = 0; i < 2; i++) {
        c[i] = (ConcState){ .s = s, .gen = gen, .parity = i };
        t[i] = g_thread_new("qcow2-io", conc_worker, &c[i]);
    }
    /*
     * One L1 entry maps 2 MiB: each step moves the table (the last one to
     * two clusters).
     */
    gint64 t0 = g_get_monotonic_time();
    unsigned moves = 0;
    for (uint64_t size = CONC_HOT + (2 << 20); size <= max;
         size = size < (400u << 20) ? size + (2 << 20) : max) {
        uint64_t l1_off = s->hdr.l1_table_offset;
        g_assert_cmpint(hb_qcow2_truncate(s, size, &err), ==, 0);
        g_assert_no_error(err);
        g_assert_cmpuint(s->hdr.l1_table_offset, !=, l1_off);
        moves++;
        if (size == max) {
            break;
        }
    }
    /*
     * Both workers must have run during the moves; on a loaded machine a
     * thread may not have been scheduled yet in the few ms they take, so
     * wait for each one's first request (bounded) rather than for a fixed
     * time.
     */
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    for (int i = 0; i < 2; i++) {
        while (__atomic_load_n(&c[i].ops, __ATOMIC_RELAXED) == 0 &&
               g_get_monotonic_time() < deadline) {
            g_usleep(1000);
        }
    }
    for (int i = 0; i < 2; i++) {
        g_atomic_int_set(&c[i].stop, 1);
        g_thread_join(t[i]);
        g_test_message("thread %d: %" G_GUINT64_FORMAT " requests", i, c[i].ops);
        g_assert_cmpuint(c[i].ops, >, 0);
    }
    g_test_message("%u L1 moves in %" G_GINT64_FORMAT " ms", moves,
                   (g_get_monotonic_time() - t0) / 1000);
    g_assert_cmpuint(s->l1_size, ==, max >> 21);

    /* Every block written reads back, before and after reopening. */
    for (int pass = 0; pass < 2; pass++) {
        for (uint64_t b = 0; b < max / CONC_BLOCK; b++) {
            if (gen[b]) {
                conc_verify(s, b, gen[b]);
            }
        }
        conc_verify(s, max / CONC_BLOCK - 1, gen[max / CONC_BLOCK - 1]);
        g_assert_cmpint(hb_qcow2_close_image(s), ==, 0);
        hb_qcow2_free_image(s);
        s = hb_qcow2_open_image(&io, &oo, &err);
        g_assert_no_error(err);
        g_assert_cmpuint(hb_qcow2_virtual_size(s), ==, max);
    }
    hb_qcow2_free_image(s);
    close(fd);

    HbQcow2CheckResult res;
    g_assert_true(hb_qcow2_check(path, &res, NULL, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(res.corruptions, ==, 0);
    g_assert_cmpuint(res.leaks, ==, 0);
    g_autofree char *qemu_img = g_find_program_in_path("qemu-img");
    if (qemu_img) {
        const char *check[] = { "check", "-f", "qcow2", NULL };
        g_assert_cmpint(run_qemu_img(qemu_img, check, path, NULL), ==, 0);
    }
    unlink(path);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qcow2/refcount-packing", test_refcount_packing);
    g_test_add_func("/qcow2/header-validation", test_header_validation);
    g_test_add_func("/qcow2/inflate", test_inflate);
    g_test_add_data_func("/qcow2/crash-ordering/64k", "cluster_size=65536",
                         test_crash_ordering);
    g_test_add_data_func("/qcow2/crash-ordering/512-refcount64",
                         "cluster_size=512,refcount_bits=64", test_crash_ordering);
    g_test_add_data_func("/qcow2/crash-ordering/1k-v2", "cluster_size=1024,compat=0.10",
                         test_crash_ordering);
    g_test_add_func("/qcow2/close/writes-back", test_close_writes_back);
    g_test_add_func("/qcow2/close/failure-marks-dirty", test_close_failure_marks_dirty);
    g_test_add_func("/qcow2/close/sync-failure-remembered", test_sync_failure_remembered);
    g_test_add_func("/qcow2/resize/within-l1", test_resize_within_l1);
    static const ResizeCase l1_512 = {
        "cluster_size=512", 1 << 20, { 3 << 20, 8 << 20 }, true };
    static const ResizeCase l1_512_rc64 = {
        "cluster_size=512,refcount_bits=64", 1 << 20, { 256 << 20 }, false };
    static const ResizeCase l1_v2 = {
        "cluster_size=1024,compat=0.10", 2 << 20, { 64 << 20, 160 << 20 }, false };
    g_test_add_data_func("/qcow2/resize/l1/512", &l1_512, test_resize_l1);
    g_test_add_data_func("/qcow2/resize/l1/512-refcount64", &l1_512_rc64, test_resize_l1);
    g_test_add_data_func("/qcow2/resize/l1/1k-v2", &l1_v2, test_resize_l1);
    g_test_add_func("/qcow2/resize/refused", test_resize_refused);
    g_test_add_data_func("/qcow2/resize/prealloc/metadata",
                         GINT_TO_POINTER(HB_QCOW2_PREALLOC_METADATA), test_resize_prealloc);
    g_test_add_data_func("/qcow2/resize/prealloc/full",
                         GINT_TO_POINTER(HB_QCOW2_PREALLOC_FULL), test_resize_prealloc);
    g_test_add_func("/qcow2/resize/backing", test_resize_backing);
    g_test_add_func("/qcow2/resize/concurrent", test_resize_concurrent);
    g_test_add_func("/qcow2/repair/rebuild-crash-safe", test_rebuild_refcounts_crash_safe);
    return g_test_run();
}

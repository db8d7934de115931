/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-qcow2.c — qcow2 format core: refcount packing, header checks, inflate, crash ordering. */

#include "block/qcow2/qcow2.h"
#include "block/qcow2/qcow2-int.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
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

    g_array_append_val(m->ops, op);
    return 0;
}

static int64_t mem_length(void *opaque)
{
    return ((MemIo *)opaque)->img->len;
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
        .flush = mem_flush, .get_length = mem_length,
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

static void expect_refused(GByteArray *img, size_t off, const void *patch, size_t n,
                           bool ro, const char *msg)
{
    g_autoptr(GByteArray) copy = g_byte_array_sized_new(img->len);
    g_byte_array_append(copy, img->data, img->len);
    memcpy(copy->data + off, patch, n);
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
    uint32_t be32;
    uint64_t be64;

    be32 = GUINT32_TO_BE(1);
    expect_refused(img, 4, &be32, 4, true, "Unsupported qcow2 version 1");
    be32 = GUINT32_TO_BE(8);
    expect_refused(img, 20, &be32, 4, true, "unsupported cluster size");
    be64 = GUINT64_TO_BE(1ull << 5);
    expect_refused(img, 72, &be64, 8, true, "incompatible bits 0x20");
    be64 = GUINT64_TO_BE(QCOW2_INCOMPAT_DIRTY);
    expect_refused(img, 72, &be64, 8, false, "dirty");
    be64 = GUINT64_TO_BE(QCOW2_INCOMPAT_CORRUPT);
    expect_refused(img, 72, &be64, 8, false, "corrupt");
    be32 = GUINT32_TO_BE(5000);
    expect_refused(img, 100, &be32, 4, true, "invalid header length");
    be64 = GUINT64_TO_BE(4096 * 3 + 8);
    expect_refused(img, 40, &be64, 8, true, "not cluster aligned");
    /* Backing name beyond the header cluster. */
    be64 = GUINT64_TO_BE(4090);
    expect_refused(img, 8, &be64, 8, true, "backing file name");
    uint8_t both[12] = { 0, 0, 0, 0, 0, 0, 0x0f, 0xd0, 0, 0, 0, 100 };
    expect_refused(img, 8, both, sizeof(both), true, "backing file name");
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

    /* Every prefix (process killed). */
    g_autoptr(GByteArray) replay = g_byte_array_new();
    g_byte_array_append(replay, initial->data, initial->len);
    guint step = MAX(1, m.ops->len / 150);
    for (guint i = 0; i < m.ops->len; i++) {
        const MemOp *op = &g_array_index(m.ops, MemOp, i);
        if (!op->flush) {
            apply(replay, op);
        }
        if (i % step == 0 || i + 1 == m.ops->len) {
            HbQcow2CheckResult res = check_bytes(replay->data, replay->len);
            g_assert_cmpuint(res.corruptions, ==, 0);
        }
    }

    /* Power loss: within an epoch, later writes may land before earlier ones. */
    g_autoptr(GByteArray) durable = g_byte_array_new();
    g_byte_array_append(durable, initial->data, initial->len);
    guint epoch_start = 0;
    for (guint i = 0; i <= m.ops->len; i++) {
        bool end = i == m.ops->len || g_array_index(m.ops, MemOp, i).flush;
        if (!end) {
            continue;
        }
        for (guint keep = epoch_start; keep < i; keep += MAX(1, (i - epoch_start) / 6)) {
            g_autoptr(GByteArray) t = g_byte_array_new();
            g_byte_array_append(t, durable->data, durable->len);
            for (guint j = i; j-- > keep;) {
                apply(t, &g_array_index(m.ops, MemOp, j));
            }
            g_assert_cmpuint(check_bytes(t->data, t->len).corruptions, ==, 0);
        }
        for (guint j = epoch_start; j < i; j++) {
            apply(durable, &g_array_index(m.ops, MemOp, j));
        }
        epoch_start = i + 1;
    }

    for (guint i = 0; i < m.ops->len; i++) {
        MemOp *op = &g_array_index(m.ops, MemOp, i);
        if (op->data) {
            g_bytes_unref(op->data);
        }
    }
    g_array_free(m.ops, TRUE);
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
    return g_test_run();
}

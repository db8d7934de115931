/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-qcow2-compress.c — compressed cluster writes: the L2 descriptor, byte-granular packing, refcounts. */

#include "block/qcow2/qcow2.h"
#include "block/qcow2/qcow2-int.h"
#include "test-qcow2-common.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* ---- the descriptor (qcow2.txt, "Compressed Clusters Descriptor") ---- */

static uint64_t encode(unsigned cluster_bits, uint64_t off, uint64_t len)
{
    HbQcow2 s = { .hdr.cluster_bits = cluster_bits, .cluster_size = 1u << cluster_bits };
    uint64_t e = 0;

    g_assert_cmpint(hb_qcow2_compressed_entry(&s, off, len, &e), ==, 0);
    return e;
}

/* Values worked out by hand from the spec's bit layout. */
static void test_descriptor_layout(void)
{
    /* 64 KiB clusters: x = 62 - 8 = 54; bytes 66051..67050 are sectors 129..130. */
    g_assert_cmphex(encode(16, 66051, 1000), ==, (1ull << 62) | (1ull << 54) | 66051);
    /* One sector: no additional ones. */
    g_assert_cmphex(encode(16, 0x30000, 512), ==, (1ull << 62) | 0x30000);
    /* 512-byte clusters: x = 61, one bit of sector count. */
    g_assert_cmphex(encode(9, 1000, 100), ==, (1ull << 62) | (1ull << 61) | 1000);
    g_assert_cmphex(encode(9, 1024, 100), ==, (1ull << 62) | 1024);
    /* 2 MiB clusters: x = 49; a stream of cluster size - 1 from mid-sector takes 4096 more. */
    g_assert_cmphex(encode(21, (5ull << 21) + 7, (2u << 20) - 1), ==,
                    (1ull << 62) | (4096ull << 49) | ((5ull << 21) + 7));
}

/* Every encoding decodes to the sectors holding the stream, and never sets OFLAG_COPIED. */
static void test_descriptor_roundtrip(void)
{
    for (unsigned bits = 9; bits <= 21; bits++) {
        HbQcow2 s = { .hdr.cluster_bits = bits, .cluster_size = 1u << bits };
        uint64_t offs[] = { 512, 513, (1ull << bits) * 3 - 1, (1ull << (62 - (bits - 8))) - 1 };
        uint64_t lens[] = { 1, 511, 512, 513, (1ull << bits) - 1 };

        for (unsigned i = 0; i < G_N_ELEMENTS(offs); i++) {
            for (unsigned j = 0; j < G_N_ELEMENTS(lens) && lens[j] < s.cluster_size; j++) {
                uint64_t e = 0, off, len;
                g_assert_cmpint(hb_qcow2_compressed_entry(&s, offs[i], lens[j], &e), ==, 0);
                g_assert_true(e & QCOW2_OFLAG_COMPRESSED);
                g_assert_false(e & QCOW2_OFLAG_COPIED);
                hb_qcow2_compressed_loc(&s, e, &off, &len);
                g_assert_cmpuint(off, ==, offs[i]);
                g_assert_cmpuint(off + len, ==, (offs[i] + lens[j] + 511) & ~511ull);
            }
        }
        uint64_t e = 0;
        g_assert_cmpint(hb_qcow2_compressed_entry(&s, 1ull << (62 - (bits - 8)), 1, &e),
                        ==, -EFBIG);
    }
}

/* ---- writes into an image file ---- */

static char *make_image(uint64_t size, const char *cluster_size, const char *refcount_bits)
{
    char *path = g_build_filename(g_get_tmp_dir(), "hb-test-qcow2-compress-XXXXXX", NULL);
    int fd = g_mkstemp(path);
    g_autoptr(GHashTable) opts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autoptr(GError) err = NULL;

    close(fd);
    g_hash_table_insert(opts, g_strdup("cluster_size"), g_strdup(cluster_size));
    g_hash_table_insert(opts, g_strdup("refcount_bits"), g_strdup(refcount_bits));
    g_assert_true(hb_qcow2_create(path, size, opts, &err));
    g_assert_no_error(err);
    return path;
}

static HbQcow2 *open_rw(const char *path, int *fd)
{
    g_autoptr(GError) err = NULL;
    HbQcow2OpenOpts oo = { 0 };
    HbQcow2Io io;

    *fd = open(path, O_RDWR);
    g_assert_cmpint(*fd, >=, 0);
    hb_qcow2_io_from_fd(&io, fd);
    HbQcow2 *s = hb_qcow2_open_image(&io, &oo, &err);
    g_assert_no_error(err);
    return s;
}

/* A test's image: made and opened by img_open(), checked and removed by img_done(). */
typedef struct Img {
    char *path;
    int fd;
    HbQcow2 *s;
} Img;

static HbQcow2 *img_open(Img *m, uint64_t size, const char *cluster_size,
                         const char *refcount_bits)
{
    m->path = make_image(size, cluster_size, refcount_bits);
    m->s = open_rw(m->path, &m->fd);
    return m->s;
}

/* Close, check (clean, @compressed compressed clusters) and remove the image. */
static void img_done(Img *m, uint64_t compressed)
{
    HbQcow2CheckResult res;

    close_and_check(m->s, m->fd, m->path, &res);
    g_assert_cmpuint(res.compressed_clusters, ==, compressed);
    unlink(m->path);
    g_free(m->path);
}

/* Data that deflates to about a third: letters from a small alphabet. */
static void fill_compressible(uint8_t *buf, size_t n, guint32 seed)
{
    GRand *r = g_rand_new_with_seed(seed);

    for (size_t i = 0; i < n; i++) {
        buf[i] = "acgt"[g_rand_int_range(r, 0, 4)];
    }
    g_rand_free(r);
}

/* Under meta_lock: the L2 entry of guest offset @i, or (@refcount) the refcount of host cluster @i. */
static uint64_t meta_get(HbQcow2 *s, bool refcount, uint64_t i)
{
    uint64_t v = 0;

    g_mutex_lock(&s->meta_lock);
    g_assert_cmpint(refcount ? hb_qcow2_get_refcount(s, i, &v) : hb_qcow2_get_l2_entry(s, i, &v),
                    ==, 0);
    g_mutex_unlock(&s->meta_lock);
    return v;
}

static uint64_t entry_at(HbQcow2 *s, uint64_t guest)
{
    return meta_get(s, false, guest);
}

static uint64_t refcount_of(HbQcow2 *s, uint64_t host_cluster)
{
    return meta_get(s, true, host_cluster);
}

/* Read guest cluster @guest back and compare it with @want. */
static void expect_data(HbQcow2 *s, uint64_t guest, const uint8_t *want, size_t n)
{
    g_autofree uint8_t *got = g_malloc(n);
    struct iovec iov = { .iov_base = got, .iov_len = n };

    g_assert_cmpint(hb_qcow2_preadv(s, guest, n, &iov, 1), ==, 0);
    g_assert_cmpmem(got, n, want, n);
}

#define NSTREAMS 24

/*
 * Streams are packed byte after byte, one host cluster spilling into the
 * next, and each host cluster counts one reference per stream in it.
 */
static void test_packing(void)
{
    const uint64_t cs = 4096;
    Img m;
    HbQcow2 *s = img_open(&m, NSTREAMS * cs, "4096", "16");
    g_autofree uint8_t *data = g_malloc(NSTREAMS * cs);
    g_autofree uint8_t *stream = g_malloc(cs);
    uint64_t off[NSTREAMS], len[NSTREAMS];
    GHashTable *refs = g_hash_table_new(g_int64_hash, g_int64_equal);
    g_autofree gint64 *keys = g_new(gint64, 2 * NSTREAMS);
    unsigned spans = 0;

    fill_compressible(data, NSTREAMS * cs, 7);
    for (unsigned i = 0; i < NSTREAMS; i++) {
        g_assert_cmpint(hb_qcow2_pwrite_compressed(s, i * cs, cs, data + i * cs), ==, 0);
        int64_t n = hb_qcow2_deflate(data + i * cs, cs, stream, cs - 1);
        g_assert_cmpint(n, >, 0);
        len[i] = (uint64_t)n;
        uint64_t e = entry_at(s, i * cs), sectors_end;
        g_assert_true(e & QCOW2_OFLAG_COMPRESSED);
        hb_qcow2_compressed_loc(s, e, &off[i], &sectors_end);
        if (i > 0 && off[i] != off[i - 1] + len[i - 1]) {
            /* Only a fresh cluster breaks the run (here: never, nothing else allocates). */
            g_assert_cmpuint(off[i] % cs, ==, 0);
        }
        uint64_t first = off[i] / cs, last = (off[i] + len[i] - 1) / cs;
        spans += first != last;
        for (uint64_t c = first; c <= last; c++) {
            keys[2 * i + (c - first)] = (gint64)c;
            gint64 *k = &keys[2 * i + (c - first)];
            g_hash_table_insert(refs, k, GUINT_TO_POINTER(
                GPOINTER_TO_UINT(g_hash_table_lookup(refs, k)) + 1));
        }
    }
    g_assert_cmpuint(off[1], ==, off[0] + len[0]);
    g_assert_cmpuint(spans, >, 0);
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, refs);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        g_assert_cmpuint(refcount_of(s, (uint64_t)*(gint64 *)k), ==, GPOINTER_TO_UINT(v));
    }
    g_hash_table_unref(refs);
    for (unsigned i = 0; i < NSTREAMS; i++) {
        expect_data(s, i * cs, data + i * cs, cs);
    }
    HbQcow2CheckResult res;
    close_and_check(s, m.fd, m.path, &res);
    g_assert_cmpuint(res.compressed_clusters, ==, NSTREAMS);

    s = m.s = open_rw(m.path, &m.fd);
    for (unsigned i = 0; i < NSTREAMS; i++) {
        expect_data(s, i * cs, data + i * cs, cs);
    }
    img_done(&m, NSTREAMS);
}

/*
 * Incompressible data is written as an ordinary cluster; clusters holding
 * data are refused; requests must be whole clusters, but for the image's
 * last, which is padded with zeroes.
 */
static void test_rules(void)
{
    const uint64_t cs = 65536, size = 3 * cs + 1536;
    Img m;
    HbQcow2 *s = img_open(&m, size, "65536", "16");
    g_autofree uint8_t *buf = g_malloc(cs);

    /* Noise: stored as is, and then the cluster holds data. */
    for (uint64_t i = 0; i < cs; i++) {
        buf[i] = (uint8_t)g_random_int();
    }
    g_assert_cmpint(hb_qcow2_pwrite_compressed(s, 0, cs, buf), ==, 0);
    uint64_t e = entry_at(s, 0);
    g_assert_false(e & QCOW2_OFLAG_COMPRESSED);
    g_assert_cmphex(e & QCOW2_OFFSET_MASK, !=, 0);
    expect_data(s, 0, buf, cs);
    g_assert_cmpint(hb_qcow2_pwrite_compressed(s, 0, cs, buf), ==, -EIO);

    fill_compressible(buf, cs, 1);
    g_assert_cmpint(hb_qcow2_pwrite_compressed(s, cs, cs, buf), ==, 0);
    g_assert_cmpint(hb_qcow2_pwrite_compressed(s, cs, cs, buf), ==, -EIO);
    g_assert_cmpint(hb_qcow2_pwrite_compressed(s, 2 * cs + 512, cs, buf), ==, -EINVAL);
    g_assert_cmpint(hb_qcow2_pwrite_compressed(s, 2 * cs, cs / 2, buf), ==, -EINVAL);
    /* The last cluster, 1536 bytes of it. */
    g_assert_cmpint(hb_qcow2_pwrite_compressed(s, 3 * cs, 1536, buf), ==, 0);
    g_assert_true(entry_at(s, 3 * cs) & QCOW2_OFLAG_COMPRESSED);
    expect_data(s, 3 * cs, buf, 1536);
    expect_fill(s, 2 * cs, cs, 0);
    /* Zero-flagged without data: free for a compressed write. */
    g_assert_cmpint(hb_qcow2_pwrite_zeroes(s, 2 * cs, cs, true), ==, 0);
    g_assert_cmpint(hb_qcow2_pwrite_compressed(s, 2 * cs, cs, buf), ==, 0);
    expect_data(s, 2 * cs, buf, cs);
    img_done(&m, 3);
}

/* A host cluster whose refcount is at its maximum (1 bit) takes no second stream. */
static void test_refcount_max(void)
{
    const uint64_t cs = 4096;
    Img m;
    HbQcow2 *s = img_open(&m, 4 * cs, "4096", "1");
    uint8_t buf[4096];
    uint64_t off[4], len;

    for (unsigned i = 0; i < 4; i++) {
        memset(buf, 'a' + i, cs);
        g_assert_cmpint(hb_qcow2_pwrite_compressed(s, i * cs, cs, buf), ==, 0);
        hb_qcow2_compressed_loc(s, entry_at(s, i * cs), &off[i], &len);
        g_assert_cmpuint(off[i] % cs, ==, 0);
        if (i) {
            g_assert_cmpuint(off[i] / cs, !=, off[i - 1] / cs);
        }
    }
    img_done(&m, 4);
}

/*
 * A discard that frees the host cluster streams are packed into ends the
 * packing there: the cluster may be allocated whole again, and no stream
 * may then land in it.
 */
static void test_freed_packing_cluster(void)
{
    const uint64_t cs = 4096;
    Img m;
    HbQcow2 *s = img_open(&m, 8 * cs, "4096", "16");
    uint8_t a[4096], b[4096], c[4096];
    uint64_t off_a, off_c, len;

    memset(a, 'a', cs);
    memset(c, 'c', cs);
    for (uint64_t i = 0; i < cs; i++) {
        b[i] = (uint8_t)g_random_int();
    }
    g_assert_cmpint(hb_qcow2_pwrite_compressed(s, 0, cs, a), ==, 0);
    hb_qcow2_compressed_loc(s, entry_at(s, 0), &off_a, &len);
    g_assert_cmpint(hb_qcow2_pdiscard(s, 0, cs), ==, 0);
    g_assert_cmpuint(refcount_of(s, off_a / cs), ==, 0);

    struct iovec iov = { .iov_base = b, .iov_len = cs };
    g_assert_cmpint(hb_qcow2_pwritev(s, cs, cs, &iov, 1, false), ==, 0);
    g_assert_cmphex(entry_at(s, cs) & QCOW2_OFFSET_MASK, ==, off_a & ~(cs - 1));

    g_assert_cmpint(hb_qcow2_pwrite_compressed(s, 2 * cs, cs, c), ==, 0);
    hb_qcow2_compressed_loc(s, entry_at(s, 2 * cs), &off_c, &len);
    g_assert_cmpuint(off_c / cs, !=, off_a / cs);
    expect_data(s, cs, b, cs);
    expect_data(s, 2 * cs, c, cs);
    img_done(&m, 1);
}

typedef struct Writer {
    HbQcow2 *s;
    const uint8_t *data;
    unsigned first, step, n;
} Writer;

static gpointer writer_thread(gpointer opaque)
{
    Writer *w = opaque;

    for (unsigned i = w->first; i < w->n; i += w->step) {
        g_assert_cmpint(hb_qcow2_pwrite_compressed(w->s, i * 512ull, 512, w->data + i * 512),
                        ==, 0);
    }
    return NULL;
}

/* Writers on threads, 512-byte clusters: every stream intact, the refcounts right. */
static void test_parallel(void)
{
    enum { N = 4096, THREADS = 4 };
    Img m;
    HbQcow2 *s = img_open(&m, N * 512ull, "512", "16");
    g_autofree uint8_t *data = g_malloc(N * 512);
    GThread *t[THREADS];
    Writer w[THREADS];

    fill_compressible(data, N * 512, 3);
    for (unsigned i = 0; i < THREADS; i++) {
        w[i] = (Writer){ .s = s, .data = data, .first = i, .step = THREADS, .n = N };
        t[i] = g_thread_new("w", writer_thread, &w[i]);
    }
    for (unsigned i = 0; i < THREADS; i++) {
        g_thread_join(t[i]);
    }
    expect_data(s, 0, data, N * 512);
    img_done(&m, N);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qcow2-compress/descriptor-layout", test_descriptor_layout);
    g_test_add_func("/qcow2-compress/descriptor-roundtrip", test_descriptor_roundtrip);
    g_test_add_func("/qcow2-compress/packing", test_packing);
    g_test_add_func("/qcow2-compress/rules", test_rules);
    g_test_add_func("/qcow2-compress/refcount-max", test_refcount_max);
    g_test_add_func("/qcow2-compress/freed-packing-cluster", test_freed_packing_cluster);
    g_test_add_func("/qcow2-compress/parallel", test_parallel);
    return g_test_run();
}

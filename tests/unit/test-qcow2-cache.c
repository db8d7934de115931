/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-qcow2-cache.c — qcow2 metadata caches: capped at what the image can use, allocated lazily, correct when small. */

#include "block/qcow2/qcow2.h"
#include "block/qcow2/qcow2-int.h"

#include <fcntl.h>
#include <malloc.h>
#include <string.h>
#include <unistd.h>

#define MiB (1024ull * 1024)

/* A qcow2 image in a temporary file, open through the format core. */
typedef struct TestImage {
    char *path;
    int fd;
    HbQcow2 *s;
} TestImage;

static void image_create(TestImage *t, const char *cluster_size, uint64_t size)
{
    g_autoptr(GHashTable) opts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autoptr(GError) err = NULL;
    int fd;

    t->path = g_build_filename(g_get_tmp_dir(), "hb-test-qcow2-cache-XXXXXX", NULL);
    fd = g_mkstemp(t->path);
    g_assert_cmpint(fd, >=, 0);
    close(fd);
    g_hash_table_insert(opts, g_strdup("cluster_size"), g_strdup(cluster_size));
    g_assert_true(hb_qcow2_create(t->path, (int64_t)size, opts, &err));
    g_assert_no_error(err);
    t->fd = -1;
    t->s = NULL;
}

static void image_open(TestImage *t, uint64_t l2_bytes, uint64_t rb_bytes)
{
    HbQcow2OpenOpts oo = { .l2_cache_size = l2_bytes, .refcount_cache_size = rb_bytes };
    g_autoptr(GError) err = NULL;
    HbQcow2Io io;

    t->fd = open(t->path, O_RDWR);
    g_assert_cmpint(t->fd, >=, 0);
    hb_qcow2_io_from_fd(&io, &t->fd);
    t->s = hb_qcow2_open_image(&io, &oo, &err);
    g_assert_no_error(err);
    g_assert_nonnull(t->s);
}

static void image_close(TestImage *t)
{
    g_assert_cmpint(hb_qcow2_close_image(t->s), ==, 0);
    hb_qcow2_free_image(t->s);
    t->s = NULL;
    close(t->fd);
    t->fd = -1;
}

/* Close, check the metadata (no corruption, no leak) and remove the file. */
static void image_finish(TestImage *t)
{
    HbQcow2CheckResult res;
    g_autoptr(GString) rep = g_string_new("");
    g_autoptr(GError) err = NULL;

    if (t->s) {
        image_close(t);
    }
    g_assert_true(hb_qcow2_check(t->path, &res, rep, &err));
    g_assert_no_error(err);
    if (res.corruptions || res.leaks) {
        g_test_message("%s", rep->str);
    }
    g_assert_cmpuint(res.corruptions, ==, 0);
    g_assert_cmpuint(res.leaks, ==, 0);
    g_assert_cmpuint(res.check_errors, ==, 0);
    unlink(t->path);
    g_free(t->path);
}

static void fill(uint8_t *buf, uint64_t off, uint64_t len, unsigned seed)
{
    for (uint64_t i = 0; i < len; i += 8) {
        uint64_t v = ((off + i) * 0x9E3779B97F4A7C15ull) ^ seed;
        memcpy(buf + i, &v, 8);
    }
}

/*
 * Write @len bytes from @off in 64 KiB pieces, the pieces in a scattered
 * order (so that the caches see L2 tables and refcount blocks come and go).
 */
static void write_all(HbQcow2 *s, uint64_t off, uint64_t len, unsigned seed)
{
    const uint64_t piece = 64 * 1024;
    uint64_t n = len / piece;
    g_autofree uint8_t *buf = g_malloc(piece);

    for (uint64_t k = 0; k < n; k++) {
        uint64_t p = off + ((k * 7919) % n) * piece;
        struct iovec iov = { .iov_base = buf, .iov_len = piece };
        fill(buf, p, piece, seed);
        g_assert_cmpint(hb_qcow2_pwritev(s, p, piece, &iov, 1, false), ==, 0);
    }
}

static void verify_all(HbQcow2 *s, uint64_t off, uint64_t len, unsigned seed)
{
    const uint64_t piece = 64 * 1024;
    g_autofree uint8_t *buf = g_malloc(piece);
    g_autofree uint8_t *want = g_malloc(piece);

    for (uint64_t p = off; p < off + len; p += piece) {
        struct iovec iov = { .iov_base = buf, .iov_len = piece };
        g_assert_cmpint(hb_qcow2_preadv(s, p, piece, &iov, 1), ==, 0);
        fill(want, p, piece, seed);
        g_assert_cmpmem(buf, piece, want, piece);
    }
}

static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();

    return mi.uordblks + mi.hblkhd;
}

/*
 * The security finding: a 16 MiB image opened with the largest cache sizes
 * allocated 65,536 tables per cache up front (8 GiB with 64 KiB clusters).
 * Now each cache is capped at what the image can use (one L2 table, one
 * refcount block: the minimum of 4 each) and nothing is allocated at open.
 */
static void test_huge_sizes_cost_nothing(gconstpointer data)
{
    const uint64_t *sizes = data;
    TestImage t;

    image_create(&t, "65536", 16 * MiB);
    size_t before = heap_in_use();
    image_open(&t, sizes[0], sizes[1]);
    size_t after = heap_in_use();

    g_assert_cmpuint(after - MIN(after, before), <, 1 * MiB);
    g_assert_cmpuint(hb_qcow2_cache_tables(&t.s->l2_cache), ==, 0);
    g_assert_cmpuint(hb_qcow2_cache_tables(&t.s->rb_cache), ==, 0);
    g_assert_cmpuint(hb_qcow2_cache_limit(&t.s->l2_cache), ==, 4);
    g_assert_cmpuint(hb_qcow2_cache_limit(&t.s->rb_cache), ==, 4);

    write_all(t.s, 0, 16 * MiB, 1);
    verify_all(t.s, 0, 16 * MiB, 1);
    /* One L2 table and one refcount block map and count all of it. */
    g_assert_cmpuint(hb_qcow2_cache_tables(&t.s->l2_cache), ==, 1);
    g_assert_cmpuint(hb_qcow2_cache_tables(&t.s->rb_cache), ==, 1);
    image_close(&t);

    image_open(&t, sizes[0], sizes[1]);
    verify_all(t.s, 0, 16 * MiB, 1);
    image_finish(&t);
}

/*
 * 4 KiB clusters: an L2 table maps 2 MiB, so 16 MiB has 8 of them and
 * 64 MiB 32.  The cap follows a resize, for a huge size and the default.
 */
static void test_cap_follows_resize(gconstpointer data)
{
    uint64_t l2_bytes = *(const uint64_t *)data;
    g_autoptr(GError) err = NULL;
    TestImage t;

    image_create(&t, "4096", 16 * MiB);
    image_open(&t, l2_bytes, 0);
    g_assert_cmpuint(hb_qcow2_cache_limit(&t.s->l2_cache), ==, 8);
    g_assert_cmpuint(hb_qcow2_cache_tables(&t.s->l2_cache), ==, 0);
    write_all(t.s, 0, 16 * MiB, 2);
    g_assert_cmpuint(hb_qcow2_cache_tables(&t.s->l2_cache), ==, 8);

    g_assert_cmpint(hb_qcow2_truncate(t.s, 64 * MiB, &err), ==, 0);
    g_assert_no_error(err);
    g_assert_cmpuint(hb_qcow2_cache_limit(&t.s->l2_cache), ==, 32);
    write_all(t.s, 16 * MiB, 48 * MiB, 3);
    /* Every L2 table of the grown disk fits: nothing was evicted. */
    g_assert_cmpuint(hb_qcow2_cache_tables(&t.s->l2_cache), ==, 32);
    g_assert_cmpuint(hb_qcow2_cache_tables(&t.s->rb_cache), <=,
                     hb_qcow2_cache_limit(&t.s->rb_cache));
    verify_all(t.s, 0, 16 * MiB, 2);
    verify_all(t.s, 16 * MiB, 48 * MiB, 3);
    image_close(&t);

    image_open(&t, l2_bytes, 0);
    g_assert_cmpuint(hb_qcow2_cache_limit(&t.s->l2_cache), ==, 32);
    verify_all(t.s, 0, 16 * MiB, 2);
    verify_all(t.s, 16 * MiB, 48 * MiB, 3);
    image_finish(&t);
}

/*
 * A cache far smaller than the image (4 tables for 32 L2 tables) evicts
 * and reloads, and the data and metadata stay right: correctness never
 * depends on the cap.
 */
static void test_small_cache_is_correct(void)
{
    TestImage t;

    image_create(&t, "4096", 64 * MiB);
    image_open(&t, 1, 1);
    g_assert_cmpuint(hb_qcow2_cache_limit(&t.s->l2_cache), ==, 4);
    g_assert_cmpuint(hb_qcow2_cache_limit(&t.s->rb_cache), ==, 4);
    write_all(t.s, 0, 64 * MiB, 4);
    verify_all(t.s, 0, 64 * MiB, 4);
    g_assert_cmpuint(hb_qcow2_cache_tables(&t.s->l2_cache), ==, 4);
    g_assert_cmpuint(hb_qcow2_cache_tables(&t.s->rb_cache), <=, 4);
    image_close(&t);
    image_open(&t, 1, 1);
    verify_all(t.s, 0, 64 * MiB, 4);
    image_finish(&t);
}

int main(int argc, char **argv)
{
    /* What the driver passes for cache-size=INT64_MAX (3/4, 1/4), and each alone. */
    static const uint64_t cache_size[2] = { (INT64_MAX / 4) * 3, INT64_MAX / 4 };
    static const uint64_t l2_only[2] = { INT64_MAX, 0 };
    static const uint64_t rb_only[2] = { 0, INT64_MAX };
    static const uint64_t all_ones[2] = { UINT64_MAX, UINT64_MAX };
    static const uint64_t huge = INT64_MAX, dflt = 0;

    g_test_init(&argc, &argv, NULL);
    g_test_add_data_func("/qcow2-cache/huge/cache-size", cache_size,
                         test_huge_sizes_cost_nothing);
    g_test_add_data_func("/qcow2-cache/huge/l2-cache-size", l2_only,
                         test_huge_sizes_cost_nothing);
    g_test_add_data_func("/qcow2-cache/huge/refcount-cache-size", rb_only,
                         test_huge_sizes_cost_nothing);
    g_test_add_data_func("/qcow2-cache/huge/uint64-max", all_ones,
                         test_huge_sizes_cost_nothing);
    g_test_add_data_func("/qcow2-cache/resize/huge", &huge, test_cap_follows_resize);
    g_test_add_data_func("/qcow2-cache/resize/default", &dflt, test_cap_follows_resize);
    g_test_add_func("/qcow2-cache/small-is-correct", test_small_cache_is_correct);
    return g_test_run();
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-qcow2-alloc.c — allocating writes overlap their data I/O, and never lose each other's data. */

#include "block/qcow2/qcow2.h"
#include "block/qcow2/qcow2-int.h"
#include "test-qcow2-common.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define CLUSTER (64 * 1024)
#define BLOCK 4096

/* ---- an image file whose data writes can be held at a gate ---- */

/*
 * A data write whose first byte is gate_byte waits until the gate opens.
 * One gate per test, so a static: the fd Io's opaque stays its own.
 */
static struct {
    GMutex lock;
    GCond cond;
    HbQcow2Io fd_io;        /* the plain fd Io the gate sits in front of */
    uint8_t gate_byte;
    bool held;              /* such a write is waiting */
    bool open;              /* the gate was opened */
} gate;

static int gated_pwritev(void *opaque, uint64_t off, uint64_t bytes,
                         const struct iovec *iov, int niov)
{
    g_mutex_lock(&gate.lock);
    if (niov > 0 && iov[0].iov_len > 0 &&
        ((const uint8_t *)iov[0].iov_base)[0] == gate.gate_byte) {
        gate.held = true;
        g_cond_broadcast(&gate.cond);
        while (!gate.open) {
            g_cond_wait(&gate.cond, &gate.lock);
        }
    }
    g_mutex_unlock(&gate.lock);
    return gate.fd_io.pwritev(opaque, off, bytes, iov, niov);
}

static void gate_wait_held(void)
{
    g_mutex_lock(&gate.lock);
    while (!gate.held) {
        g_cond_wait(&gate.cond, &gate.lock);
    }
    g_mutex_unlock(&gate.lock);
}

static void gate_open(void)
{
    g_mutex_lock(&gate.lock);
    gate.open = true;
    g_cond_broadcast(&gate.cond);
    g_mutex_unlock(&gate.lock);
}

/* Durability is not what these tests are about. */
static int no_flush(void *opaque)
{
    return 0;
}

static char *make_image(uint64_t size)
{
    char *path = g_build_filename(g_get_tmp_dir(), "hb-test-qcow2-alloc-XXXXXX", NULL);
    int fd = g_mkstemp(path);
    g_autoptr(GHashTable) opts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autoptr(GError) err = NULL;

    close(fd);
    g_hash_table_insert(opts, g_strdup("cluster_size"), g_strdup("65536"));
    g_assert_true(hb_qcow2_create(path, size, opts, &err));
    g_assert_no_error(err);
    return path;
}

static HbQcow2 *open_gated(int *fd, const char *path, uint8_t gate_byte)
{
    g_autoptr(GError) err = NULL;
    HbQcow2OpenOpts oo = { 0 };
    HbQcow2Io io;

    *fd = open(path, O_RDWR);
    g_assert_cmpint(*fd, >=, 0);
    hb_qcow2_io_from_fd(&gate.fd_io, fd);
    gate.gate_byte = gate_byte;
    gate.held = gate.open = false;
    io = gate.fd_io;
    io.pwritev = gated_pwritev;
    io.flush = no_flush;
    HbQcow2 *s = hb_qcow2_open_image(&io, &oo, &err);
    g_assert_no_error(err);
    return s;
}

/* ---- requests on threads ---- */

typedef struct Write {
    HbQcow2 *s;
    uint64_t off;
    uint8_t byte;
    gint done;
    int ret;
} Write;

static gpointer write_thread(gpointer opaque)
{
    Write *w = opaque;
    g_autofree uint8_t *buf = g_malloc(BLOCK);
    struct iovec iov = { .iov_base = buf, .iov_len = BLOCK };

    memset(buf, w->byte, BLOCK);
    w->ret = hb_qcow2_pwritev(w->s, w->off, BLOCK, &iov, 1, false);
    g_atomic_int_set(&w->done, 1);
    return NULL;
}

static bool wait_done(Write *w, int64_t timeout_us)
{
    int64_t end = g_get_monotonic_time() + timeout_us;

    while (!g_atomic_int_get(&w->done) && g_get_monotonic_time() < end) {
        g_usleep(1000);
    }
    return g_atomic_int_get(&w->done);
}

/*
 * While one allocating write is held in its data write, an allocating
 * write to another cluster completes, and one to another part of the same
 * cluster waits for it; in the end both parts are there.
 */
static void test_alloc_overlaps_data_io(void)
{
    g_autofree char *path = make_image(16 * CLUSTER);
    int fd;
    HbQcow2 *s = open_gated(&fd, path, 0xa1);
    Write a = { .s = s, .off = 0, .byte = 0xa1 };
    Write b = { .s = s, .off = 5 * CLUSTER, .byte = 0xb2 };
    Write c = { .s = s, .off = BLOCK, .byte = 0xc3 };

    GThread *ta = g_thread_new("a", write_thread, &a);
    gate_wait_held();

    /* Another cluster: done while A writes. */
    GThread *tb = g_thread_new("b", write_thread, &b);
    g_assert_true(wait_done(&b, 10 * G_USEC_PER_SEC));
    g_assert_cmpint(b.ret, ==, 0);

    /* A's cluster: it must wait, or one of the two would be lost. */
    GThread *tc = g_thread_new("c", write_thread, &c);
    g_usleep(200 * 1000);
    g_assert_false(g_atomic_int_get(&c.done));

    gate_open();
    g_thread_join(ta);
    g_thread_join(tb);
    g_thread_join(tc);
    g_assert_cmpint(a.ret, ==, 0);
    g_assert_cmpint(c.ret, ==, 0);

    expect_fill(s, 0, BLOCK, 0xa1);
    expect_fill(s, BLOCK, BLOCK, 0xc3);
    expect_fill(s, 2 * BLOCK, CLUSTER - 2 * BLOCK, 0);
    expect_fill(s, 5 * CLUSTER, BLOCK, 0xb2);
    close_and_check(s, fd, path, NULL);
    unlink(path);
}

typedef struct Discard {
    HbQcow2 *s;
    uint64_t off, bytes;
    gint done;
    int ret;
} Discard;

static gpointer discard_thread(gpointer opaque)
{
    Discard *d = opaque;

    d->ret = hb_qcow2_pdiscard(d->s, d->off, d->bytes);
    g_atomic_int_set(&d->done, 1);
    return NULL;
}

/*
 * A discard of a cluster being allocated waits for the write and then
 * applies (it came after), rather than being undone by the write's L2
 * update.
 */
static void test_discard_waits_for_alloc(void)
{
    g_autofree char *path = make_image(4 * CLUSTER);
    int fd;
    HbQcow2 *s = open_gated(&fd, path, 0xa1);
    Write a = { .s = s, .off = 0, .byte = 0xa1 };
    Discard d = { .s = s, .off = 0, .bytes = CLUSTER };

    GThread *ta = g_thread_new("a", write_thread, &a);
    gate_wait_held();
    GThread *td = g_thread_new("discard", discard_thread, &d);
    g_usleep(200 * 1000);
    g_assert_false(g_atomic_int_get(&d.done));
    gate_open();
    g_thread_join(ta);
    g_thread_join(td);
    g_assert_cmpint(a.ret, ==, 0);
    g_assert_cmpint(d.ret, ==, 0);
    expect_fill(s, 0, CLUSTER, 0);
    close_and_check(s, fd, path, NULL);
    unlink(path);
}

/* ---- many writers sharing clusters ---- */

#define STRESS_CLUSTERS 64
#define STRESS_THREADS 4

typedef struct Stress {
    HbQcow2 *s;
    unsigned id;            /* this thread's blocks: index % STRESS_THREADS == id */
    uint8_t *gen;           /* per block: last generation written, 0 = never */
} Stress;

static void stress_fill(uint8_t *buf, uint64_t block, uint8_t gen)
{
    for (unsigned i = 0; i < BLOCK; i++) {
        buf[i] = (uint8_t)(gen * 31 + block * 7 + i);
    }
}

static gpointer stress_thread(gpointer opaque)
{
    Stress *st = opaque;
    GRand *r = g_rand_new_with_seed(99 + st->id);
    uint8_t buf[BLOCK];
    struct iovec iov = { .iov_base = buf, .iov_len = BLOCK };
    const unsigned per_cluster = CLUSTER / BLOCK;

    for (int i = 0; i < 400; i++) {
        uint64_t block = (uint64_t)g_rand_int_range(r, 0, STRESS_CLUSTERS * per_cluster /
                                                         STRESS_THREADS) *
                         STRESS_THREADS + st->id;
        uint8_t g = (uint8_t)(st->gen[block] % 250 + 1);
        stress_fill(buf, block, g);
        g_assert_cmpint(hb_qcow2_pwritev(st->s, block * BLOCK, BLOCK, &iov, 1, false), ==, 0);
        st->gen[block] = g;
    }
    g_rand_free(r);
    return NULL;
}

/*
 * Threads write 4 KiB blocks into shared 64 KiB clusters, so that most
 * writes allocate a cluster another thread is allocating too: a cluster
 * allocated twice loses one thread's block, which the read-back finds.
 */
static void test_alloc_stress(void)
{
    g_autofree char *path = make_image(STRESS_CLUSTERS * CLUSTER);
    int fd;
    HbQcow2 *s = open_gated(&fd, path, 0);   /* no gate: 0 is never a first byte here */
    const uint64_t nblocks = STRESS_CLUSTERS * CLUSTER / BLOCK;
    g_autofree uint8_t *gen = g_malloc0(nblocks);
    Stress st[STRESS_THREADS];
    GThread *t[STRESS_THREADS];

    gate.open = true;
    for (unsigned i = 0; i < STRESS_THREADS; i++) {
        st[i] = (Stress){ .s = s, .id = i, .gen = gen };
        t[i] = g_thread_new("stress", stress_thread, &st[i]);
    }
    for (unsigned i = 0; i < STRESS_THREADS; i++) {
        g_thread_join(t[i]);
    }
    for (uint64_t b = 0; b < nblocks; b++) {
        uint8_t want[BLOCK], buf[BLOCK];
        struct iovec iov = { .iov_base = buf, .iov_len = BLOCK };
        g_assert_cmpint(hb_qcow2_preadv(s, b * BLOCK, BLOCK, &iov, 1), ==, 0);
        if (gen[b]) {
            stress_fill(want, b, gen[b]);
        } else {
            memset(want, 0, BLOCK);
        }
        if (memcmp(buf, want, BLOCK) != 0) {
            g_error("block %" G_GUINT64_FORMAT " (gen %u) reads wrong", b, gen[b]);
        }
    }
    close_and_check(s, fd, path, NULL);
    unlink(path);
}

/* ---- a partial write to a new cluster: zero it, write only the data ---- */

static struct {
    HbQcow2Io fd_io;
    bool pzero_unsupported;     /* pzero says -ENOTSUP, as on tmpfs */
    bool fs_cannot_zero;        /* the temporary directory's file system has no ZERO_RANGE */
    int fail_once;              /* pzero's answer the next time, if not 0 (-ENOSPC) */
    unsigned nasked, npzero;
    uint64_t pzero_off, pzero_bytes;
    GArray *writes;             /* (offset, bytes) pairs of every pwritev */
} rec;

static int rec_pwritev(void *opaque, uint64_t off, uint64_t bytes,
                       const struct iovec *iov, int niov)
{
    uint64_t w[2] = { off, bytes };

    g_array_append_vals(rec.writes, w, 2);
    return rec.fd_io.pwritev(opaque, off, bytes, iov, niov);
}

static int rec_pzero(void *opaque, uint64_t off, uint64_t bytes)
{
    rec.nasked++;
    if (rec.pzero_unsupported) {
        return -ENOTSUP;
    }
    if (rec.fail_once) {
        int ret = rec.fail_once;
        rec.fail_once = 0;
        return ret;
    }
    int ret = rec.fd_io.pzero(opaque, off, bytes);
    if (ret == -ENOTSUP) {
        rec.fs_cannot_zero = true;      /* tmpfs: the test is skipped */
        return ret;
    }
    rec.npzero++;
    rec.pzero_off = off;
    rec.pzero_bytes = bytes;
    return ret;
}

/* Whether a pwritev of exactly [@off, @off + @bytes) was recorded. */
static bool rec_wrote(uint64_t off, uint64_t bytes)
{
    for (guint i = 0; i + 1 < rec.writes->len; i += 2) {
        if (g_array_index(rec.writes, uint64_t, i) == off &&
            g_array_index(rec.writes, uint64_t, i + 1) == bytes) {
            return true;
        }
    }
    return false;
}

/*
 * Open @path with its writes and zeroings recorded in rec (reset here);
 * *@fd must outlive the image, whose I/O reads it.
 */
static HbQcow2 *rec_open_image(const char *path, int *fd, bool pzero_unsupported)
{
    g_autoptr(GError) err = NULL;
    HbQcow2OpenOpts oo = { 0 };
    HbQcow2Io io;

    *fd = open(path, O_RDWR);
    g_assert_cmpint(*fd, >=, 0);
    hb_qcow2_io_from_fd(&rec.fd_io, fd);
    rec.pzero_unsupported = pzero_unsupported;
    rec.fs_cannot_zero = false;
    rec.fail_once = 0;
    rec.nasked = rec.npzero = 0;
    rec.writes = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    io = rec.fd_io;
    io.pwritev = rec_pwritev;
    io.pzero = rec_pzero;
    io.flush = no_flush;
    HbQcow2 *s = hb_qcow2_open_image(&io, &oo, &err);
    g_assert_no_error(err);
    return s;
}

/*
 * A 4 KiB write into a cluster nothing maps: the new cluster is zeroed by
 * the file (fallocate) and only the 4 KiB are written, not a whole cluster
 * of mostly zeroes, which grows the file by a slow write; where the file
 * cannot zero, the whole cluster is written as before.  Either way the
 * cluster reads back as the data within zeroes.
 */
static void partial_write_new_cluster(bool pzero_unsupported)
{
    g_autofree char *path = make_image(4 * CLUSTER);
    int fd;
    HbQcow2 *s = rec_open_image(path, &fd, pzero_unsupported);
    g_autofree uint8_t *data = g_malloc(BLOCK);
    g_autofree uint8_t *back = g_malloc(CLUSTER);
    struct iovec iov = { .iov_base = data, .iov_len = BLOCK };

    memset(data, 0xab, BLOCK);
    g_array_set_size(rec.writes, 0);
    g_assert_cmpint(hb_qcow2_pwritev(s, CLUSTER + 2 * BLOCK, BLOCK, &iov, 1, false), ==, 0);
    if (pzero_unsupported || rec.fs_cannot_zero) {
        g_assert_cmpuint(rec.npzero, ==, 0);     /* and the cluster is written whole */
    } else {
        g_assert_cmpuint(rec.npzero, ==, 1);
        g_assert_cmpuint(rec.pzero_bytes, ==, CLUSTER);
        g_assert_cmpuint(rec.pzero_off % CLUSTER, ==, 0);
        g_assert_true(rec_wrote(rec.pzero_off + 2 * BLOCK, BLOCK));
        g_assert_false(rec_wrote(rec.pzero_off, CLUSTER));
    }

    struct iovec biov = { .iov_base = back, .iov_len = CLUSTER };
    g_assert_cmpint(hb_qcow2_preadv(s, CLUSTER, CLUSTER, &biov, 1), ==, 0);
    for (unsigned i = 0; i < CLUSTER; i++) {
        uint8_t want = (i >= 2 * BLOCK && i < 3 * BLOCK) ? 0xab : 0;
        if (back[i] != want) {
            g_error("byte %u of the cluster reads %#x, not %#x", i, back[i], want);
        }
    }
    /* A file that cannot zero is not asked again. */
    g_assert_cmpint(hb_qcow2_pwritev(s, 3 * CLUSTER + BLOCK, BLOCK, &iov, 1, false), ==, 0);
    g_assert_cmpuint(rec.nasked, ==, (pzero_unsupported || rec.fs_cannot_zero) ? 1 : 2);
    close_and_check(s, fd, path, NULL);
    g_array_unref(rec.writes);
    unlink(path);
    if (!pzero_unsupported && rec.fs_cannot_zero) {
        g_test_skip("the temporary directory's file system cannot zero a range (fallocate)");
    }
}

static void test_partial_write_zeroes_cluster(void)
{
    partial_write_new_cluster(false);
}

static void test_partial_write_without_pzero(void)
{
    partial_write_new_cluster(true);
}

/*
 * The file fails to zero a new cluster with a real error (a full disk):
 * the guest's write fails with it, and the next allocation asks the file
 * to zero again.  Only -ENOTSUP means "never": taking every error for it,
 * one ENOSPC left the image on whole-cluster writes until it was closed.
 */
static void test_partial_write_pzero_error(void)
{
    g_autofree char *path = make_image(4 * CLUSTER);
    g_autoptr(GError) err = NULL;
    int fd;
    HbQcow2 *s = rec_open_image(path, &fd, false);
    g_autofree uint8_t *data = g_malloc(BLOCK);
    struct iovec iov = { .iov_base = data, .iov_len = BLOCK };

    memset(data, 0xcd, BLOCK);
    rec.fail_once = -ENOSPC;
    g_assert_cmpint(hb_qcow2_pwritev(s, CLUSTER + BLOCK, BLOCK, &iov, 1, false), ==, -ENOSPC);
    g_assert_cmpuint(rec.nasked, ==, 1);
    g_assert_cmpint(hb_qcow2_pwritev(s, 2 * CLUSTER + BLOCK, BLOCK, &iov, 1, false), ==, 0);
    g_assert_cmpuint(rec.nasked, ==, 2);        /* asked again */

    /* The failed write left its cluster unmapped: it reads as zeroes. */
    g_autofree uint8_t *back = g_malloc(BLOCK);
    struct iovec biov = { .iov_base = back, .iov_len = BLOCK };
    g_assert_cmpint(hb_qcow2_preadv(s, CLUSTER + BLOCK, BLOCK, &biov, 1), ==, 0);
    g_assert_cmpint(back[0], ==, 0);
    g_assert_cmpint(hb_qcow2_preadv(s, 2 * CLUSTER + BLOCK, BLOCK, &biov, 1), ==, 0);
    g_assert_cmpint(back[0], ==, 0xcd);

    HbQcow2CheckResult res;
    g_assert_cmpint(hb_qcow2_close_image(s), ==, 0);
    hb_qcow2_free_image(s);
    close(fd);
    g_assert_true(hb_qcow2_check(path, &res, NULL, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(res.corruptions, ==, 0);   /* a leaked cluster is harmless, as in QEMU */
    g_array_unref(rec.writes);
    unlink(path);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qcow2-alloc/overlaps-data-io", test_alloc_overlaps_data_io);
    g_test_add_func("/qcow2-alloc/discard-waits", test_discard_waits_for_alloc);
    g_test_add_func("/qcow2-alloc/stress", test_alloc_stress);
    g_test_add_func("/qcow2-alloc/partial-write-zeroes-cluster", test_partial_write_zeroes_cluster);
    g_test_add_func("/qcow2-alloc/partial-write-without-pzero", test_partial_write_without_pzero);
    g_test_add_func("/qcow2-alloc/partial-write-pzero-error", test_partial_write_pzero_error);
    return g_test_run();
}

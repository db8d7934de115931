/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-block-async.c — hb_node_submit(): io_uring, the pool, inline, the write gate. */
#include "test-block-common.h"
#include "block/aio.h"
#include "block/iov.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *tmpdir;

typedef struct Done {
    HbIoReq req;
    struct iovec v;
    int ret;
    bool done;
    GThread *thread;        /* where the callback ran */
} Done;

static void on_done(HbAioCb *cb, int ret)
{
    Done *d = (Done *)cb;

    g_assert_false(d->done);
    d->ret = ret;
    d->done = true;
    d->thread = g_thread_self();
}

static void prep(Done *d, HbIoOp op, uint64_t off, void *buf, size_t len,
                 unsigned flags)
{
    memset(d, 0, sizeof(*d));
    d->req.cb.done = on_done;
    d->req.op = op;
    d->req.offset = off;
    d->req.bytes = len;
    d->req.flags = flags;
    d->v.iov_base = buf;
    d->v.iov_len = len;
    d->req.iov = &d->v;
    d->req.niov = buf ? 1 : 0;
}

static void wait_all(HbAioCtx *ctx, Done *d, int n)
{
    for (;;) {
        bool all = true;
        for (int i = 0; i < n; i++) {
            all = all && d[i].done;
        }
        if (all) {
            break;
        }
        hb_aio_ctx_wait(ctx, 1000000);
    }
    g_assert_cmpuint(hb_aio_ctx_inflight(ctx), ==, 0);
}

static HbNode *open_raw(const char *name, size_t size, bool direct, const char *aio)
{
    g_autofree char *path = make_file(tmpdir, name, size);
    g_autofree char *aiostr = aio ? g_strdup_printf(",\"aio\":\"%s\"", aio) : g_strdup("");
    g_autofree char *j = g_strdup_printf(
        "{\"driver\":\"raw\",\"file\":{\"driver\":\"file\",\"filename\":\"%s\"%s,"
        "\"cache\":{\"direct\":%s}}}", path, aiostr, direct ? "true" : "false");
    g_autoptr(GError) err = NULL;
    HbNode *n = open_json(j, &err);

    g_assert_no_error(err);
    return n;
}

/*
 * 32 writes of distinct patterns in flight at once (some FUA), then 32
 * reads of them, checked against a synchronous read too.
 */
static void many_in_flight(bool want_uring, bool direct, const char *aio)
{
    enum { N = 32, BS = 4096 };
    g_autoptr(HbAioCtx) ctx = hb_aio_ctx_new(want_uring, NULL);
    HbNode *n = open_raw("many.img", N * BS * 2, direct, aio);
    Done d[N];
    char *buf = NULL;

    g_assert_nonnull(ctx);
    /* A ring whenever the process may have one: else this tests the pool. */
    g_assert_cmpint(hb_aio_ctx_has_uring(ctx), ==, want_uring && hb_aio_uring_probe() == 0);
    hb_aio_ctx_set_current(ctx);
    g_assert_cmpint(posix_memalign((void **)&buf, 4096, N * BS), ==, 0);
    for (int i = 0; i < N; i++) {
        memset(buf + i * BS, 'a' + i % 26, BS);
        prep(&d[i], HB_IO_WRITE, (uint64_t)(N - 1 - i) * BS * 2, buf + i * BS,
             BS, i % 4 == 0 ? HB_REQ_FUA : 0);
        hb_node_submit(n, &d[i].req);
    }
    wait_all(ctx, d, N);
    for (int i = 0; i < N; i++) {
        g_assert_cmpint(d[i].ret, ==, 0);
        g_assert_true(d[i].thread == g_thread_self());
    }
    memset(buf, 0, N * BS);
    for (int i = 0; i < N; i++) {
        prep(&d[i], HB_IO_READ, (uint64_t)(N - 1 - i) * BS * 2, buf + i * BS, BS, 0);
        hb_node_submit(n, &d[i].req);
    }
    wait_all(ctx, d, N);
    for (int i = 0; i < N; i++) {
        g_assert_cmpint(d[i].ret, ==, 0);
        for (int k = 0; k < BS; k += 512) {
            g_assert_cmpint(buf[i * BS + k], ==, 'a' + i % 26);
        }
    }
    prep(&d[0], HB_IO_FLUSH, 0, NULL, 0, 0);
    hb_node_submit(n, &d[0].req);
    wait_all(ctx, d, 1);
    g_assert_cmpint(d[0].ret, ==, 0);
    hb_aio_ctx_set_current(NULL);

    /* What a synchronous reader sees. */
    char *check = NULL;
    g_assert_cmpint(posix_memalign((void **)&check, 4096, BS), ==, 0);
    g_assert_cmpint(hb_node_pread(n, (N - 1) * BS * 2, check, BS), ==, 0);
    g_assert_cmpint(check[0], ==, 'a');
    free(check);
    free(buf);
    hb_node_unref(n);
}

static void test_uring_buffered(void)
{
    if (hb_aio_uring_probe() < 0) {
        g_test_skip("io_uring is not available here");
        return;
    }
    many_in_flight(true, false, NULL);
}

static void test_uring_direct(void)
{
    if (hb_aio_uring_probe() < 0) {
        g_test_skip("io_uring is not available here");
        return;
    }
    many_in_flight(true, true, "io_uring");
}

static void test_threads(void)
{
    /* aio=threads on a ring-capable thread: everything through the pool. */
    many_in_flight(true, true, "threads");
    /* And a context without a ring. */
    many_in_flight(false, false, NULL);
}

/* The contract's inline cases: no context, and errors found before I/O. */
static void test_inline(void)
{
    HbNode *n = open_raw("inline.img", 8192, false, NULL);
    char buf[512] = "x";
    Done d;

    prep(&d, HB_IO_WRITE, 0, buf, sizeof(buf), 0);
    hb_node_submit(n, &d.req);
    g_assert_true(d.done);
    g_assert_cmpint(d.ret, ==, 0);

    g_autoptr(HbAioCtx) ctx = hb_aio_ctx_new(true, NULL);
    hb_aio_ctx_set_current(ctx);
    prep(&d, HB_IO_READ, 8000, buf, sizeof(buf), 0);
    hb_node_submit(n, &d.req);
    g_assert_true(d.done);
    g_assert_cmpint(d.ret, ==, -EINVAL);    /* past the raw node's end */
    hb_aio_ctx_set_current(NULL);
    hb_node_unref(n);
}

/*
 * Unaligned writes (read-modify-write on the pool) racing aligned
 * asynchronous writes to the same 4 KiB blocks of an O_DIRECT node: the
 * gate orders them, and every byte ends as one of its writers left it.
 */
static void test_rmw_gate(void)
{
    enum { N = 48 };
    g_autoptr(HbAioCtx) ctx = hb_aio_ctx_new(true, NULL);
    HbNode *n = open_raw("gate.img", 1 << 20, true, NULL);
    Done d[N];
    char *bufs = NULL;

    if (n->children->len == 0 ||
        ((HbChild *)g_ptr_array_index(n->children, 0))->node->request_alignment < 512) {
        g_test_skip("no O_DIRECT alignment here");
        hb_node_unref(n);
        return;
    }
    hb_aio_ctx_set_current(ctx);
    g_assert_cmpint(posix_memalign((void **)&bufs, 4096, N * 4096), ==, 0);
    for (int i = 0; i < N; i++) {
        /* Each block gets aligned and unaligned writers alike. */
        uint64_t block = (uint64_t)(i / 2 % 4) * 4096;
        memset(bufs + i * 4096, 'A' + i, 4096);
        if (i % 2) {
            /* 100 bytes into the block: unaligned */
            prep(&d[i], HB_IO_WRITE, block + 100, bufs + i * 4096, 100, 0);
        } else {
            prep(&d[i], HB_IO_WRITE, block, bufs + i * 4096, 4096, 0);
        }
        hb_node_submit(n, &d[i].req);
    }
    wait_all(ctx, d, N);
    for (int i = 0; i < N; i++) {
        g_assert_cmpint(d[i].ret, ==, 0);
    }
    hb_aio_ctx_set_current(NULL);
    char *check = NULL;
    g_assert_cmpint(posix_memalign((void **)&check, 4096, 4096), ==, 0);
    for (int b = 0; b < 4; b++) {
        g_assert_cmpint(hb_node_pread(n, (uint64_t)b * 4096, check, 4096), ==, 0);
        /* Bytes 100..199 come from one writer, the rest from one aligned writer. */
        char mid = check[100], edge = check[0];
        for (int k = 0; k < 4096; k++) {
            g_assert_cmpint(check[k], ==, (k >= 100 && k < 200) ? mid : edge);
        }
    }
    free(check);
    free(bufs);
    hb_node_unref(n);
}

/* An empty iovec moves no data: where it points cannot make I/O unaligned. */
static void test_iov_aligned_ignores_empty(void)
{
    static char buf[8192] __attribute__((aligned(4096)));
    struct iovec v[2] = { { buf, 4096 }, { buf + 4096 + 3, 0 } };

    g_assert_true(hb_iov_is_aligned(v, 2, 512));
    v[1].iov_len = 1;
    g_assert_false(hb_iov_is_aligned(v, 2, 512));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    /* On the disk, not tmpfs: tmpfs has no O_DIRECT. */
    g_autofree char *cwd = g_get_current_dir();
    tmpdir = g_build_filename(cwd, "hb-async-XXXXXX", NULL);
    g_assert_nonnull(g_mkdtemp(tmpdir));
    g_test_add_func("/block-async/uring-buffered", test_uring_buffered);
    g_test_add_func("/block-async/uring-direct", test_uring_direct);
    g_test_add_func("/block-async/threads", test_threads);
    g_test_add_func("/block-async/inline", test_inline);
    g_test_add_func("/block-async/rmw-gate", test_rmw_gate);
    g_test_add_func("/block-async/iov-aligned-ignores-empty", test_iov_aligned_ignores_empty);
    int ret = g_test_run();
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmpdir);
    g_assert_cmpint(system(cmd), ==, 0);
    return ret;
}

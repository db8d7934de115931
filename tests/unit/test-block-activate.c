/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-block-activate.c — inactive nodes refuse I/O on every path; deactivation drains. */
#include "test-block-common.h"
#include "block/aio.h"

#include <errno.h>
#include <stdlib.h>

static char *tmpdir;

static HbNode *open_raw(const char *name, bool active)
{
    g_autofree char *path = make_file(tmpdir, name, 1 << 20);
    g_autofree char *j = g_strdup_printf(
        "{\"driver\":\"raw\",\"active\":%s,\"file\":{\"driver\":\"file\",\"filename\":\"%s\"}}",
        active ? "true" : "false", path);
    g_autoptr(GError) err = NULL;
    HbNode *n = open_json(j, &err);

    g_assert_no_error(err);
    return n;
}

static void set_active(HbNode *n, bool active)
{
    g_autoptr(GError) err = NULL;

    g_assert_true(hb_node_set_active(n, active, &err));
    g_assert_no_error(err);
}

/* The synchronous calls, on a node opened inactive, then activated. */
static void test_sync_gate(void)
{
    HbNode *n = open_raw("sync.img", false);
    HbNode *file = hb_node_child(n, "file")->node;
    char buf[4096] = { 0 };
    struct iovec v = { .iov_base = buf, .iov_len = sizeof(buf) };

    g_assert_false(hb_node_is_active(n));
    g_assert_false(hb_node_is_active(file));    /* inherited */
    g_assert_cmpint(hb_node_pread(n, 0, buf, sizeof(buf)), ==, -EPERM);
    g_assert_cmpint(hb_node_pwrite(n, 0, buf, sizeof(buf), 0), ==, -EPERM);
    g_assert_cmpint(hb_node_pwrite_zeroes(n, 0, 4096, 0), ==, -EPERM);
    g_assert_cmpint(hb_node_pwrite_zeroes(n, 1, 100, 0), ==, -EPERM);
    g_assert_cmpint(hb_node_pwrite(file, 0, buf, sizeof(buf), 0), ==, -EPERM);
    /* A format reading metadata while it opens gets through, down the chain. */
    g_assert_cmpint(hb_node_preadv(n, 0, sizeof(buf), &v, 1, HB_REQ_WHILE_INACTIVE), ==, 0);
    g_assert_cmpint((guchar)buf[7], ==, 7);
    /* No write permission is counted while inactive: no write lock byte. */
    g_assert_cmpuint(file->perm & HB_PERM_WRITE, ==, 0);

    set_active(n, true);
    g_assert_true(hb_node_is_active(file));
    g_assert_cmpuint(file->perm & HB_PERM_WRITE, ==, HB_PERM_WRITE);
    g_assert_cmpint(hb_node_pwrite(n, 0, buf, sizeof(buf), HB_REQ_FUA), ==, 0);

    set_active(n, false);
    g_assert_false(hb_node_is_active(file));
    g_assert_cmpuint(file->perm & HB_PERM_WRITE, ==, 0);
    g_assert_cmpint(hb_node_pread(n, 0, buf, sizeof(buf)), ==, -EPERM);
    hb_node_unref(n);
}

typedef struct Done {
    HbIoReq req;
    struct iovec v;
    int ret;
    bool done;
} Done;

static void on_done(HbAioCb *cb, int ret)
{
    Done *d = (Done *)cb;

    d->ret = ret;
    d->done = true;
}

static int submit_wait(HbAioCtx *ctx, HbNode *n, HbIoOp op, void *buf, size_t len)
{
    Done d = { .req = { .cb.done = on_done, .op = op, .bytes = len } };

    d.v.iov_base = buf;
    d.v.iov_len = len;
    d.req.iov = buf ? &d.v : NULL;
    d.req.niov = buf ? 1 : 0;
    hb_node_submit(n, &d.req);
    while (!d.done) {
        hb_aio_ctx_wait(ctx, 1000000);
    }
    return d.ret;
}

/* hb_node_submit() on an I/O thread's context: every operation refused. */
static void test_async_gate(void)
{
    g_autoptr(HbAioCtx) ctx = hb_aio_ctx_new(true, NULL);
    HbNode *n = open_raw("async.img", true);
    char *buf = NULL;

    g_assert_cmpint(posix_memalign((void **)&buf, 4096, 4096), ==, 0);
    memset(buf, 'x', 4096);
    hb_aio_ctx_set_current(ctx);
    g_assert_cmpint(submit_wait(ctx, n, HB_IO_WRITE, buf, 4096), ==, 0);
    set_active(n, false);
    g_assert_cmpint(submit_wait(ctx, n, HB_IO_READ, buf, 4096), ==, -EPERM);
    g_assert_cmpint(submit_wait(ctx, n, HB_IO_WRITE, buf, 4096), ==, -EPERM);
    g_assert_cmpint(submit_wait(ctx, n, HB_IO_FLUSH, NULL, 0), ==, -EPERM);
    g_assert_cmpint(submit_wait(ctx, n, HB_IO_WRITE_ZEROES, NULL, 4096), ==, -EPERM);
    set_active(n, true);
    memset(buf, 0, 4096);
    g_assert_cmpint(submit_wait(ctx, n, HB_IO_READ, buf, 4096), ==, 0);
    g_assert_cmpint(buf[0], ==, 'x');
    hb_aio_ctx_set_current(NULL);
    free(buf);
    hb_node_unref(n);
}

/*
 * Deactivation drains: once hb_node_set_active(false) has returned, no
 * request is inside the driver until the node is active again, whatever
 * the I/O threads were doing.  A spy driver over the file counts the
 * writes it sees while the main thread says the node is closed.
 */
static HbDriver spy;
static const HbDriver *real;
static gint closed;
static gint violations;
static gint stop;

static int spy_pwritev(HbNode *node, uint64_t offset, uint64_t bytes,
                       const struct iovec *iov, int niov, unsigned flags)
{
    if (g_atomic_int_get(&closed)) {
        g_atomic_int_inc(&violations);
    }
    g_usleep(50);   /* widen the window a drain must cover */
    return real->pwritev(node, offset, bytes, iov, niov, flags);
}

static int spy_submit(HbNode *node, HbIoReq *req)
{
    if (g_atomic_int_get(&closed)) {
        g_atomic_int_inc(&violations);
    }
    return real->submit ? real->submit(node, req) : -ENOTSUP;
}

typedef struct Writer {
    HbNode *node;
    bool async;
    int bad;            /* results other than 0 and -EPERM */
    int ok, refused;
} Writer;

static gpointer writer(gpointer opaque)
{
    Writer *w = opaque;
    g_autoptr(HbAioCtx) ctx = w->async ? hb_aio_ctx_new(true, NULL) : NULL;
    char *buf = NULL;

    g_assert_cmpint(posix_memalign((void **)&buf, 4096, 4096), ==, 0);
    memset(buf, 'w', 4096);
    hb_aio_ctx_set_current(ctx);
    while (!g_atomic_int_get(&stop)) {
        int ret = ctx ? submit_wait(ctx, w->node, HB_IO_WRITE, buf, 4096)
                      : hb_node_pwrite(w->node, 4096, buf, 4096, 0);
        if (ret == 0) {
            w->ok++;
        } else if (ret == -EPERM) {
            w->refused++;
        } else {
            w->bad++;
        }
    }
    hb_aio_ctx_set_current(NULL);
    free(buf);
    return NULL;
}

static void test_drain_race(void)
{
    HbNode *n = open_raw("race.img", true);
    HbNode *file = hb_node_child(n, "file")->node;
    Writer w[2] = { { .node = n, .async = false }, { .node = n, .async = true } };
    GThread *t[2];

    real = file->drv;
    spy = *real;
    spy.pwritev = spy_pwritev;
    spy.submit = spy_submit;
    file->drv = &spy;
    g_atomic_int_set(&stop, 0);
    for (int i = 0; i < 2; i++) {
        t[i] = g_thread_new("writer", writer, &w[i]);
    }
    for (int round = 0; round < 50; round++) {
        g_usleep(500);
        set_active(n, false);
        g_atomic_int_set(&closed, 1);
        g_usleep(500);
        g_atomic_int_set(&closed, 0);
        set_active(n, true);
    }
    g_atomic_int_set(&stop, 1);
    for (int i = 0; i < 2; i++) {
        g_thread_join(t[i]);
        g_assert_cmpint(w[i].bad, ==, 0);
        g_assert_cmpint(w[i].ok, >, 0);
    }
    g_assert_cmpint(g_atomic_int_get(&violations), ==, 0);
    file->drv = real;
    hb_node_unref(n);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_autofree char *cwd = g_get_current_dir();
    tmpdir = g_build_filename(cwd, "hb-activate-XXXXXX", NULL);
    g_assert_nonnull(g_mkdtemp(tmpdir));
    g_test_add_func("/block-activate/sync-gate", test_sync_gate);
    g_test_add_func("/block-activate/async-gate", test_async_gate);
    g_test_add_func("/block-activate/drain-race", test_drain_race);
    int ret = g_test_run();
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmpdir);
    g_assert_cmpint(system(cmd), ==, 0);
    return ret;
}

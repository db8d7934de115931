/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-block-async.c — hb_node_submit(): io_uring, the pool, inline, the write gate; luks over it. */
#include "test-block-common.h"
#include "block/aio.h"
#include "block/iov.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SECTOR_SIZE 512

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
 * O_DIRECT requests go to the kernel a few at a time as they are
 * submitted, not all at the end of the pass: a disk handed the whole depth
 * in one submission hands it back in one, and the queue moves in
 * lock-step.  Buffered ones still wait for the pass's one submission.
 */
static void test_direct_submits_in_batches(void)
{
    enum { N = 10, BS = 4096, BATCH = 4 /* FILE_DIRECT_BATCH */ };
    g_autoptr(HbAioCtx) ctx = hb_aio_ctx_new(true, NULL);
    HbNode *n = open_raw("batches.img", N * BS, true, "io_uring");
    Done d[N];
    char *buf = NULL;

    if (!hb_aio_ctx_has_uring(ctx)) {
        g_test_skip("io_uring is not available here");
        hb_node_unref(n);
        return;
    }
    hb_aio_ctx_set_current(ctx);
    g_assert_cmpint(posix_memalign((void **)&buf, 4096, N * BS), ==, 0);
    for (int i = 0; i < N; i++) {
        prep(&d[i], HB_IO_READ, (uint64_t)i * BS, buf + i * BS, BS, 0);
        hb_node_submit(n, &d[i].req);
        /* batched, but never more than a batch left waiting */
        g_assert_cmpuint(hb_aio_ctx_queued(ctx), ==, (unsigned)(i + 1) % BATCH);
    }
    hb_aio_ctx_submit(ctx);
    wait_all(ctx, d, N);
    for (int i = 0; i < N; i++) {
        g_assert_cmpint(d[i].ret, ==, 0);
    }
    hb_aio_ctx_set_current(NULL);
    free(buf);
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

/*
 * Discard and write-zeroes through the ring (fallocate): zeroes read back,
 * with and without unmapping, on a buffered and an O_DIRECT node, and a
 * file node grows by zeroes past its end.
 */
static void zeroes_and_discard(bool direct)
{
    enum { BS = 65536 };
    g_autofree char *path = make_file(tmpdir, "z.img", 16 * BS);
    g_autofree char *j = g_strdup_printf(
        "{\"driver\":\"raw\",\"discard\":\"unmap\",\"file\":{\"driver\":\"file\","
        "\"filename\":\"%s\",\"discard\":\"unmap\",\"cache\":{\"direct\":%s}}}",
        path, direct ? "true" : "false");
    g_autoptr(GError) err = NULL;
    HbNode *n = open_json(j, &err);
    g_autoptr(HbAioCtx) ctx = hb_aio_ctx_new(true, NULL);
    char *buf = NULL;
    Done d[3];

    g_assert_no_error(err);
    g_assert_cmpint(posix_memalign((void **)&buf, 4096, BS), ==, 0);
    hb_aio_ctx_set_current(ctx);
    prep(&d[0], HB_IO_WRITE_ZEROES, 0, NULL, BS, 0);
    prep(&d[1], HB_IO_WRITE_ZEROES, 2 * BS, NULL, BS, HB_REQ_MAY_UNMAP | HB_REQ_FUA);
    prep(&d[2], HB_IO_DISCARD, 4 * BS, NULL, BS, 0);
    for (int i = 0; i < 3; i++) {
        hb_node_submit(n, &d[i].req);
    }
    wait_all(ctx, d, 3);
    hb_aio_ctx_set_current(NULL);
    for (int i = 0; i < 3; i++) {
        g_assert_cmpint(d[i].ret, ==, 0);
        g_assert_cmpint(hb_node_pread(n, (uint64_t)i * 2 * BS, buf, BS), ==, 0);
        for (int k = 0; k < BS; k += 509) {
            /* a punched hole reads as zeroes; untouched data keeps its pattern */
            g_assert_cmpint(buf[k], ==, 0);
        }
    }
    /* Between them, the file's pattern (make_file: byte i is i % 251). */
    g_assert_cmpint(hb_node_pread(n, BS, buf, BS), ==, 0);
    g_assert_cmpint((guchar)buf[1], ==, (BS + 1) % 251);
    hb_node_unref(n);

    /* A file node is growable: zeroes past the end extend it. */
    g_autofree char *jf = g_strdup_printf(
        "{\"driver\":\"file\",\"filename\":\"%s\",\"cache\":{\"direct\":%s}}",
        path, direct ? "true" : "false");
    n = open_json(jf, &err);
    g_assert_no_error(err);
    hb_aio_ctx_set_current(ctx);
    prep(&d[0], HB_IO_WRITE_ZEROES, 16 * BS, NULL, BS, 0);
    hb_node_submit(n, &d[0].req);
    wait_all(ctx, d, 1);
    hb_aio_ctx_set_current(NULL);
    g_assert_cmpint(d[0].ret, ==, 0);
    g_assert_cmpint(hb_node_get_length(n), ==, 17 * BS);
    hb_node_unref(n);
    free(buf);
}

static void test_zeroes_discard_buffered(void)
{
    zeroes_and_discard(false);
}

static void test_zeroes_discard_direct(void)
{
    zeroes_and_discard(true);
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

/* ---- luks: crypto around the payload child's asynchronous requests ---- */

/*
 * The payload file node's driver is swapped for this copy once the luks
 * node is open: it counts the synchronous calls (which only the pool
 * makes), so a test can see the requests really went the asynchronous
 * way, and it can fail every request, asynchronously too.
 */
static HbDriver spy_file;
static const HbDriver *real_file;
static gint spy_sync_calls;
static bool spy_fail;

static int spy_preadv(HbNode *node, uint64_t offset, uint64_t bytes,
                      const struct iovec *iov, int niov, unsigned flags)
{
    g_atomic_int_inc(&spy_sync_calls);
    return spy_fail ? -EIO : real_file->preadv(node, offset, bytes, iov, niov, flags);
}

static int spy_pwritev(HbNode *node, uint64_t offset, uint64_t bytes,
                       const struct iovec *iov, int niov, unsigned flags)
{
    g_atomic_int_inc(&spy_sync_calls);
    return spy_fail ? -EIO : real_file->pwritev(node, offset, bytes, iov, niov, flags);
}

static int spy_submit(HbNode *node, HbIoReq *req)
{
    if (spy_fail) {
        /* Completed later, from the context's poll, as a failed SQE would be. */
        HbAioCtx *ctx = hb_aio_ctx_current();
        hb_aio_ctx_expect(ctx);
        hb_aio_ctx_post(ctx, &req->cb, -EIO);
        return 0;
    }
    return real_file->submit(node, req);
}

/* A context with its ring whenever the process may have one: else this tests the pool. */
static HbAioCtx *luks_ctx_new(void)
{
    HbAioCtx *ctx = hb_aio_ctx_new(true, NULL);

    g_assert_nonnull(ctx);
    g_assert_cmpint(hb_aio_ctx_has_uring(ctx), ==, hb_aio_uring_probe() == 0);
    return ctx;
}

typedef struct LuksImg {
    HbNode *n;
    HbNode *file;           /* the payload child, spied on */
    uint64_t payload;       /* where the payload starts in it */
} LuksImg;

static void luks_img_open(LuksImg *img, const char *name, size_t size,
                          bool detached, bool direct)
{
    g_autofree char *path = g_build_filename(tmpdir, name, NULL);
    g_autofree char *hdr = g_strdup_printf("%s.hdr", path);
    g_autofree char *header = NULL;
    g_autoptr(GError) err = NULL;

    if (detached) {
        luks_create(hdr, -1, true);
        g_free(make_file(tmpdir, name, size));
        header = g_strdup_printf(",\"header\":{\"driver\":\"file\",\"filename\":\"%s\"}", hdr);
    } else {
        luks_create(path, (int64_t)size, false);
    }
    g_autofree char *j = g_strdup_printf(
        "{\"driver\":\"luks\",\"key-secret\":\"sec0\"%s,\"file\":"
        "{\"driver\":\"file\",\"filename\":\"%s\",\"cache\":{\"direct\":%s}}}",
        header ? header : "", path, direct ? "true" : "false");
    img->n = open_json(j, &err);
    g_assert_no_error(err);
    img->file = hb_node_child(img->n, "file")->node;
    g_assert_cmpint(hb_node_get_length(img->n), ==, size);
    img->payload = (uint64_t)hb_node_get_length(img->file) - size;
    g_assert_true(detached ? img->payload == 0 : img->payload > 0);
    real_file = img->file->drv;
    spy_file = *real_file;
    spy_file.preadv = spy_preadv;
    spy_file.pwritev = spy_pwritev;
    spy_file.submit = spy_submit;
    img->file->drv = &spy_file;
    spy_fail = false;
    g_atomic_int_set(&spy_sync_calls, 0);
}

static void luks_img_close(LuksImg *img)
{
    img->file->drv = real_file;
    hb_node_unref(img->n);
}

/*
 * One request of the luks tests: its own page-aligned buffer, split into
 * iovecs three ways by @i: one segment; two of whole sectors (decrypted
 * in place); or a 100-byte segment first, so that sectors straddle
 * segments and the driver must bounce.
 */
typedef struct LuksOp {
    Done d;
    struct iovec v[2];
    uint8_t *buf;
    size_t len;
    uint64_t off;
} LuksOp;

static void luks_op_prep(LuksOp *op, HbIoOp io, int i, unsigned flags)
{
    size_t half = op->len / 2 / SECTOR_SIZE * SECTOR_SIZE;
    size_t first = i % 3 == 0 || half == 0 ? op->len : i % 3 == 1 ? half : 100;

    memset(&op->d, 0, sizeof(op->d));
    op->d.req.cb.done = on_done;
    op->d.req.op = io;
    op->d.req.offset = op->off;
    op->d.req.bytes = op->len;
    op->d.req.flags = flags;
    op->v[0].iov_base = op->buf;
    op->v[0].iov_len = first;
    op->v[1].iov_base = op->buf + first;
    op->v[1].iov_len = op->len - first;
    op->d.req.iov = op->v;
    op->d.req.niov = first == op->len ? 1 : 2;
}

static void luks_submit_all(HbAioCtx *ctx, HbNode *n, LuksOp *ops, int nops)
{
    for (int i = 0; i < nops; i++) {
        hb_node_submit(n, &ops[i].d.req);
    }
    for (;;) {
        bool all = true;
        for (int i = 0; i < nops; i++) {
            all = all && ops[i].d.done;
        }
        if (all) {
            break;
        }
        hb_aio_ctx_wait(ctx, 1000000);
    }
    g_assert_cmpuint(hb_aio_ctx_inflight(ctx), ==, 0);
}

static void fill_random(GRand *r, uint8_t *buf, size_t len)
{
    for (size_t k = 0; k < len; k += 4) {
        guint32 x = g_rand_int(r);
        memcpy(buf + k, &x, MIN(4, len - k));
    }
}

/*
 * Many writes of assorted sizes and iovec shapes in flight, then many
 * reads, against the synchronous path both ways: what an asynchronous
 * write leaves on disk is the very ciphertext the synchronous write
 * leaves, and an asynchronous read returns what a synchronous write
 * wrote.  The last request is BOUNCE_SIZE (256 KiB), the biggest the
 * driver encrypts on the I/O thread.
 */
static void luks_case(bool detached, bool direct)
{
    enum { N = 24, SLOT = 256 * 1024, SIZE = (N + 1) * SLOT };
    g_autoptr(HbAioCtx) ctx = luks_ctx_new();
    g_autoptr(GRand) r = g_rand_new_with_seed(11 + detached * 2 + direct);
    LuksImg img;
    LuksOp ops[N];
    g_autofree uint8_t *want = g_malloc(SLOT);
    g_autofree uint8_t *c1 = g_malloc(SLOT);
    g_autofree uint8_t *c2 = g_malloc(SLOT);
    bool strict;

    luks_img_open(&img, detached ? "async-det.luks" : "async-att.luks", SIZE,
                  detached, direct);
    /*
     * Everything goes the asynchronous way, down to the ring, unless the
     * file's O_DIRECT blocks are bigger than a sector: then the file node
     * pads some requests on the pool.
     */
    strict = hb_aio_ctx_has_uring(ctx) && img.file->request_alignment <= SECTOR_SIZE;
    for (int i = 0; i < N; i++) {
        /* 512 B .. 63.5 KiB, then 256 KiB */
        ops[i].len = i == N - 1 ? SLOT : (size_t)SECTOR_SIZE * (1 + (i * 37) % 127);
        ops[i].off = (uint64_t)i * SLOT + (uint64_t)SECTOR_SIZE * (i % 5);
        /* A page more than the biggest request: room for the guard byte. */
        g_assert_cmpint(posix_memalign((void **)&ops[i].buf, 4096, SLOT + 4096), ==, 0);
    }

    hb_aio_ctx_set_current(ctx);
    for (int i = 0; i < N; i++) {
        fill_random(r, ops[i].buf, ops[i].len);
        luks_op_prep(&ops[i], HB_IO_WRITE, i, i % 5 == 0 ? HB_REQ_FUA : 0);
    }
    /* Keep the plaintexts: the driver must not encrypt in the caller's buffer. */
    g_autofree uint8_t *plain = g_malloc((size_t)N * SLOT);
    for (int i = 0; i < N; i++) {
        memcpy(plain + (size_t)i * SLOT, ops[i].buf, ops[i].len);
    }
    luks_submit_all(ctx, img.n, ops, N);
    for (int i = 0; i < N; i++) {
        g_assert_cmpint(ops[i].d.ret, ==, 0);
        g_assert_true(ops[i].d.thread == g_thread_self());
        g_assert_cmpmem(ops[i].buf, ops[i].len, plain + (size_t)i * SLOT, ops[i].len);
    }
    if (strict) {
        g_assert_cmpint(g_atomic_int_get(&spy_sync_calls), ==, 0);
    }
    hb_aio_ctx_set_current(NULL);

    for (int i = 0; i < N; i++) {
        const uint8_t *p = plain + (size_t)i * SLOT;
        g_assert_cmpint(hb_node_pread(img.n, ops[i].off, want, ops[i].len), ==, 0);
        g_assert_cmpmem(want, ops[i].len, p, ops[i].len);
        g_assert_cmpint(hb_node_pread(img.file, img.payload + ops[i].off, c1,
                                      ops[i].len), ==, 0);
        g_assert_true(memcmp(c1, p, MIN(ops[i].len, 64)) != 0);
        g_assert_cmpint(hb_node_pwrite(img.n, ops[i].off, p, ops[i].len, 0), ==, 0);
        g_assert_cmpint(hb_node_pread(img.file, img.payload + ops[i].off, c2,
                                      ops[i].len), ==, 0);
        g_assert_cmpmem(c1, ops[i].len, c2, ops[i].len);
        /* New data, written synchronously, for the asynchronous reads. */
        fill_random(r, plain + (size_t)i * SLOT, ops[i].len);
        g_assert_cmpint(hb_node_pwrite(img.n, ops[i].off, p, ops[i].len, 0), ==, 0);
    }

    g_atomic_int_set(&spy_sync_calls, 0);
    hb_aio_ctx_set_current(ctx);
    for (int i = 0; i < N; i++) {
        memset(ops[i].buf, 0xee, SLOT + 4096);
        luks_op_prep(&ops[i], HB_IO_READ, i, 0);
    }
    luks_submit_all(ctx, img.n, ops, N);
    for (int i = 0; i < N; i++) {
        g_assert_cmpint(ops[i].d.ret, ==, 0);
        g_assert_cmpmem(ops[i].buf, ops[i].len, plain + (size_t)i * SLOT, ops[i].len);
        /* Nothing past the request was touched. */
        g_assert_cmpint(ops[i].buf[ops[i].len], ==, 0xee);
    }
    if (strict) {
        /* Buffered reads over 64 KiB take the pool (file.c spreads copies). */
        int big = 0;
        for (int i = 0; i < N; i++) {
            big += !direct && ops[i].len > 64 * 1024;
        }
        g_assert_cmpint(g_atomic_int_get(&spy_sync_calls), ==, big);
    }
    hb_aio_ctx_set_current(NULL);

    for (int i = 0; i < N; i++) {
        free(ops[i].buf);
    }
    luks_img_close(&img);
}

static void test_luks_attached(void)
{
    luks_case(false, false);
}

static void test_luks_detached(void)
{
    luks_case(true, false);
}

static void test_luks_attached_direct(void)
{
    luks_case(false, true);
}

static void test_luks_detached_direct(void)
{
    luks_case(true, true);
}

/*
 * Bigger than 256 KiB: the driver hands it to the pool (synchronous
 * calls below, seen by the spy); the data is the same either way.
 */
static void test_luks_big(void)
{
    enum { BIG = 1024 * 1024 + 4096 };
    g_autoptr(HbAioCtx) ctx = luks_ctx_new();
    g_autoptr(GRand) r = g_rand_new_with_seed(5);
    LuksImg img;
    LuksOp op = { .len = BIG, .off = 8192 };
    g_autofree uint8_t *plain = g_malloc(BIG);
    g_autofree uint8_t *back = g_malloc(BIG);

    luks_img_open(&img, "big.luks", 2 * BIG, false, false);
    g_assert_cmpint(posix_memalign((void **)&op.buf, 4096, BIG), ==, 0);
    fill_random(r, plain, BIG);
    memcpy(op.buf, plain, BIG);
    hb_aio_ctx_set_current(ctx);
    luks_op_prep(&op, HB_IO_WRITE, 2, 0);
    luks_submit_all(ctx, img.n, &op, 1);
    g_assert_cmpint(op.d.ret, ==, 0);
    g_assert_cmpint(g_atomic_int_get(&spy_sync_calls), >, 0);
    memset(op.buf, 0, BIG);
    luks_op_prep(&op, HB_IO_READ, 0, 0);
    luks_submit_all(ctx, img.n, &op, 1);
    g_assert_cmpint(op.d.ret, ==, 0);
    g_assert_cmpmem(op.buf, BIG, plain, BIG);
    hb_aio_ctx_set_current(NULL);
    g_assert_cmpint(hb_node_pread(img.n, op.off, back, BIG), ==, 0);
    g_assert_cmpmem(back, BIG, plain, BIG);
    free(op.buf);
    luks_img_close(&img);
}

/* A failing payload child fails the request, whichever way it went. */
static void test_luks_child_error(void)
{
    enum { N = 7 };
    g_autoptr(HbAioCtx) ctx = luks_ctx_new();
    LuksImg img;
    LuksOp ops[N];

    luks_img_open(&img, "err.luks", 4 << 20, false, false);
    hb_aio_ctx_set_current(ctx);
    spy_fail = true;
    for (int i = 0; i < N; i++) {
        /* Reads in place and bounced, writes, and one of each for the pool. */
        ops[i].len = i >= N - 2 ? 1 << 20 : 8192;
        ops[i].off = (uint64_t)i * (1 << 20) / 2;
        ops[i].off -= ops[i].off % SECTOR_SIZE;
        g_assert_cmpint(posix_memalign((void **)&ops[i].buf, 4096, ops[i].len), ==, 0);
        memset(ops[i].buf, i, ops[i].len);
        luks_op_prep(&ops[i], i % 2 ? HB_IO_WRITE : HB_IO_READ, i, 0);
    }
    luks_submit_all(ctx, img.n, ops, N);
    for (int i = 0; i < N; i++) {
        g_assert_cmpint(ops[i].d.ret, ==, -EIO);
        free(ops[i].buf);
    }
    spy_fail = false;
    hb_aio_ctx_set_current(NULL);
    luks_img_close(&img);
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
    g_test_add_func("/block-async/direct-submits-in-batches", test_direct_submits_in_batches);
    g_test_add_func("/block-async/rmw-gate", test_rmw_gate);
    g_test_add_func("/block-async/iov-aligned-ignores-empty", test_iov_aligned_ignores_empty);
    g_test_add_func("/block-async/zeroes-discard-buffered", test_zeroes_discard_buffered);
    g_test_add_func("/block-async/zeroes-discard-direct", test_zeroes_discard_direct);
    add_secret("sec0", "abc123");
    g_test_add_func("/block-async/luks/attached", test_luks_attached);
    g_test_add_func("/block-async/luks/detached", test_luks_detached);
    g_test_add_func("/block-async/luks/attached-direct", test_luks_attached_direct);
    g_test_add_func("/block-async/luks/detached-direct", test_luks_detached_direct);
    g_test_add_func("/block-async/luks/big", test_luks_big);
    g_test_add_func("/block-async/luks/child-error", test_luks_child_error);
    int ret = g_test_run();
    hb_secret_clear_all();
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmpdir);
    g_assert_cmpint(system(cmd), ==, 0);
    return ret;
}

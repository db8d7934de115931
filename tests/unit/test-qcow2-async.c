/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-qcow2-async.c — qcow2's asynchronous fast path through hb_node_submit(), against sync reads and qemu-img. */
#include "test-block-common.h"
#include "block/aio.h"
#include "block/qcow2/qcow2-int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/*
 * Which way a request took is seen in the image's fast-path count
 * (qcow2-fast.c): a request on the fast path is counted from its submission
 * until its completion runs, which is only when this thread polls; the
 * slow path (the I/O pool) never counts.
 */

#define CL 65536u          /* cluster size of the images made here */

static char *tmpdir;

/* The format core's state behind a qcow2 node (Qcow2Node's first member). */
static HbQcow2 *img_of(HbNode *n)
{
    return *(HbQcow2 **)n->opaque;
}

static int fast_count(HbNode *n)
{
    return g_atomic_int_get(&img_of(n)->fast_inflight);
}

/* Requests that took the fast path so far (some complete inline: buffered). */
static unsigned fast_taken(HbNode *n)
{
    return (unsigned)g_atomic_int_get(&img_of(n)->fast_taken);
}

/* Run a shell command line; it must succeed. */
static void run(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static void run(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_autofree char *out = NULL, *err = NULL;
    g_autoptr(GError) gerr = NULL;
    int status = -1;

    g_assert_true(g_spawn_command_line_sync(cmd, &out, &err, &status, &gerr));
    g_assert_no_error(gerr);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        g_test_message("%s: %s%s", cmd, out ? out : "", err ? err : "");
    }
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static char *path_of(const char *name)
{
    return g_build_filename(tmpdir, name, NULL);
}

/* A new qcow2 image of @size bytes, 64 KiB clusters; @extra: more qemu-img create arguments. */
static char *make_qcow2(const char *name, uint64_t size, const char *extra)
{
    char *path = path_of(name);

    run("qemu-img create -q -f qcow2 -o cluster_size=%u %s %s %" G_GUINT64_FORMAT,
        CL, extra ? extra : "", path, size);
    return path;
}

static HbNode *open_qcow2(const char *path, const char *extra)
{
    g_autofree char *j = g_strdup_printf(
        "{\"driver\":\"qcow2\"%s,\"file\":{\"driver\":\"file\",\"filename\":\"%s\"}}",
        extra ? extra : "", path);
    g_autoptr(GError) err = NULL;
    HbNode *n = open_json(j, &err);

    g_assert_no_error(err);
    return n;
}

/* qemu-img check: no corruption, no leak. */
static void expect_check_clean(const char *path)
{
    run("qemu-img check -q -f qcow2 %s", path);
}

/* The byte pattern of write @seed at guest offset @off. */
static void fill(uint8_t *buf, uint64_t off, uint64_t len, unsigned seed)
{
    for (uint64_t i = 0; i < len; i++) {
        uint64_t x = (off + i) / 8 * 2654435761u + seed * 40503u;
        buf[i] = (uint8_t)(x >> 13) | 1;   /* never zero: tells data from a hole */
    }
}

typedef struct Req {
    HbIoReq req;
    struct iovec v[3];
    int ret;
    bool done;
} Req;

static void on_done(HbAioCb *cb, int ret)
{
    Req *r = (Req *)cb;

    g_assert_false(r->done);
    r->ret = ret;
    r->done = true;
}

/*
 * Set @r up for @op on [@off, @off + @len) of @buf; @split spreads the
 * data over three iovecs of uneven lengths.
 */
static void prep(Req *r, HbIoOp op, uint64_t off, uint8_t *buf, uint64_t len, bool split)
{
    memset(r, 0, sizeof(*r));
    r->req.cb.done = on_done;
    r->req.op = op;
    r->req.offset = off;
    r->req.bytes = len;
    r->req.iov = r->v;
    if (!buf) {
        return;
    }
    if (split && len >= 3) {
        uint64_t a = len / 3 + 1, b = len / 3;
        r->v[0] = (struct iovec){ buf, a };
        r->v[1] = (struct iovec){ buf + a, b };
        r->v[2] = (struct iovec){ buf + a + b, len - a - b };
        r->req.niov = 3;
    } else {
        r->v[0] = (struct iovec){ buf, len };
        r->req.niov = 1;
    }
}

static void submit(HbNode *n, Req *r)
{
    hb_node_submit(n, &r->req);
}

static void wait_all(HbAioCtx *ctx, Req *r, int n)
{
    for (int i = 0; i < n; i++) {
        while (!r[i].done) {
            hb_aio_ctx_wait(ctx, 1000000);
        }
    }
    g_assert_cmpuint(hb_aio_ctx_inflight(ctx), ==, 0);
    for (int i = 0; i < n; i++) {
        g_assert_cmpint(r[i].ret, ==, 0);
    }
}

/* A context with an io_uring where the kernel has one, current on this thread. */
static HbAioCtx *ctx_begin(void)
{
    g_autoptr(GError) err = NULL;
    HbAioCtx *ctx = hb_aio_ctx_new(true, &err);

    g_assert_no_error(err);
    /* Where the kernel allows io_uring, the children really go through it. */
    if (hb_aio_uring_probe() == 0) {
        g_assert_cmpint(hb_aio_ctx_uring_error(ctx), ==, 0);
    }
    hb_aio_ctx_set_current(ctx);
    return ctx;
}

static void ctx_end(HbAioCtx *ctx)
{
    hb_aio_ctx_set_current(NULL);
    hb_aio_ctx_free(ctx);
}

/* Synchronous read of [@off, @off + @len) compared with @want. */
static void expect_sync(HbNode *n, uint64_t off, const uint8_t *want, uint64_t len)
{
    g_autofree uint8_t *got = g_malloc(len);

    g_assert_cmpint(hb_node_pread(n, off, got, len), ==, 0);
    g_assert_true(memcmp(got, want, len) == 0);
}

/*
 * Fill @nclusters clusters from guest cluster @first, in reverse order so
 * that neighbours in the guest are not neighbours on the host (the fast
 * path then splits requests into pieces).  Synchronous: on the pool's
 * side of things, before any asynchronous request is in flight.
 */
static void fill_reversed(HbNode *n, uint8_t *shadow, unsigned first,
                          unsigned nclusters, unsigned seed)
{
    for (unsigned c = first + nclusters; c-- > first;) {
        uint64_t off = (uint64_t)c * CL;
        fill(shadow + off, off, CL, seed);
        g_assert_cmpint(hb_node_pwrite(n, off, shadow + off, CL, 0), ==, 0);
    }
}

/*
 * Many reads and writes in flight on allocated clusters with cached L2
 * tables: all on the fast path (counted as they take it), some
 * spanning several non-contiguous clusters, some with several iovecs,
 * some not cluster-aligned; then checked against synchronous reads.
 */
static void test_fast_rw(void)
{
    enum { N = 32, NCL = 64 };
    const uint64_t size = (uint64_t)NCL * CL;
    const uint64_t slot = size / N;     /* 2 clusters, not neighbours on the host */
    g_autofree char *path = make_qcow2("fast.qcow2", size, NULL);
    HbNode *n = open_qcow2(path, NULL);
    g_autofree uint8_t *shadow = g_malloc0(size);
    g_autofree uint8_t *bufs = g_malloc(N * slot);
    Req r[N];

    fill_reversed(n, shadow, 0, NCL, 1);
    HbAioCtx *ctx = ctx_begin();
    GRand *rng = g_rand_new_with_seed(7);
    for (int round = 0; round < 16; round++) {
        /* One request per slot, so none overlaps another; reads and writes alternate. */
        unsigned taken = fast_taken(n);
        for (int i = 0; i < N; i++) {
            uint64_t start = (uint64_t)i * slot;
            uint64_t off = start + g_rand_int_range(rng, 0, CL + 1);
            uint64_t len = g_rand_int_range(rng, 1, 3 * CL);
            len = MIN(len, start + slot - off);
            bool write = (i + round) % 2 == 0;
            uint8_t *buf = bufs + start;
            if (write) {
                fill(buf, off, len, 100 + round);
                memcpy(shadow + off, buf, len);
            }
            prep(&r[i], write ? HB_IO_WRITE : HB_IO_READ, off, buf, len, i % 3 == 0);
            submit(n, &r[i]);
        }
        g_assert_cmpuint(fast_taken(n) - taken, ==, N);
        wait_all(ctx, r, N);
        g_assert_cmpint(fast_count(n), ==, 0);
        for (int i = 0; i < N; i++) {
            if (memcmp(bufs + (uint64_t)i * slot, shadow + r[i].req.offset, r[i].req.bytes)) {
                uint64_t k = 0;
                while (bufs[i * slot + k] == shadow[r[i].req.offset + k]) k++;
                g_printerr("round %d i %d op %d off %lu len %lu niov %d first diff %lu got %x want %x\n", round, i, r[i].req.op, r[i].req.offset, r[i].req.bytes, r[i].req.niov, k, bufs[i*slot+k], shadow[r[i].req.offset+k]);
            }
            g_assert_true(memcmp(bufs + (uint64_t)i * slot, shadow + r[i].req.offset,
                                 r[i].req.bytes) == 0);
        }
    }
    g_rand_free(rng);
    ctx_end(ctx);
    expect_sync(n, 0, shadow, size);
    hb_node_unref(n);
    expect_check_clean(path);
}

/*
 * Allocating writes (slow path) and in-place writes (fast path) in flight
 * together, with reads of unallocated clusters (zeroes, inline) among
 * them; then FUA writes on both paths.
 */
static void test_mixed_alloc(void)
{
    enum { NCL = 64, N = NCL };
    const uint64_t size = (uint64_t)NCL * CL;
    g_autofree char *path = make_qcow2("mixed.qcow2", size, NULL);
    HbNode *n = open_qcow2(path, NULL);
    g_autofree uint8_t *shadow = g_malloc0(size);
    g_autofree uint8_t *bufs = g_malloc(size);
    Req r[N];

    /* Even clusters allocated (and their tables cached), odd ones not. */
    for (unsigned c = 0; c < NCL; c += 2) {
        fill(shadow + (uint64_t)c * CL, (uint64_t)c * CL, CL, 1);
        g_assert_cmpint(hb_node_pwrite(n, (uint64_t)c * CL, shadow + (uint64_t)c * CL,
                                       CL, 0), ==, 0);
    }
    HbAioCtx *ctx = ctx_begin();

    /* A read of a hole of an image without backing: zeroes, done inline. */
    Req z;
    uint8_t zbuf[4096];
    memset(zbuf, 0xaa, sizeof(zbuf));
    prep(&z, HB_IO_READ, CL + 100, zbuf, sizeof(zbuf), false);
    submit(n, &z);
    g_assert_true(z.done);
    g_assert_cmpint(z.ret, ==, 0);
    for (size_t i = 0; i < sizeof(zbuf); i++) {
        g_assert_cmpint(zbuf[i], ==, 0);
    }

    unsigned taken = fast_taken(n);
    for (int i = 0; i < N; i++) {
        uint64_t off = (uint64_t)i * CL + (i % 4) * 512;
        uint64_t len = CL - (i % 4) * 512;
        fill(bufs + off, off, len, 2);
        memcpy(shadow + off, bufs + off, len);
        prep(&r[i], HB_IO_WRITE, off, bufs + off, len, i % 3 == 0);
        submit(n, &r[i]);
    }
    /* The even (allocated) clusters' writes took the fast path. */
    g_assert_cmpuint(fast_taken(n) - taken, >=, 1);
    wait_all(ctx, r, N);
    expect_sync(n, 0, shadow, size);

    /* FUA, on both paths (flushed through the pool afterwards). */
    uint8_t *fb = g_malloc(2 * CL);
    fill(fb, 0, CL, 3);
    memcpy(shadow, fb, CL);
    prep(&r[0], HB_IO_WRITE, 0, fb, CL, false);
    r[0].req.flags = HB_REQ_FUA;
    submit(n, &r[0]);
    wait_all(ctx, r, 1);
    expect_sync(n, 0, shadow, size);
    g_free(fb);

    ctx_end(ctx);
    hb_node_unref(n);
    expect_check_clean(path);
}

/* Run completions, without handing queued SQEs to the kernel, until @r[0..n) are done or @ms pass. */
static void poll_for(HbAioCtx *ctx, Req *r, int n, unsigned ms)
{
    gint64 end = g_get_monotonic_time() + ms * 1000;

    for (int i = 0; i < n && g_get_monotonic_time() < end; i++) {
        while (!r[i].done && g_get_monotonic_time() < end) {
            hb_aio_ctx_poll(ctx);
            g_usleep(500);
        }
    }
}

/*
 * The gate: fast-path writes to clusters that discards (on the pool) free
 * at the same time, then allocating writes to other guest clusters, which
 * the allocator gives the clusters just freed.  The fast writes' SQEs
 * reach the kernel only when this thread waits (hb_aio_ctx_poll() does
 * not submit), so without the gate the discards would finish first and
 * the allocating writes' data be overwritten by them.  With it, the
 * discards wait for the fast writes, every allocating write's data is
 * exactly its own, every discarded cluster reads as its write or as
 * zeroes, and qemu-img check finds the image clean.
 */
static void test_discard_race(void)
{
    enum { ROUNDS = 12, K = 8, NCL = 256 };
    const uint64_t size = (uint64_t)NCL * CL;
    g_autofree char *path = make_qcow2("race.qcow2", size, NULL);
    /*
     * O_DIRECT, so that the fast writes stay in flight: buffered ones the
     * page cache takes complete before submit returns (file.c).
     */
    HbNode *n = open_qcow2(path, ",\"discard\":\"unmap\",\"cache\":{\"direct\":true}");
    g_autofree uint8_t *shadow = g_malloc0(size);
    uint8_t *bufs = g_aligned_alloc((uint64_t)K * 2, CL, 4096);
    g_autofree uint8_t *check = g_malloc(CL);
    Req r[K * 4];

    for (unsigned round = 0; round < ROUNDS; round++) {
        /* A: K clusters written fast and discarded at once; B: K fresh ones. */
        unsigned a0 = round * K, b0 = NCL / 2 + round * K;
        fill_reversed(n, shadow, a0, K, 10 + round);
        HbAioCtx *ctx = ctx_begin();
        Req *wa = r, *da = r + K, *wa2 = r + 2 * K, *wb = r + 3 * K;
        for (unsigned i = 0; i < K; i++) {
            uint64_t a = (uint64_t)(a0 + i) * CL;
            uint8_t *abuf = bufs + (uint64_t)i * 2 * CL;
            fill(abuf, a, CL, 1000 + round);
            /* One aligned iovec: O_DIRECT takes it as it is (split ones take the pool). */
            prep(&wa[i], HB_IO_WRITE, a, abuf, CL, false);
            submit(n, &wa[i]);
        }
        g_assert_cmpint(fast_count(n), ==, K);
        for (unsigned i = 0; i < K; i++) {
            uint64_t a = (uint64_t)(a0 + i) * CL;
            prep(&da[i], HB_IO_DISCARD, a, NULL, CL, false);
            submit(n, &da[i]);
            /* Fast or not, depending on whether the discard got there first. */
            prep(&wa2[i], HB_IO_WRITE, a, bufs + (uint64_t)i * 2 * CL, CL, false);
            submit(n, &wa2[i]);
        }
        poll_for(ctx, da, K, 50);
        for (unsigned i = 0; i < K; i++) {
            uint64_t b = (uint64_t)(b0 + i) * CL;
            uint8_t *bbuf = bufs + (uint64_t)i * 2 * CL + CL;
            fill(bbuf, b, CL, 2000 + round);
            memcpy(shadow + b, bbuf, CL);
            prep(&wb[i], HB_IO_WRITE, b, bbuf, CL, i % 2 == 1);
            submit(n, &wb[i]);
        }
        poll_for(ctx, wb, K, 50);
        wait_all(ctx, r, 4 * K);
        ctx_end(ctx);
        for (unsigned i = 0; i < K; i++) {
            uint64_t a = (uint64_t)(a0 + i) * CL;
            g_assert_cmpint(hb_node_pread(n, a, check, CL), ==, 0);
            if (check[0] == 0) {
                memset(shadow + a, 0, CL);
            } else {
                memcpy(shadow + a, bufs + (uint64_t)i * 2 * CL, CL);
            }
            g_assert_true(memcmp(check, shadow + a, CL) == 0);
        }
        expect_sync(n, (uint64_t)b0 * CL, shadow + (uint64_t)b0 * CL, (uint64_t)K * CL);
    }
    expect_sync(n, 0, shadow, size);
    hb_node_unref(n);
    g_aligned_free(bufs);
    expect_check_clean(path);
}

/*
 * An L2 cache of 4 tables (the least there is) over an image whose data
 * lies under 8 tables: a read under an evicted table takes the slow path,
 * which loads the table, and the same read is fast afterwards.
 */
static void test_cache_miss(void)
{
    const uint64_t l2_span = (uint64_t)CL / 8 * CL;   /* bytes one L2 table maps */
    const uint64_t size = 8 * l2_span;
    g_autofree char *path = make_qcow2("miss.qcow2", size, NULL);
    g_autofree char *opt = g_strdup_printf(",\"l2-cache-size\":%u", 4 * CL);
    HbNode *n = open_qcow2(path, opt);
    g_autofree uint8_t *data = g_malloc(CL);
    g_autofree uint8_t *got = g_malloc(CL);
    Req r;

    for (unsigned t = 0; t < 8; t++) {
        fill(data, t * l2_span, CL, t);
        g_assert_cmpint(hb_node_pwrite(n, t * l2_span, data, CL, 0), ==, 0);
    }
    HbAioCtx *ctx = ctx_begin();
    for (unsigned t = 0; t < 8; t++) {
        /* Tables 0..3 were evicted by 4..7; reading 0..3 evicts 4..7 in turn. */
        fill(data, t * l2_span, CL, t);
        memset(got, 0, CL);
        prep(&r, HB_IO_READ, t * l2_span, got, CL, false);
        unsigned taken = fast_taken(n);
        submit(n, &r);
        g_assert_cmpuint(fast_taken(n), ==, taken);  /* the slow path */
        wait_all(ctx, &r, 1);
        g_assert_true(memcmp(got, data, CL) == 0);

        memset(got, 0, CL);
        prep(&r, HB_IO_READ, t * l2_span, got, CL, true);
        submit(n, &r);
        g_assert_cmpuint(fast_taken(n), ==, taken + 1);  /* cached now: fast */
        wait_all(ctx, &r, 1);
        g_assert_true(memcmp(got, data, CL) == 0);

        /* And a write under the freshly loaded table, fast too. */
        fill(data, t * l2_span, CL, 50 + t);
        prep(&r, HB_IO_WRITE, t * l2_span, data, CL, false);
        submit(n, &r);
        g_assert_cmpuint(fast_taken(n), ==, taken + 2);
        wait_all(ctx, &r, 1);
    }
    ctx_end(ctx);
    for (unsigned t = 0; t < 8; t++) {
        fill(data, t * l2_span, CL, 50 + t);
        expect_sync(n, t * l2_span, data, CL);
    }
    hb_node_unref(n);
    expect_check_clean(path);
}

/* Read all of @n asynchronously in @chunk pieces, all in flight at once, and compare with @want. */
static void read_all_async(HbNode *n, const uint8_t *want, uint64_t size, uint64_t chunk)
{
    int nr = (int)((size + chunk - 1) / chunk);
    g_autofree Req *r = g_new(Req, nr);
    g_autofree uint8_t *got = g_malloc(size);
    HbAioCtx *ctx = ctx_begin();

    memset(got, 0x55, size);
    for (int i = 0; i < nr; i++) {
        uint64_t off = (uint64_t)i * chunk;
        prep(&r[i], HB_IO_READ, off, got + off, MIN(chunk, size - off), i % 2 == 1);
        submit(n, &r[i]);
    }
    wait_all(ctx, r, nr);
    ctx_end(ctx);
    g_assert_true(memcmp(got, want, size) == 0);
}

static uint8_t *read_file(const char *path, uint64_t size)
{
    gchar *data;
    gsize len;

    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    g_assert_cmpuint(len, ==, size);
    return (uint8_t *)data;
}

/*
 * Compressed clusters (qemu-img convert -c) and a backing file: read
 * right through hb_node_submit() whatever path each piece takes, before
 * and after writes over compressed clusters (copy-on-write, slow) and
 * over clusters of the overlay (fast).
 */
static void test_compressed_backing(void)
{
    enum { NCL = 32 };
    const uint64_t size = (uint64_t)NCL * CL;
    g_autofree char *raw = path_of("base.raw");
    g_autofree char *base = path_of("base.qcow2");
    g_autofree uint8_t *want = g_malloc0(size);

    /* A raw file with data in 3 clusters of 4, then compressed. */
    for (unsigned c = 0; c < NCL; c++) {
        if (c % 4 != 3) {
            fill(want + (uint64_t)c * CL, (uint64_t)c * CL, CL, 5);
        }
    }
    g_assert_true(g_file_set_contents(raw, (char *)want, size, NULL));
    run("qemu-img convert -q -c -f raw -O qcow2 -o cluster_size=%u %s %s", CL, raw, base);

    HbNode *n = open_qcow2(base, NULL);
    read_all_async(n, want, size, 3 * CL / 2);
    read_all_async(n, want, size, 4096);
    /* Overwrite part of every other compressed cluster, asynchronously. */
    HbAioCtx *ctx = ctx_begin();
    Req r[NCL / 2];
    g_autofree uint8_t *wb = g_malloc(size);
    for (unsigned i = 0; i < NCL / 2; i++) {
        uint64_t off = (uint64_t)i * 2 * CL + 1000;
        fill(wb + off, off, 5000, 6);
        memcpy(want + off, wb + off, 5000);
        prep(&r[i], HB_IO_WRITE, off, wb + off, 5000, false);
        submit(n, &r[i]);
    }
    wait_all(ctx, r, NCL / 2);
    ctx_end(ctx);
    read_all_async(n, want, size, 3 * CL / 2);
    hb_node_unref(n);
    expect_check_clean(base);

    /* An overlay on it: unallocated clusters read the backing file. */
    g_autofree char *top = make_qcow2("top.qcow2", size, "-b base.qcow2 -F qcow2");
    n = open_qcow2(top, NULL);
    read_all_async(n, want, size, 3 * CL / 2);
    /* Allocate a few overlay clusters (slow), then write them again (fast). */
    for (int pass = 0; pass < 2; pass++) {
        ctx = ctx_begin();
        unsigned taken = fast_taken(n);
        for (unsigned i = 0; i < NCL / 2; i++) {
            uint64_t off = (uint64_t)i * 2 * CL + 300;
            fill(wb + off, off, 9000, 7 + pass);
            memcpy(want + off, wb + off, 9000);
            prep(&r[i], HB_IO_WRITE, off, wb + off, 9000, pass == 1);
            submit(n, &r[i]);
        }
        if (pass == 1) {
            g_assert_cmpuint(fast_taken(n) - taken, ==, NCL / 2);
        }
        wait_all(ctx, r, NCL / 2);
        ctx_end(ctx);
        read_all_async(n, want, size, 3 * CL / 2);
        read_all_async(n, want, size, 512);
    }
    expect_sync(n, 0, want, size);
    hb_node_unref(n);
    expect_check_clean(top);
    expect_check_clean(base);

    /* What qemu-img reads agrees. */
    g_autofree char *out = path_of("top.raw");
    run("qemu-img convert -q -f qcow2 -O raw %s %s", top, out);
    g_autofree uint8_t *theirs = read_file(out, size);
    g_assert_true(memcmp(theirs, want, size) == 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_autofree char *qemu_img = g_find_program_in_path("qemu-img");
    if (!qemu_img) {
        /* The oracle is required: a test that checks nothing must not pass. */
        g_printerr("qemu-img is not installed (on PATH); install qemu-utils\n");
        return 1;
    }
    /* On the disk, not tmpfs: as test-block-async. */
    g_autofree char *cwd = g_get_current_dir();
    tmpdir = g_build_filename(cwd, "hb-qcow2-async-XXXXXX", NULL);
    g_assert_nonnull(g_mkdtemp(tmpdir));
    g_test_add_func("/qcow2-async/fast-rw", test_fast_rw);
    g_test_add_func("/qcow2-async/mixed-alloc", test_mixed_alloc);
    g_test_add_func("/qcow2-async/discard-race", test_discard_race);
    g_test_add_func("/qcow2-async/cache-miss", test_cache_miss);
    g_test_add_func("/qcow2-async/compressed-backing", test_compressed_backing);
    int ret = g_test_run();
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmpdir);
    g_assert_cmpint(system(cmd), ==, 0);
    return ret;
}

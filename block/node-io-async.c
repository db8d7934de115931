/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/node-io-async.c — hb_node_submit(): the asynchronous entry point, on top of node-io.c. */
#include "block/node-int.h"
#include "block/io-pool.h"

#include <errno.h>
#include <stdlib.h>

/*
 * Theory of operation
 *
 * A request takes one of three ways:
 *
 * 1. Inline, on a thread with no completion context (main thread, tools,
 *    pool workers): the synchronous call of node-io.c runs it, and the
 *    callback is called before hb_node_submit() returns.
 * 2. Through the driver's submit(), on a thread with a context: a
 *    NodeReq wraps the request, so that this layer sees the completion
 *    (node->inflight, FUA as a flush after the write, the write gate
 *    below) before the caller does.
 * 3. On the I/O pool, for everything else (no submit(), the driver said
 *    -ENOTSUP, unaligned requests needing read-modify-write, a
 *    write-zeroes whose quick way failed and needs zero buffers): the
 *    synchronous call runs on a pool thread and the result is posted back.
 *
 * Discard and write-zeroes take the policies of their synchronous
 * counterparts here (discard only whole aligned blocks of a node that
 * unmaps; MAY_UNMAP only where it does), then the driver's submit().
 *
 * Write gate.  An unaligned write is a read-modify-write of whole blocks,
 * and must not interleave with aligned writes to the same blocks.  The
 * synchronous paths use node->rmw_lock (readers: aligned writes; writer:
 * the RMW); an asynchronous write cannot hold a lock until its
 * completion, so it counts itself in node->async_writers instead, and the
 * RMW, holding the writer lock, raises node->rmw_waiting and waits for
 * that count to reach zero.  An asynchronous write that finds rmw_waiting
 * set takes way 3 instead, where the reader lock orders it.  Both sides
 * use sequentially consistent atomics: either the write sees the flag, or
 * the RMW sees the count.
 */

typedef struct NodeReq {
    HbIoReq inner;          /* what the driver or a child sees */
    HbIoReq *outer;         /* the caller's */
    HbNode *node;
    bool gated;             /* counted in node->async_writers */
    bool fua;               /* flush once the write is done */
    unsigned pending;       /* default flush: children not yet done */
    int ret;                /* default flush: the first error */
} NodeReq;

typedef struct PoolReq {
    HbIoPoolJob job;
    HbIoReq *req;
    HbNode *node;
} PoolReq;

/* The synchronous equivalent of @req (way 1 and 3). */
static int run_sync(HbNode *node, HbIoReq *req)
{
    switch (req->op) {
    case HB_IO_READ:
        return hb_node_preadv(node, req->offset, req->bytes, req->iov,
                              req->niov, req->flags);
    case HB_IO_WRITE:
        return hb_node_pwritev(node, req->offset, req->bytes, req->iov,
                               req->niov, req->flags);
    case HB_IO_FLUSH:
        return hb_node_flush(node);
    case HB_IO_DISCARD:
        return hb_node_pdiscard(node, req->offset, req->bytes);
    case HB_IO_WRITE_ZEROES:
        return hb_node_pwrite_zeroes(node, req->offset, req->bytes, req->flags);
    }
    return -EINVAL;
}

static int pool_fn(HbIoPoolJob *job)
{
    PoolReq *p = (PoolReq *)job;
    int ret = run_sync(p->node, p->req);

    g_atomic_int_dec_and_test(&p->node->inflight);
    return ret;
}

static void pool_done(HbAioCb *cb, int ret)
{
    PoolReq *p = (PoolReq *)cb;
    HbIoReq *req = p->req;

    g_free(p);
    req->cb.done(&req->cb, ret);
}

/* Way 3.  Counted in node->inflight from here, so a drain waits for it. */
static void submit_to_pool(HbAioCtx *ctx, HbNode *node, HbIoReq *req)
{
    PoolReq *p = g_new(PoolReq, 1);

    p->job.cb.done = pool_done;
    p->job.fn = pool_fn;
    p->req = req;
    p->node = node;
    g_atomic_int_inc(&node->inflight);
    hb_io_pool_submit(ctx, &p->job);
}

static void node_req_finish(NodeReq *nr, int ret)
{
    HbIoReq *outer = nr->outer;

    g_free(nr);
    outer->cb.done(&outer->cb, ret);
}

static void fua_flush_done(HbAioCb *cb, int ret)
{
    node_req_finish((NodeReq *)cb, ret);
}

/*
 * The driver finished nr->inner.  A follow-up (the FUA flush, the pool's
 * way of zeroing) is started before this request leaves node->inflight,
 * so that a drain never sees the node idle in between.
 */
static void node_req_done(HbAioCb *cb, int ret)
{
    NodeReq *nr = (NodeReq *)cb;
    HbNode *node = nr->node;

    if (nr->gated) {
        g_atomic_int_dec_and_test(&node->async_writers);
        nr->gated = false;
    }
    if (ret == 0 && nr->inner.op != HB_IO_READ && nr->inner.op != HB_IO_FLUSH) {
        hb_node_note_write(node, nr->inner.offset, nr->inner.bytes);
    }
    if (nr->inner.op == HB_IO_WRITE_ZEROES && hb_zeroing_unsupported(ret)) {
        /*
         * The driver's quick way (one fallocate) did not work: the
         * synchronous path tries its others (zero range after a hole,
         * zero buffers unless HB_REQ_NO_FALLBACK) on the pool.  A real
         * error (EIO, ENOSPC) is the answer as it is.
         */
        HbIoReq *outer = nr->outer;
        g_free(nr);
        submit_to_pool(hb_aio_ctx_current(), node, outer);
        g_atomic_int_dec_and_test(&node->inflight);
        return;
    }
    if (nr->inner.op == HB_IO_DISCARD && (ret == -ENOTSUP || ret == -EOPNOTSUPP)) {
        ret = 0;    /* advisory: a file system without holes keeps the data */
    }
    if (ret == 0 && nr->fua) {
        /* The write is done; FUA makes it durable before completing. */
        nr->inner.op = HB_IO_FLUSH;
        nr->inner.cb.done = fua_flush_done;
        nr->fua = false;
        hb_node_submit(node, &nr->inner);   /* may finish (and free) nr at once */
        g_atomic_int_dec_and_test(&node->inflight);
        return;
    }
    g_atomic_int_dec_and_test(&node->inflight);
    node_req_finish(nr, ret);
}

/* The default flush of a driver without one: every child it writes to. */
typedef struct ChildFlush {
    HbIoReq req;
    NodeReq *parent;
} ChildFlush;

/* One of @nr's flushes ended with @ret: the last one finishes @nr. */
static void child_flush_end(NodeReq *nr, int ret)
{
    if (ret < 0 && nr->ret == 0) {
        nr->ret = ret;
    }
    if (--nr->pending == 0) {
        g_atomic_int_dec_and_test(&nr->node->inflight);
        node_req_finish(nr, nr->ret);
    }
}

static void child_flush_done(HbAioCb *cb, int ret)
{
    ChildFlush *cf = (ChildFlush *)cb;
    NodeReq *nr = cf->parent;

    g_free(cf);
    child_flush_end(nr, ret);
}

static void flush_children(HbNode *node, NodeReq *nr)
{
    /* One extra count, so that children completing inline cannot finish nr early. */
    nr->pending = 1;
    nr->ret = 0;
    g_atomic_int_inc(&node->inflight);
    for (guint i = 0; i < node->children->len; i++) {
        HbChild *c = g_ptr_array_index(node->children, i);
        if (!(c->perm & HB_PERM_WRITE)) {
            continue;
        }
        ChildFlush *cf = g_new0(ChildFlush, 1);
        cf->req.cb.done = child_flush_done;
        cf->req.op = HB_IO_FLUSH;
        cf->parent = nr;
        nr->pending++;
        hb_node_submit(c->node, &cf->req);
    }
    child_flush_end(nr, 0);     /* the extra count */
}

/* Bounds and read-only, as for the synchronous calls: 0 or -errno. */
static int precheck(HbNode *node, HbIoReq *req)
{
    if (req->op == HB_IO_FLUSH) {
        return 0;
    }
    return hb_node_check_request(node, req->op == HB_IO_READ, req->offset,
                                 req->bytes);
}

/* Whether @req needs node-io.c's read-modify-write or bounce padding. */
static bool unaligned(HbNode *node, const HbIoReq *req)
{
    uint32_t a = node->request_alignment;

    return a > 1 && (req->offset % a || req->bytes % a);
}

void hb_node_submit(HbNode *node, HbIoReq *req)
{
    HbAioCtx *ctx = hb_aio_ctx_current();
    int ret;

    if (!ctx) {
        req->cb.done(&req->cb, run_sync(node, req));
        return;
    }
    /* An inactive node refuses everything, flushes too (see io_enter()). */
    ret = g_atomic_int_get(&node->inactive) ? -EPERM : precheck(node, req);
    if (ret < 0 || (req->op != HB_IO_FLUSH && req->bytes == 0)) {
        req->cb.done(&req->cb, ret);
        return;
    }
    uint64_t offset = req->offset, bytes = req->bytes;
    unsigned flags = req->flags;
    if (req->op == HB_IO_DISCARD) {
        if (!hb_node_discard_range(node, &offset, &bytes)) {
            req->cb.done(&req->cb, 0);
            return;
        }
    } else if (req->op == HB_IO_WRITE_ZEROES) {
        if (!node->drv->pwrite_zeroes) {
            submit_to_pool(ctx, node, req);     /* zero buffers, or -ENOTSUP */
            return;
        }
        if (!node->discard_unmap) {
            flags &= ~HB_REQ_MAY_UNMAP;
        }
    }
    if (req->op != HB_IO_FLUSH && req->op != HB_IO_DISCARD && unaligned(node, req)) {
        submit_to_pool(ctx, node, req);
        return;
    }

    NodeReq *nr = g_new(NodeReq, 1);
    nr->outer = req;
    nr->node = node;
    nr->gated = false;
    nr->fua = (req->op == HB_IO_WRITE || req->op == HB_IO_WRITE_ZEROES) &&
              (req->flags & HB_REQ_FUA);
    nr->inner = *req;
    nr->inner.cb.done = node_req_done;
    nr->inner.offset = offset;
    nr->inner.bytes = bytes;
    nr->inner.flags = flags & ~HB_REQ_FUA;

    if (req->op == HB_IO_FLUSH && !node->drv->flush) {
        flush_children(node, nr);
        return;
    }
    if (!node->drv->submit) {
        g_free(nr);
        submit_to_pool(ctx, node, req);
        return;
    }
    /* Whatever changes data takes part in the write gate (see the theory). */
    if (req->op != HB_IO_READ && req->op != HB_IO_FLUSH && node->request_alignment > 1) {
        g_atomic_int_inc(&node->async_writers);
        if (g_atomic_int_get(&node->rmw_waiting)) {
            g_atomic_int_dec_and_test(&node->async_writers);
            g_free(nr);
            submit_to_pool(ctx, node, req);
            return;
        }
        nr->gated = true;
    }
    g_atomic_int_inc(&node->inflight);
    /*
     * Deactivation raises the flag, then drains: having counted ourselves
     * in, look again (node-io.c's io_enter()); the pool's way checks in
     * the synchronous call.
     */
    if (g_atomic_int_get(&node->inactive)) {
        if (nr->gated) {
            g_atomic_int_dec_and_test(&node->async_writers);
        }
        g_atomic_int_dec_and_test(&node->inflight);
        g_free(nr);
        req->cb.done(&req->cb, -EPERM);
        return;
    }
    ret = node->drv->submit(node, &nr->inner);
    if (ret < 0) {
        /* -ENOTSUP: nothing was started; the pool runs it instead. */
        if (nr->gated) {
            g_atomic_int_dec_and_test(&node->async_writers);
        }
        g_atomic_int_dec_and_test(&node->inflight);
        g_free(nr);
        submit_to_pool(ctx, node, req);
    }
}

bool hb_node_submit_avoids_pool(HbNode *node, const HbIoReq *req)
{
    if (!hb_aio_ctx_current() || !node->drv->submit_takes ||
        (req->op != HB_IO_READ && req->op != HB_IO_WRITE) ||
        unaligned(node, req) || g_atomic_int_get(&node->rmw_waiting)) {
        return false;
    }
    return node->drv->submit_takes(node, req);
}

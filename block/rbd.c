/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/rbd.c — "rbd": a Ceph RBD image through librbd's asynchronous API. */
#include "block/rbd-int.h"

#include <errno.h>
#include <limits.h>

#include "block/iov.h"
#include "block/node.h"
#include "util/error.h"

/*
 * Theory of operation
 *
 * Every request, synchronous or not, is one librbd aio call
 * (rbd_aio_readv/writev/flush/discard/write_zeroes).  librbd runs it on its
 * own threads and calls our completion callback on one of them; that
 * callback never touches the request's owner: it posts the request's
 * HbAioCb to the submitting thread's completion context
 * (hb_aio_ctx_expect() at submit, hb_aio_ctx_post() from librbd's thread),
 * whose eventfd wakes the I/O thread, which then runs the callback itself.
 * So rbd completions take the same path as the pool's, and a queue keeps
 * as many requests in flight at the OSDs as the guest gives it.
 *
 * On a thread without a context (main thread, tools, pool workers) the
 * same aio call is made and waited for (rbd_aio_wait_for_complete()).
 *
 * The image is shared as QEMU shares it: librbd's exclusive-lock feature
 * (when the image has it) passes the lock to whichever client writes,
 * cooperatively, so a second writer neither fails to open nor fails its
 * writes; keeping two writers apart is the management layer's job, as with
 * QEMU.  A snapshot opens read-only.
 */

typedef struct RbdState {
    HbRbdConn conn;
    uint32_t object_size;
    GMutex grow_lock;       /* one write at a time grows the image */
} RbdState;

/* One asynchronous request on its way through librbd. */
typedef struct RbdAio {
    HbIoReq *req;
    HbAioCtx *ctx;
} RbdAio;

static bool rbdn_open(HbNode *node, QapiBlockdevOptions *opts, GError **errp)
{
    QapiBlockdevOptionsRbd *o = opts->u.rbd;
    RbdState *s;
    rbd_image_info_t info;
    int r;

    if (o->has_x_connect_timeout &&
        (o->x_connect_timeout < 1 || o->x_connect_timeout > HB_RBD_CONNECT_TIMEOUT_MAX)) {
        hb_error_set(errp, "Parameter 'x-connect-timeout' expects a value from 1 to %d",
                     HB_RBD_CONNECT_TIMEOUT_MAX);
        return false;
    }
    if (o->snapshot && !node->read_only) {
        if (!(opts->has_auto_read_only && opts->auto_read_only)) {
            hb_error_set(errp, "rbd snapshots are read-only");
            return false;
        }
        node->read_only = true;
    }
    s = g_new0(RbdState, 1);
    if (!hb_rbd_connect(&s->conn, o, node->read_only, node->cache_direct, errp)) {
        g_free(s);
        return false;
    }
    r = rbd_stat(s->conn.image, &info, sizeof(info));
    if (r < 0) {
        hb_error_set_errno(errp, r, "error getting image info from %s", o->image);
        hb_rbd_disconnect(&s->conn);
        g_free(s);
        return false;
    }
    s->object_size = (uint32_t)MIN(info.obj_size, UINT32_MAX);
    g_mutex_init(&s->grow_lock);
    node->opaque = s;
    return true;
}

static void rbdn_close(HbNode *node)
{
    RbdState *s = node->opaque;

    hb_rbd_disconnect(&s->conn);
    g_mutex_clear(&s->grow_lock);
    g_free(s);
    node->opaque = NULL;
}

static int64_t rbdn_get_length(HbNode *node)
{
    RbdState *s = node->opaque;
    uint64_t size;
    int r = rbd_get_size(s->conn.image, &size);

    return r < 0 ? r : (int64_t)size;
}

/*
 * As QEMU's rbd driver, which has no answer: ImageInfo then has no
 * actual-size, and hotblock-img info says "disk size: unavailable".
 * (Counting the allocated objects would walk the whole image.)
 */
static int64_t rbdn_get_allocated_size(HbNode *node)
{
    return -ENOTSUP;
}

/* Start one librbd aio call for @op on completion @c. */
static int rbdn_start(RbdState *s, HbIoOp op, uint64_t offset, uint64_t bytes,
                     const struct iovec *iov, int niov, unsigned flags,
                     rbd_completion_t c)
{
    rbd_image_t img = s->conn.image;

    switch (op) {
    case HB_IO_READ:
        return rbd_aio_readv(img, iov, niov, offset, c);
    case HB_IO_WRITE:
        return rbd_aio_writev(img, iov, niov, offset, c);
    case HB_IO_FLUSH:
        return rbd_aio_flush(img, c);
    case HB_IO_DISCARD:
        return rbd_aio_discard(img, offset, bytes, c);
    case HB_IO_WRITE_ZEROES:
        /*
         * As QEMU: without MAY_UNMAP the zeroes stay allocated, which
         * librbd does by writing them: not for a caller that wants no
         * such fallback.
         */
        if ((flags & HB_REQ_NO_FALLBACK) && !(flags & HB_REQ_MAY_UNMAP)) {
            return -ENOTSUP;
        }
        return rbd_aio_write_zeroes(img, offset, bytes, c,
                                    (flags & HB_REQ_MAY_UNMAP) ? 0
                                        : RBD_WRITE_ZEROES_FLAG_THICK_PROVISION, 0);
    }
    return -EINVAL;
}

/* The synchronous path: the same aio call, waited for here. */
static int rbdn_sync(HbNode *node, HbIoOp op, uint64_t offset, uint64_t bytes,
                    const struct iovec *iov, int niov, unsigned flags)
{
    RbdState *s = node->opaque;
    g_autofree void *bounce = NULL;
    struct iovec one;
    rbd_completion_t c;
    int r;

    if (niov > IOV_MAX) {
        /* librbd takes at most IOV_MAX vectors: go through one buffer. */
        bounce = g_malloc(bytes);
        if (op == HB_IO_WRITE) {
            hb_iov_to_buf(iov, niov, 0, bounce, bytes);
        }
        one = (struct iovec){ .iov_base = bounce, .iov_len = bytes };
    }
    r = rbd_aio_create_completion(NULL, NULL, &c);
    if (r < 0) {
        return r;
    }
    r = rbdn_start(s, op, offset, bytes, bounce ? &one : iov, bounce ? 1 : niov, flags, c);
    if (r == 0) {
        rbd_aio_wait_for_complete(c);
        r = (int)rbd_aio_get_return_value(c);
    }
    rbd_aio_release(c);
    if (r >= 0 && bounce && op == HB_IO_READ) {
        hb_iov_from_buf(iov, niov, 0, bounce, bytes);
    }
    return r < 0 ? r : 0;
}

static int rbdn_preadv(HbNode *node, uint64_t offset, uint64_t bytes,
                      const struct iovec *iov, int niov, unsigned flags)
{
    return rbdn_sync(node, HB_IO_READ, offset, bytes, iov, niov, 0);
}

/*
 * A write past the end grows the image first, as QEMU's rbd driver does:
 * a format over rbd (qcow2) allocates its clusters at the end of its file.
 * Rare, so done on the synchronous path (submit() sends such writes here).
 */
static int rbdn_grow(RbdState *s, uint64_t end)
{
    uint64_t size;
    int r;

    g_mutex_lock(&s->grow_lock);
    r = rbd_get_size(s->conn.image, &size);
    if (r == 0 && end > size) {
        r = rbd_resize(s->conn.image, end);
    }
    g_mutex_unlock(&s->grow_lock);
    return r;
}

/* FUA: node-io.c flushes after the write (librbd has no per-write FUA). */
static int rbdn_pwritev(HbNode *node, uint64_t offset, uint64_t bytes,
                       const struct iovec *iov, int niov, unsigned flags)
{
    uint64_t size;
    int r = rbd_get_size(((RbdState *)node->opaque)->conn.image, &size);

    if (r == 0 && offset + bytes > size) {
        r = rbdn_grow(node->opaque, offset + bytes);
    }
    if (r < 0) {
        return r;
    }
    return rbdn_sync(node, HB_IO_WRITE, offset, bytes, iov, niov, 0);
}

static int rbdn_flush(HbNode *node)
{
    if (node->cache_no_flush) {
        return 0;
    }
    return rbdn_sync(node, HB_IO_FLUSH, 0, 0, NULL, 0, 0);
}

static int rbdn_pdiscard(HbNode *node, uint64_t offset, uint64_t bytes)
{
    return rbdn_sync(node, HB_IO_DISCARD, offset, bytes, NULL, 0, 0);
}

static int rbdn_pwrite_zeroes(HbNode *node, uint64_t offset, uint64_t bytes,
                             unsigned flags)
{
    return rbdn_sync(node, HB_IO_WRITE_ZEROES, offset, bytes, NULL, 0, flags);
}

/* librbd's thread: hand the result to the submitting thread. */
static void rbdn_aio_done(rbd_completion_t c, void *arg)
{
    RbdAio *a = arg;
    int r = (int)rbd_aio_get_return_value(c);
    HbAioCtx *ctx = a->ctx;
    HbIoReq *req = a->req;

    rbd_aio_release(c);
    g_free(a);
    hb_aio_ctx_post(ctx, &req->cb, r < 0 ? r : 0);
}

static bool rbdn_submit_takes(HbNode *node, const HbIoReq *req)
{
    bool data = req->op == HB_IO_READ || req->op == HB_IO_WRITE;
    uint64_t size;

    if (req->op == HB_IO_WRITE &&
        (rbd_get_size(((RbdState *)node->opaque)->conn.image, &size) < 0 ||
         req->offset + req->bytes > size)) {
        return false;   /* grows the image: rbdn_pwritev() */
    }
    return !data || req->niov <= IOV_MAX;
}

static int rbdn_submit(HbNode *node, HbIoReq *req)
{
    RbdState *s = node->opaque;
    HbAioCtx *ctx = hb_aio_ctx_current();
    rbd_completion_t c;
    RbdAio *a;
    int r;

    if (!rbdn_submit_takes(node, req)) {
        return -ENOTSUP;
    }
    if (req->op == HB_IO_FLUSH && node->cache_no_flush) {
        req->cb.done(&req->cb, 0);
        return 0;
    }
    a = g_new(RbdAio, 1);
    a->req = req;
    a->ctx = ctx;
    r = rbd_aio_create_completion(a, rbdn_aio_done, &c);
    if (r < 0) {
        g_free(a);
        return -ENOTSUP;
    }
    /* Before librbd may call back: the post must find the context expecting it. */
    hb_aio_ctx_expect(ctx);
    r = rbdn_start(s, req->op, req->offset, req->bytes, req->iov, req->niov,
                  req->flags, c);
    if (r < 0) {
        rbd_aio_release(c);
        g_free(a);
        hb_aio_ctx_post(ctx, &req->cb, r);
    }
    return 0;
}

static int rbdn_truncate(HbNode *node, uint64_t size, QapiPreallocMode prealloc,
                         GError **errp)
{
    RbdState *s = node->opaque;

    if (prealloc != QAPI_PREALLOC_MODE_OFF) {
        hb_error_set(errp, "Unsupported preallocation mode '%s'", QapiPreallocMode_str(prealloc));
        return -ENOTSUP;
    }
    int r = rbd_resize(s->conn.image, size);

    if (r < 0) {
        hb_error_set_errno(errp, r, "failed to resize rbd image");
    }
    return r;
}

/*
 * blockdev-set-active: another client (the migration's source or
 * destination) may have written while this node was inactive, and librbd's
 * cache may hold what it read before; drop it, as QEMU's rbd driver does
 * when it invalidates its cache on activation.
 */
static bool rbdn_activate(HbNode *node, GError **errp)
{
    RbdState *s = node->opaque;
    int r = rbd_invalidate_cache(s->conn.image);

    if (r < 0) {
        hb_error_set_errno(errp, r, "Failed to invalidate the rbd cache");
        return false;
    }
    return true;
}

/* As QEMU's qemu_rbd_getinfo(): the object size is the cluster size. */
static bool rbdn_get_info(HbNode *node, HbDriverInfo *info)
{
    info->cluster_size = ((RbdState *)node->opaque)->object_size;
    return true;
}

const HbDriver hb_driver_rbd = {
    .name = "rbd",
    .is_format = false,
    .growable = true,
    .open = rbdn_open,
    .close = rbdn_close,
    .get_length = rbdn_get_length,
    .get_allocated_size = rbdn_get_allocated_size,
    .preadv = rbdn_preadv,
    .pwritev = rbdn_pwritev,
    .flush = rbdn_flush,
    .pdiscard = rbdn_pdiscard,
    .pwrite_zeroes = rbdn_pwrite_zeroes,
    .submit = rbdn_submit,
    .submit_takes = rbdn_submit_takes,
    .truncate = rbdn_truncate,
    .activate = rbdn_activate,
    .get_info = rbdn_get_info,
};

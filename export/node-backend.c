/* SPDX-License-Identifier: GPL-2.0-or-later */
/* export/node-backend.c — a block node as virtio-blk's asynchronous backend. */
#include "export/node-backend.h"

#include <errno.h>

#include "block/aio.h"

/* What a request keeps in HbVirtioBlkIo.priv while the block layer has it. */
typedef struct NodeIo {
    HbIoReq req;            /* first: the block layer's completion finds us */
    HbVirtioBlkIo *io;
    HbNodeBackend *nb;
} NodeIo;

/* virtio-blk's operations are the block layer's, in the same order. */
G_STATIC_ASSERT(HB_VIRTIO_BLK_IO_READ == (int)HB_IO_READ);
G_STATIC_ASSERT(HB_VIRTIO_BLK_IO_WRITE == (int)HB_IO_WRITE);
G_STATIC_ASSERT(HB_VIRTIO_BLK_IO_FLUSH == (int)HB_IO_FLUSH);
G_STATIC_ASSERT(HB_VIRTIO_BLK_IO_DISCARD == (int)HB_IO_DISCARD);
G_STATIC_ASSERT(HB_VIRTIO_BLK_IO_WRITE_ZEROES == (int)HB_IO_WRITE_ZEROES);
G_STATIC_ASSERT(HB_VIRTIO_BLK_REQ_FUA == HB_REQ_FUA);
G_STATIC_ASSERT(HB_VIRTIO_BLK_REQ_MAY_UNMAP == HB_REQ_MAY_UNMAP);

static void node_io_done(HbAioCb *cb, int ret)
{
    NodeIo *nio = (NodeIo *)cb;
    HbVirtioBlkIo *io = nio->io;

    /*
     * Every failure here is the storage's: the guest's own mistakes are
     * caught by virtio-blk before.  A discard the storage cannot do is
     * no failure (virtio-blk completes it as done).
     */
    if (ret < 0 && !(io->op == HB_VIRTIO_BLK_IO_DISCARD &&
                     (ret == -ENOTSUP || ret == -EOPNOTSUPP))) {
        hb_export_io_error(&nio->nb->io_errors, io->op != HB_VIRTIO_BLK_IO_READ, ret);
    }
    hb_virtio_blk_io_done(io, ret);
}

static void be_submit(void *opaque, HbVirtioBlkIo *io)
{
    HbNodeBackend *nb = opaque;
    NodeIo *nio = io->priv;

    nio->io = io;
    nio->nb = nb;
    nio->req = (HbIoReq){
        .cb.done = node_io_done,
        .op = (HbIoOp)io->op,
        .flags = io->flags & (HB_REQ_FUA | HB_REQ_MAY_UNMAP),
        .offset = io->offset,
        .bytes = io->bytes,
        .iov = io->iov,
        .niov = io->niov,
    };
    hb_node_submit(nb->node, &nio->req);
}

static void be_poll(void *opaque, int64_t wait_us)
{
    HbAioCtx *ctx = hb_aio_ctx_current();

    if (!ctx) {
        return;     /* everything completed inline */
    }
    if (wait_us) {
        hb_aio_ctx_wait(ctx, wait_us);
    } else {
        hb_aio_ctx_submit(ctx);
        hb_aio_ctx_poll(ctx);
    }
}

HbVirtioBlkBackend hb_node_backend(HbNodeBackend *nb)
{
    return (HbVirtioBlkBackend){
        .opaque = nb,
        .submit = be_submit,
        .poll = be_poll,
        .io_priv_size = sizeof(NodeIo),
    };
}

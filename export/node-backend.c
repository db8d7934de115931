/* SPDX-License-Identifier: GPL-2.0-or-later */
/* export/node-backend.c — a block node as virtio-blk's asynchronous backend. */
#include "export/node-backend.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "block/aio.h"

/* What a request keeps in HbVirtioBlkIo.priv while the block layer has it. */
typedef struct NodeIo {
    HbIoReq req;            /* first: the block layer's completion finds us */
    HbVirtioBlkIo *io;
    HbNodeBackend *nb;
    int64_t start_ns;       /* for the accounting */
} NodeIo;

/* virtio-blk's operations are the block layer's, in the same order. */
G_STATIC_ASSERT(HB_VIRTIO_BLK_IO_READ == (int)HB_IO_READ);
G_STATIC_ASSERT(HB_VIRTIO_BLK_IO_WRITE == (int)HB_IO_WRITE);
G_STATIC_ASSERT(HB_VIRTIO_BLK_IO_FLUSH == (int)HB_IO_FLUSH);
G_STATIC_ASSERT(HB_VIRTIO_BLK_IO_DISCARD == (int)HB_IO_DISCARD);
G_STATIC_ASSERT(HB_VIRTIO_BLK_IO_WRITE_ZEROES == (int)HB_IO_WRITE_ZEROES);
G_STATIC_ASSERT(HB_VIRTIO_BLK_REQ_FUA == HB_REQ_FUA);
G_STATIC_ASSERT(HB_VIRTIO_BLK_REQ_MAY_UNMAP == HB_REQ_MAY_UNMAP);

/* How QEMU's virtio-blk accounts each operation: write-zeroes as a write. */
static const HbAcctType acct_type[] = {
    [HB_VIRTIO_BLK_IO_READ] = HB_ACCT_READ,
    [HB_VIRTIO_BLK_IO_WRITE] = HB_ACCT_WRITE,
    [HB_VIRTIO_BLK_IO_FLUSH] = HB_ACCT_FLUSH,
    [HB_VIRTIO_BLK_IO_DISCARD] = HB_ACCT_UNMAP,
    [HB_VIRTIO_BLK_IO_WRITE_ZEROES] = HB_ACCT_WRITE,
};

/*
 * The accounting's clock, read about once per request rather than twice
 * (a reading costs ~30 ns, a null-co request ~1 us of CPU).  Readings are
 * shared within an epoch: a submission ends one (so its completion, even
 * inline, reads afresh), and so does each poll of the backend (be_poll),
 * whose completions, run after its wait, then share the time of the
 * first of them.  A submission takes the epoch's reading if there is
 * one: the time the completion just before it was seen.
 */
static __thread uint64_t clock_epoch = 1;
static __thread uint64_t clock_epoch_read;
static __thread int64_t clock_cached;

static int64_t batch_now(void)
{
    if (clock_epoch_read != clock_epoch) {
        clock_cached = hb_block_acct_now();
        clock_epoch_read = clock_epoch;
    }
    return clock_cached;
}

static void node_io_done(HbAioCb *cb, int ret)
{
    NodeIo *nio = (NodeIo *)cb;
    HbVirtioBlkIo *io = nio->io;

    /*
     * Every failure here is the storage's: the guest's own mistakes are
     * caught by virtio-blk before.  A discard the storage cannot do is
     * no failure (virtio-blk completes it as done).
     */
    bool failed = ret < 0 && !(io->op == HB_VIRTIO_BLK_IO_DISCARD &&
                               (ret == -ENOTSUP || ret == -EOPNOTSUPP));

    if (failed) {
        hb_export_io_error(&nio->nb->io_errors, io->op != HB_VIRTIO_BLK_IO_READ, ret);
    }
    hb_block_acct_done(&nio->nb->acct, acct_type[io->op],
                       io->op == HB_VIRTIO_BLK_IO_FLUSH ? 0 : io->bytes,
                       nio->start_ns, batch_now(), failed);
    hb_virtio_blk_io_done(io, ret);
}

static void be_submit(void *opaque, HbVirtioBlkIo *io)
{
    HbNodeBackend *nb = opaque;
    NodeIo *nio = io->priv;

    nio->io = io;
    nio->nb = nb;
    nio->start_ns = batch_now();
    clock_epoch++;          /* its completion reads afresh, even inline */
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

/* be_poll(), and with @fd >= 0 the wait also ends when @fd is readable. */
static bool be_poll_or_fd(void *opaque, int64_t wait_us, int fd)
{
    HbAioCtx *ctx = hb_aio_ctx_current();
    bool ready = false;

    clock_epoch++;  /* completions of this poll read the clock afresh */
    if (!ctx) {
        return false;   /* everything completed inline */
    }
    if (wait_us) {
        hb_aio_ctx_wait_or_fd(ctx, wait_us, fd, &ready);
    } else {
        hb_aio_ctx_submit(ctx);
        hb_aio_ctx_poll(ctx);
    }
    return ready;
}

static void be_poll(void *opaque, int64_t wait_us)
{
    be_poll_or_fd(opaque, wait_us, -1);
}

static int64_t be_admission_wait_ns(void *opaque, bool is_write)
{
    HbNodeBackend *nb = opaque;

    return hb_node_admission_wait_ns(nb->node, is_write);
}

/*
 * A ring's wake-up (be_signal_at): a timer of the I/O thread's completion
 * context holding a duplicate of the ring's kick eventfd, not a pointer
 * to the ring, so that a ring torn down meanwhile leaves it harmless.  The
 * thread's loop runs it when due (export/iothread.c), or cancels it when
 * the thread ends; either way it frees itself.
 */
typedef struct RingWake {
    HbAioTimer timer;           /* first: the context's callback finds us */
    int fd;
} RingWake;

static void ring_wake_fire(HbAioCb *cb, int ret)
{
    RingWake *w = (RingWake *)cb;

    if (ret == 0) {
        eventfd_write(w->fd, 1);
    }
    close(w->fd);
    g_free(w);
}

static bool be_signal_at(void *opaque, int fd, int64_t deadline_ns)
{
    HbAioCtx *ctx = hb_aio_ctx_current();
    int dup_fd;

    if (!ctx || (dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
        return false;
    }
    RingWake *w = g_new0(RingWake, 1);
    w->fd = dup_fd;
    w->timer.cb.done = ring_wake_fire;
    hb_aio_ctx_timer_arm(ctx, &w->timer, deadline_ns);
    return true;
}

HbVirtioBlkBackend hb_node_backend(HbNodeBackend *nb)
{
    return (HbVirtioBlkBackend){
        .opaque = nb,
        .submit = be_submit,
        .poll = be_poll,
        .poll_or_fd = be_poll_or_fd,
        .admission_wait_ns = be_admission_wait_ns,
        .signal_at = be_signal_at,
        .io_priv_size = sizeof(NodeIo),
    };
}

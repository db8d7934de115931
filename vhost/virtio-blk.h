/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhost/virtio-blk.h — virtio-blk request semantics, free of any transport. */
#ifndef HB_EXPORT_VIRTIO_BLK_H
#define HB_EXPORT_VIRTIO_BLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vhost/virtqueue.h"

/* Feature bits (virtio spec 1.2, 5.2.3) */
#define HB_VIRTIO_BLK_F_SIZE_MAX     1
#define HB_VIRTIO_BLK_F_SEG_MAX      2
#define HB_VIRTIO_BLK_F_GEOMETRY     4
#define HB_VIRTIO_BLK_F_RO           5
#define HB_VIRTIO_BLK_F_BLK_SIZE     6
#define HB_VIRTIO_BLK_F_FLUSH        9
#define HB_VIRTIO_BLK_F_TOPOLOGY     10
#define HB_VIRTIO_BLK_F_CONFIG_WCE   11
#define HB_VIRTIO_BLK_F_MQ           12
#define HB_VIRTIO_BLK_F_DISCARD      13
#define HB_VIRTIO_BLK_F_WRITE_ZEROES 14
#define HB_VIRTIO_F_RING_INDIRECT_DESC 28
#define HB_VIRTIO_F_RING_EVENT_IDX   29
#define HB_VIRTIO_F_VERSION_1        32

/* Request types and status bytes */
#define HB_VIRTIO_BLK_T_IN           0
#define HB_VIRTIO_BLK_T_OUT          1
#define HB_VIRTIO_BLK_T_FLUSH        4
#define HB_VIRTIO_BLK_T_GET_ID       8
#define HB_VIRTIO_BLK_T_DISCARD      11
#define HB_VIRTIO_BLK_T_WRITE_ZEROES 13
#define HB_VIRTIO_BLK_S_OK           0
#define HB_VIRTIO_BLK_S_IOERR        1
#define HB_VIRTIO_BLK_S_UNSUPP       2
#define HB_VIRTIO_BLK_WZ_F_UNMAP     1
#define HB_VIRTIO_BLK_ID_BYTES       20

/* Config space layout (offsets into struct virtio_blk_config) */
#define HB_VIRTIO_BLK_CFG_WRITEBACK  32
#define HB_VIRTIO_BLK_CFG_SIZE       60

/* Limits we advertise */
#define HB_VIRTIO_BLK_SEG_MAX        126
#define HB_VIRTIO_BLK_MAX_DISCARD_SECTORS (1u << 22)  /* 2 GiB */

/* Flags passed to the backend's writes: the values of block/node.h. */
#define HB_VIRTIO_BLK_REQ_FUA        (1u << 0)
#define HB_VIRTIO_BLK_REQ_MAY_UNMAP  (1u << 1)

/* What an asynchronous backend is asked to do (HbVirtioBlkIo.op). */
enum {
    HB_VIRTIO_BLK_IO_READ,
    HB_VIRTIO_BLK_IO_WRITE,
    HB_VIRTIO_BLK_IO_FLUSH,
    HB_VIRTIO_BLK_IO_DISCARD,
    HB_VIRTIO_BLK_IO_WRITE_ZEROES,
};

/**
 * struct HbVirtioBlkIo - one request to an asynchronous backend.
 * @priv: HbVirtioBlkBackend.io_priv_size bytes the backend may use for
 *     its own state until it completes the request
 */
typedef struct HbVirtioBlkIo {
    unsigned op;
    unsigned flags;             /* HB_VIRTIO_BLK_REQ_* */
    uint64_t offset;
    uint64_t bytes;
    struct iovec *iov;
    int niov;
    void *priv;
} HbVirtioBlkIo;

/**
 * struct HbVirtioBlkBackend - the volume below; export.c points these at
 * the block layer.
 *
 * The synchronous calls return 0 or -errno and may be called from any
 * thread.  A backend may also be asynchronous: @submit starts a request,
 * which the backend completes once, on the thread that submitted it, with
 * hb_virtio_blk_io_done() (possibly before @submit returns); @poll hands
 * the backend's batched submissions over and runs the completions that
 * are ready, waiting up to @wait_us (0: not at all) when none is.  On a
 * thread where it cannot be asynchronous, the backend completes inline.
 */
typedef struct HbVirtioBlkBackend {
    void *opaque;
    int (*preadv)(void *opaque, uint64_t offset, uint64_t bytes,
                  const struct iovec *iov, int niov);
    int (*pwritev)(void *opaque, uint64_t offset, uint64_t bytes,
                   const struct iovec *iov, int niov, unsigned flags);
    int (*flush)(void *opaque);
    int (*pdiscard)(void *opaque, uint64_t offset, uint64_t bytes);
    int (*pwrite_zeroes)(void *opaque, uint64_t offset, uint64_t bytes,
                         unsigned flags);
    void (*submit)(void *opaque, HbVirtioBlkIo *io);   /* optional */
    void (*poll)(void *opaque, int64_t wait_us);       /* with submit */
    /*
     * Optional, with poll: as poll, but the wait also ends when @fd (the
     * ring's kick) becomes readable, so that requests the driver adds
     * while all others are with the storage go out at once, not after the
     * next completion.  Return: whether @fd is readable (not read).
     */
    bool (*poll_or_fd)(void *opaque, int64_t wait_us, int fd);
    /*
     * Optional: how long a request of that direction would be held (by a
     * throttle) before reaching the storage, in ns; 0 if not.  The queue
     * runner leaves such a request in the ring until then, rather than
     * hold its thread while it waits.
     */
    int64_t (*admission_wait_ns)(void *opaque, bool is_write);
    /*
     * Optional, with admission_wait_ns: write 1 to eventfd @fd (the ring's
     * kick) at @deadline_ns (CLOCK_MONOTONIC), from the calling thread's
     * event loop.  The backend keeps a duplicate of @fd, so the ring may
     * go meanwhile.  Return: false if it cannot (the runner then kicks the
     * ring at once).
     */
    bool (*signal_at)(void *opaque, int fd, int64_t deadline_ns);
    size_t io_priv_size;
} HbVirtioBlkBackend;

/**
 * struct HbVirtioBlkReq - one virtio-blk request being executed.
 * @elem: the popped request (its iovecs may be modified)
 * @complete: called once when the status byte is written (possibly
 *     before hb_virtio_blk_start() returns); set by the caller
 * @written: then: bytes written into the device-writable buffers, status
 *     included
 * @io: private; @io.priv is the caller's to point at
 *     HbVirtioBlkBackend.io_priv_size bytes before each start
 */
typedef struct HbVirtioBlkReq HbVirtioBlkReq;
struct HbVirtioBlkReq {
    HbVirtqElem *elem;
    void (*complete)(HbVirtioBlkReq *req);
    uint32_t written;
    /* private */
    uint8_t *status;
    uint64_t in_len;
    HbVirtioBlkIo io;
};

/**
 * struct HbVirtioBlk - one virtio-blk device's state.  Fields are set by
 * the owner before the device is used; @writeback may then change through
 * the config space (CONFIG_WCE).
 */
typedef struct HbVirtioBlk {
    HbVirtioBlkBackend be;
    uint64_t length;              /* bytes, updated on resize */
    uint32_t logical_block_size;  /* power of two, 512..64k */
    uint16_t num_queues;
    bool read_only;
    bool writeback;               /* false: every write is FUA */
    char serial[HB_VIRTIO_BLK_ID_BYTES + 1];
} HbVirtioBlk;

/* The virtio feature bits this device offers (transport bits included). */
uint64_t hb_virtio_blk_features(const HbVirtioBlk *blk);

/**
 * hb_virtio_blk_get_config() - fill @buf (@len bytes) with the config
 * space; bytes past the fields we know read as zero.
 */
void hb_virtio_blk_get_config(const HbVirtioBlk *blk, uint8_t *buf, size_t len);

/**
 * hb_virtio_blk_set_config() - the driver writes the config space; only
 * the writeback byte is writable.  Return: 0 or -EINVAL.
 */
int hb_virtio_blk_set_config(HbVirtioBlk *blk, const uint8_t *data,
                             uint32_t offset, uint32_t size);

/**
 * hb_virtio_blk_start() - start one request.
 * @req: @elem and @complete set; @io.priv set if the backend has a submit
 *
 * Guest mistakes (bad sector, unknown type, write to a read-only disk)
 * become a status byte.  Return: 0, and @req->complete will run; or
 * -EINVAL when the request is too malformed to carry a status (no header
 * or no status byte): @complete will not run, and the caller drops the
 * connection.
 */
int hb_virtio_blk_start(HbVirtioBlk *blk, HbVirtioBlkReq *req);

/* For asynchronous backends: @io finished with @ret (0 or -errno). */
void hb_virtio_blk_io_done(HbVirtioBlkIo *io, int ret);

/**
 * hb_virtio_blk_handle() - execute one request and wait for it (tests,
 * fuzzers): hb_virtio_blk_start() polling the backend until it completes.
 * @written: bytes written into the device-writable buffers, status included
 * Return: as hb_virtio_blk_start().
 */
int hb_virtio_blk_handle(HbVirtioBlk *blk, HbVirtqElem *elem, uint32_t *written);

/**
 * hb_virtio_blk_peek_type() - the type of a popped request, to decide where
 * to run it.  The guest may still change the header: hb_virtio_blk_handle()
 * reads and checks it again, so the answer is only ever a hint.
 * Return: the request type, or -1 if there is no readable header.
 */
int hb_virtio_blk_peek_type(const HbVirtqElem *elem);

#endif

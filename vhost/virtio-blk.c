/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhost/virtio-blk.c — virtio-blk requests and config space over a backend of callbacks. */
#include "vhost/virtio-blk.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#include <glib.h>

#define SECTOR 512u

typedef struct BlkReqHdr {
    uint32_t type;
    uint32_t ioprio;
    uint64_t sector;
} BlkReqHdr;

typedef struct BlkSegment {
    uint64_t sector;
    uint32_t num_sectors;
    uint32_t flags;
} BlkSegment;

uint64_t hb_virtio_blk_features(const HbVirtioBlk *blk)
{
    uint64_t f = (1ull << HB_VIRTIO_F_VERSION_1) |
                 (1ull << HB_VIRTIO_F_RING_INDIRECT_DESC) |
                 (1ull << HB_VIRTIO_F_RING_EVENT_IDX) |
                 (1ull << HB_VIRTIO_BLK_F_SEG_MAX) |
                 (1ull << HB_VIRTIO_BLK_F_BLK_SIZE) |
                 (1ull << HB_VIRTIO_BLK_F_TOPOLOGY) |
                 (1ull << HB_VIRTIO_BLK_F_FLUSH) |
                 (1ull << HB_VIRTIO_BLK_F_CONFIG_WCE) |
                 (1ull << HB_VIRTIO_BLK_F_MQ);

    if (blk->read_only) {
        f |= 1ull << HB_VIRTIO_BLK_F_RO;
    } else {
        f |= (1ull << HB_VIRTIO_BLK_F_DISCARD) |
             (1ull << HB_VIRTIO_BLK_F_WRITE_ZEROES);
    }
    return f;
}

static void put16(uint8_t *b, size_t len, size_t off, uint16_t v)
{
    v = htole16(v);
    if (off + sizeof(v) <= len) {
        memcpy(b + off, &v, sizeof(v));
    }
}

static void put32(uint8_t *b, size_t len, size_t off, uint32_t v)
{
    v = htole32(v);
    if (off + sizeof(v) <= len) {
        memcpy(b + off, &v, sizeof(v));
    }
}

static void put64(uint8_t *b, size_t len, size_t off, uint64_t v)
{
    v = htole64(v);
    if (off + sizeof(v) <= len) {
        memcpy(b + off, &v, sizeof(v));
    }
}

static void put8(uint8_t *b, size_t len, size_t off, uint8_t v)
{
    if (off < len) {
        b[off] = v;
    }
}

void hb_virtio_blk_get_config(const HbVirtioBlk *blk, uint8_t *buf, size_t len)
{
    uint32_t lbs_sectors = blk->logical_block_size / SECTOR;

    memset(buf, 0, len);
    put64(buf, len, 0, __atomic_load_n(&blk->length, __ATOMIC_RELAXED) / SECTOR); /* capacity */
    put32(buf, len, 12, HB_VIRTIO_BLK_SEG_MAX);            /* seg_max */
    put32(buf, len, 20, blk->logical_block_size);          /* blk_size */
    put8(buf, len, 24, 0);                                 /* physical_block_exp */
    put8(buf, len, 25, 0);                                 /* alignment_offset */
    put16(buf, len, 26, 1);                                /* min_io_size (blocks) */
    put32(buf, len, 28, 0);                                /* opt_io_size */
    put8(buf, len, HB_VIRTIO_BLK_CFG_WRITEBACK, blk->writeback);
    put16(buf, len, 34, blk->num_queues);
    put32(buf, len, 36, HB_VIRTIO_BLK_MAX_DISCARD_SECTORS); /* max_discard_sectors */
    put32(buf, len, 40, 1);                                /* max_discard_seg */
    put32(buf, len, 44, lbs_sectors);                      /* discard_sector_alignment */
    put32(buf, len, 48, HB_VIRTIO_BLK_MAX_DISCARD_SECTORS); /* max_write_zeroes_sectors */
    put32(buf, len, 52, 1);                                /* max_write_zeroes_seg */
    put8(buf, len, 56, 1);                                 /* write_zeroes_may_unmap */
}

int hb_virtio_blk_set_config(HbVirtioBlk *blk, const uint8_t *data,
                             uint32_t offset, uint32_t size)
{
    if (offset != HB_VIRTIO_BLK_CFG_WRITEBACK || size != 1) {
        return -EINVAL;
    }
    blk->writeback = data[0] != 0;
    return 0;
}

/* Copy the first @len bytes of @iov[0..niov) into @buf; false if short. */
static bool iov_to_buf(const struct iovec *iov, unsigned niov, void *buf, size_t len)
{
    uint8_t *p = buf;

    for (unsigned i = 0; i < niov && len; i++) {
        size_t n = iov[i].iov_len < len ? iov[i].iov_len : len;
        memcpy(p, iov[i].iov_base, n);
        p += n;
        len -= n;
    }
    return len == 0;
}

/* Copy @len bytes of @buf into @iov; return the bytes copied. */
static size_t buf_to_iov(struct iovec *iov, unsigned niov, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    size_t done = 0;

    for (unsigned i = 0; i < niov && done < len; i++) {
        size_t n = iov[i].iov_len < len - done ? iov[i].iov_len : len - done;
        memcpy(iov[i].iov_base, p + done, n);
        done += n;
    }
    return done;
}

/* Drop @len leading bytes from an iovec array in place; return the new start. */
static struct iovec *iov_skip(struct iovec *iov, unsigned *niov, size_t len)
{
    while (*niov && len) {
        if (iov->iov_len > len) {
            iov->iov_base = (uint8_t *)iov->iov_base + len;
            iov->iov_len -= len;
            return iov;
        }
        len -= iov->iov_len;
        iov++;
        (*niov)--;
    }
    /* Also skip empty entries so callers can tell "no data". */
    while (*niov && iov->iov_len == 0) {
        iov++;
        (*niov)--;
    }
    return iov;
}

/* Is [sector, sector + bytes/512) a valid, aligned range of the disk? */
static bool range_ok(const HbVirtioBlk *blk, uint64_t sector, uint64_t bytes)
{
    uint64_t lbs_sectors = blk->logical_block_size / SECTOR;
    /* block_resize changes it from the main thread. */
    uint64_t total = __atomic_load_n(&blk->length, __ATOMIC_RELAXED) / SECTOR;

    if (sector & (lbs_sectors - 1)) {
        return false;
    }
    if (bytes % blk->logical_block_size) {
        return false;
    }
    return sector <= total && bytes / SECTOR <= total - sector;
}

/* Finish @req with status @st. */
static void finish(HbVirtioBlkReq *req, uint8_t st)
{
    *req->status = st;
    req->complete(req);
}

void hb_virtio_blk_io_done(HbVirtioBlkIo *io, int ret)
{
    HbVirtioBlkReq *req = (HbVirtioBlkReq *)((char *)io - offsetof(HbVirtioBlkReq, io));

    /* Discard is a hint: a backend that cannot is not an error. */
    if (io->op == HB_VIRTIO_BLK_IO_DISCARD && (ret == -ENOTSUP || ret == -EOPNOTSUPP)) {
        ret = 0;
    }
    if (ret == 0 && io->op == HB_VIRTIO_BLK_IO_READ) {
        req->written = req->in_len + 1;
    }
    finish(req, ret < 0 ? HB_VIRTIO_BLK_S_IOERR : HB_VIRTIO_BLK_S_OK);
}

/* Hand req->io to the backend: asynchronously if it can, else here and now. */
static void dispatch(HbVirtioBlk *blk, HbVirtioBlkReq *req)
{
    HbVirtioBlkIo *io = &req->io;
    int ret;

    if (blk->be.submit) {
        blk->be.submit(blk->be.opaque, io);
        return;
    }
    switch (io->op) {
    case HB_VIRTIO_BLK_IO_READ:
        ret = blk->be.preadv(blk->be.opaque, io->offset, io->bytes, io->iov, io->niov);
        break;
    case HB_VIRTIO_BLK_IO_WRITE:
        ret = blk->be.pwritev(blk->be.opaque, io->offset, io->bytes, io->iov,
                              io->niov, io->flags);
        break;
    case HB_VIRTIO_BLK_IO_FLUSH:
        ret = blk->be.flush(blk->be.opaque);
        break;
    case HB_VIRTIO_BLK_IO_DISCARD:
        ret = blk->be.pdiscard(blk->be.opaque, io->offset, io->bytes);
        break;
    default:
        ret = blk->be.pwrite_zeroes(blk->be.opaque, io->offset, io->bytes, io->flags);
        break;
    }
    hb_virtio_blk_io_done(io, ret);
}

/*
 * Parse a discard or write-zeroes segment into req->io; return 0 to
 * dispatch it, or the status to finish with.
 */
static int discard_or_zeroes(HbVirtioBlk *blk, HbVirtioBlkReq *req, uint32_t type,
                             struct iovec *out, unsigned out_num, uint64_t out_len)
{
    BlkSegment seg;
    uint64_t sector, bytes;

    if (blk->read_only) {
        return HB_VIRTIO_BLK_S_IOERR;
    }
    /* We advertise max_*_seg = 1: exactly one segment. */
    if (out_len != sizeof(seg) || !iov_to_buf(out, out_num, &seg, sizeof(seg))) {
        return HB_VIRTIO_BLK_S_UNSUPP;
    }
    sector = le64toh(seg.sector);
    bytes = (uint64_t)le32toh(seg.num_sectors) * SECTOR;
    if (le32toh(seg.num_sectors) > HB_VIRTIO_BLK_MAX_DISCARD_SECTORS ||
        !range_ok(blk, sector, bytes)) {
        return HB_VIRTIO_BLK_S_IOERR;
    }
    req->io.offset = sector * SECTOR;
    req->io.bytes = bytes;
    uint32_t flags = le32toh(seg.flags);
    if (type == HB_VIRTIO_BLK_T_DISCARD) {
        if (flags != 0) {
            return HB_VIRTIO_BLK_S_UNSUPP;
        }
        req->io.op = HB_VIRTIO_BLK_IO_DISCARD;
    } else {
        if (flags & ~(uint32_t)HB_VIRTIO_BLK_WZ_F_UNMAP) {
            return HB_VIRTIO_BLK_S_UNSUPP;
        }
        req->io.op = HB_VIRTIO_BLK_IO_WRITE_ZEROES;
        req->io.flags = (flags & HB_VIRTIO_BLK_WZ_F_UNMAP) ?
                        HB_VIRTIO_BLK_REQ_MAY_UNMAP : 0;
    }
    return 0;
}

int hb_virtio_blk_start(HbVirtioBlk *blk, HbVirtioBlkReq *req)
{
    HbVirtqElem *elem = req->elem;
    struct iovec *out = elem->iov, *in = elem->iov + elem->out_num;
    unsigned out_num = elem->out_num, in_num = elem->in_num;
    uint64_t out_len = elem->out_len, in_len = elem->in_len;
    HbVirtioBlkIo *io = &req->io;
    BlkReqHdr hdr;
    uint64_t sector;
    uint32_t type;
    int st;

    req->status = NULL;
    /*
     * The status byte is the last device-writable byte.  The entries it
     * leaves empty are dropped: an empty iovec pointing at the status
     * byte would make the data look unaligned to O_DIRECT.
     */
    for (unsigned i = in_num; i > 0; i--) {
        if (in[i - 1].iov_len) {
            in[i - 1].iov_len--;
            req->status = (uint8_t *)in[i - 1].iov_base + in[i - 1].iov_len;
            in_num = in[i - 1].iov_len ? i : i - 1;
            break;
        }
    }
    if (!req->status || out_len < sizeof(hdr) ||
        !iov_to_buf(out, out_num, &hdr, sizeof(hdr))) {
        return -EINVAL;
    }
    in_len--;
    out = iov_skip(out, &out_num, sizeof(hdr));
    out_len -= sizeof(hdr);
    type = le32toh(hdr.type);
    sector = le64toh(hdr.sector);
    req->written = 1;
    req->in_len = in_len;
    io->flags = 0;
    io->iov = NULL;
    io->niov = 0;

    switch (type) {
    case HB_VIRTIO_BLK_T_IN:
        if (!range_ok(blk, sector, in_len)) {
            finish(req, HB_VIRTIO_BLK_S_IOERR);
            return 0;
        }
        if (!in_len) {
            req->written = 1;
            finish(req, HB_VIRTIO_BLK_S_OK);
            return 0;
        }
        io->op = HB_VIRTIO_BLK_IO_READ;
        io->offset = sector * SECTOR;
        io->bytes = in_len;
        io->iov = in;
        io->niov = (int)in_num;
        break;
    case HB_VIRTIO_BLK_T_OUT:
        if (blk->read_only || !range_ok(blk, sector, out_len)) {
            finish(req, HB_VIRTIO_BLK_S_IOERR);
            return 0;
        }
        if (!out_len) {
            finish(req, HB_VIRTIO_BLK_S_OK);
            return 0;
        }
        io->op = HB_VIRTIO_BLK_IO_WRITE;
        io->offset = sector * SECTOR;
        io->bytes = out_len;
        io->iov = out;
        io->niov = (int)out_num;
        io->flags = blk->writeback ? 0 : HB_VIRTIO_BLK_REQ_FUA;
        break;
    case HB_VIRTIO_BLK_T_FLUSH:
        io->op = HB_VIRTIO_BLK_IO_FLUSH;
        io->offset = 0;
        io->bytes = 0;
        break;
    case HB_VIRTIO_BLK_T_GET_ID: {
        char id[HB_VIRTIO_BLK_ID_BYTES] = { 0 };
        size_t n = in_len < sizeof(id) ? in_len : sizeof(id);

        memcpy(id, blk->serial, strnlen(blk->serial, sizeof(id)));
        req->written = buf_to_iov(in, in_num, id, n) + 1;
        finish(req, HB_VIRTIO_BLK_S_OK);
        return 0;
    }
    case HB_VIRTIO_BLK_T_DISCARD:
    case HB_VIRTIO_BLK_T_WRITE_ZEROES:
        st = discard_or_zeroes(blk, req, type, out, out_num, out_len);
        if (st) {
            finish(req, (uint8_t)st);
            return 0;
        }
        break;
    default:
        finish(req, HB_VIRTIO_BLK_S_UNSUPP);
        return 0;
    }
    dispatch(blk, req);
    return 0;
}

static void handle_done(HbVirtioBlkReq *req)
{
    req->complete = NULL;   /* marks it done for hb_virtio_blk_handle() */
}

int hb_virtio_blk_handle(HbVirtioBlk *blk, HbVirtqElem *elem, uint32_t *written)
{
    HbVirtioBlkReq req = { .elem = elem, .complete = handle_done };
    g_autofree void *priv = blk->be.io_priv_size ? g_malloc(blk->be.io_priv_size) : NULL;
    int ret;

    req.io.priv = priv;
    ret = hb_virtio_blk_start(blk, &req);
    if (ret < 0) {
        return ret;
    }
    while (req.complete) {
        blk->be.poll(blk->be.opaque, 1000);
    }
    *written = req.written;
    return 0;
}

int hb_virtio_blk_peek_type(const HbVirtqElem *elem)
{
    BlkReqHdr hdr;

    if (elem->out_len < sizeof(hdr) || !iov_to_buf(elem->iov, elem->out_num, &hdr, sizeof(hdr))) {
        return -1;
    }
    return (int)(le32toh(hdr.type) & 0x7fffffff);
}

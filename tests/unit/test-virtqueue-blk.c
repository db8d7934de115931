/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-virtqueue-blk.c — virtio-blk request semantics over a memory-backed disk. */
#include <endian.h>
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "vhost/virtio-blk.h"

#define DISK (1u << 20)

typedef struct MemDisk {
    uint8_t data[DISK];
    unsigned flushes, discards, zeroes;
    unsigned last_flags;
    int fail;        /* next I/O returns this */
} MemDisk;

static int md_preadv(void *opaque, uint64_t off, uint64_t bytes,
                     const struct iovec *iov, int niov)
{
    MemDisk *d = opaque;
    g_assert_cmpuint(off + bytes, <=, DISK);
    if (d->fail) {
        return d->fail;
    }
    for (int i = 0; i < niov; i++) {
        memcpy(iov[i].iov_base, d->data + off, iov[i].iov_len);
        off += iov[i].iov_len;
    }
    return 0;
}

static int md_pwritev(void *opaque, uint64_t off, uint64_t bytes,
                      const struct iovec *iov, int niov, unsigned flags)
{
    MemDisk *d = opaque;
    g_assert_cmpuint(off + bytes, <=, DISK);
    d->last_flags = flags;
    for (int i = 0; i < niov; i++) {
        memcpy(d->data + off, iov[i].iov_base, iov[i].iov_len);
        off += iov[i].iov_len;
    }
    return 0;
}

static int md_flush(void *opaque)
{
    ((MemDisk *)opaque)->flushes++;
    return 0;
}

static int md_pdiscard(void *opaque, uint64_t off, uint64_t bytes)
{
    ((MemDisk *)opaque)->discards++;
    return -ENOTSUP;
}

static int md_pwrite_zeroes(void *opaque, uint64_t off, uint64_t bytes, unsigned flags)
{
    MemDisk *d = opaque;
    g_assert_cmpuint(off + bytes, <=, DISK);
    memset(d->data + off, 0, bytes);
    d->zeroes++;
    d->last_flags = flags;
    return 0;
}

typedef struct Fixture {
    MemDisk *disk;
    HbVirtioBlk blk;
    HbVirtqElem *elem;
    uint8_t hdr[16];
    uint8_t buf[8192];
    uint8_t status;
} Fixture;

static void setup(Fixture *f, gconstpointer data)
{
    f->disk = g_new0(MemDisk, 1);
    f->blk = (HbVirtioBlk){
        .be = { f->disk, md_preadv, md_pwritev, md_flush, md_pdiscard, md_pwrite_zeroes },
        .length = DISK, .logical_block_size = 512, .num_queues = 2, .writeback = true,
    };
    strcpy(f->blk.serial, "serial-123");
    f->elem = g_new0(HbVirtqElem, 1);
}

static void teardown(Fixture *f, gconstpointer data)
{
    g_free(f->elem);
    g_free(f->disk);
}

/* A request: header, @len bytes of data (device-readable if @out), status. */
static void build(Fixture *f, uint32_t type, uint64_t sector, size_t len, bool out)
{
    uint32_t t = htole32(type);
    uint64_t s = htole64(sector);
    HbVirtqElem *e = f->elem;

    memcpy(f->hdr, &t, 4);
    memset(f->hdr + 4, 0, 4);
    memcpy(f->hdr + 8, &s, 8);
    f->status = 0xaa;
    e->out_num = e->in_num = 0;
    e->iov[e->out_num++] = (struct iovec){ f->hdr, 16 };
    e->out_len = 16;
    e->in_len = 1;
    if (len && out) {
        e->iov[e->out_num++] = (struct iovec){ f->buf, len };
        e->out_len += len;
    } else if (len) {
        e->iov[e->out_num + e->in_num++] = (struct iovec){ f->buf, len };
        e->in_len += len;
    }
    e->iov[e->out_num + e->in_num++] = (struct iovec){ &f->status, 1 };
}

static uint8_t run(Fixture *f, uint32_t *written)
{
    uint32_t w = 0;
    g_assert_cmpint(hb_virtio_blk_handle(&f->blk, f->elem, &w), ==, 0);
    if (written) {
        *written = w;
    }
    return f->status;
}

static void test_read_write(Fixture *f, gconstpointer data)
{
    uint32_t w;

    memset(f->buf, 0x5a, 4096);
    build(f, HB_VIRTIO_BLK_T_OUT, 8, 4096, true);
    g_assert_cmpuint(run(f, &w), ==, HB_VIRTIO_BLK_S_OK);
    g_assert_cmpuint(w, ==, 1);
    g_assert_cmpuint(f->disk->data[8 * 512], ==, 0x5a);
    g_assert_cmpuint(f->disk->data[8 * 512 - 1], ==, 0);
    g_assert_cmpuint(f->disk->last_flags, ==, 0);

    memset(f->buf, 0, sizeof(f->buf));
    build(f, HB_VIRTIO_BLK_T_IN, 8, 4096, false);
    g_assert_cmpuint(run(f, &w), ==, HB_VIRTIO_BLK_S_OK);
    g_assert_cmpuint(w, ==, 4097);
    g_assert_cmpuint(f->buf[4095], ==, 0x5a);

    /* writethrough: every write is FUA */
    f->blk.writeback = false;
    build(f, HB_VIRTIO_BLK_T_OUT, 0, 512, true);
    g_assert_cmpuint(run(f, NULL), ==, HB_VIRTIO_BLK_S_OK);
    g_assert_cmpuint(f->disk->last_flags, ==, HB_VIRTIO_BLK_REQ_FUA);

    /* backend error */
    f->disk->fail = -EIO;
    build(f, HB_VIRTIO_BLK_T_IN, 0, 512, false);
    g_assert_cmpuint(run(f, &w), ==, HB_VIRTIO_BLK_S_IOERR);
    g_assert_cmpuint(w, ==, 1);
}

static void test_ranges(Fixture *f, gconstpointer data)
{
    /* past the end, straddling the end, sector overflow */
    build(f, HB_VIRTIO_BLK_T_IN, DISK / 512, 512, false);
    g_assert_cmpuint(run(f, NULL), ==, HB_VIRTIO_BLK_S_IOERR);
    build(f, HB_VIRTIO_BLK_T_OUT, DISK / 512 - 1, 1024, true);
    g_assert_cmpuint(run(f, NULL), ==, HB_VIRTIO_BLK_S_IOERR);
    build(f, HB_VIRTIO_BLK_T_IN, UINT64_MAX / 512, 512, false);
    g_assert_cmpuint(run(f, NULL), ==, HB_VIRTIO_BLK_S_IOERR);
    build(f, HB_VIRTIO_BLK_T_IN, UINT64_MAX, 512, false);
    g_assert_cmpuint(run(f, NULL), ==, HB_VIRTIO_BLK_S_IOERR);
    /* not a multiple of the block size */
    build(f, HB_VIRTIO_BLK_T_IN, 0, 100, false);
    g_assert_cmpuint(run(f, NULL), ==, HB_VIRTIO_BLK_S_IOERR);
    /* with 4k logical blocks: misaligned sector or length */
    f->blk.logical_block_size = 4096;
    build(f, HB_VIRTIO_BLK_T_IN, 1, 4096, false);
    g_assert_cmpuint(run(f, NULL), ==, HB_VIRTIO_BLK_S_IOERR);
    build(f, HB_VIRTIO_BLK_T_IN, 8, 512, false);
    g_assert_cmpuint(run(f, NULL), ==, HB_VIRTIO_BLK_S_IOERR);
    build(f, HB_VIRTIO_BLK_T_IN, 8, 4096, false);
    g_assert_cmpuint(run(f, NULL), ==, HB_VIRTIO_BLK_S_OK);
    /* the last block is fine */
    f->blk.logical_block_size = 512;
    build(f, HB_VIRTIO_BLK_T_IN, DISK / 512 - 1, 512, false);
    g_assert_cmpuint(run(f, NULL), ==, HB_VIRTIO_BLK_S_OK);
}

static void test_read_only(Fixture *f, gconstpointer data)
{
    f->blk.read_only = true;
    build(f, HB_VIRTIO_BLK_T_OUT, 0, 512, true);
    g_assert_cmpuint(run(f, NULL), ==, HB_VIRTIO_BLK_S_IOERR);
    build(f, HB_VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, true);
    g_assert_cmpuint(run(f, NULL), ==, HB_VIRTIO_BLK_S_IOERR);
    build(f, HB_VIRTIO_BLK_T_IN, 0, 512, false);
    g_assert_cmpuint(run(f, NULL), ==, HB_VIRTIO_BLK_S_OK);
    g_assert_true(hb_virtio_blk_features(&f->blk) & (1ull << HB_VIRTIO_BLK_F_RO));
    g_assert_false(hb_virtio_blk_features(&f->blk) & (1ull << HB_VIRTIO_BLK_F_DISCARD));
}

static void test_flush_get_id_unknown(Fixture *f, gconstpointer data)
{
    uint32_t w;

    build(f, HB_VIRTIO_BLK_T_FLUSH, 0, 0, false);
    g_assert_cmpuint(run(f, &w), ==, HB_VIRTIO_BLK_S_OK);
    g_assert_cmpuint(f->disk->flushes, ==, 1);

    build(f, HB_VIRTIO_BLK_T_GET_ID, 0, 20, false);
    g_assert_cmpuint(run(f, &w), ==, HB_VIRTIO_BLK_S_OK);
    g_assert_cmpuint(w, ==, 21);
    g_assert_cmpstr((char *)f->buf, ==, "serial-123");
    /* a short buffer gets what fits */
    build(f, HB_VIRTIO_BLK_T_GET_ID, 0, 4, false);
    g_assert_cmpuint(run(f, &w), ==, HB_VIRTIO_BLK_S_OK);
    g_assert_cmpuint(w, ==, 5);

    build(f, 0x1234, 0, 0, false);
    g_assert_cmpuint(run(f, NULL), ==, HB_VIRTIO_BLK_S_UNSUPP);
}

static void put_segment(Fixture *f, uint64_t sector, uint32_t n, uint32_t flags)
{
    uint64_t s = htole64(sector);
    uint32_t nn = htole32(n), fl = htole32(flags);
    memcpy(f->buf, &s, 8);
    memcpy(f->buf + 8, &nn, 4);
    memcpy(f->buf + 12, &fl, 4);
}

static void test_discard_write_zeroes(Fixture *f, gconstpointer data)
{
    memset(f->disk->data, 0xff, DISK);
    build(f, HB_VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, true);
    put_segment(f, 2, 2, HB_VIRTIO_BLK_WZ_F_UNMAP);
    g_assert_cmpuint(run(f, NULL), ==, HB_VIRTIO_BLK_S_OK);
    g_assert_cmpuint(f->disk->data[1023], ==, 0xff);
    g_assert_cmpuint(f->disk->data[1024], ==, 0);
    g_assert_cmpuint(f->disk->data[2047], ==, 0);
    g_assert_cmpuint(f->disk->data[2048], ==, 0xff);
    g_assert_cmpuint(f->disk->last_flags, ==, HB_VIRTIO_BLK_REQ_MAY_UNMAP);

    /* discard: the backend cannot, which is not an error */
    build(f, HB_VIRTIO_BLK_T_DISCARD, 0, 16, true);
    put_segment(f, 0, 8, 0);
    g_assert_cmpuint(run(f, NULL), ==, HB_VIRTIO_BLK_S_OK);
    g_assert_cmpuint(f->disk->discards, ==, 1);
    /* discard with the unmap flag, unknown flags: unsupported */
    build(f, HB_VIRTIO_BLK_T_DISCARD, 0, 16, true);
    put_segment(f, 0, 8, 1);
    g_assert_cmpuint(run(f, NULL), ==, HB_VIRTIO_BLK_S_UNSUPP);
    build(f, HB_VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, true);
    put_segment(f, 0, 8, 2);
    g_assert_cmpuint(run(f, NULL), ==, HB_VIRTIO_BLK_S_UNSUPP);
    /* out of range, two segments */
    build(f, HB_VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, true);
    put_segment(f, DISK / 512 - 1, 2, 0);
    g_assert_cmpuint(run(f, NULL), ==, HB_VIRTIO_BLK_S_IOERR);
    build(f, HB_VIRTIO_BLK_T_DISCARD, 0, 32, true);
    g_assert_cmpuint(run(f, NULL), ==, HB_VIRTIO_BLK_S_UNSUPP);
    g_assert_cmpuint(f->disk->zeroes, ==, 1);
}

static void test_malformed(Fixture *f, gconstpointer data)
{
    uint32_t w;

    /* no status byte at all */
    build(f, HB_VIRTIO_BLK_T_IN, 0, 0, false);
    f->elem->in_num = 0;
    g_assert_cmpint(hb_virtio_blk_handle(&f->blk, f->elem, &w), ==, -EINVAL);
    /* a zero-length "status" buffer */
    build(f, HB_VIRTIO_BLK_T_IN, 0, 0, false);
    f->elem->iov[1].iov_len = 0;
    g_assert_cmpint(hb_virtio_blk_handle(&f->blk, f->elem, &w), ==, -EINVAL);
    /* a short header */
    build(f, HB_VIRTIO_BLK_T_IN, 0, 0, false);
    f->elem->iov[0].iov_len = 8;
    f->elem->out_len = 8;
    g_assert_cmpint(hb_virtio_blk_handle(&f->blk, f->elem, &w), ==, -EINVAL);
}

static void test_split_header(Fixture *f, gconstpointer data)
{
    HbVirtqElem *e = f->elem;

    memset(f->disk->data, 0x11, 512);
    build(f, HB_VIRTIO_BLK_T_IN, 0, 512, false);
    /* header in two pieces, data and status in one buffer */
    memmove(&e->iov[1], &e->iov[0], 3 * sizeof(struct iovec));
    e->iov[0] = (struct iovec){ f->hdr, 5 };
    e->iov[1] = (struct iovec){ f->hdr + 5, 11 };
    e->out_num = 2;
    e->iov[2] = (struct iovec){ f->buf, 513 };
    e->in_num = 1;
    e->in_len = 513;
    g_assert_cmpint(hb_virtio_blk_handle(&f->blk, e, &(uint32_t){ 0 }), ==, 0);
    g_assert_cmpuint(f->buf[512], ==, HB_VIRTIO_BLK_S_OK);
    g_assert_cmpuint(f->buf[511], ==, 0x11);
}

static void test_config(Fixture *f, gconstpointer data)
{
    uint8_t cfg[64];
    uint64_t cap;
    uint32_t bs;
    uint16_t nq;
    uint8_t wb = 0;

    f->blk.logical_block_size = 4096;
    hb_virtio_blk_get_config(&f->blk, cfg, sizeof(cfg));
    memcpy(&cap, cfg, 8);
    memcpy(&bs, cfg + 20, 4);
    memcpy(&nq, cfg + 34, 2);
    g_assert_cmpuint(le64toh(cap), ==, DISK / 512);
    g_assert_cmpuint(le32toh(bs), ==, 4096);
    g_assert_cmpuint(le16toh(nq), ==, 2);
    g_assert_cmpuint(cfg[HB_VIRTIO_BLK_CFG_WRITEBACK], ==, 1);
    g_assert_cmpuint(cfg[60], ==, 0);
    /* a short read gets a prefix */
    hb_virtio_blk_get_config(&f->blk, cfg, 8);

    g_assert_cmpint(hb_virtio_blk_set_config(&f->blk, &wb, HB_VIRTIO_BLK_CFG_WRITEBACK, 1), ==, 0);
    g_assert_false(f->blk.writeback);
    g_assert_cmpint(hb_virtio_blk_set_config(&f->blk, &wb, 0, 1), ==, -EINVAL);
    g_assert_true(hb_virtio_blk_features(&f->blk) & (1ull << HB_VIRTIO_BLK_F_DISCARD));
    g_assert_true(hb_virtio_blk_features(&f->blk) & (1ull << HB_VIRTIO_F_VERSION_1));
}

/* Records what the backend is handed, and completes at once. */
static HbVirtioBlkIo last_io;

static void rec_submit(void *opaque, HbVirtioBlkIo *io)
{
    last_io = *io;
    hb_virtio_blk_io_done(io, 0);
}

static void rec_poll(void *opaque, int64_t wait_us)
{
}

/*
 * A read's data iovecs end with the data: the status byte's own
 * descriptor, emptied when the status is taken from it, is not passed on
 * (an empty entry pointing at the status byte made every read look
 * unaligned to O_DIRECT, and sent it to the bounce path).
 */
static void test_read_iov_excludes_status(Fixture *f, gconstpointer data)
{
    f->blk.be.submit = rec_submit;
    f->blk.be.poll = rec_poll;
    build(f, HB_VIRTIO_BLK_T_IN, 8, 4096, false);
    g_assert_cmpuint(run(f, NULL), ==, HB_VIRTIO_BLK_S_OK);
    g_assert_cmpuint(last_io.op, ==, HB_VIRTIO_BLK_IO_READ);
    g_assert_cmpint(last_io.niov, ==, 1);
    g_assert_true(last_io.iov[0].iov_base == f->buf);
    g_assert_cmpuint(last_io.iov[0].iov_len, ==, 4096);

    /* Status in the data's last descriptor: that one keeps its data. */
    f->elem->in_num = 1;
    f->elem->iov[f->elem->out_num] = (struct iovec){ f->buf, 4097 };
    f->elem->in_len = 4097;
    g_assert_cmpint(hb_virtio_blk_handle(&f->blk, f->elem, &(uint32_t){ 0 }), ==, 0);
    g_assert_cmpint(last_io.niov, ==, 1);
    g_assert_cmpuint(last_io.iov[0].iov_len, ==, 4096);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define T(name, fn) g_test_add("/virtio-blk/" name, Fixture, NULL, setup, fn, teardown)
    T("read-write", test_read_write);
    T("ranges", test_ranges);
    T("read-only", test_read_only);
    T("flush-get-id-unknown", test_flush_get_id_unknown);
    T("discard-write-zeroes", test_discard_write_zeroes);
    T("malformed", test_malformed);
    T("split-header", test_split_header);
    T("config", test_config);
    T("read-iov-excludes-status", test_read_iov_excludes_status);
    return g_test_run();
}

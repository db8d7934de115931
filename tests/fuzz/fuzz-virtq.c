/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/fuzz/fuzz-virtq.c — libFuzzer target: split virtqueues and virtio-blk requests from a hostile guest. */

/*
 * The input is the guest: it chooses the ring size, the negotiated ring
 * features, the memory layout (one to four regions, adjacent or with
 * holes) and all guest memory contents, i.e. the descriptor table, the
 * available ring, indirect tables, request headers and data, and
 * optionally an inflight region left by a "previous back-end".  The
 * device then pops and executes requests against a 64 KiB memory disk as
 * the export's I/O thread does.  Each region is its own heap block of
 * exactly its size, so any access outside what the guest shared is an
 * AddressSanitizer report; the disk callbacks check that every request
 * stays inside the disk and that the iovecs add up to the byte count.
 *
 * Input layout:
 *   [0]    bits 0-2 log2(ring size), bit 3 EVENT_IDX, bit 4 INDIRECT_DESC,
 *          bit 5 read-only disk, bit 6 writeback, bit 7 inflight region
 *   [1]    bits 0-1 regions - 1, bits 2-4 a hole before region 1..3,
 *          bits 6-7 logical block size 512 << n
 *   [2..3] the ring's starting index (little endian)
 *   [4..]  the inflight region (when bit 7), then the regions' contents,
 *          zero-filled when the input is short
 * The rings sit at the start of region 0 as SET_VRING_ADDR would place them.
 */

#include <endian.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vhost/guest-mem.h"
#include "vhost/virtio-blk.h"
#include "vhost/virtqueue.h"

#define REGION_SIZE (16u * 1024)
#define GPA_BASE 0x100000ull
#define UVA_BASE 0x7f0000000000ull
#define DISK_SIZE (64u * 1024)
#define HDR_LEN 4

typedef struct Disk {
    uint8_t data[DISK_SIZE];
} Disk;

static uint64_t iov_total(const struct iovec *iov, int niov)
{
    uint64_t n = 0;

    for (int i = 0; i < niov; i++) {
        n += iov[i].iov_len;
    }
    return n;
}

static void check_range(uint64_t off, uint64_t bytes)
{
    if (off > DISK_SIZE || bytes > DISK_SIZE - off) {
        fprintf(stderr, "request outside the disk: %llu+%llu\n",
                (unsigned long long)off, (unsigned long long)bytes);
        abort();
    }
}

static int d_preadv(void *opaque, uint64_t off, uint64_t bytes, const struct iovec *iov,
                    int niov)
{
    Disk *d = opaque;

    check_range(off, bytes);
    if (iov_total(iov, niov) != bytes) {
        abort();
    }
    for (int i = 0; i < niov; i++) {
        memcpy(iov[i].iov_base, d->data + off, iov[i].iov_len);
        off += iov[i].iov_len;
    }
    return 0;
}

static int d_pwritev(void *opaque, uint64_t off, uint64_t bytes, const struct iovec *iov,
                     int niov, unsigned flags)
{
    Disk *d = opaque;

    check_range(off, bytes);
    if (iov_total(iov, niov) != bytes) {
        abort();
    }
    for (int i = 0; i < niov; i++) {
        memcpy(d->data + off, iov[i].iov_base, iov[i].iov_len);
        off += iov[i].iov_len;
    }
    return 0;
}

static int d_flush(void *opaque)
{
    return 0;
}

static int d_pdiscard(void *opaque, uint64_t off, uint64_t bytes)
{
    check_range(off, bytes);
    return 0;
}

static int d_pwrite_zeroes(void *opaque, uint64_t off, uint64_t bytes, unsigned flags)
{
    Disk *d = opaque;

    check_range(off, bytes);
    memset(d->data + off, 0, bytes);
    return 0;
}

/* Every iovec of a popped request lies inside one region. */
static void check_iov(const HbGuestMem *mem, const HbVirtqElem *e)
{
    for (unsigned i = 0; i < e->out_num + e->in_num; i++) {
        const uint8_t *b = e->iov[i].iov_base;
        size_t len = e->iov[i].iov_len;
        bool inside = false;

        for (unsigned r = 0; r < mem->nregions && !inside; r++) {
            const uint8_t *h = mem->regions[r].host;
            inside = b >= h && len <= mem->regions[r].size &&
                     (size_t)(b - h) <= mem->regions[r].size - len;
        }
        if (!inside) {
            fprintf(stderr, "iov %u outside guest memory\n", i);
            abort();
        }
    }
}

static size_t take(const uint8_t **data, size_t *size, void *dst, size_t want)
{
    size_t n = MIN(want, *size);

    memcpy(dst, *data, n);
    *data += n;
    *size -= n;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static Disk disk;
    static HbVirtq vq;
    static HbVirtqElem elem;
    HbGuestMem mem = { 0 };
    uint8_t *ram[4] = { NULL };
    HbInflightRegion *inflight = NULL;
    uint8_t hdr[HDR_LEN] = { 0 };
    /* FUZZ_VERBOSE=1 with -runs=0 shows what the seeds do. */
    bool verbose = getenv("FUZZ_VERBOSE") != NULL;

    if (size > 4 * REGION_SIZE + 8192) {
        return 0;
    }
    take(&data, &size, hdr, HDR_LEN);

    unsigned num = 1u << (hdr[0] & 7);
    unsigned nregions = 1 + (hdr[1] & 3);
    uint64_t gpa = GPA_BASE;

    if (hdr[0] & 0x80) {
        uint64_t isize = hb_virtq_inflight_size(num);
        inflight = g_malloc0(isize);
        take(&data, &size, inflight, isize);
    }
    for (unsigned r = 0; r < nregions; r++) {
        HbGuestMemRegion reg = { 0 };

        if (r && (hdr[1] >> (1 + r)) & 1) {
            gpa += 0x1000;  /* a hole between regions */
        }
        ram[r] = g_malloc0(REGION_SIZE);
        take(&data, &size, ram[r], REGION_SIZE);
        reg.gpa = gpa;
        reg.size = REGION_SIZE;
        reg.uva = UVA_BASE + (uint64_t)r * 0x100000;
        reg.host = ram[r];
        if (hb_guest_mem_add(&mem, &reg) < 0) {
            abort();
        }
        gpa += REGION_SIZE;
    }

    /* Rings in region 0, each aligned as the spec asks, translated like
     * SET_VRING_ADDR does. */
    uint64_t desc_uva = UVA_BASE;
    uint64_t avail_uva = desc_uva + hb_virtq_desc_size(num);
    uint64_t used_uva = (avail_uva + hb_virtq_avail_size(num) + 3) & ~3ull;
    void *desc = hb_guest_mem_uva_to_ptr(&mem, desc_uva, hb_virtq_desc_size(num));
    void *avail = hb_guest_mem_uva_to_ptr(&mem, avail_uva, hb_virtq_avail_size(num));
    void *used = hb_guest_mem_uva_to_ptr(&mem, used_uva, hb_virtq_used_size(num));
    if (!desc || !avail || !used) {
        abort();    /* the layout above always fits */
    }

    memset(&vq, 0, sizeof(vq));
    vq.event_idx = hdr[0] & 0x08;
    vq.indirect = hdr[0] & 0x10;
    vq.inflight = inflight;
    if (hb_virtq_init(&vq, &mem, num, desc, avail, used,
                      (uint16_t)(hdr[2] | hdr[3] << 8)) < 0) {
        abort();
    }

    HbVirtioBlk blk = {
        .be = { &disk, d_preadv, d_pwritev, d_flush, d_pdiscard, d_pwrite_zeroes },
        .length = DISK_SIZE,
        .logical_block_size = 512u << (hdr[1] >> 6),
        .num_queues = 1,
        .read_only = hdr[0] & 0x20,
        .writeback = hdr[0] & 0x40,
    };
    strcpy(blk.serial, "fuzz-serial");

    if (hb_virtq_inflight_recover(&vq) < 0) {
        goto out;
    }
    /* The driver may rewrite the ring while we work (the request's
     * writable buffers may even be the ring), so bound the loop. */
    for (unsigned iter = 0; iter < 2 * num + 8; iter++) {
        uint32_t written = 0;
        int rc = hb_virtq_pop(&vq, &elem);

        if (verbose) {
            fprintf(stderr, "pop %d head %u out %u in %u\n", rc, elem.head,
                    elem.out_num, elem.in_num);
        }
        if (rc <= 0) {
            break;      /* empty, or a broken ring: the connection drops */
        }
        if (elem.head >= num) {
            abort();
        }
        check_iov(&mem, &elem);
        uint64_t in_len = elem.in_len;
        int hrc = hb_virtio_blk_handle(&blk, &elem, &written);
        if (verbose) {
            fprintf(stderr, "handle %d written %u\n", hrc, written);
        }
        if (hrc < 0) {
            break;
        }
        if (written > in_len) {
            fprintf(stderr, "wrote %u bytes into %llu writable\n", written,
                    (unsigned long long)in_len);
            abort();
        }
        hb_virtq_push(&vq, elem.head, written);
        hb_virtq_should_notify(&vq);
        if (iter & 1) {
            hb_virtq_enable_notify(&vq);
        }
    }

out:
    hb_guest_mem_clear(&mem);
    for (unsigned r = 0; r < nregions; r++) {
        g_free(ram[r]);
    }
    g_free(inflight);
    return 0;
}

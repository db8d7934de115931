/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/fuzz/fuzz-virtq.c — libFuzzer target: split virtqueues and virtio-blk requests from a hostile guest. */

/*
 * The input is the guest: it chooses the ring size, the negotiated ring
 * features, the memory layout (one to four regions, adjacent or with
 * holes) and all guest memory contents, i.e. the descriptor table, the
 * available ring, indirect tables, request headers and data, and
 * optionally an inflight region left by a "previous back-end".  The
 * device then pops and executes requests against a 64 KiB memory disk as
 * the export's I/O thread does (with an asynchronous disk, several at once,
 * completed out of order).  Each region is its own heap block of
 * exactly its size, so any access outside what the guest shared is an
 * AddressSanitizer report; the disk callbacks check that every request
 * stays inside the disk and that the iovecs add up to the byte count.
 *
 * Input layout:
 *   [0]    bits 0-2 log2(ring size), bit 3 EVENT_IDX, bit 4 INDIRECT_DESC,
 *          bit 5 read-only disk, bit 6 writeback, bit 7 inflight region
 *   [1]    bits 0-1 regions - 1, bits 2-4 a hole before region 1..3,
 *          bit 5 an asynchronous disk (hbt_mem_disk_async_backend(), its
 *          completion order and the rest from a hash of the input:
 *          hbt_async_queue_fuzz()) with up to BATCH requests in flight,
 *          bits 6-7 logical block size 512 << n
 *   [2..3] the ring's starting index (little endian)
 *   [4..]  the inflight region (when bit 7), then the regions' contents,
 *          zero-filled when the input is short
 * The rings sit at the start of region 0 as SET_VRING_ADDR would place them.
 */

#include <glib.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/ring-fixture.h"
#include "vhost/guest-mem.h"
#include "vhost/virtio-blk.h"
#include "vhost/virtqueue.h"

#define REGION_SIZE (16u * 1024)
#define GPA_BASE 0x100000ull
#define UVA_BASE 0x7f0000000000ull
#define DISK_SIZE (64u * 1024)
#define HDR_LEN 4
#define BATCH 8         /* requests in flight at once with an asynchronous disk */

static size_t take(const uint8_t **data, size_t *size, void *dst, size_t want)
{
    size_t n = MIN(want, *size);

    memcpy(dst, *data, n);
    *data += n;
    *size -= n;
    return n;
}

/* Pop and execute requests as the export's I/O thread does, checking each. */
static void serve(HbVirtq *vq, const HbGuestMem *mem, HbVirtioBlk *blk, bool verbose)
{
    static HbVirtqElem elem;

    /* The driver may rewrite the ring while we work (the request's
     * writable buffers may even be the ring), so bound the loop. */
    for (unsigned iter = 0; iter < 2 * vq->num + 8; iter++) {
        uint32_t written = 0;
        int rc = hb_virtq_pop(vq, &elem);

        if (verbose) {
            fprintf(stderr, "pop %d head %u out %u in %u\n", rc, elem.head,
                    elem.out_num, elem.in_num);
        }
        if (rc <= 0) {
            break;      /* empty, or a broken ring: the connection drops */
        }
        if (elem.head >= vq->num) {
            abort();
        }
        if (!hbt_elem_in_guest_mem(mem, &elem)) {
            abort();
        }
        uint64_t in_len = elem.in_len;
        int hrc = hb_virtio_blk_handle(blk, &elem, &written);
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
        hb_virtq_push(vq, elem.head, written);
        hb_virtq_should_notify(vq);
        if (iter & 1) {
            hb_virtq_enable_notify(vq);
        }
    }
}

/* One request in flight with the asynchronous disk. */
typedef struct Slot {
    HbVirtioBlkReq req;
    HbVirtqElem elem;
    uint64_t in_len;
    bool busy;
    HbVirtq *vq;
    bool verbose;
} Slot;

/* The disk completed @req: check it and push it, as the runner does. */
static void slot_done(HbVirtioBlkReq *req)
{
    Slot *s = (Slot *)((char *)req - offsetof(Slot, req));

    if (s->verbose) {
        fprintf(stderr, "done head %u written %u\n", s->elem.head, req->written);
    }
    if (!s->busy) {
        fprintf(stderr, "head %u completed twice\n", s->elem.head);
        abort();
    }
    if (req->written > s->in_len) {
        fprintf(stderr, "wrote %u bytes into %llu writable\n", req->written,
                (unsigned long long)s->in_len);
        abort();
    }
    s->busy = false;
    hb_virtq_push(s->vq, s->elem.head, req->written);
    hb_virtq_should_notify(s->vq);
}

/*
 * Serve with an asynchronous disk: pop up to BATCH requests, start them
 * all, then let the disk complete them in its order, popping more as slots
 * free up; drain everything before returning, as the runner does, even
 * when the ring breaks.
 */
static void serve_async(HbVirtq *vq, const HbGuestMem *mem, HbVirtioBlk *blk,
                        HbtAsyncQueue *aq, bool verbose)
{
    static Slot slots[BATCH];
    uint8_t *priv = g_malloc0(BATCH * blk->be.io_priv_size);
    unsigned busy = 0, popped = 0;
    bool broken = false;

    for (unsigned iter = 0; iter < 2 * vq->num + 8; iter++) {
        bool progress = false;

        for (unsigned i = 0; i < BATCH && !broken && popped < 2 * vq->num + 8; i++) {
            Slot *s = &slots[i];
            int rc;

            if (s->busy) {
                continue;
            }
            rc = hb_virtq_pop(vq, &s->elem);
            if (rc <= 0) {
                broken = rc < 0;    /* a broken ring: the connection drops */
                break;
            }
            popped++;
            progress = true;
            if (s->elem.head >= vq->num || !hbt_elem_in_guest_mem(mem, &s->elem)) {
                abort();
            }
            s->in_len = s->elem.in_len;
            s->vq = vq;
            s->verbose = verbose;
            s->busy = true;
            busy++;
            s->req = (HbVirtioBlkReq){ .elem = &s->elem, .complete = slot_done };
            s->req.io.priv = priv + i * blk->be.io_priv_size;
            if (hb_virtio_blk_start(blk, &s->req) < 0) {
                s->busy = false;
                busy--;
                broken = true;
            }
        }
        /* Count what completed (possibly inline) and let the disk go on. */
        blk->be.poll(blk->be.opaque, 0);
        busy = 0;
        for (unsigned i = 0; i < BATCH; i++) {
            busy += slots[i].busy;
        }
        if (iter & 1) {
            hb_virtq_enable_notify(vq);
        }
        if (!busy && (broken || !progress)) {
            break;
        }
        if (busy && !progress) {
            blk->be.poll(blk->be.opaque, 1000);     /* completes one at least */
        }
    }
    /* Out of iterations, or broken: what is in flight still completes. */
    while (aq->queued) {
        blk->be.poll(blk->be.opaque, 1000);
    }
    for (unsigned i = 0; i < BATCH; i++) {
        if (slots[i].busy) {
            fprintf(stderr, "slot %u never completed\n", i);
            abort();
        }
    }
    g_free(priv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t disk_data[DISK_SIZE];
    static HbtMemDisk disk = { disk_data, DISK_SIZE };
    static HbtAsyncQueue aq;
    static HbVirtq vq;
    const uint8_t *input = data;
    size_t input_size = size;
    HbGuestMem mem = { 0 };
    HbtRing ring;
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
        if (r && (hdr[1] >> (1 + r)) & 1) {
            gpa += 0x1000;  /* a hole between regions */
        }
        ram[r] = g_malloc0(REGION_SIZE);
        take(&data, &size, ram[r], REGION_SIZE);
        if (hbt_guest_mem_add(&mem, ram[r], REGION_SIZE, gpa,
                              UVA_BASE + (uint64_t)r * 0x100000) < 0) {
            abort();
        }
        gpa += REGION_SIZE;
    }

    /* Rings in region 0, each aligned as the spec asks, translated like
     * SET_VRING_ADDR does (the layout always fits). */
    hbt_ring_packed(&ring, ram[0], GPA_BASE, UVA_BASE, num);
    memset(&vq, 0, sizeof(vq));
    vq.event_idx = hdr[0] & 0x08;
    vq.indirect = hdr[0] & 0x10;
    vq.inflight = inflight;
    if (hbt_ring_start(&ring, &mem, &vq, (uint16_t)(hdr[2] | hdr[3] << 8)) < 0) {
        abort();
    }

    bool async = hdr[1] & 0x20;
    if (async) {
        hbt_async_queue_fuzz(&aq, hbt_fnv1a(input, input_size));
    }
    HbVirtioBlk blk = {
        .be = async ? hbt_mem_disk_async_backend(&disk, &aq) : hbt_mem_disk_backend(&disk),
        .length = DISK_SIZE,
        .logical_block_size = 512u << (hdr[1] >> 6),
        .num_queues = 1,
        .read_only = hdr[0] & 0x20,
        .writeback = hdr[0] & 0x40,
    };
    strcpy(blk.serial, "fuzz-serial");

    if (hb_virtq_inflight_recover(&vq) == 0) {
        if (async) {
            serve_async(&vq, &mem, &blk, &aq, verbose);
        } else {
            serve(&vq, &mem, &blk, verbose);
        }
    }
    hb_guest_mem_clear(&mem);
    for (unsigned r = 0; r < nregions; r++) {
        g_free(ram[r]);
    }
    g_free(inflight);
    return 0;
}

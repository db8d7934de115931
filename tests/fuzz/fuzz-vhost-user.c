/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/fuzz/fuzz-vhost-user.c — libFuzzer target: vhost-user messages from a hostile front-end. */

/*
 * The input is the front-end: a sequence of vhost-user messages sent over
 * a real socketpair to the real protocol library (hb_vu_dispatch), with
 * real file descriptors attached (memfds, filled from the input, for
 * memory tables, inflight buffers and dirty logs; eventfds for vring fds
 * and SET_LOG_FD), and
 * optional kicks after a message that make the device pop and run
 * requests from the rings the messages set up (through the real queue
 * runner, inline, against a 64 KiB memory disk, synchronous or
 * asynchronous).  Replies, and the fds some of them carry, are drained and
 * closed.  A message the library refuses ends the connection, as in the
 * daemon.  After every message and kick, the runners must have nothing in
 * flight, and the disk nothing held.
 *
 * Input: records of
 *   [0]      bits 0-1 fds to attach (0-3), bit 2 kick both rings afterwards,
 *            bit 3 first truncate the memfds the last message with memfds
 *            attached (a front-end taking back memory it shared: the
 *            SIGBUS guard must cope), bit 5 attach memfds to a vring fd
 *            message too (SET_VRING_KICK, CALL, ERR: the back-end must
 *            refuse them; SET_LOG_FD, whose fd is an eventfd too); in the
 *            first record, bit 4 serves the disk
 *            asynchronously (hbt_mem_disk_async_backend()), its completion
 *            order and the rest from a hash of the input
 *            (hbt_async_queue_fuzz())
 *   [1..12]  the message header (request, flags, size; little endian)
 *   [13..]   size bytes of payload (fewer if the input ends: the socket is
 *            then shut down, so the library sees a short message)
 * Each attached memfd is 64 KiB, its first bytes a copy of the input from
 * the payload on.
 */

#include <endian.h>
#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/lib/frame-fixture.h"
#include "tests/lib/ring-fixture.h"
#include "vhost/queue-runner.h"
#include "vhost/vhost-user.h"
#include "vhost/virtio-blk.h"

#define DISK_SIZE (64u * 1024)
#define MEMFD_SIZE (64u * 1024)
#define MAX_MESSAGES 64
#define NQUEUES 2

static uint8_t disk[DISK_SIZE];
static HbtMemDisk mem_disk = { disk, DISK_SIZE };
static HbtAsyncQueue async_queue;
static HbVirtioBlk blk;
static HbVuDev dev;
static HbQueueRunner *runners[NQUEUES];

static uint64_t if_get_features(HbVuDev *d)
{
    return hb_virtio_blk_features(&blk);
}

static int if_get_config(HbVuDev *d, uint8_t *buf, uint32_t len)
{
    hb_virtio_blk_get_config(&blk, buf, len);
    return 0;
}

static int if_set_config(HbVuDev *d, const uint8_t *data, uint32_t offset, uint32_t size,
                         uint32_t flags)
{
    return hb_virtio_blk_set_config(&blk, data, offset, size);
}

static bool if_process_queue(HbVuDev *d, unsigned qidx, HbVirtq *vq)
{
    return hb_queue_runner_run(runners[qidx], d, &d->q[qidx]);
}

static void if_kick_fd_changed(HbVuDev *d, unsigned qidx, int old_fd, int new_fd)
{
}

static const HbVuIface iface = {
    .get_features = if_get_features,
    .get_config = if_get_config,
    .set_config = if_set_config,
    .process_queue = if_process_queue,
    .kick_fd_changed = if_kick_fd_changed,
};

static void init_once(void)
{
    static bool done;

    if (done) {
        return;
    }
    done = true;
    blk = (HbVirtioBlk){
        .length = DISK_SIZE, .logical_block_size = 512, .num_queues = NQUEUES,
        .writeback = true,
    };
    strcpy(blk.serial, "fuzz");
    hb_vu_init(&dev, &iface, NULL, NQUEUES);
}

/*
 * The backend for this input, and runners made for it (a runner sizes its
 * requests by the backend's io_priv_size).
 */
static void start_backend(const uint8_t *data, size_t size)
{
    if (size && (data[0] & 16)) {
        hbt_async_queue_fuzz(&async_queue, hbt_fnv1a(data, size));
        blk.be = hbt_mem_disk_async_backend(&mem_disk, &async_queue);
    } else {
        blk.be = hbt_mem_disk_backend(&mem_disk);
    }
    for (unsigned i = 0; i < NQUEUES; i++) {
        runners[i] = hb_queue_runner_new(&blk, NULL);
    }
}

/* Between runs nothing may be in flight: a runner returns drained. */
static void assert_drained(void)
{
    for (unsigned i = 0; i < NQUEUES; i++) {
        if (hb_queue_runner_inflight(runners[i])) {
            fprintf(stderr, "ring %u: %u requests in flight between runs\n", i,
                    hb_queue_runner_inflight(runners[i]));
            abort();
        }
    }
    if (async_queue.queued) {
        fprintf(stderr, "the disk holds %u requests between runs\n", async_queue.queued);
        abort();
    }
}

static void stop_backend(void)
{
    assert_drained();
    if (blk.be.submit && getenv("FUZZ_VERBOSE")) {
        fprintf(stderr, "async: %u submitted, %u completed (%u failed), at most %u held\n",
                async_queue.submitted, async_queue.completed, async_queue.failed,
                async_queue.max_queued);
    }
    for (unsigned i = 0; i < NQUEUES; i++) {
        hb_queue_runner_free(runners[i]);
        runners[i] = NULL;
    }
    async_queue = (HbtAsyncQueue){ 0 };
}

/* A memfd for the back-end: MEMFD_SIZE bytes, the first a copy of @fill. */
static int make_memfd(const uint8_t *fill, size_t len)
{
    int fd = hbt_memfd(MEMFD_SIZE, fill, len);

    if (fd < 0) {
        abort();
    }
    return fd;
}

static int make_eventfd(void)
{
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

    if (fd < 0) {
        abort();
    }
    return fd;
}

/* Messages whose fd is an eventfd (the log's SET_LOG_BASE takes a memfd). */
static bool eventfd_message(uint32_t request)
{
    return request == HB_VU_SET_VRING_KICK || request == HB_VU_SET_VRING_CALL ||
           request == HB_VU_SET_VRING_ERR || request == HB_VU_SET_LOG_FD;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int sv[2];
    size_t pos = 0;
    int held[3], nheld = 0;     /* the last fds sent, kept to truncate later */
    /* FUZZ_VERBOSE=1 with -runs=0 shows what the seeds do. */
    bool verbose = getenv("FUZZ_VERBOSE") != NULL;

    init_once();
    start_backend(data, size);
    memset(disk, 0, sizeof(disk));
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        abort();
    }
    hb_vu_attach(&dev, sv[1]);
    for (unsigned m = 0; m < MAX_MESSAGES && pos + 13 <= size; m++) {
        uint8_t ctl = data[pos];
        VuMsgHdr hdr;
        uint32_t claimed;
        size_t len;
        int fds[3], nfds = ctl & 3;
        bool ok;

        memcpy(&hdr, data + pos + 1, sizeof(hdr));    /* sent as it is */
        pos += 13;
        claimed = le32toh(hdr.size);
        len = MIN((size_t)claimed, size - pos);
        len = MIN(len, (size_t)4096);
        if (ctl & 8) {
            for (int i = 0; i < nheld; i++) {
                if (ftruncate(held[i], 0) < 0) {
                    abort();
                }
            }
        }
        /*
         * Vring fds must be eventfds (anything else is refused): without
         * them no ring would ever start, and the runner never run.
         */
        bool event = eventfd_message(le32toh(hdr.request)) && !(ctl & 32);
        for (int i = 0; i < nfds; i++) {
            fds[i] = event ? make_eventfd() : make_memfd(data + pos, size - pos);
        }
        ok = hb_vu_msg_send(sv[0], &hdr, data + pos, len, fds, (unsigned)nfds);
        if (ok && len < claimed) {
            shutdown(sv[0], SHUT_WR);     /* a short message: EOF, not a wait */
        }
        if (event) {
            for (int i = 0; i < nfds; i++) {
                close(fds[i]);          /* the back-end has its own copies */
            }
        } else if (nfds) {
            for (int i = 0; i < nheld; i++) {
                close(held[i]);
            }
            memcpy(held, fds, sizeof(int) * (size_t)nfds);
            nheld = nfds;
        }
        pos += len;
        if (!ok) {
            break;
        }
        ok = hb_vu_dispatch(&dev);
        hbt_frame_drain(sv[0]);
        assert_drained();
        if (verbose) {
            fprintf(stderr, "message %u: %s\n", le32toh(hdr.request), ok ? "ok" : "refused");
        }
        if (!ok) {
            break;
        }
        if (ctl & 4) {
            for (unsigned q = 0; q < NQUEUES; q++) {
                if (!hb_vu_handle_kick(&dev, q)) {
                    ok = false;
                }
                assert_drained();
                if (verbose) {
                    fprintf(stderr, "kick %u: %s (used idx %u)\n", q, ok ? "ok" : "broken",
                            dev.q[q].vq.used_idx);
                }
            }
            if (!ok) {
                break;
            }
        }
    }
    hb_vu_reset(&dev);      /* closes sv[1], unmaps, forgets the rings */
    stop_backend();
    close(sv[0]);
    for (int i = 0; i < nheld; i++) {
        close(held[i]);
    }
    return 0;
}

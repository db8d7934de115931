/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-vhost-user.c — the vhost-user message layer over a socketpair, good and hostile. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stddef.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/lib/frame-fixture.h"
#include "tests/lib/ring-fixture.h"
#include "vhost/vhost-user.h"

#define FEATURES ((1ull << 32) | (1ull << 28) | (1ull << 29))
#define RAM_SIZE (1u << 20)
#define UVA 0x7f0000000000ull

typedef struct Fixture {
    HbVuDev dev;
    int peer;            /* our front-end end of the socketpair */
    unsigned processed;
    int kick_seen;
    int memfd;
    uint8_t *ram;
    HbtRing ring;        /* ring 0, in ram (gpa 0, uva UVA) */
    int crash_after;     /* >= 0: complete only that many, leave the rest in flight */
    uint16_t heads[64];  /* heads processed, in order */
    unsigned nheads;
} Fixture;

static uint64_t t_get_features(HbVuDev *dev)
{
    return FEATURES;
}

static int t_get_config(HbVuDev *dev, uint8_t *buf, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++) {
        buf[i] = i;
    }
    return 0;
}

static int t_set_config(HbVuDev *dev, const uint8_t *d, uint32_t off, uint32_t size,
                        uint32_t flags)
{
    return off == 32 ? 0 : -EINVAL;
}

static bool t_process(HbVuDev *dev, unsigned qidx, HbVirtq *vq)
{
    Fixture *f = dev->opaque;
    HbVirtqElem *e = g_new(HbVirtqElem, 1);
    int ret;

    while ((ret = hb_virtq_pop(vq, e)) > 0) {
        if (f->crash_after >= 0 && f->processed >= (unsigned)f->crash_after) {
            continue;   /* "crashed": popped, never completed */
        }
        hb_virtq_log_request(vq, e);    /* as the queue runner does */
        hb_virtq_push(vq, e->head, 0);
        f->processed++;
        if (f->nheads < G_N_ELEMENTS(f->heads)) {
            f->heads[f->nheads++] = e->head;
        }
    }
    g_free(e);
    hb_vu_queue_notify(dev, &dev->q[qidx]);
    return ret == 0;
}

static void t_kick_changed(HbVuDev *dev, unsigned qidx, int old_fd, int new_fd)
{
    Fixture *f = dev->opaque;
    f->kick_seen = new_fd;
}

static const HbVuIface iface = {
    .get_features = t_get_features,
    .get_config = t_get_config,
    .set_config = t_set_config,
    .process_queue = t_process,
    .kick_fd_changed = t_kick_changed,
};

static void setup(Fixture *f, gconstpointer data)
{
    int sv[2];

    memset(f, 0, sizeof(*f));
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    hb_vu_init(&f->dev, &iface, f, 2);
    hb_vu_attach(&f->dev, sv[0]);
    f->peer = sv[1];
    f->kick_seen = -1;
    f->crash_after = -1;
    f->memfd = hbt_memfd(RAM_SIZE, NULL, 0);
    g_assert_cmpint(f->memfd, >=, 0);
    f->ram = hbt_memfd_map(f->memfd, RAM_SIZE);
    g_assert_nonnull(f->ram);
    f->ring = (HbtRing){
        .ram = f->ram, .gpa = 0, .uva = UVA, .num = 8,
        .desc_off = 0x1000, .avail_off = 0x2000, .used_off = 0x3000,
    };
}

static void teardown(Fixture *f, gconstpointer data)
{
    hb_vu_reset(&f->dev);
    hb_vu_destroy(&f->dev);
    close(f->peer);
    munmap(f->ram, RAM_SIZE);
    close(f->memfd);
}

/* Send a well-formed message: @size payload bytes at @p, @nfds fds. */
static void send_msg(Fixture *f, uint32_t req, uint32_t flags, const void *p,
                     uint32_t size, const int *fds, unsigned nfds)
{
    g_assert_true(hb_vu_msg_send_request(f->peer, req, flags, p, size, fds, nfds));
}

/* Receive a reply to @req of exactly @size bytes and @nfds fds; the fd, if any. */
static int recv_reply_fds(Fixture *f, uint32_t req, void *p, uint32_t size, unsigned nfds)
{
    VuMsg m;

    g_assert_true(hb_vu_msg_read(f->peer, &m));
    g_assert_cmpuint(m.hdr.request, ==, req);
    g_assert_cmpuint(m.hdr.flags, ==, HB_VU_MSG_VERSION | HB_VU_MSG_FLAG_REPLY);
    g_assert_cmpuint(m.hdr.size, ==, size);
    g_assert_cmpuint(m.nfds, ==, nfds);
    if (size) {
        memcpy(p, &m.p, size);
    }
    return nfds ? m.fds[0] : -1;
}

/* Receive a reply to @req of exactly @size bytes. */
static void recv_reply(Fixture *f, uint32_t req, void *p, uint32_t size)
{
    recv_reply_fds(f, req, p, size, 0);
}

static uint64_t get_u64(Fixture *f, uint32_t req)
{
    uint64_t v;
    send_msg(f, req, 0, NULL, 0, NULL, 0);
    g_assert_true(hb_vu_dispatch(&f->dev));
    recv_reply(f, req, &v, 8);
    return v;
}

static bool set_u64(Fixture *f, uint32_t req, uint64_t v)
{
    send_msg(f, req, 0, &v, 8, NULL, 0);
    return hb_vu_dispatch(&f->dev);
}

static bool set_state(Fixture *f, uint32_t req, uint32_t idx, uint32_t num)
{
    uint32_t s[2] = { idx, num };
    send_msg(f, req, 0, s, 8, NULL, 0);
    return hb_vu_dispatch(&f->dev);
}

static bool set_mem_table(Fixture *f)
{
    VuPayload m = { .mem = { .nregions = 1 } };

    m.mem.regions[0] = (VuRegion){ .gpa = 0, .size = RAM_SIZE, .uva = UVA, .mmap_offset = 0 };
    send_msg(f, HB_VU_SET_MEM_TABLE, 0, &m, offsetof(VuPayload, mem.regions[1]), &f->memfd, 1);
    return hb_vu_dispatch(&f->dev);
}

static bool set_addr(Fixture *f, uint32_t idx, uint64_t desc, uint64_t avail, uint64_t used)
{
    VuPayload a = { .addr = { .index = idx, .desc = desc, .used = used, .avail = avail } };

    send_msg(f, HB_VU_SET_VRING_ADDR, 0, &a, sizeof(a.addr), NULL, 0);
    return hb_vu_dispatch(&f->dev);
}

/* SET_VRING_ADDR for ring 0 where f->ring has it. */
static bool set_ring_addr(Fixture *f)
{
    const HbtRing *r = &f->ring;

    return set_addr(f, 0, r->uva + r->desc_off, r->uva + r->avail_off, r->uva + r->used_off);
}

/*
 * Features, memory, the INFLIGHT buffer @inflight_fd (as described by @im)
 * if there is one, and ring 0 where f->ring has it; enabled if @enable.
 * Return: whether the back-end accepted the kick fd (the ring started).
 */
static bool start_ring(Fixture *f, int kick, int call, int inflight_fd, VuPayload *im,
                       bool enable)
{
    uint64_t idx = 0;

    g_assert_true(set_u64(f, HB_VU_SET_FEATURES, FEATURES | (1ull << 30)));
    g_assert_true(set_mem_table(f));
    if (inflight_fd >= 0) {
        send_msg(f, HB_VU_SET_INFLIGHT_FD, 0, im, sizeof(im->inflight), &inflight_fd, 1);
        g_assert_true(hb_vu_dispatch(&f->dev));
    }
    g_assert_true(set_state(f, HB_VU_SET_VRING_NUM, 0, f->ring.num));
    g_assert_true(set_state(f, HB_VU_SET_VRING_BASE, 0, 0));
    g_assert_true(set_ring_addr(f));
    send_msg(f, HB_VU_SET_VRING_CALL, 0, &idx, 8, &call, 1);
    g_assert_true(hb_vu_dispatch(&f->dev));
    send_msg(f, HB_VU_SET_VRING_KICK, 0, &idx, 8, &kick, 1);
    if (!hb_vu_dispatch(&f->dev)) {
        return false;
    }
    if (enable) {
        g_assert_true(set_state(f, HB_VU_SET_VRING_ENABLE, 0, 1));
    }
    return true;
}

/* GET_INFLIGHT_FD for the geometry in @im: the buffer's fd (@im updated). */
static int get_inflight_fd(Fixture *f, VuPayload *im)
{
    int ifd;

    send_msg(f, HB_VU_GET_INFLIGHT_FD, 0, im, sizeof(im->inflight), NULL, 0);
    g_assert_true(hb_vu_dispatch(&f->dev));
    ifd = recv_reply_fds(f, HB_VU_GET_INFLIGHT_FD, im, sizeof(im->inflight), 1);
    g_assert_cmpint(ifd, >=, 0);
    return ifd;
}

/* ---- dirty logging (live migration) ---- */

#define LOG_SIZE (RAM_SIZE / HB_DIRTY_LOG_PAGE / 8)

/* SET_LOG_BASE with @fd (or none if < 0); whether the back-end kept the connection. */
static bool set_log_base(Fixture *f, int fd, uint64_t size, uint64_t offset)
{
    VuPayload l = { .log = { .mmap_size = size, .mmap_offset = offset } };
    uint64_t r = 7;

    send_msg(f, HB_VU_SET_LOG_BASE, 0, &l, sizeof(l.log), &fd, fd >= 0 ? 1 : 0);
    if (!hb_vu_dispatch(&f->dev)) {
        return false;
    }
    /* QEMU reads a reply to SET_LOG_BASE whether or not it asked for one. */
    recv_reply(f, HB_VU_SET_LOG_BASE, &r, 8);
    g_assert_cmphex(r, ==, 0);
    return true;
}

/* Ring 0 logged at the used ring's guest address (VHOST_VRING_F_LOG). */
static bool set_ring_addr_logged(Fixture *f, uint64_t log_gpa)
{
    const HbtRing *r = &f->ring;
    VuPayload a = { .addr = { .index = 0, .flags = HB_VU_VRING_F_LOG,
                              .desc = r->uva + r->desc_off, .used = r->uva + r->used_off,
                              .avail = r->uva + r->avail_off, .log = log_gpa } };

    send_msg(f, HB_VU_SET_VRING_ADDR, 0, &a, sizeof(a.addr), NULL, 0);
    return hb_vu_dispatch(&f->dev);
}

static bool page_dirty(const uint8_t *log, uint64_t gpa)
{
    uint64_t page = gpa / HB_DIRTY_LOG_PAGE;
    return log[page / 8] & (1u << (page % 8));
}

static unsigned dirty_count(const uint8_t *log)
{
    unsigned n = 0;
    for (unsigned i = 0; i < LOG_SIZE; i++) {
        n += __builtin_popcount(log[i]);
    }
    return n;
}

/*
 * With LOG_SHMFD and F_LOG_ALL, a completed request marks its writable
 * buffers and the used ring's page, and nothing else; with F_LOG_ALL
 * turned off again, nothing is marked.
 */
static void test_dirty_log_marks_writes(Fixture *f, gconstpointer data)
{
    int kick = eventfd(0, EFD_NONBLOCK), call = eventfd(0, EFD_NONBLOCK);
    int logfd = hbt_memfd(LOG_SIZE, NULL, 0);
    uint8_t *log = hbt_memfd_map(logfd, LOG_SIZE);
    uint64_t pf = get_u64(f, HB_VU_GET_PROTOCOL_FEATURES);

    g_assert_true(pf & (1ull << HB_VU_PROTOCOL_F_LOG_SHMFD));
    g_assert_true(get_u64(f, HB_VU_GET_FEATURES) & (1ull << HB_VU_F_LOG_ALL));
    g_assert_true(set_u64(f, HB_VU_SET_PROTOCOL_FEATURES, pf));
    g_assert_true(start_ring(f, kick, call, -1, NULL, true));
    g_assert_true(set_log_base(f, logfd, LOG_SIZE, 0));
    g_assert_true(set_u64(f, HB_VU_SET_FEATURES,
                          FEATURES | (1ull << 30) | (1ull << HB_VU_F_LOG_ALL)));
    g_assert_true(set_ring_addr_logged(f, f->ring.gpa + f->ring.used_off));

    /* out header at 0x8000, data over two pages from 0x9800, status at 0xc000 */
    hbt_ring_set_desc(&f->ring, 0, 0x8000, 16, HB_VRING_DESC_F_NEXT, 1);
    hbt_ring_set_desc(&f->ring, 1, 0x9800, 4096, HB_VRING_DESC_F_NEXT | HB_VRING_DESC_F_WRITE, 2);
    hbt_ring_set_desc(&f->ring, 2, 0xc000, 1, HB_VRING_DESC_F_WRITE, 0);
    hbt_ring_make_avail(&f->ring, 0);
    g_assert_true(hb_vu_handle_kick(&f->dev, 0));
    g_assert_cmpuint(f->processed, ==, 1);
    g_assert_true(page_dirty(log, 0x9000) && page_dirty(log, 0xa000));
    g_assert_true(page_dirty(log, 0xc000));
    g_assert_true(page_dirty(log, f->ring.used_off));
    g_assert_false(page_dirty(log, 0x8000));           /* device-readable only */
    g_assert_false(page_dirty(log, f->ring.desc_off));
    g_assert_false(page_dirty(log, f->ring.avail_off));
    g_assert_cmpuint(dirty_count(log), ==, 4);

    /* logging off: the same request marks nothing */
    memset(log, 0, LOG_SIZE);
    g_assert_true(set_u64(f, HB_VU_SET_FEATURES, FEATURES | (1ull << 30)));
    hbt_ring_make_avail(&f->ring, 0);
    g_assert_true(hb_vu_handle_kick(&f->dev, 0));
    g_assert_cmpuint(f->processed, ==, 2);
    g_assert_cmpuint(dirty_count(log), ==, 0);

    munmap(log, LOG_SIZE);
    close(logfd);
    close(kick);
    close(call);
}

/* Bad logs drop the connection: the daemon stays, nothing is mapped. */
static void test_dirty_log_hostile(Fixture *f, gconstpointer data)
{
    enum { NO_FEATURE, NO_FD, TOO_SMALL, SHORT_FILE, UNALIGNED, RING_OUTSIDE, TRUNCATED };
    int which = GPOINTER_TO_INT(data);
    int kick = eventfd(0, EFD_NONBLOCK), call = eventfd(0, EFD_NONBLOCK);
    int logfd = hbt_memfd(LOG_SIZE + 4096, NULL, 0);
    bool ok;

    if (which != NO_FEATURE) {
        g_assert_true(set_u64(f, HB_VU_SET_PROTOCOL_FEATURES,
                              1ull << HB_VU_PROTOCOL_F_LOG_SHMFD));
    }
    g_assert_true(start_ring(f, kick, call, -1, NULL, true));
    switch (which) {
    case NO_FEATURE:
        ok = set_log_base(f, logfd, LOG_SIZE, 0);
        break;
    case NO_FD:
        ok = set_log_base(f, -1, LOG_SIZE, 0);
        break;
    case TOO_SMALL:     /* covers 256 KiB of the 1 MiB table */
        ok = set_log_base(f, logfd, LOG_SIZE / 4, 0);
        break;
    case SHORT_FILE:    /* says 1 MiB of bitmap, the file has 4 KiB and a bit */
        ok = set_log_base(f, logfd, 1 << 20, 0);
        break;
    case UNALIGNED:
        ok = set_log_base(f, logfd, LOG_SIZE, 8);
        break;
    case RING_OUTSIDE:  /* a used ring "at" 1 GiB, far past the bitmap */
        g_assert_true(set_log_base(f, logfd, LOG_SIZE, 0));
        g_assert_true(set_u64(f, HB_VU_SET_FEATURES,
                              FEATURES | (1ull << 30) | (1ull << HB_VU_F_LOG_ALL)));
        ok = set_ring_addr_logged(f, 1ull << 30);
        break;
    default: {          /* the front-end truncates the log under us */
        g_assert_true(set_log_base(f, logfd, LOG_SIZE, 0));
        g_assert_true(set_u64(f, HB_VU_SET_FEATURES,
                              FEATURES | (1ull << 30) | (1ull << HB_VU_F_LOG_ALL)));
        g_assert_cmpint(ftruncate(logfd, 0), ==, 0);
        hbt_ring_set_desc(&f->ring, 0, 0x9000, 512, HB_VRING_DESC_F_WRITE, 0);
        hbt_ring_make_avail(&f->ring, 0);
        ok = hb_vu_handle_kick(&f->dev, 0);
        break;
    }
    }
    g_assert_false(ok);
    close(logfd);
    close(kick);
    close(call);
}

static void test_negotiation(Fixture *f, gconstpointer data)
{
    uint64_t pf;

    g_assert_cmphex(get_u64(f, HB_VU_GET_FEATURES), ==, FEATURES | (1ull << 30) | (1ull << HB_VU_F_LOG_ALL));
    g_assert_true(set_u64(f, HB_VU_SET_FEATURES, FEATURES | (1ull << 30)));
    pf = get_u64(f, HB_VU_GET_PROTOCOL_FEATURES);
    g_assert_true(pf & (1ull << HB_VU_PROTOCOL_F_CONFIG));
    g_assert_true(pf & (1ull << HB_VU_PROTOCOL_F_MQ));
    g_assert_true(set_u64(f, HB_VU_SET_PROTOCOL_FEATURES, pf));
    send_msg(f, HB_VU_SET_OWNER, 0, NULL, 0, NULL, 0);
    g_assert_true(hb_vu_dispatch(&f->dev));
    g_assert_cmpuint(get_u64(f, HB_VU_GET_QUEUE_NUM), ==, 2);
    g_assert_cmpuint(get_u64(f, HB_VU_GET_MAX_MEM_SLOTS), ==, HB_GUEST_MEM_MAX_REGIONS);
}

static void test_reply_ack(Fixture *f, gconstpointer data)
{
    uint64_t v = 1ull << HB_VU_PROTOCOL_F_REPLY_ACK, r = 7;
    uint32_t cfg[3 + 1] = { 0, 4, 0, 0 };

    g_assert_true(set_u64(f, HB_VU_SET_PROTOCOL_FEATURES, v));
    send_msg(f, HB_VU_SET_OWNER, HB_VU_MSG_FLAG_NEED_REPLY, NULL, 0, NULL, 0);
    g_assert_true(hb_vu_dispatch(&f->dev));
    recv_reply(f, HB_VU_SET_OWNER, &r, 8);
    g_assert_cmpuint(r, ==, 0);
    /* a refused SET_CONFIG is acked with failure, the connection lives */
    send_msg(f, HB_VU_SET_CONFIG, HB_VU_MSG_FLAG_NEED_REPLY, cfg, 16, NULL, 0);
    g_assert_true(hb_vu_dispatch(&f->dev));
    recv_reply(f, HB_VU_SET_CONFIG, &r, 8);
    g_assert_cmpuint(r, !=, 0);
}

static void test_get_config(Fixture *f, gconstpointer data)
{
    struct __attribute__((packed)) {
        uint32_t off, size, flags;
        uint8_t buf[60];
    } c = { 0, 60, 0, { 0 } }, r;

    send_msg(f, HB_VU_GET_CONFIG, 0, &c, sizeof(c), NULL, 0);
    g_assert_true(hb_vu_dispatch(&f->dev));
    recv_reply(f, HB_VU_GET_CONFIG, &r, sizeof(r));
    g_assert_cmpuint(r.buf[59], ==, 59);
}

/* A whole ring: mem table, vring setup, a request, GET_VRING_BASE. */
static void test_ring(Fixture *f, gconstpointer data)
{
    uint64_t idx = 0;
    int kick = eventfd(0, EFD_NONBLOCK), call = eventfd(0, EFD_NONBLOCK);
    HbVringUsed *used = hbt_ring_used(&f->ring);
    uint32_t state[2];
    eventfd_t v;

    g_assert_true(start_ring(f, kick, call, -1, NULL, false));
    g_assert_cmpint(f->kick_seen, >=, 0);

    /* one request; the ring is disabled until SET_VRING_ENABLE */
    hbt_ring_set_desc(&f->ring, 0, 0x8000, 16, 0, 0);
    hbt_ring_make_avail(&f->ring, 0);
    eventfd_write(kick, 1);
    g_assert_true(hb_vu_handle_kick(&f->dev, 0));
    g_assert_cmpuint(f->processed, ==, 0);
    g_assert_true(set_state(f, HB_VU_SET_VRING_ENABLE, 0, 1));
    g_assert_true(hb_vu_handle_kick(&f->dev, 0));
    g_assert_cmpuint(f->processed, ==, 1);
    g_assert_cmpuint(used->idx, ==, 1);
    g_assert_cmpint(eventfd_read(call, &v), ==, 0);

    /* GET_VRING_BASE stops the ring and reports where it is */
    state[0] = 0;
    state[1] = 0;
    send_msg(f, HB_VU_GET_VRING_BASE, 0, state, 8, NULL, 0);
    g_assert_true(hb_vu_dispatch(&f->dev));
    recv_reply(f, HB_VU_GET_VRING_BASE, state, 8);
    g_assert_cmpuint(state[1], ==, 1);
    g_assert_cmpint(f->kick_seen, ==, -1);
    hbt_ring_make_avail(&f->ring, 0);
    g_assert_true(hb_vu_handle_kick(&f->dev, 0));
    g_assert_cmpuint(f->processed, ==, 1);

    /* a hostile ring breaks the connection, not the process */
    send_msg(f, HB_VU_SET_VRING_KICK, 0, &idx, 8, &kick, 1);
    g_assert_true(hb_vu_dispatch(&f->dev));
    g_assert_true(hb_vu_handle_kick(&f->dev, 0));
    g_assert_cmpuint(f->processed, ==, 2);      /* the pending entry was served */
    hbt_ring_set_desc(&f->ring, 0, RAM_SIZE - 4, 16, 0, 0);
    hbt_ring_make_avail(&f->ring, 0);
    g_assert_false(hb_vu_handle_kick(&f->dev, 0));
    close(kick);
    close(call);
}

/* Ring addresses outside the table make the start fail. */
static void test_ring_outside_memory(Fixture *f, gconstpointer data)
{
    uint64_t idx = 0;
    int kick = eventfd(0, EFD_NONBLOCK);

    g_assert_true(set_mem_table(f));
    g_assert_true(set_state(f, HB_VU_SET_VRING_NUM, 0, 256));
    g_assert_true(set_addr(f, 0, UVA + RAM_SIZE - 1024, UVA, UVA + 0x1000));
    send_msg(f, HB_VU_SET_VRING_KICK, 0, &idx, 8, &kick, 1);
    g_assert_false(hb_vu_dispatch(&f->dev));
    close(kick);
}

typedef struct Hostile {
    const char *name;
    uint32_t req;
    uint32_t flags;
    uint32_t size;        /* declared size */
    uint32_t words[8];    /* payload */
    unsigned nfds;
} Hostile;

static const Hostile hostile[] = {
    { "bad-version", HB_VU_GET_FEATURES, 2, 0, { 0 }, 0 },
    { "oversized", HB_VU_SET_FEATURES, 0, 4096, { 0 }, 0 },
    { "unknown-request", 99, 0, 0, { 0 }, 0 },
    { "unoffered-features", HB_VU_SET_FEATURES, 0, 8, { 0, 1u << 31 }, 0 },
    { "unoffered-protocol", HB_VU_SET_PROTOCOL_FEATURES, 0, 8, { 1u << 30, 0 }, 0 },
    { "short-features", HB_VU_SET_FEATURES, 0, 4, { 0 }, 0 },
    { "vring-num-index", HB_VU_SET_VRING_NUM, 0, 8, { 5, 128 }, 0 },
    { "vring-num-not-pow2", HB_VU_SET_VRING_NUM, 0, 8, { 0, 100 }, 0 },
    { "vring-num-zero", HB_VU_SET_VRING_NUM, 0, 8, { 0, 0 }, 0 },
    { "vring-num-huge", HB_VU_SET_VRING_NUM, 0, 8, { 0, 4096 }, 0 },
    { "vring-base-huge", HB_VU_SET_VRING_BASE, 0, 8, { 0, 70000 }, 0 },
    { "vring-addr-index", HB_VU_SET_VRING_ADDR, 0, 40, { 9 }, 0 },
    { "kick-without-fd", HB_VU_SET_VRING_KICK, 0, 8, { 0 }, 0 },
    { "kick-nofd-polling", HB_VU_SET_VRING_KICK, 0, 8, { 0x100 }, 0 },
    { "kick-bad-index", HB_VU_SET_VRING_KICK, 0, 8, { 7 }, 1 },
    { "kick-before-addr", HB_VU_SET_VRING_KICK, 0, 8, { 0 }, 1 },
    { "mem-table-too-many", HB_VU_SET_MEM_TABLE, 0, 8, { 9 }, 0 },
    { "mem-table-fd-count", HB_VU_SET_MEM_TABLE, 0, 40, { 1 }, 0 },
    { "mem-table-short", HB_VU_SET_MEM_TABLE, 0, 8, { 1 }, 1 },
    { "mem-table-zero-size", HB_VU_SET_MEM_TABLE, 0, 40, { 1, 0, 0, 0, 0, 0 }, 1 },
    { "add-mem-reg-no-fd", HB_VU_ADD_MEM_REG, 0, 40, { 0 }, 0 },
    { "rem-mem-reg-unknown", HB_VU_REM_MEM_REG, 0, 40, { 0, 0, 0, 0, 1 }, 0 },
    { "get-config-too-big", HB_VU_GET_CONFIG, 0, 12, { 0, 300 }, 0 },
    { "get-config-size-mismatch", HB_VU_GET_CONFIG, 0, 12, { 0, 16 }, 0 },
    { "get-config-offset", HB_VU_GET_CONFIG, 0, 12, { 250, 10 }, 0 },
    { "vring-enable-value", HB_VU_SET_VRING_ENABLE, 0, 8, { 0, 2 }, 0 },
    { "backend-fd-missing", HB_VU_SET_BACKEND_REQ_FD, 0, 0, { 0 }, 0 },
    { "inflight-short", HB_VU_GET_INFLIGHT_FD, 0, 0, { 0 }, 0 },
    { "inflight-too-many-queues", HB_VU_GET_INFLIGHT_FD, 0, 20, { 0, 0, 0, 0, 9 | (8 << 16) }, 0 },
    { "inflight-zero-size", HB_VU_GET_INFLIGHT_FD, 0, 20, { 0, 0, 0, 0, 1 }, 0 },
    { "set-inflight-no-fd", HB_VU_SET_INFLIGHT_FD, 0, 20, { 4096, 0, 0, 0, 1 | (8 << 16) }, 0 },
    { "set-inflight-beyond-file", HB_VU_SET_INFLIGHT_FD, 0, 20,
      { 0x200000, 0, 0, 0, 1 | (8 << 16) }, 1 },
    { "mem-table-beyond-file", HB_VU_SET_MEM_TABLE, 0, 40, { 1, 0, 0, 0, 0, 0x1000, 0, 0 }, 1 },
};

static void test_hostile(Fixture *f, gconstpointer data)
{
    const Hostile *h = data;
    VuMsgHdr hdr = { h->req, HB_VU_MSG_VERSION | h->flags, h->size };
    uint8_t payload[4096] = { 0 };
    int fds[1] = { f->memfd };
    size_t sent = MIN(h->size, sizeof(h->words));

    memcpy(payload, h->words, sent);
    if (h->flags) {
        hdr.flags = h->flags;
    }
    /* declared-oversized messages send only the header: the size alone is fatal */
    if (h->size > 256 + 12) {
        sent = 0;
    } else {
        sent = h->size;
    }
    g_assert_true(hb_vu_msg_send(f->peer, &hdr, payload, sent, fds, h->nfds ? 1 : 0));
    g_assert_false(hb_vu_dispatch(&f->dev));
}

static void hostile_test(gconstpointer data)
{
    Fixture f;
    setup(&f, NULL);
    test_hostile(&f, data);
    teardown(&f, NULL);
}

static void test_truncated(Fixture *f, gconstpointer data)
{
    uint32_t hdr[3] = { HB_VU_SET_FEATURES, HB_VU_MSG_VERSION, 8 };

    /* header, then half the payload, then hang-up */
    g_assert_cmpint(send(f->peer, hdr, 12, 0), ==, 12);
    g_assert_cmpint(send(f->peer, hdr, 4, 0), ==, 4);
    shutdown(f->peer, SHUT_WR);
    g_assert_false(hb_vu_dispatch(&f->dev));
}

/*
 * INFLIGHT_SHMFD: a back-end "crashes" with two requests popped and not
 * completed; the next back-end gets the front-end's buffer back and
 * completes exactly those two, once, before anything new.
 */
static void test_inflight_resubmit(Fixture *f, gconstpointer data)
{
    VuPayload im = { .inflight = { .num_queues = 1, .queue_size = 8 } };
    int kick = eventfd(0, EFD_NONBLOCK), call = eventfd(0, EFD_NONBLOCK);
    HbVringUsed *used = hbt_ring_used(&f->ring);
    HbInflightRegion *r;
    int ifd, sv[2];

    g_assert_true(get_u64(f, HB_VU_GET_PROTOCOL_FEATURES) &
                  (1ull << HB_VU_PROTOCOL_F_INFLIGHT_SHMFD));
    ifd = get_inflight_fd(f, &im);
    g_assert_cmpuint(im.inflight.mmap_size, >=, hb_virtq_inflight_size(8));
    r = mmap(NULL, im.inflight.mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, ifd, 0);
    g_assert_true(r != MAP_FAILED);

    g_assert_true(start_ring(f, kick, call, ifd, &im, true));
    g_assert_cmpuint(r->version, ==, 1);
    g_assert_cmpuint(r->desc_num, ==, 8);
    for (int i = 0; i < 3; i++) {
        hbt_ring_set_desc(&f->ring, i, 0x8000 + i * 16, 16, 0, 0);
        hbt_ring_make_avail(&f->ring, i);
    }
    f->crash_after = 1;
    g_assert_true(hb_vu_handle_kick(&f->dev, 0));
    g_assert_cmpuint(f->processed, ==, 1);
    g_assert_cmpuint(used->idx, ==, 1);
    g_assert_cmpuint(r->desc[0].inflight, ==, 0);
    g_assert_cmpuint(r->desc[1].inflight, ==, 1);
    g_assert_cmpuint(r->desc[2].inflight, ==, 1);

    /* the back-end dies; a new one is connected */
    hb_vu_reset(&f->dev);
    close(f->peer);
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    hb_vu_attach(&f->dev, sv[0]);
    f->peer = sv[1];
    f->crash_after = -1;
    g_assert_true(start_ring(f, kick, call, ifd, &im, true));
    g_assert_true(hb_vu_handle_kick(&f->dev, 0));
    g_assert_cmpuint(f->processed, ==, 3);
    g_assert_cmpuint(f->heads[1], ==, 1);
    g_assert_cmpuint(f->heads[2], ==, 2);
    g_assert_cmpuint(used->idx, ==, 3);
    g_assert_cmpuint(r->desc[1].inflight, ==, 0);
    g_assert_cmpuint(r->desc[2].inflight, ==, 0);
    /* and new work continues after them, once */
    hbt_ring_set_desc(&f->ring, 3, 0x9000, 16, 0, 0);
    hbt_ring_make_avail(&f->ring, 3);
    g_assert_true(hb_vu_handle_kick(&f->dev, 0));
    g_assert_true(hb_vu_handle_kick(&f->dev, 0));
    g_assert_cmpuint(f->processed, ==, 4);
    g_assert_cmpuint(f->heads[3], ==, 3);

    /* a buffer too small for its geometry is refused */
    im.inflight.queue_size = 1024;
    send_msg(f, HB_VU_SET_INFLIGHT_FD, 0, &im, sizeof(im.inflight), &ifd, 1);
    g_assert_false(hb_vu_dispatch(&f->dev));

    munmap(r, hb_virtq_inflight_size(8));
    close(ifd);
    close(kick);
    close(call);
}

/*
 * The inflight buffer is sized by the front-end (GET_INFLIGHT_FD's
 * queue_size): a ring bigger than its slice must not start, or every pop
 * would write past the buffer.  Found by an independent review: a 1-entry
 * buffer and a 1024-entry ring crashed the daemon.
 */
static void test_inflight_smaller_than_ring(Fixture *f, gconstpointer data)
{
    VuPayload im = { .inflight = { .num_queues = 1, .queue_size = 1 } };
    int kick = eventfd(0, EFD_NONBLOCK), call = eventfd(0, EFD_NONBLOCK);
    int ifd = get_inflight_fd(f, &im);

    /* refused at the kick: the connection goes */
    g_assert_false(start_ring(f, kick, call, -1, NULL, true));
    g_assert_false(f->dev.q[0].started);
    close(ifd);
    close(kick);
    close(call);
}

/*
 * A front-end truncates the inflight buffer it got (144 bytes for one
 * ring of 8: not a whole page) while the ring runs: the connection goes,
 * the process stays (the guard used to cover only the 144 bytes, and
 * could not replace the page).
 */
static void test_inflight_truncated(Fixture *f, gconstpointer data)
{
    VuPayload im = { .inflight = { .num_queues = 1, .queue_size = 8 } };
    int kick = eventfd(0, EFD_NONBLOCK), call = eventfd(0, EFD_NONBLOCK);
    int ifd = get_inflight_fd(f, &im);

    g_assert_cmpuint(im.inflight.mmap_size % 4096, !=, 0);
    g_assert_true(start_ring(f, kick, call, -1, NULL, true));
    g_assert_cmpint(ftruncate(ifd, 0), ==, 0);
    hbt_ring_set_desc(&f->ring, 0, 0x9000, 512, HB_VRING_DESC_F_WRITE, 0);
    hbt_ring_make_avail(&f->ring, 0);
    g_assert_false(hb_vu_handle_kick(&f->dev, 0));
    close(ifd);
    close(kick);
    close(call);
}

/*
 * While rings run they point into the inflight buffer and keep their size:
 * a new buffer (GET or SET_INFLIGHT_FD) or a new SET_VRING_NUM is refused
 * rather than unmapping the buffer under them or outgrowing it.
 */
static void test_running_ring_keeps_buffer_and_size(Fixture *f, gconstpointer data)
{
    VuPayload im = { .inflight = { .num_queues = 1, .queue_size = 8 } };
    int kick = eventfd(0, EFD_NONBLOCK), call = eventfd(0, EFD_NONBLOCK);
    int ifd = get_inflight_fd(f, &im);

    g_assert_true(start_ring(f, kick, call, ifd, &im, true));
    g_assert_false(set_state(f, HB_VU_SET_VRING_NUM, 0, 1024));
    g_assert_cmpuint(f->dev.q[0].num, ==, f->ring.num);
    send_msg(f, HB_VU_GET_INFLIGHT_FD, 0, &im, sizeof(im.inflight), NULL, 0);
    g_assert_false(hb_vu_dispatch(&f->dev));
    /* the ring still works on the buffer it had */
    hbt_ring_set_desc(&f->ring, 0, 0x8000, 16, 0, 0);
    hbt_ring_make_avail(&f->ring, 0);
    g_assert_true(hb_vu_handle_kick(&f->dev, 0));
    g_assert_cmpuint(f->processed, ==, 1);
    close(ifd);
    close(kick);
    close(call);
}

/*
 * Kick and call fds must be eventfds: a pipe kick whose writer closed made
 * the I/O thread spin on hang-ups, and a full pipe blocks a call write.
 */
static void test_ring_fds_must_be_eventfds(Fixture *f, gconstpointer data)
{
    static const uint32_t reqs[] = { HB_VU_SET_VRING_KICK, HB_VU_SET_VRING_CALL };

    for (unsigned i = 0; i < G_N_ELEMENTS(reqs); i++) {
        uint64_t idx = 0;
        int p[2], sv[2];

        g_assert_cmpint(pipe(p), ==, 0);
        send_msg(f, reqs[i], 0, &idx, 8, &p[0], 1);
        g_assert_false(hb_vu_dispatch(&f->dev));
        close(p[0]);
        close(p[1]);
        /* the next front-end gets a fresh connection */
        hb_vu_reset(&f->dev);
        close(f->peer);
        g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
        hb_vu_attach(&f->dev, sv[0]);
        f->peer = sv[1];
    }
    /* a call eventfd is made non-blocking: a full counter cannot stall us */
    int call = eventfd(0, 0);
    uint64_t idx = 0;
    send_msg(f, HB_VU_SET_VRING_CALL, 0, &idx, 8, &call, 1);
    g_assert_true(hb_vu_dispatch(&f->dev));
    g_assert_true(fcntl(f->dev.q[0].call_fd, F_GETFL) & O_NONBLOCK);
    close(call);
}

/*
 * Guest memory costs address space the whole daemon shares: a region past
 * HB_GUEST_MEM_MAX_BYTES is refused even when a sparse file backs it
 * (32 such regions used to take 128 TiB, and other front-ends then could
 * not map their guests).
 */
static void test_huge_region_refused(Fixture *f, gconstpointer data)
{
    uint64_t huge = HB_GUEST_MEM_MAX_BYTES + 4096;
    int fd = memfd_create("huge", MFD_CLOEXEC);
    VuPayload m = { .mem = { .nregions = 1 } };

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, (off_t)huge), ==, 0);
    m.mem.regions[0] = (VuRegion){ .gpa = 0, .size = huge, .uva = UVA, .mmap_offset = 0 };
    send_msg(f, HB_VU_SET_MEM_TABLE, 0, &m, offsetof(VuPayload, mem.regions[1]), &fd, 1);
    g_assert_false(hb_vu_dispatch(&f->dev));
    close(fd);
}

/* A region that starts mid-file is mapped from its own page, not from 0. */
static void test_region_mapped_from_its_offset(Fixture *f, gconstpointer data)
{
    VuPayload m = { .mem = { .nregions = 1 } };

    m.mem.regions[0] = (VuRegion){ .gpa = 0, .size = RAM_SIZE / 2, .uva = UVA,
                                   .mmap_offset = RAM_SIZE / 2 };
    send_msg(f, HB_VU_SET_MEM_TABLE, 0, &m, offsetof(VuPayload, mem.regions[1]), &f->memfd, 1);
    g_assert_true(hb_vu_dispatch(&f->dev));
    g_assert_cmpuint(f->dev.mem.regions[0].mmap_size, ==, RAM_SIZE / 2);
}

static void test_hangup_and_reconnect(Fixture *f, gconstpointer data)
{
    int sv[2];

    close(f->peer);
    g_assert_false(hb_vu_dispatch(&f->dev));
    hb_vu_reset(&f->dev);
    g_assert_cmpint(f->dev.sock, ==, -1);
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    hb_vu_attach(&f->dev, sv[0]);
    f->peer = sv[1];
    g_assert_cmphex(get_u64(f, HB_VU_GET_FEATURES), ==, FEATURES | (1ull << 30) | (1ull << HB_VU_F_LOG_ALL));
}

/* A resize reaches the front-end as CONFIG_CHANGE_MSG on the backend channel. */
static void test_config_change(Fixture *f, gconstpointer data)
{
    int sv[2];
    VuMsg m;

    g_assert_false(hb_vu_config_changed(&f->dev));      /* no channel yet */
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    send_msg(f, HB_VU_SET_BACKEND_REQ_FD, 0, NULL, 0, &sv[1], 1);
    g_assert_true(hb_vu_dispatch(&f->dev));
    close(sv[1]);
    g_assert_true(hb_vu_config_changed(&f->dev));
    g_assert_true(hb_vu_msg_read(sv[0], &m));
    g_assert_cmpuint(m.hdr.request, ==, HB_VU_BACKEND_CONFIG_CHANGE_MSG);
    g_assert_cmpuint(m.hdr.flags & 3, ==, HB_VU_MSG_VERSION);
    g_assert_cmpuint(m.hdr.size, ==, 0);
    g_assert_cmpuint(m.nfds, ==, 0);
    close(sv[0]);
}

/*
 * Random messages, mostly well-framed with plausible ids and sizes, some
 * carrying an fd: the back-end must never crash, hang or leak; when it
 * gives up on a connection it is reset and takes a new one.
 */
static void test_random_messages(Fixture *f, gconstpointer data)
{
    GRand *rand = g_rand_new_with_seed(7);
    unsigned drops = 0;

    for (int iter = 0; iter < 20000; iter++) {
        uint32_t words[80];
        uint32_t req = g_rand_int_range(rand, 0, 40);
        uint32_t size = g_rand_boolean(rand) ? g_rand_int_range(rand, 0, 24)
                                             : g_rand_int_range(rand, 0, 300);
        uint32_t flags = g_rand_int_range(rand, 0, 8) == 0 ? g_rand_int(rand)
                         : (g_rand_boolean(rand) ? HB_VU_MSG_FLAG_NEED_REPLY : 0);
        int fd = f->memfd;

        for (size_t i = 0; i < G_N_ELEMENTS(words); i++) {
            /* small numbers hit the interesting ranges (indexes, sizes) */
            words[i] = g_rand_boolean(rand) ? (uint32_t)g_rand_int_range(rand, 0, 16)
                                            : g_rand_int(rand);
        }
        if (req == HB_VU_SET_MEM_TABLE && g_rand_boolean(rand)) {
            words[0] = 1;
            words[2] = 0;
            words[3] = 0;
            words[4] = RAM_SIZE;
            words[5] = 0;
        }
        if (req == HB_VU_SET_FEATURES || req == HB_VU_SET_PROTOCOL_FEATURES) {
            words[1] &= 1;
        }
        {
            VuMsgHdr hdr = { req, (flags & ~3u) | HB_VU_MSG_VERSION, size };
            unsigned nfds = g_rand_int_range(rand, 0, 3) == 0 ? 1 : 0;
            if (flags & 3) {
                hdr.flags = flags;     /* sometimes a bad version too */
            }
            g_assert_true(hb_vu_msg_send(f->peer, &hdr, words, size, &fd, nfds));
        }
        if (!hb_vu_dispatch(&f->dev)) {
            int sv[2];

            drops++;
            hb_vu_reset(&f->dev);
            close(f->peer);
            g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
            hb_vu_attach(&f->dev, sv[0]);
            f->peer = sv[1];
        } else {
            /* a kick on any started ring must be harmless too */
            for (unsigned q = 0; q < f->dev.max_queues; q++) {
                (void)hb_vu_handle_kick(&f->dev, q);
            }
        }
        hbt_frame_drain(f->peer);
    }
    g_test_message("%u of 20000 messages dropped the connection", drops);
    g_assert_cmpuint(drops, >, 100);
    g_rand_free(rand);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define T(name, fn) g_test_add("/vhost-user/" name, Fixture, NULL, setup, fn, teardown)
#define TD(name, data, fn) \
    g_test_add("/vhost-user/" name, Fixture, GINT_TO_POINTER(data), setup, fn, teardown)
    T("negotiation", test_negotiation);
    T("reply-ack", test_reply_ack);
    T("get-config", test_get_config);
    T("ring", test_ring);
    T("ring-outside-memory", test_ring_outside_memory);
    T("truncated", test_truncated);
    T("hangup-and-reconnect", test_hangup_and_reconnect);
    T("inflight-resubmit", test_inflight_resubmit);
    T("inflight-smaller-than-ring", test_inflight_smaller_than_ring);
    T("inflight-truncated", test_inflight_truncated);
    T("running-ring-keeps-buffer-and-size", test_running_ring_keeps_buffer_and_size);
    T("ring-fds-must-be-eventfds", test_ring_fds_must_be_eventfds);
    T("huge-region-refused", test_huge_region_refused);
    T("region-mapped-from-its-offset", test_region_mapped_from_its_offset);
    T("random-messages", test_random_messages);
    T("dirty-log-marks-writes", test_dirty_log_marks_writes);
    TD("dirty-log-without-feature", 0, test_dirty_log_hostile);
    TD("dirty-log-without-fd", 1, test_dirty_log_hostile);
    TD("dirty-log-smaller-than-memory", 2, test_dirty_log_hostile);
    TD("dirty-log-file-too-short", 3, test_dirty_log_hostile);
    TD("dirty-log-unaligned-offset", 4, test_dirty_log_hostile);
    TD("dirty-log-ring-outside", 5, test_dirty_log_hostile);
    TD("dirty-log-truncated", 6, test_dirty_log_hostile);
    T("config-change", test_config_change);
    for (size_t i = 0; i < G_N_ELEMENTS(hostile); i++) {
        g_autofree char *path = g_strdup_printf("/vhost-user/hostile/%s", hostile[i].name);
        g_test_add_data_func(path, &hostile[i], hostile_test);
    }
    return g_test_run();
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/vu-client.c — vhost-user-blk front-end: negotiation, shared memfd, split rings. */
#include "tools/vu-client.h"
#include "vhost/vu-msg.h"

#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Layout of a queue's area in the shared memfd (see queue_new()). */
#define SLOT_META 128
#define PAGE 4096ull

/* One dirty-log bit covers this much guest memory (docs/interop/vhost-user.rst). */
#define VUC_LOG_PAGE 4096ull

/* Per slot, what vu_client_dirty_log_check() must find logged. */
#define SLOT_DONE 1u                   /* completed: the status byte was written */
#define SLOT_READ 2u                   /* a completed read: its data was written */

typedef struct SlotInfo {
    int type;
    uint64_t offset;
    uint64_t cookie;
    uint64_t len;
} SlotInfo;

struct VuClientQueue {
    VuClient *c;
    unsigned idx, num, depth;
    uint64_t base;            /* gpa of the queue's area */
    HbVringDesc *desc;
    HbVringAvail *avail;      /* used_event after ring[num] */
    HbVringUsed *used;        /* avail_event after ring[num] */
    uint8_t *meta;
    uint8_t *data;
    uint64_t bs;
    uint16_t avail_idx, kicked_idx, last_used;
    bool indirect, event_idx;
    int kick_fd, call_fd;
    SlotInfo *slots;
    uint8_t *slot_marks;      /* SLOT_DONE | SLOT_READ */
    uint64_t *read_len;       /* longest data a completed read had the slot write */
    uint64_t completions;     /* used entries consumed, ever */
};

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

static int send_msg(VuClient *c, uint32_t req, uint32_t flags, const void *payload,
                    uint32_t size, const int *fds, unsigned nfds)
{
    return hb_vu_msg_send_request(c->sock, req, flags, payload, size, fds, nfds) ? 0 : -1;
}

static int recv_reply(VuClient *c, uint32_t req, void *payload, uint32_t size)
{
    VuMsg m;
    bool ok = hb_vu_msg_read(c->sock, &m);

    hb_vu_msg_close_fds(&m);      /* no reply we ask for carries fds */
    if (!ok) {
        return -1;
    }
    if (m.hdr.request != req || !(m.hdr.flags & HB_VU_MSG_FLAG_REPLY) || m.hdr.size != size) {
        fprintf(stderr, "hotblock-bench: bad reply to request %u\n", req);
        return -1;
    }
    memcpy(payload, &m.p, size);
    return 0;
}

static int get_u64(VuClient *c, uint32_t req, uint64_t *v)
{
    if (send_msg(c, req, 0, NULL, 0, NULL, 0) < 0) {
        return -1;
    }
    return recv_reply(c, req, v, 8);
}

/* A message without natural reply; with REPLY_ACK wait for the ack. */
static int set_msg(VuClient *c, uint32_t req, const void *p, uint32_t size,
                   const int *fds, unsigned nfds)
{
    bool ack = c->protocol_features & (1ull << HB_VU_PROTOCOL_F_REPLY_ACK);
    uint64_t r;

    if (send_msg(c, req, ack ? HB_VU_MSG_FLAG_NEED_REPLY : 0, p, size, fds, nfds) < 0) {
        return -1;
    }
    if (ack && (recv_reply(c, req, &r, 8) < 0 || r != 0)) {
        fprintf(stderr, "hotblock-bench: back-end refused request %u\n", req);
        return -1;
    }
    return 0;
}

static int set_u64(VuClient *c, uint32_t req, uint64_t v)
{
    return set_msg(c, req, &v, 8, NULL, 0);
}

static int set_state(VuClient *c, uint32_t req, uint32_t idx, uint32_t num)
{
    VuPayload s = { .state = { .index = idx, .num = num } };
    return set_msg(c, req, &s, sizeof(s.state), NULL, 0);
}

static int read_config(VuClient *c)
{
    const uint32_t size = HB_VU_CONFIG_HDR_SIZE + HB_VIRTIO_BLK_CFG_SIZE;
    VuPayload m = { .config = { .offset = 0, .size = HB_VIRTIO_BLK_CFG_SIZE } }, r;
    const uint8_t *cfg = r.config.region;
    uint64_t cap;
    uint32_t bs;
    uint16_t nq;

    if (send_msg(c, HB_VU_GET_CONFIG, 0, &m, size, NULL, 0) < 0 ||
        recv_reply(c, HB_VU_GET_CONFIG, &r, size) < 0) {
        return -1;
    }
    memcpy(&cap, cfg, 8);               /* capacity */
    memcpy(&bs, cfg + 20, 4);           /* blk_size */
    memcpy(&nq, cfg + 34, 2);           /* num_queues */
    c->capacity = le64toh(cap) * 512;
    c->blk_size = (c->features & (1ull << HB_VIRTIO_BLK_F_BLK_SIZE)) ? le32toh(bs) : 512;
    c->cfg_num_queues = (c->features & (1ull << HB_VIRTIO_BLK_F_MQ)) ? le16toh(nq) : 1;
    c->writeback = cfg[HB_VIRTIO_BLK_CFG_WRITEBACK];
    return 0;
}

static VuClientQueue *queue_new(VuClient *c, unsigned idx, unsigned depth, uint64_t bs,
                                uint64_t base, uint64_t *size)
{
    VuClientQueue *q = calloc(1, sizeof(*q));
    unsigned need = c->features & (1ull << HB_VIRTIO_F_RING_INDIRECT_DESC) ? depth : 3 * depth;
    uint64_t off;

    q->c = c;
    q->idx = idx;
    q->depth = depth;
    q->bs = bs;
    q->indirect = c->features & (1ull << HB_VIRTIO_F_RING_INDIRECT_DESC);
    q->event_idx = c->features & (1ull << HB_VIRTIO_F_RING_EVENT_IDX);
    for (q->num = 128; q->num < need; q->num *= 2) {
    }
    q->base = base;
    off = 16ull * q->num;                               /* avail */
    off = align_up(off + 6 + 2ull * q->num, PAGE);      /* used */
    off = align_up(off + 6 + 8ull * q->num, PAGE);      /* meta */
    off = align_up(off + (uint64_t)SLOT_META * depth, PAGE);   /* data */
    *size = align_up(off + bs * depth, PAGE);
    q->slots = calloc(depth, sizeof(SlotInfo));
    q->slot_marks = calloc(depth, 1);
    q->read_len = calloc(depth, sizeof(uint64_t));
    return q;
}

static void queue_place(VuClientQueue *q)
{
    uint8_t *b = q->c->mem + q->base;
    uint64_t off;

    q->desc = (HbVringDesc *)b;
    off = 16ull * q->num;
    q->avail = (HbVringAvail *)(b + off);
    off = align_up(off + 6 + 2ull * q->num, PAGE);
    q->used = (HbVringUsed *)(b + off);
    off = align_up(off + 6 + 8ull * q->num, PAGE);
    q->meta = b + off;
    off = align_up(off + (uint64_t)SLOT_META * q->depth, PAGE);
    q->data = b + off;
}

/* The front-end address of @p, a pointer into the shared memory. */
static uint64_t client_uva(VuClient *c, const void *p)
{
    return (uint64_t)(uintptr_t)c->mem + ((const uint8_t *)p - c->mem);
}

/* The guest-physical address of @p, a pointer into the shared memory. */
static uint64_t client_gpa(const VuClient *c, const void *p)
{
    return (uint64_t)((const uint8_t *)p - c->mem);
}

/* SET_VRING_ADDR for @q, with @flags and the used ring's guest address to log at. */
static int queue_set_addr(VuClient *c, VuClientQueue *q, uint32_t flags)
{
    VuPayload addr = { .addr = {
        .index = q->idx,
        .flags = flags,
        .desc = client_uva(c, q->desc),
        .used = client_uva(c, q->used),
        .avail = client_uva(c, q->avail),
        .log = client_gpa(c, q->used),
    } };

    return set_msg(c, HB_VU_SET_VRING_ADDR, &addr, sizeof(addr.addr), NULL, 0);
}

static int queue_start(VuClient *c, VuClientQueue *q)
{
    uint64_t v;

    q->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    q->call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (set_state(c, HB_VU_SET_VRING_NUM, q->idx, q->num) < 0 ||
        set_state(c, HB_VU_SET_VRING_BASE, q->idx, 0) < 0 ||
        queue_set_addr(c, q, 0) < 0) {
        return -1;
    }
    v = q->idx;
    if (set_msg(c, HB_VU_SET_VRING_CALL, &v, 8, &q->call_fd, 1) < 0 ||
        set_msg(c, HB_VU_SET_VRING_KICK, &v, 8, &q->kick_fd, 1) < 0) {
        return -1;
    }
    if ((c->features & (1ull << HB_VU_F_PROTOCOL_FEATURES)) &&
        set_state(c, HB_VU_SET_VRING_ENABLE, q->idx, 1) < 0) {
        return -1;
    }
    return 0;
}

/* The virtio features we can use, of those the device offers. */
static uint64_t wanted_features(void)
{
    uint64_t want = (1ull << HB_VIRTIO_F_VERSION_1) | (1ull << HB_VU_F_PROTOCOL_FEATURES) |
                    (1ull << HB_VIRTIO_F_RING_INDIRECT_DESC) |
                    (1ull << HB_VIRTIO_F_RING_EVENT_IDX) | (1ull << HB_VIRTIO_BLK_F_RO) |
                    (1ull << HB_VIRTIO_BLK_F_BLK_SIZE) | (1ull << HB_VIRTIO_BLK_F_FLUSH) |
                    (1ull << HB_VIRTIO_BLK_F_MQ) | (1ull << HB_VIRTIO_BLK_F_SEG_MAX) |
                    (1ull << HB_VIRTIO_BLK_F_TOPOLOGY) | (1ull << HB_VIRTIO_BLK_F_CONFIG_WCE);

    if (getenv("HB_BENCH_NO_INDIRECT")) {
        want &= ~(1ull << HB_VIRTIO_F_RING_INDIRECT_DESC);
    }
    if (getenv("HB_BENCH_NO_EVENT_IDX")) {
        want &= ~(1ull << HB_VIRTIO_F_RING_EVENT_IDX);
    }
    return want;
}

/* Features, protocol features, owner, queue count and config space. */
static int negotiate(VuClient *c)
{
    uint64_t want_pf = (1ull << HB_VU_PROTOCOL_F_MQ) |
                       (1ull << HB_VU_PROTOCOL_F_REPLY_ACK) |
                       (1ull << HB_VU_PROTOCOL_F_CONFIG);
    uint64_t offered, pf;

    if (get_u64(c, HB_VU_GET_FEATURES, &offered) < 0) {
        return -1;
    }
    if (c->want_log && !(offered & (1ull << HB_VU_F_LOG_ALL))) {
        fprintf(stderr, "hotblock-bench: the back-end does not offer VHOST_F_LOG_ALL\n");
        return -1;
    }
    /* VHOST_F_LOG_ALL is set only when logging starts, as QEMU does */
    c->features = offered & wanted_features();
    c->read_only = c->features & (1ull << HB_VIRTIO_BLK_F_RO);
    if (!(offered & (1ull << HB_VU_F_PROTOCOL_FEATURES)) ||
        set_u64(c, HB_VU_SET_FEATURES, c->features) < 0 ||
        get_u64(c, HB_VU_GET_PROTOCOL_FEATURES, &pf) < 0) {
        return -1;
    }
    if (c->want_log) {
        if (!(pf & (1ull << HB_VU_PROTOCOL_F_LOG_SHMFD))) {
            fprintf(stderr, "hotblock-bench: the back-end does not offer "
                    "VHOST_USER_PROTOCOL_F_LOG_SHMFD\n");
            return -1;
        }
        want_pf |= 1ull << HB_VU_PROTOCOL_F_LOG_SHMFD;
    }
    c->protocol_features = 0;
    if (set_u64(c, HB_VU_SET_PROTOCOL_FEATURES, pf & want_pf) < 0) {
        return -1;
    }
    c->protocol_features = pf & want_pf;
    c->max_queues = 1;
    if (set_msg(c, HB_VU_SET_OWNER, NULL, 0, NULL, 0) < 0 ||
        ((pf & (1ull << HB_VU_PROTOCOL_F_MQ)) &&
         get_u64(c, HB_VU_GET_QUEUE_NUM, &offered) == 0 && (c->max_queues = offered) == 0) ||
        !(pf & (1ull << HB_VU_PROTOCOL_F_CONFIG)) || read_config(c) < 0) {
        return -1;
    }
    return 0;
}

VuClient *vu_client_connect(const char *path, unsigned nqueues, unsigned depth,
                            uint64_t bs, bool dirty_log)
{
    VuClient *c = calloc(1, sizeof(*c));
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    uint64_t qsize[VU_CLIENT_MAX_QUEUES], total = 0;
    VuPayload mt = { .mem = { .nregions = 1 } };

    c->want_log = dirty_log;
    c->log_fd = -1;
    c->memfd = -1;
    c->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (connect(c->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        fprintf(stderr, "hotblock-bench: connect %s: %s\n", path, strerror(errno));
        goto fail;
    }
    if (negotiate(c) < 0) {
        goto proto;
    }
    if (nqueues > c->max_queues || nqueues > c->cfg_num_queues) {
        fprintf(stderr, "hotblock-bench: %u queues asked, the device has %u\n",
                nqueues, c->cfg_num_queues < c->max_queues ? c->cfg_num_queues : c->max_queues);
        goto fail;
    }

    c->nqueues = nqueues;
    for (unsigned i = 0; i < nqueues; i++) {
        c->queues[i] = queue_new(c, i, depth, bs, total, &qsize[i]);
        total += qsize[i];
    }
    c->mem_size = total;
    c->memfd = memfd_create("hotblock-bench", MFD_CLOEXEC);
    if (c->memfd < 0 || ftruncate(c->memfd, total) < 0) {
        perror("hotblock-bench: memfd");
        goto fail;
    }
    c->mem = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, c->memfd, 0);
    if (c->mem == MAP_FAILED) {
        perror("hotblock-bench: mmap");
        goto fail;
    }
    for (unsigned i = 0; i < nqueues; i++) {
        queue_place(c->queues[i]);
    }
    /* one region: guest-physical addresses are offsets in the memfd */
    mt.mem.regions[0] = (VuRegion){ .gpa = 0, .size = total,
                                    .uva = (uint64_t)(uintptr_t)c->mem, .mmap_offset = 0 };
    if (set_msg(c, HB_VU_SET_MEM_TABLE, &mt, offsetof(VuPayload, mem.regions[1]),
                &c->memfd, 1) < 0) {
        goto proto;
    }
    for (unsigned i = 0; i < nqueues; i++) {
        if (queue_start(c, c->queues[i]) < 0) {
            goto proto;
        }
    }
    return c;

proto:
    fprintf(stderr, "hotblock-bench: vhost-user negotiation with %s failed\n", path);
fail:
    close(c->sock);
    free(c);
    return NULL;
}

void vu_client_close(VuClient *c)
{
    for (unsigned i = 0; i < c->nqueues; i++) {
        VuClientQueue *q = c->queues[i];
        close(q->kick_fd);
        close(q->call_fd);
        free(q->slots);
        free(q->slot_marks);
        free(q->read_len);
        free(q);
    }
    if (c->log) {
        munmap(c->log, c->log_size);
    }
    if (c->log_fd >= 0) {
        close(c->log_fd);
    }
    close(c->sock);
    if (c->mem && c->mem != MAP_FAILED) {
        munmap(c->mem, c->mem_size);
    }
    close(c->memfd);
    free(c);
}

/*
 * SET_LOG_BASE carries the log's size and offset in the fd; with
 * LOG_SHMFD the back-end answers it, always (NEED_REPLY is not how it is
 * asked for), and the front-end must not go on before that answer: from
 * then on the back-end may write the log.
 */
static int set_log_base(VuClient *c)
{
    struct __attribute__((packed)) { uint64_t mmap_size, mmap_offset; } lb = {
        c->log_size, 0,
    };
    VuMsg m;
    bool ok;

    if (send_msg(c, HB_VU_SET_LOG_BASE, 0, &lb, sizeof(lb), &c->log_fd, 1) < 0) {
        return -1;
    }
    ok = hb_vu_msg_read(c->sock, &m);
    hb_vu_msg_close_fds(&m);
    if (!ok || m.hdr.request != HB_VU_SET_LOG_BASE || !(m.hdr.flags & HB_VU_MSG_FLAG_REPLY)) {
        fprintf(stderr, "hotblock-bench: no reply to SET_LOG_BASE\n");
        return -1;
    }
    return 0;
}

int vu_client_dirty_log_start(VuClient *c)
{
    /* QEMU's log is made of 64-bit words, each covering 64 pages */
    const uint64_t chunk = VUC_LOG_PAGE * 64;

    if (!c->want_log) {
        fprintf(stderr, "hotblock-bench: dirty logging was not negotiated\n");
        return -1;
    }
    c->log_size = (c->mem_size + chunk - 1) / chunk * 8;
    c->log_fd = memfd_create("hotblock-bench-log", MFD_CLOEXEC);
    if (c->log_fd < 0 || ftruncate(c->log_fd, c->log_size) < 0) {
        perror("hotblock-bench: log memfd");
        return -1;
    }
    c->log = mmap(NULL, c->log_size, PROT_READ | PROT_WRITE, MAP_SHARED, c->log_fd, 0);
    if (c->log == MAP_FAILED) {
        c->log = NULL;
        perror("hotblock-bench: log mmap");
        return -1;
    }
    if (set_log_base(c) < 0 ||
        set_u64(c, HB_VU_SET_FEATURES, c->features | (1ull << HB_VU_F_LOG_ALL)) < 0) {
        return -1;
    }
    c->features |= 1ull << HB_VU_F_LOG_ALL;
    for (unsigned i = 0; i < c->nqueues; i++) {
        if (queue_set_addr(c, c->queues[i], HB_VU_VRING_F_LOG) < 0) {
            return -1;
        }
    }
    return 0;
}

static bool log_marked(const VuClient *c, uint64_t gpa)
{
    uint64_t page = gpa / VUC_LOG_PAGE;

    return page / 8 < c->log_size &&
           (__atomic_load_n(&c->log[page / 8], __ATOMIC_RELAXED) & (1u << (page % 8)));
}

/* Count in @r the pages of [@gpa, @gpa + @len) that must be marked. */
static void check_range(const VuClient *c, uint64_t gpa, uint64_t len, VuLogCheck *r)
{
    for (uint64_t p = gpa / VUC_LOG_PAGE; len && p <= (gpa + len - 1) / VUC_LOG_PAGE; p++) {
        r->checked++;
        if (!log_marked(c, p * VUC_LOG_PAGE)) {
            if (!r->missing++) {
                r->first_missing = p * VUC_LOG_PAGE;
            }
        }
    }
}

/* Count in @r the marked pages of [@gpa, @gpa + @len), which the device never writes. */
static void count_spurious(const VuClient *c, uint64_t gpa, uint64_t len, VuLogCheck *r)
{
    for (uint64_t p = gpa / VUC_LOG_PAGE; p <= (gpa + len - 1) / VUC_LOG_PAGE; p++) {
        r->spurious += log_marked(c, p * VUC_LOG_PAGE);
    }
}

static void check_once(const VuClient *c, VuLogCheck *r)
{
    *r = (VuLogCheck){ 0 };
    for (unsigned i = 0; i < c->nqueues; i++) {
        const VuClientQueue *q = c->queues[i];
        uint64_t used = client_gpa(c, q->used);
        uint64_t entries = q->completions < q->num ? q->completions : q->num;

        for (unsigned s = 0; s < q->depth; s++) {
            uint64_t meta = client_gpa(c, q->meta) + (uint64_t)s * SLOT_META;
            if (q->slot_marks[s] & SLOT_DONE) {
                check_range(c, meta + 80, 1, r);                 /* status byte */
            }
            if (q->slot_marks[s] & SLOT_READ) {
                check_range(c, client_gpa(c, q->data) + s * q->bs, q->read_len[s], r);
            }
        }
        if (q->completions) {
            check_range(c, used + 2, 2, r);                      /* used->idx */
            check_range(c, used + 4, 8 * entries, r);            /* used->ring[] */
        }
        /* the descriptor table and the avail ring (without used_event) */
        count_spurious(c, client_gpa(c, q->desc), 16ull * q->num + 4 + 2ull * q->num, r);
    }
}

bool vu_client_dirty_log_check(VuClient *c, VuLogCheck *r)
{
    struct timespec pause = { 0, 50 * 1000 * 1000 };

    for (int i = 0; i < 20; i++) {
        check_once(c, r);
        if (!r->missing) {
            return true;
        }
        nanosleep(&pause, NULL);
    }
    return false;
}

uint8_t *vu_client_slot_data(VuClientQueue *q, unsigned slot)
{
    return q->data + slot * q->bs;
}

/* A descriptor as the device reads it (little endian). */
static HbVringDesc le_desc(uint64_t gpa, uint32_t len, uint16_t flags, uint16_t next)
{
    return (HbVringDesc){ htole64(gpa), htole32(len), htole16(flags), htole16(next) };
}

void vu_client_submit(VuClientQueue *q, unsigned slot, int type, uint64_t offset,
                      uint64_t len, uint64_t cookie)
{
    uint8_t *meta = q->meta + (uint64_t)slot * SLOT_META;
    uint64_t meta_gpa = q->base + (meta - (q->c->mem + q->base));
    HbVringDesc *ind = (HbVringDesc *)meta;  /* 3 descriptors: 48 bytes */
    uint8_t *hdr = meta + 64;
    uint8_t *status = meta + 80;
    uint64_t data_gpa = q->base + (vu_client_slot_data(q, slot) - (q->c->mem + q->base));
    uint32_t t = htole32(type), zero = 0;
    uint64_t sector = htole64(offset / 512);
    HbVringDesc chain[3];
    unsigned n = 0;
    uint16_t head;

    memcpy(hdr, &t, 4);
    memcpy(hdr + 4, &zero, 4);
    memcpy(hdr + 8, &sector, 8);
    *status = 0xff;
    chain[n++] = le_desc(meta_gpa + 64, 16, HB_VRING_DESC_F_NEXT, 0);
    if (len) {
        chain[n++] = le_desc(data_gpa, len, HB_VRING_DESC_F_NEXT |
                             (type == HB_VIRTIO_BLK_T_OUT ? 0 : HB_VRING_DESC_F_WRITE), 0);
    }
    chain[n++] = le_desc(meta_gpa + 80, 1, HB_VRING_DESC_F_WRITE, 0);
    if (q->indirect) {
        for (unsigned i = 0; i < n; i++) {
            chain[i].next = htole16(i + 1);
            ind[i] = chain[i];
        }
        q->desc[slot] = le_desc(meta_gpa, n * sizeof(HbVringDesc), HB_VRING_DESC_F_INDIRECT, 0);
        head = slot;
    } else {
        head = slot * 3;
        for (unsigned i = 0; i < n; i++) {
            chain[i].next = htole16(head + i + 1);
            q->desc[head + i] = chain[i];
        }
    }
    q->slots[slot] = (SlotInfo){ type, offset, cookie, len };
    q->avail->ring[q->avail_idx & (q->num - 1)] = htole16(head);
    q->avail_idx++;
}

void vu_client_kick(VuClientQueue *q)
{
    uint16_t old = q->kicked_idx, new = q->avail_idx;
    bool kick;

    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_store_n(&q->avail->idx, htole16(new), __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    q->kicked_idx = new;
    if (old == new) {
        return;
    }
    if (q->event_idx) {
        uint16_t ev;
        memcpy(&ev, &q->used->ring[q->num], 2);      /* avail_event */
        ev = le16toh(ev);
        kick = (uint16_t)(new - ev - 1) < (uint16_t)(new - old);
    } else {
        kick = !(le16toh(q->used->flags) & HB_VRING_USED_F_NO_NOTIFY);
    }
    if (kick) {
        eventfd_write(q->kick_fd, 1);
    }
}

static int harvest(VuClientQueue *q, VuCompletion *out, int max)
{
    uint16_t used_idx = le16toh(__atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE));
    int n = 0;

    while (q->last_used != used_idx && n < max) {
        uint32_t id = le32toh(q->used->ring[q->last_used & (q->num - 1)].id);
        unsigned slot;

        slot = q->indirect ? id : id / 3;
        if (slot >= q->depth) {
            fprintf(stderr, "hotblock-bench: back-end returned bogus id %u\n", id);
            exit(2);
        }
        out[n].slot = slot;
        out[n].type = q->slots[slot].type;
        out[n].offset = q->slots[slot].offset;
        out[n].cookie = q->slots[slot].cookie;
        out[n].status = q->meta[(uint64_t)slot * SLOT_META + 80];
        q->slot_marks[slot] |= SLOT_DONE;
        if (out[n].status == 0 && out[n].type != HB_VIRTIO_BLK_T_OUT && q->slots[slot].len) {
            q->slot_marks[slot] |= SLOT_READ;
            if (q->slots[slot].len > q->read_len[slot]) {
                q->read_len[slot] = q->slots[slot].len;
            }
        }
        n++;
        q->last_used++;
        q->completions++;
    }
    return n;
}

int vu_client_wait(VuClientQueue *q, VuCompletion *out, int max)
{
    for (;;) {
        struct pollfd pfd[2] = {
            { .fd = q->call_fd, .events = POLLIN },
            { .fd = q->c->sock, .events = POLLIN },
        };
        eventfd_t v;
        int n = harvest(q, out, max);

        if (n) {
            return n;
        }
        if (q->event_idx) {
            uint16_t ev = htole16(q->last_used);
            __atomic_store_n(&q->avail->ring[q->num], ev, __ATOMIC_RELAXED);  /* used_event */
        }
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        n = harvest(q, out, max);
        if (n) {
            return n;
        }
        n = poll(pfd, 2, 30000);
        if (n <= 0 || (pfd[1].revents & (POLLHUP | POLLIN | POLLERR))) {
            return -1;
        }
        eventfd_read(q->call_fd, &v);
    }
}

static int sync_req(VuClientQueue *q, int type, uint64_t len)
{
    VuCompletion cpl;

    vu_client_submit(q, 0, type, 0, len, 0);
    vu_client_kick(q);
    if (vu_client_wait(q, &cpl, 1) != 1) {
        return -1;
    }
    return cpl.status;
}

int vu_client_flush(VuClientQueue *q)
{
    return sync_req(q, HB_VIRTIO_BLK_T_FLUSH, 0);
}

int vu_client_get_id(VuClientQueue *q, char serial[21])
{
    int st = sync_req(q, HB_VIRTIO_BLK_T_GET_ID, 20);

    if (st == 0) {
        memcpy(serial, vu_client_slot_data(q, 0), 20);
        serial[20] = 0;
    }
    return st;
}

/* ---- misbehaving on purpose: what a hostile guest could put in a ring ---- */

static const char *const evil_kinds[] = {
    "loop", "oob-addr", "wrap-addr", "nested-indirect", "bad-head", "avail-jump",
    "no-status", "sector-oob", "unknown-type", "truncate-memory", NULL,
};

const char *const *vu_client_evil_kinds(void)
{
    return evil_kinds;
}

int vu_client_evil(VuClientQueue *q, const char *kind, int *status)
{
    uint8_t *meta = q->meta;                 /* slot 0 */
    uint64_t meta_gpa = q->base + (meta - (q->c->mem + q->base));
    uint64_t data_gpa = q->base + (q->data - (q->c->mem + q->base));
    HbVringDesc *ind = (HbVringDesc *)meta;
    uint32_t t = htole32(HB_VIRTIO_BLK_T_IN);
    uint64_t sector = 0;
    uint16_t head = 0;
    VuCompletion cpl;
    int n;

    /* a plausible read of sector 0 in descriptors 0..2, then spoil it */
    q->desc[0] = le_desc(meta_gpa + 64, 16, HB_VRING_DESC_F_NEXT, 1);
    q->desc[1] = le_desc(data_gpa, 512, HB_VRING_DESC_F_NEXT | HB_VRING_DESC_F_WRITE, 2);
    q->desc[2] = le_desc(meta_gpa + 80, 1, HB_VRING_DESC_F_WRITE, 0);
    if (!strcmp(kind, "loop")) {
        q->desc[2].flags = htole16(HB_VRING_DESC_F_WRITE | HB_VRING_DESC_F_NEXT);
        q->desc[2].next = 0;
    } else if (!strcmp(kind, "oob-addr")) {
        q->desc[1].addr = htole64(q->c->mem_size + 4096);
    } else if (!strcmp(kind, "wrap-addr")) {
        q->desc[1].addr = htole64(UINT64_MAX - 100);
    } else if (!strcmp(kind, "nested-indirect")) {
        ind[0] = le_desc(meta_gpa, 48, HB_VRING_DESC_F_INDIRECT, 0);
        q->desc[0] = le_desc(meta_gpa, 48, HB_VRING_DESC_F_INDIRECT, 0);
    } else if (!strcmp(kind, "bad-head")) {
        head = q->num + 5;
    } else if (!strcmp(kind, "no-status")) {
        q->desc[0].flags = 0;                /* header only, nothing writable */
    } else if (!strcmp(kind, "sector-oob")) {
        sector = q->c->capacity / 512 + 8;
    } else if (!strcmp(kind, "unknown-type")) {
        t = htole32(0x77);
    } else if (strcmp(kind, "avail-jump") && strcmp(kind, "truncate-memory")) {
        return -2;
    }
    memcpy(meta + 64, &t, 4);
    memset(meta + 68, 0, 4);
    sector = htole64(sector);
    memcpy(meta + 72, &sector, 8);
    meta[80] = 0xff;
    q->avail->ring[q->avail_idx & (q->num - 1)] = htole16(head);
    q->avail_idx += strcmp(kind, "avail-jump") ? 1 : q->num + 10;
    q->slots[0] = (SlotInfo){ HB_VIRTIO_BLK_T_IN, 0, 0, 512 };
    if (!strcmp(kind, "truncate-memory")) {
        /*
         * Take back the memory we shared: the back-end's next look at the
         * ring touches pages that are gone.  We cannot read the used ring
         * either now, so only watch the socket.
         */
        struct pollfd pfd = { .fd = q->c->sock, .events = POLLIN };
        if (ftruncate(q->c->memfd, 0) < 0) {
            return -2;
        }
        eventfd_write(q->kick_fd, 1);      /* vu_client_kick() reads the ring */
        n = poll(&pfd, 1, 10000);
        *status = -1;
        return n > 0 && (pfd.revents & (POLLHUP | POLLIN | POLLERR)) ? 0 : 1;
    }
    vu_client_kick(q);
    n = vu_client_wait(q, &cpl, 1);
    if (n < 0) {
        return 0;       /* the back-end hung up on us */
    }
    *status = cpl.status;
    return 1;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/vu-client.c — vhost-user-blk front-end: negotiation, shared memfd, split rings. */
#include "tools/vu-client.h"

#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Protocol constants: docs/interop/vhost-user.rst and the virtio spec. */
enum {
    GET_FEATURES = 1, SET_FEATURES = 2, SET_OWNER = 3, SET_MEM_TABLE = 5,
    SET_VRING_NUM = 8, SET_VRING_ADDR = 9, SET_VRING_BASE = 10,
    SET_VRING_KICK = 12, SET_VRING_CALL = 13, GET_PROTOCOL_FEATURES = 15,
    SET_PROTOCOL_FEATURES = 16, GET_QUEUE_NUM = 17, SET_VRING_ENABLE = 18,
    GET_CONFIG = 24,
};
#define F_PROTOCOL_FEATURES 30
#define F_INDIRECT 28
#define F_EVENT_IDX 29
#define F_VERSION_1 32
#define BLK_F_RO 5
#define BLK_F_BLK_SIZE 6
#define BLK_F_FLUSH 9
#define BLK_F_TOPOLOGY 10
#define BLK_F_CONFIG_WCE 11
#define BLK_F_MQ 12
#define BLK_F_SEG_MAX 2
#define PF_MQ 0
#define PF_REPLY_ACK 3
#define PF_CONFIG 9
#define MSG_VERSION 1
#define MSG_REPLY (1u << 2)
#define MSG_NEED_REPLY (1u << 3)
#define DESC_NEXT 1
#define DESC_WRITE 2
#define DESC_INDIRECT 4
#define SLOT_META 128
#define PAGE 4096ull

typedef struct __attribute__((packed)) Desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
} Desc;

typedef struct __attribute__((packed)) MsgHdr {
    uint32_t request, flags, size;
} MsgHdr;

typedef struct SlotInfo {
    int type;
    uint64_t offset;
    uint64_t cookie;
} SlotInfo;

struct VuClientQueue {
    VuClient *c;
    unsigned idx, num, depth;
    uint64_t base;            /* gpa of the queue's area */
    Desc *desc;
    uint16_t *avail;          /* flags, idx, ring[num], used_event */
    uint8_t *used;            /* flags, idx, {id,len}[num], avail_event */
    uint8_t *meta;
    uint8_t *data;
    uint64_t bs;
    uint16_t avail_idx, kicked_idx, last_used;
    bool indirect, event_idx;
    int kick_fd, call_fd;
    SlotInfo *slots;
};

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

static int send_msg(VuClient *c, uint32_t req, uint32_t flags, const void *payload,
                    uint32_t size, const int *fds, unsigned nfds)
{
    MsgHdr h = { req, MSG_VERSION | flags, size };
    struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)payload, size } };
    char control[CMSG_SPACE(8 * sizeof(int))];
    struct msghdr mh = { .msg_iov = iov, .msg_iovlen = size ? 2 : 1 };

    if (nfds) {
        struct cmsghdr *cm;
        memset(control, 0, sizeof(control));
        mh.msg_control = control;
        mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
        cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
    }
    return sendmsg(c->sock, &mh, MSG_NOSIGNAL) == (ssize_t)(sizeof(h) + size) ? 0 : -1;
}

static int recv_full(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = recv(fd, p, len, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= n;
    }
    return 0;
}

static int recv_reply(VuClient *c, uint32_t req, void *payload, uint32_t size)
{
    MsgHdr h;
    uint8_t buf[512];

    if (recv_full(c->sock, &h, sizeof(h)) < 0 || h.size > sizeof(buf) ||
        recv_full(c->sock, buf, h.size) < 0) {
        return -1;
    }
    if (h.request != req || !(h.flags & MSG_REPLY) || h.size != size) {
        fprintf(stderr, "hotblock-bench: bad reply to request %u\n", req);
        return -1;
    }
    memcpy(payload, buf, size);
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
    bool ack = c->protocol_features & (1ull << PF_REPLY_ACK);
    uint64_t r;

    if (send_msg(c, req, ack ? MSG_NEED_REPLY : 0, p, size, fds, nfds) < 0) {
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
    uint32_t s[2] = { idx, num };
    return set_msg(c, req, s, 8, NULL, 0);
}

static int read_config(VuClient *c)
{
    struct __attribute__((packed)) {
        uint32_t offset, size, flags;
        uint8_t cfg[60];
    } m = { 0, 60, 0, { 0 } }, r;
    uint64_t cap;
    uint32_t bs;
    uint16_t nq;

    if (send_msg(c, GET_CONFIG, 0, &m, sizeof(m), NULL, 0) < 0 ||
        recv_reply(c, GET_CONFIG, &r, sizeof(r)) < 0) {
        return -1;
    }
    memcpy(&cap, r.cfg, 8);
    memcpy(&bs, r.cfg + 20, 4);
    memcpy(&nq, r.cfg + 34, 2);
    c->capacity = le64toh(cap) * 512;
    c->blk_size = (c->features & (1ull << BLK_F_BLK_SIZE)) ? le32toh(bs) : 512;
    c->cfg_num_queues = (c->features & (1ull << BLK_F_MQ)) ? le16toh(nq) : 1;
    c->writeback = r.cfg[32];
    return 0;
}

static VuClientQueue *queue_new(VuClient *c, unsigned idx, unsigned depth, uint64_t bs,
                                uint64_t base, uint64_t *size)
{
    VuClientQueue *q = calloc(1, sizeof(*q));
    unsigned need = c->features & (1ull << F_INDIRECT) ? depth : 3 * depth;
    uint64_t off;

    q->c = c;
    q->idx = idx;
    q->depth = depth;
    q->bs = bs;
    q->indirect = c->features & (1ull << F_INDIRECT);
    q->event_idx = c->features & (1ull << F_EVENT_IDX);
    for (q->num = 128; q->num < need; q->num *= 2) {
    }
    q->base = base;
    off = 16ull * q->num;                               /* avail */
    off = align_up(off + 6 + 2ull * q->num, PAGE);      /* used */
    off = align_up(off + 6 + 8ull * q->num, PAGE);      /* meta */
    off = align_up(off + (uint64_t)SLOT_META * depth, PAGE);   /* data */
    *size = align_up(off + bs * depth, PAGE);
    q->slots = calloc(depth, sizeof(SlotInfo));
    return q;
}

static void queue_place(VuClientQueue *q)
{
    uint8_t *b = q->c->mem + q->base;
    uint64_t off;

    q->desc = (Desc *)b;
    off = 16ull * q->num;
    q->avail = (uint16_t *)(b + off);
    off = align_up(off + 6 + 2ull * q->num, PAGE);
    q->used = b + off;
    off = align_up(off + 6 + 8ull * q->num, PAGE);
    q->meta = b + off;
    off = align_up(off + (uint64_t)SLOT_META * q->depth, PAGE);
    q->data = b + off;
}

static int queue_start(VuClient *c, VuClientQueue *q)
{
    uint64_t uva = (uint64_t)(uintptr_t)c->mem;
    struct __attribute__((packed)) {
        uint32_t index, flags;
        uint64_t desc, used, avail, log;
    } addr = {
        q->idx, 0,
        uva + ((uint8_t *)q->desc - c->mem),
        uva + (q->used - c->mem),
        uva + ((uint8_t *)q->avail - c->mem),
        0,
    };
    uint64_t v;

    q->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    q->call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (set_state(c, SET_VRING_NUM, q->idx, q->num) < 0 ||
        set_state(c, SET_VRING_BASE, q->idx, 0) < 0 ||
        set_msg(c, SET_VRING_ADDR, &addr, sizeof(addr), NULL, 0) < 0) {
        return -1;
    }
    v = q->idx;
    if (set_msg(c, SET_VRING_CALL, &v, 8, &q->call_fd, 1) < 0 ||
        set_msg(c, SET_VRING_KICK, &v, 8, &q->kick_fd, 1) < 0) {
        return -1;
    }
    if ((c->features & (1ull << F_PROTOCOL_FEATURES)) &&
        set_state(c, SET_VRING_ENABLE, q->idx, 1) < 0) {
        return -1;
    }
    return 0;
}

VuClient *vu_client_connect(const char *path, unsigned nqueues, unsigned depth,
                            uint64_t bs)
{
    VuClient *c = calloc(1, sizeof(*c));
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    uint64_t offered, want, pf, qsize[VU_CLIENT_MAX_QUEUES], total = 0;
    struct __attribute__((packed)) {
        uint32_t nregions, padding;
        uint64_t gpa, size, uva, offset;
    } mt;

    c->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (connect(c->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        fprintf(stderr, "hotblock-bench: connect %s: %s\n", path, strerror(errno));
        goto fail;
    }
    if (get_u64(c, GET_FEATURES, &offered) < 0) {
        goto proto;
    }
    want = (1ull << F_VERSION_1) | (1ull << F_PROTOCOL_FEATURES) | (1ull << F_INDIRECT) |
           (1ull << F_EVENT_IDX) | (1ull << BLK_F_RO) | (1ull << BLK_F_BLK_SIZE) |
           (1ull << BLK_F_FLUSH) | (1ull << BLK_F_MQ) | (1ull << BLK_F_SEG_MAX) |
           (1ull << BLK_F_TOPOLOGY) | (1ull << BLK_F_CONFIG_WCE);
    if (getenv("HB_BENCH_NO_INDIRECT")) {
        want &= ~(1ull << F_INDIRECT);
    }
    if (getenv("HB_BENCH_NO_EVENT_IDX")) {
        want &= ~(1ull << F_EVENT_IDX);
    }
    c->features = offered & want;
    c->read_only = c->features & (1ull << BLK_F_RO);
    if (!(offered & (1ull << F_PROTOCOL_FEATURES)) || set_u64(c, SET_FEATURES, c->features) < 0 ||
        get_u64(c, GET_PROTOCOL_FEATURES, &pf) < 0) {
        goto proto;
    }
    c->protocol_features = 0;
    if (set_u64(c, SET_PROTOCOL_FEATURES,
                pf & ((1ull << PF_MQ) | (1ull << PF_REPLY_ACK) | (1ull << PF_CONFIG))) < 0) {
        goto proto;
    }
    c->protocol_features = pf & ((1ull << PF_MQ) | (1ull << PF_REPLY_ACK) | (1ull << PF_CONFIG));
    c->max_queues = 1;
    if (set_msg(c, SET_OWNER, NULL, 0, NULL, 0) < 0 ||
        ((pf & (1ull << PF_MQ)) && get_u64(c, GET_QUEUE_NUM, &offered) == 0 &&
         (c->max_queues = offered) == 0) ||
        !(pf & (1ull << PF_CONFIG)) || read_config(c) < 0) {
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
    mt = (typeof(mt)){ 1, 0, 0, total, (uint64_t)(uintptr_t)c->mem, 0 };
    if (set_msg(c, SET_MEM_TABLE, &mt, sizeof(mt), &c->memfd, 1) < 0) {
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
        free(q);
    }
    close(c->sock);
    if (c->mem && c->mem != MAP_FAILED) {
        munmap(c->mem, c->mem_size);
    }
    close(c->memfd);
    free(c);
}

uint8_t *vu_client_slot_data(VuClientQueue *q, unsigned slot)
{
    return q->data + slot * q->bs;
}

void vu_client_submit(VuClientQueue *q, unsigned slot, int type, uint64_t offset,
                      uint64_t len, uint64_t cookie)
{
    uint8_t *meta = q->meta + (uint64_t)slot * SLOT_META;
    uint64_t meta_gpa = q->base + (meta - (q->c->mem + q->base));
    Desc *ind = (Desc *)meta;                /* 3 descriptors: 48 bytes */
    uint8_t *hdr = meta + 64;
    uint8_t *status = meta + 80;
    uint64_t data_gpa = q->base + (vu_client_slot_data(q, slot) - (q->c->mem + q->base));
    uint32_t t = htole32(type), zero = 0;
    uint64_t sector = htole64(offset / 512);
    Desc chain[3];
    unsigned n = 0;
    uint16_t head;

    memcpy(hdr, &t, 4);
    memcpy(hdr + 4, &zero, 4);
    memcpy(hdr + 8, &sector, 8);
    *status = 0xff;
    chain[n++] = (Desc){ htole64(meta_gpa + 64), htole32(16), htole16(DESC_NEXT), 0 };
    if (len) {
        chain[n++] = (Desc){ htole64(data_gpa), htole32(len),
                             htole16(DESC_NEXT | (type == VU_REQ_WRITE ? 0 : DESC_WRITE)), 0 };
    }
    chain[n++] = (Desc){ htole64(meta_gpa + 80), htole32(1), htole16(DESC_WRITE), 0 };
    if (q->indirect) {
        for (unsigned i = 0; i < n; i++) {
            chain[i].next = htole16(i + 1);
            ind[i] = chain[i];
        }
        q->desc[slot] = (Desc){ htole64(meta_gpa), htole32(n * sizeof(Desc)),
                                htole16(DESC_INDIRECT), 0 };
        head = slot;
    } else {
        head = slot * 3;
        for (unsigned i = 0; i < n; i++) {
            chain[i].next = htole16(head + i + 1);
            q->desc[head + i] = chain[i];
        }
    }
    q->slots[slot] = (SlotInfo){ type, offset, cookie };
    q->avail[2 + (q->avail_idx & (q->num - 1))] = htole16(head);
    q->avail_idx++;
}

void vu_client_kick(VuClientQueue *q)
{
    uint16_t old = q->kicked_idx, new = q->avail_idx;
    bool kick;

    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_store_n(&q->avail[1], htole16(new), __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    q->kicked_idx = new;
    if (old == new) {
        return;
    }
    if (q->event_idx) {
        uint16_t ev;
        memcpy(&ev, q->used + 4 + 8ull * q->num, 2);
        ev = le16toh(ev);
        kick = (uint16_t)(new - ev - 1) < (uint16_t)(new - old);
    } else {
        uint16_t fl;
        memcpy(&fl, q->used, 2);
        kick = !(le16toh(fl) & 1);
    }
    if (kick) {
        eventfd_write(q->kick_fd, 1);
    }
}

static int harvest(VuClientQueue *q, VuCompletion *out, int max)
{
    uint16_t used_idx = le16toh(__atomic_load_n((uint16_t *)(q->used + 2), __ATOMIC_ACQUIRE));
    int n = 0;

    while (q->last_used != used_idx && n < max) {
        uint32_t id;
        unsigned slot;
        memcpy(&id, q->used + 4 + 8ull * (q->last_used & (q->num - 1)), 4);
        id = le32toh(id);
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
        n++;
        q->last_used++;
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
            __atomic_store_n(&q->avail[2 + q->num], ev, __ATOMIC_RELAXED);
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
    return sync_req(q, VU_REQ_FLUSH, 0);
}

int vu_client_get_id(VuClientQueue *q, char serial[21])
{
    int st = sync_req(q, VU_REQ_GET_ID, 20);

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
    Desc *ind = (Desc *)meta;
    uint32_t t = htole32(VU_REQ_READ);
    uint64_t sector = 0;
    uint16_t head = 0;
    VuCompletion cpl;
    int n;

    /* a plausible read of sector 0 in descriptors 0..2, then spoil it */
    q->desc[0] = (Desc){ htole64(meta_gpa + 64), htole32(16), htole16(DESC_NEXT), htole16(1) };
    q->desc[1] = (Desc){ htole64(data_gpa), htole32(512), htole16(DESC_NEXT | DESC_WRITE),
                         htole16(2) };
    q->desc[2] = (Desc){ htole64(meta_gpa + 80), htole32(1), htole16(DESC_WRITE), 0 };
    if (!strcmp(kind, "loop")) {
        q->desc[2].flags = htole16(DESC_WRITE | DESC_NEXT);
        q->desc[2].next = 0;
    } else if (!strcmp(kind, "oob-addr")) {
        q->desc[1].addr = htole64(q->c->mem_size + 4096);
    } else if (!strcmp(kind, "wrap-addr")) {
        q->desc[1].addr = htole64(UINT64_MAX - 100);
    } else if (!strcmp(kind, "nested-indirect")) {
        ind[0] = (Desc){ htole64(meta_gpa), htole32(48), htole16(DESC_INDIRECT), 0 };
        q->desc[0] = (Desc){ htole64(meta_gpa), htole32(48), htole16(DESC_INDIRECT), 0 };
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
    q->avail[2 + (q->avail_idx & (q->num - 1))] = htole16(head);
    q->avail_idx += strcmp(kind, "avail-jump") ? 1 : q->num + 10;
    q->slots[0] = (SlotInfo){ VU_REQ_READ, 0, 0 };
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

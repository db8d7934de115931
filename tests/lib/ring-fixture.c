/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/lib/ring-fixture.c — guest memory, split rings and a memory disk (synchronous or asynchronous) for unit tests and fuzzers. */
#include "tests/lib/ring-fixture.h"

#include <errno.h>
#include <poll.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int hbt_guest_mem_add(HbGuestMem *mem, uint8_t *host, uint64_t size, uint64_t gpa,
                      uint64_t uva)
{
    HbGuestMemRegion r = { .gpa = gpa, .size = size, .uva = uva, .host = host };

    return hb_guest_mem_add(mem, &r);
}

bool hbt_elem_in_guest_mem(const HbGuestMem *mem, const HbVirtqElem *e)
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
            return false;
        }
    }
    return true;
}

void hbt_ring_packed(HbtRing *r, uint8_t *ram, uint64_t gpa, uint64_t uva, unsigned num)
{
    uint64_t avail_off = hb_virtq_desc_size(num);

    *r = (HbtRing){
        .ram = ram, .gpa = gpa, .uva = uva, .num = num,
        .desc_off = 0,
        .avail_off = avail_off,
        .used_off = (avail_off + hb_virtq_avail_size(num) + 3) & ~3ull,
    };
}

int hbt_ring_start(const HbtRing *r, const HbGuestMem *mem, HbVirtq *vq, uint16_t base)
{
    void *desc = hb_guest_mem_uva_to_ptr(mem, r->uva + r->desc_off,
                                         hb_virtq_desc_size(r->num));
    void *avail = hb_guest_mem_uva_to_ptr(mem, r->uva + r->avail_off,
                                          hb_virtq_avail_size(r->num));
    void *used = hb_guest_mem_uva_to_ptr(mem, r->uva + r->used_off,
                                         hb_virtq_used_size(r->num));

    if (!desc || !avail || !used) {
        return -EFAULT;
    }
    return hb_virtq_init(vq, mem, r->num, desc, avail, used, base);
}

HbVringDesc *hbt_ring_desc(const HbtRing *r, unsigned i)
{
    return (HbVringDesc *)(r->ram + r->desc_off) + i;
}

HbVringAvail *hbt_ring_avail(const HbtRing *r)
{
    return (HbVringAvail *)(r->ram + r->avail_off);
}

HbVringUsed *hbt_ring_used(const HbtRing *r)
{
    return (HbVringUsed *)(r->ram + r->used_off);
}

void hbt_ring_make_avail(const HbtRing *r, uint16_t head)
{
    HbVringAvail *a = hbt_ring_avail(r);

    a->ring[a->idx % r->num] = head;
    __atomic_store_n(&a->idx, a->idx + 1, __ATOMIC_RELEASE);
}

void hbt_desc_set(HbVringDesc *d, uint64_t gpa, uint32_t len, uint16_t flags, uint16_t next)
{
    d->addr = gpa;
    d->len = len;
    d->flags = flags;
    d->next = next;
}

void hbt_ring_set_desc(const HbtRing *r, unsigned i, uint64_t gpa, uint32_t len,
                       uint16_t flags, uint16_t next)
{
    hbt_desc_set(hbt_ring_desc(r, i), gpa, len, flags, next);
}

/* ---- the memory disk ---- */

static void check_range(const HbtMemDisk *d, uint64_t off, uint64_t bytes)
{
    if (off > d->size || bytes > d->size - off) {
        fprintf(stderr, "request outside the disk: %llu+%llu\n",
                (unsigned long long)off, (unsigned long long)bytes);
        abort();
    }
}

static void check_iov(uint64_t bytes, const struct iovec *iov, int niov)
{
    uint64_t total = 0;

    for (int i = 0; i < niov; i++) {
        total += iov[i].iov_len;
    }
    if (total != bytes) {
        fprintf(stderr, "iovecs of %llu bytes for a request of %llu\n",
                (unsigned long long)total, (unsigned long long)bytes);
        abort();
    }
}

static int md_preadv(void *opaque, uint64_t off, uint64_t bytes, const struct iovec *iov,
                     int niov)
{
    HbtMemDisk *d = opaque;

    check_range(d, off, bytes);
    check_iov(bytes, iov, niov);
    for (int i = 0; i < niov; i++) {
        memcpy(iov[i].iov_base, d->data + off, iov[i].iov_len);
        off += iov[i].iov_len;
    }
    return 0;
}

static int md_pwritev(void *opaque, uint64_t off, uint64_t bytes, const struct iovec *iov,
                      int niov, unsigned flags)
{
    HbtMemDisk *d = opaque;

    check_range(d, off, bytes);
    check_iov(bytes, iov, niov);
    for (int i = 0; i < niov; i++) {
        memcpy(d->data + off, iov[i].iov_base, iov[i].iov_len);
        off += iov[i].iov_len;
    }
    return 0;
}

static int md_flush(void *opaque)
{
    return 0;
}

static int md_pdiscard(void *opaque, uint64_t off, uint64_t bytes)
{
    check_range(opaque, off, bytes);
    return 0;
}

static int md_pwrite_zeroes(void *opaque, uint64_t off, uint64_t bytes, unsigned flags)
{
    HbtMemDisk *d = opaque;

    check_range(d, off, bytes);
    memset(d->data + off, 0, bytes);
    return 0;
}

HbVirtioBlkBackend hbt_mem_disk_backend(HbtMemDisk *d)
{
    return (HbVirtioBlkBackend){
        .opaque = d,
        .preadv = md_preadv,
        .pwritev = md_pwritev,
        .flush = md_flush,
        .pdiscard = md_pdiscard,
        .pwrite_zeroes = md_pwrite_zeroes,
    };
}

/* ---- the asynchronous memory disk ---- */

/* What a held request keeps in its HbVirtioBlkIo.priv. */
struct HbtAsyncIo {
    HbVirtioBlkIo *io;
    HbtAsyncIo *next;
    int ret;            /* decided at submission: 0 or -EIO */
    bool moved;         /* the data went already (copy_at_submit) */
};

/*
 * Per-request choices (inline, failing) are a hash of the seed and the
 * submission number, not draws from q->seed: offload workers submit too,
 * and the generator's state belongs to the owner thread.
 */
static uint32_t async_hash(uint32_t seed, uint32_t seq, uint32_t salt)
{
    uint32_t x = seed ^ (seq * 0x9e3779b9u) ^ (salt * 0x85ebca6bu);

    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

/* xorshift32 over q->seed: the completion order (owner thread only). */
static uint32_t async_rand(HbtAsyncQueue *q)
{
    uint32_t x = q->seed ? q->seed : 1;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    q->seed = x;
    return x;
}

/* Move @a's data between the guest's buffers and the disk. */
static void async_transfer(HbtAsyncQueue *q, HbtAsyncIo *a)
{
    HbVirtioBlkIo *io = a->io;

    a->moved = true;
    if (a->ret < 0) {
        return;         /* a failed request moves nothing */
    }
    switch (io->op) {
    case HB_VIRTIO_BLK_IO_READ:
        md_preadv(q->disk, io->offset, io->bytes, io->iov, io->niov);
        break;
    case HB_VIRTIO_BLK_IO_WRITE:
        md_pwritev(q->disk, io->offset, io->bytes, io->iov, io->niov, io->flags);
        break;
    case HB_VIRTIO_BLK_IO_FLUSH:
        return;
    case HB_VIRTIO_BLK_IO_DISCARD:
        md_pdiscard(q->disk, io->offset, io->bytes);
        return;
    case HB_VIRTIO_BLK_IO_WRITE_ZEROES:
        md_pwrite_zeroes(q->disk, io->offset, io->bytes, io->flags);
        return;
    default:
        fprintf(stderr, "unknown asynchronous operation %u\n", io->op);
        abort();
    }
    if (q->copy_cost_us) {
        g_usleep(q->copy_cost_us);
    }
}

/* Finish @a: its data (unless moved at submission), then its status. */
static void async_complete(HbtAsyncQueue *q, HbtAsyncIo *a)
{
    if (!a->moved) {
        async_transfer(q, a);
    }
    if (a->ret < 0) {
        __atomic_fetch_add(&q->failed, 1, __ATOMIC_RELAXED);
    }
    __atomic_fetch_add(&q->completed, 1, __ATOMIC_RELAXED);
    /* Last: the request's owner may reuse @a's memory from here on. */
    hb_virtio_blk_io_done(a->io, a->ret);
}

static void async_submit(void *opaque, HbVirtioBlkIo *io)
{
    HbtAsyncQueue *q = opaque;
    HbtAsyncIo *a = io->priv;
    uint32_t seq = __atomic_fetch_add(&q->submitted, 1, __ATOMIC_RELAXED);
    bool fail;

    *a = (HbtAsyncIo){ .io = io };
    if (q->fail_one_in) {
        fail = q->fail_seq ? seq % q->fail_one_in == q->fail_one_in - 1 :
                             async_hash(q->seed, seq, 1) % q->fail_one_in == 0;
        a->ret = fail ? -EIO : 0;
    }
    /* An offload worker: no completion context there, so inline. */
    if ((void *)g_thread_self() != q->owner) {
        __atomic_fetch_add(&q->offthread, 1, __ATOMIC_RELAXED);
        async_complete(q, a);
        return;
    }
    if (q->submit_delay_us) {
        g_usleep(q->submit_delay_us);
    }
    if (q->inline_one_in && async_hash(q->seed, seq, 2) % q->inline_one_in == 0) {
        async_complete(q, a);
        return;
    }
    if (q->copy_at_submit) {
        async_transfer(q, a);
    }
    if (!q->head) {
        q->head = a;
        /* The device was idle: it starts on this one now. */
        q->next_ready_ns = g_get_monotonic_time() * 1000 + q->service_us * 1000ll;
    } else {
        q->tail->next = a;
    }
    q->tail = a;
    if (++q->queued > q->max_queued) {
        q->max_queued = q->queued;
    }
}

/* Unlink and return the held request the completion order picks. */
static HbtAsyncIo *async_take(HbtAsyncQueue *q)
{
    unsigned k = 0;
    HbtAsyncIo **pp = &q->head, *a, *prev = NULL;

    if (q->order == HBT_ASYNC_LIFO) {
        k = q->queued - 1;
    } else if (q->order == HBT_ASYNC_RANDOM) {
        k = async_rand(q) % q->queued;
    }
    for (unsigned i = 0; i < k; i++) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    a = *pp;
    *pp = a->next;
    if (q->tail == a) {
        q->tail = prev;
    }
    q->queued--;
    return a;
}

static void async_poll(void *opaque, int64_t wait_us)
{
    HbtAsyncQueue *q = opaque;
    unsigned n = 0;

    if ((void *)g_thread_self() != q->owner) {
        fprintf(stderr, "asynchronous memory disk polled off its thread\n");
        abort();
    }
    if (!q->head) {
        return;
    }
    if (!wait_us && q->idle_left) {
        q->idle_left--;
        return;
    }
    /* May wait: then it completes one at least, however long it takes. */
    if (wait_us && q->service_us) {
        int64_t left = q->next_ready_ns - g_get_monotonic_time() * 1000;

        if (left > 0) {
            g_usleep((gulong)((left + 999) / 1000));
        }
    }
    while (q->head && (!q->per_poll || n < q->per_poll)) {
        HbtAsyncIo *a;

        if (q->service_us && g_get_monotonic_time() * 1000 < q->next_ready_ns) {
            break;
        }
        a = async_take(q);
        q->next_ready_ns = g_get_monotonic_time() * 1000 + q->service_us * 1000ll;
        n++;
        async_complete(q, a);
    }
    if (n) {
        q->idle_left = q->idle_polls;
    }
}

/*
 * async_poll(), but a sleep (@wait_us, a device not ready yet) also ends
 * when @fd becomes readable, with nothing completed: as the daemon's
 * backend sleeps on its completion context and a ring's kick together.
 */
static bool async_poll_or_fd(void *opaque, int64_t wait_us, int fd)
{
    HbtAsyncQueue *q = opaque;
    struct pollfd pfd = { .fd = fd, .events = POLLIN };

    q->polls_or_fd++;
    if (wait_us && q->head && q->service_us) {
        int64_t left_ns = q->next_ready_ns - g_get_monotonic_time() * 1000;
        struct timespec ts = { 0, 0 };

        if (left_ns > 0) {
            ts.tv_sec = left_ns / 1000000000;
            ts.tv_nsec = left_ns % 1000000000;
        }
        if (ppoll(&pfd, 1, &ts, NULL) > 0) {
            return true;
        }
    }
    async_poll(opaque, wait_us);
    return poll(&pfd, 1, 0) > 0;
}

HbVirtioBlkBackend hbt_mem_disk_async_backend(HbtMemDisk *d, HbtAsyncQueue *q)
{
    q->disk = d;
    q->owner = g_thread_self();
    return (HbVirtioBlkBackend){
        .opaque = q,
        .submit = async_submit,
        .poll = async_poll,
        .poll_or_fd = async_poll_or_fd,
        .io_priv_size = sizeof(HbtAsyncIo),
    };
}

void hbt_async_queue_fuzz(HbtAsyncQueue *q, uint32_t bits)
{
    /* Four of the 16 combinations of the low bits fail or inline nothing. */
    static const unsigned one_in[4] = { 0, 0, 2, 5 };

    *q = (HbtAsyncQueue){
        .order = (bits & 3) % 3,
        .per_poll = (bits >> 2) & 3,
        .idle_polls = (bits >> 4) & 3,
        .inline_one_in = one_in[(bits >> 6) & 3],
        .fail_one_in = one_in[(bits >> 8) & 3],
        .copy_at_submit = (bits >> 10) & 1,
        .seed = bits >> 11 | 1,
    };
}

uint32_t hbt_fnv1a(const uint8_t *data, size_t len)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < len; i++) {
        h = (h ^ data[i]) * 16777619u;
    }
    return h;
}

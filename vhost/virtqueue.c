/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhost/virtqueue.c — split-ring pop/push with every guest address bounds-checked. */
#include "vhost/virtqueue.h"

#include <errno.h>
#include <stddef.h>
#include <endian.h>
#include <string.h>

/* Guest-shared fields are read exactly once, through these. */
static inline uint16_t rd16(const uint16_t *p)
{
    return le16toh(__atomic_load_n(p, __ATOMIC_RELAXED));
}

static inline void wr16(uint16_t *p, uint16_t v)
{
    __atomic_store_n(p, htole16(v), __ATOMIC_RELAXED);
}

uint64_t hb_virtq_desc_size(unsigned num)
{
    return (uint64_t)num * sizeof(HbVringDesc);
}

uint64_t hb_virtq_avail_size(unsigned num)
{
    return 4 + 2 * (uint64_t)num + 2;     /* flags, idx, ring, used_event */
}

uint64_t hb_virtq_used_size(unsigned num)
{
    return 4 + 8 * (uint64_t)num + 2;     /* flags, idx, ring, avail_event */
}

uint64_t hb_virtq_inflight_size(unsigned num)
{
    /* header + one state per descriptor, rounded to a cache line */
    return (sizeof(HbInflightRegion) + (uint64_t)num * sizeof(HbInflightDesc) + 63) & ~63ull;
}

int hb_virtq_init(HbVirtq *vq, const HbGuestMem *mem, unsigned num,
                  void *desc, void *avail, void *used, uint16_t base)
{
    if (num == 0 || num > HB_VIRTQ_MAX_SIZE || (num & (num - 1))) {
        return -EINVAL;
    }
    /* Negotiated flags and inflight state (resubmit list included: a memory
     * table change may remap a ring that still has heads to resubmit) stay. */
    vq->signalled_used = 0;
    vq->signalled_used_valid = false;
    vq->mem = mem;
    vq->num = num;
    vq->desc = desc;
    vq->avail = avail;
    vq->used = used;
    vq->last_avail_idx = base;
    vq->used_idx = base;
    return 0;
}

int hb_virtq_pending(HbVirtq *vq)
{
    uint16_t n = rd16(&vq->avail->idx) - vq->last_avail_idx;

    /* The driver can never be more than a ring ahead of us. */
    if (n > vq->num) {
        return -EINVAL;
    }
    return n;
}

static inline uint16_t *used_event(HbVirtq *vq)
{
    return &vq->avail->ring[vq->num];
}

static inline uint16_t *avail_event(HbVirtq *vq)
{
    return (uint16_t *)&vq->used->ring[vq->num];
}

/* Copy descriptor @i of @table (guest memory) into @d. */
static inline void read_desc(HbVringDesc *d, const HbVringDesc *table, unsigned i)
{
    HbVringDesc tmp;

    memcpy(&tmp, &table[i], sizeof(tmp));
    __atomic_signal_fence(__ATOMIC_SEQ_CST);   /* use the copy, never re-read */
    d->addr = le64toh(tmp.addr);
    d->len = le32toh(tmp.len);
    d->flags = le16toh(tmp.flags);
    d->next = le16toh(tmp.next);
}

static int add_buffer(HbVirtq *vq, HbVirtqElem *elem, const HbVringDesc *d)
{
    unsigned n = elem->out_num + elem->in_num;
    int ret;

    if (d->flags & HB_VRING_DESC_F_WRITE) {
        ret = hb_guest_mem_gpa_to_iov(vq->mem, d->addr, d->len, elem->iov, &n,
                                      HB_VIRTQ_MAX_IOV);
        if (ret < 0) {
            return ret;
        }
        elem->in_num = n - elem->out_num;
        elem->in_len += d->len;
    } else {
        /* Readable after writable is forbidden by the virtio spec. */
        if (elem->in_num) {
            return -EINVAL;
        }
        ret = hb_guest_mem_gpa_to_iov(vq->mem, d->addr, d->len, elem->iov, &n,
                                      HB_VIRTQ_MAX_IOV);
        if (ret < 0) {
            return ret;
        }
        elem->out_num = n;
        elem->out_len += d->len;
    }
    return 0;
}

/* Walk the chain starting at @head into @elem. */
static int read_chain(HbVirtq *vq, uint16_t head, HbVirtqElem *elem)
{
    const HbVringDesc *table = vq->desc;
    unsigned table_num = vq->num;
    unsigned i = head, seen = 0;
    bool in_indirect = false;
    HbVringDesc d;
    int ret;

    elem->head = head;
    elem->out_num = elem->in_num = 0;
    elem->out_len = elem->in_len = 0;

    for (;;) {
        read_desc(&d, table, i);

        if (d.flags & HB_VRING_DESC_F_INDIRECT) {
            if (!vq->indirect || in_indirect || (d.flags & HB_VRING_DESC_F_NEXT) ||
                d.len == 0 || d.len % sizeof(HbVringDesc) ||
                d.len / sizeof(HbVringDesc) > HB_VIRTQ_MAX_SIZE) {
                return -EINVAL;
            }
            /* An indirect descriptor may only be the head of a chain. */
            if (seen) {
                return -EINVAL;
            }
            table = hb_guest_mem_gpa_to_ptr(vq->mem, d.addr, d.len);
            if (!table) {
                return -EFAULT;
            }
            table_num = d.len / sizeof(HbVringDesc);
            in_indirect = true;
            i = 0;
            seen = 0;
            continue;
        }

        /* A chain visiting more descriptors than its table has is a loop. */
        if (++seen > table_num) {
            return -ELOOP;
        }
        ret = add_buffer(vq, elem, &d);
        if (ret < 0) {
            return ret;
        }
        if (!(d.flags & HB_VRING_DESC_F_NEXT)) {
            return 0;
        }
        i = d.next;
        if (i >= table_num) {
            return -EINVAL;
        }
    }
}

int hb_virtq_inflight_recover(HbVirtq *vq)
{
    HbInflightRegion *r = vq->inflight;
    uint16_t used_idx = rd16(&vq->used->idx);
    unsigned n = 0;

    if (!r) {
        return 0;
    }
    if (r->version == 0 || r->desc_num == 0) {
        /* fresh region: nothing to recover */
        memset(r->desc, 0, vq->num * sizeof(HbInflightDesc));
        r->version = 1;
        r->desc_num = vq->num;
        r->used_idx = used_idx;
        vq->counter = 1;
        return 0;
    }
    if (r->desc_num != vq->num) {
        return -EINVAL;
    }
    /* The used ring moved past what the region recorded: the last batch
     * was completed, only its inflight flag was not cleared.  The front-end
     * can rewrite the region at any time: read the head once. */
    if (r->used_idx != used_idx) {
        uint16_t last = __atomic_load_n(&r->last_batch_head, __ATOMIC_RELAXED);
        if (last < vq->num) {
            r->desc[last].inflight = 0;
        }
        r->used_idx = used_idx;
    }
    vq->counter = 1;
    for (unsigned i = 0; i < vq->num; i++) {
        if (r->desc[i].inflight) {
            vq->resubmit[n++] = i;
            if (r->desc[i].counter >= vq->counter) {
                vq->counter = r->desc[i].counter + 1;
            }
        }
    }
    /* oldest first: insertion sort, n is small and bounded by num */
    for (unsigned i = 1; i < n; i++) {
        uint16_t h = vq->resubmit[i];
        unsigned j = i;
        while (j > 0 && r->desc[vq->resubmit[j - 1]].counter > r->desc[h].counter) {
            vq->resubmit[j] = vq->resubmit[j - 1];
            j--;
        }
        vq->resubmit[j] = h;
    }
    vq->nresubmit = n;
    vq->resubmit_pos = 0;
    vq->used_idx = used_idx;
    /* those heads were popped already: the avail ring resumes after them */
    vq->last_avail_idx = used_idx + n;
    return 0;
}

int hb_virtq_peek(HbVirtq *vq, HbVirtqElem *elem)
{
    int pending;
    uint16_t head;

    if (vq->resubmit_pos < vq->nresubmit) {
        if (vq->resubmit[vq->resubmit_pos] >= vq->num) {
            return -EINVAL;
        }
        int ret = read_chain(vq, vq->resubmit[vq->resubmit_pos], elem);
        return ret < 0 ? ret : 1;
    }
    pending = hb_virtq_pending(vq);
    if (pending <= 0) {
        return pending;
    }
    /* Read the ring entry only after seeing the index that covers it. */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    head = rd16(&vq->avail->ring[vq->last_avail_idx & (vq->num - 1)]);
    if (head >= vq->num) {
        return -EINVAL;
    }
    int ret = read_chain(vq, head, elem);
    return ret < 0 ? ret : 1;
}

void hb_virtq_take(HbVirtq *vq, const HbVirtqElem *elem)
{
    if (vq->resubmit_pos < vq->nresubmit) {
        vq->resubmit_pos++;     /* already marked in flight before the reconnect */
    } else {
        if (vq->inflight) {
            vq->inflight->desc[elem->head].counter = vq->counter++;
            __atomic_store_n(&vq->inflight->desc[elem->head].inflight, 1, __ATOMIC_RELEASE);
        }
        vq->last_avail_idx++;
    }
    vq->inuse++;
}

int hb_virtq_pop(HbVirtq *vq, HbVirtqElem *elem)
{
    int ret = hb_virtq_peek(vq, elem);

    if (ret > 0) {
        hb_virtq_take(vq, elem);
    }
    return ret;
}

/* Mark @len bytes at offset @off of the used ring, if the ring is logged. */
static inline void log_used(HbVirtq *vq, uint64_t off, uint64_t len)
{
    if (__builtin_expect(vq->log && vq->log_used, 0)) {
        hb_dirty_log_mark(vq->log, vq->log_used_gpa + off, len);
    }
}

void hb_virtq_log_ptr(HbVirtq *vq, const void *p, uint64_t len)
{
    uint64_t gpa;

    if (vq->log && hb_guest_mem_ptr_to_gpa(vq->mem, p, &gpa)) {
        hb_dirty_log_mark(vq->log, gpa, len);
    }
}

void hb_virtq_log_request(HbVirtq *vq, const HbVirtqElem *elem)
{
    if (!vq->log) {
        return;
    }
    /* Every iovec came from one region (gpa_to_iov splits at edges). */
    for (unsigned i = elem->out_num; i < elem->out_num + elem->in_num; i++) {
        hb_virtq_log_ptr(vq, elem->iov[i].iov_base, elem->iov[i].iov_len);
    }
}

void hb_virtq_push(HbVirtq *vq, uint16_t head, uint32_t len)
{
    unsigned slot = vq->used_idx & (vq->num - 1);
    HbVringUsedElem *u = &vq->used->ring[slot];

    if (vq->inflight) {
        vq->inflight->last_batch_head = head;    /* pre-commit */
    }
    __atomic_store_n(&u->id, htole32(head), __ATOMIC_RELAXED);
    __atomic_store_n(&u->len, htole32(len), __ATOMIC_RELAXED);
    log_used(vq, offsetof(HbVringUsed, ring) + slot * sizeof(*u), sizeof(*u));
    /* The element must be visible before the index that publishes it. */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    vq->used_idx++;
    wr16(&vq->used->idx, vq->used_idx);
    log_used(vq, offsetof(HbVringUsed, idx), sizeof(uint16_t));
    if (vq->inflight) {
        /* post-commit: the used ring has it, the region may forget it */
        __atomic_store_n(&vq->inflight->desc[head].inflight, 0, __ATOMIC_RELEASE);
        vq->inflight->used_idx = vq->used_idx;
    }
    if (vq->inuse) {
        vq->inuse--;
    }
}

bool hb_virtq_should_notify(HbVirtq *vq)
{
    uint16_t old, new;
    bool valid;

    /* Our used->idx store must be ordered before reading the driver's flags. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!vq->event_idx) {
        return !(rd16(&vq->avail->flags) & HB_VRING_AVAIL_F_NO_INTERRUPT);
    }
    old = vq->signalled_used;
    valid = vq->signalled_used_valid;
    new = vq->signalled_used = vq->used_idx;
    vq->signalled_used_valid = true;
    if (!valid) {
        return true;
    }
    /* vring_need_event(): did used_idx step over used_event since old? */
    return (uint16_t)(new - rd16(used_event(vq)) - 1) < (uint16_t)(new - old);
}

void hb_virtq_suppress_notify(HbVirtq *vq)
{
    if (!vq->event_idx) {
        return;                 /* the flag stays clear: kicks are read later */
    }
    /*
     * An avail_event the driver has already passed: vring_need_event()
     * holds only once its index moves 65535 entries on, so no kick comes
     * (one spurious kick then is harmless).
     */
    wr16(avail_event(vq), (uint16_t)(vq->last_avail_idx - 1));
    log_used(vq, offsetof(HbVringUsed, ring) + vq->num * sizeof(HbVringUsedElem),
             sizeof(uint16_t));
}

bool hb_virtq_enable_notify(HbVirtq *vq)
{
    if (vq->event_idx) {
        wr16(avail_event(vq), vq->last_avail_idx);
        log_used(vq, offsetof(HbVringUsed, ring) + vq->num * sizeof(HbVringUsedElem),
                 sizeof(uint16_t));
    } else {
        wr16(&vq->used->flags, 0);
        log_used(vq, offsetof(HbVringUsed, flags), sizeof(uint16_t));
    }
    /* Publish the request for a kick before looking at the ring again. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return hb_virtq_pending(vq) != 0;
}

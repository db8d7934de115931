/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/lib/ring-fixture.c — guest memory, split rings and a memory disk for unit tests and fuzzers. */
#include "tests/lib/ring-fixture.h"

#include <errno.h>
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

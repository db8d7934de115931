/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhost/guest-mem.c — the vhost-user memory table: mapping and bounds-checked translation. */
#include "vhost/guest-mem.h"
#include "vhost/mem-guard.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

/* [a, a+alen) and [b, b+blen) intersect; lengths are non-zero and do not wrap. */
static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

int hb_guest_mem_map_region(HbGuestMemRegion *r, int fd, int *fault_flag)
{
    uint64_t end;
    struct stat st;
    void *p;

    if (r->size == 0 || r->size > SIZE_MAX ||
        __builtin_add_overflow(r->mmap_offset, r->size, &end) ||
        __builtin_add_overflow(r->gpa, r->size - 1, &end) ||
        __builtin_add_overflow(r->uva, r->size - 1, &end)) {
        return -EINVAL;
    }
    /* The front-end's mapping may start mid-fd: map from offset 0 so that
     * mmap's page alignment rules are met regardless of mmap_offset. */
    if (__builtin_add_overflow(r->mmap_offset, r->size, &end) || end > SIZE_MAX) {
        return -EINVAL;
    }
    /*
     * Touching a mapping beyond the end of its file raises SIGBUS: refuse
     * regions the fd cannot back.  A front-end that shrinks the file later
     * is caught by the guard.
     */
    if (fstat(fd, &st) < 0 || (S_ISREG(st.st_mode) && (uint64_t)st.st_size < end)) {
        return -EINVAL;
    }
    p = mmap(NULL, end, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (p == MAP_FAILED) {
        return -errno;
    }
    if (hb_mem_guard_add(p, end, fault_flag) < 0) {
        munmap(p, end);
        return -ENOSPC;
    }
    r->mmap_addr = p;
    r->mmap_size = end;
    r->host = (uint8_t *)p + r->mmap_offset;
    return 0;
}

int hb_guest_mem_add(HbGuestMem *mem, const HbGuestMemRegion *r)
{
    if (mem->nregions >= HB_GUEST_MEM_MAX_REGIONS) {
        return -ENOSPC;
    }
    for (unsigned i = 0; i < mem->nregions; i++) {
        const HbGuestMemRegion *o = &mem->regions[i];
        if (ranges_overlap(o->gpa, o->size, r->gpa, r->size) ||
            ranges_overlap(o->uva, o->size, r->uva, r->size)) {
            return -EINVAL;
        }
    }
    mem->regions[mem->nregions++] = *r;
    return 0;
}

void hb_guest_mem_unmap_region(HbGuestMemRegion *r)
{
    if (r->mmap_addr) {
        hb_mem_guard_remove(r->mmap_addr);
        munmap(r->mmap_addr, r->mmap_size);
    }
    memset(r, 0, sizeof(*r));
}

int hb_guest_mem_remove(HbGuestMem *mem, uint64_t gpa, uint64_t size,
                        uint64_t uva)
{
    for (unsigned i = 0; i < mem->nregions; i++) {
        HbGuestMemRegion *r = &mem->regions[i];
        if (r->gpa == gpa && r->size == size && r->uva == uva) {
            hb_guest_mem_unmap_region(r);
            mem->regions[i] = mem->regions[--mem->nregions];
            memset(&mem->regions[mem->nregions], 0, sizeof(*r));
            return 0;
        }
    }
    return -ENOENT;
}

void hb_guest_mem_clear(HbGuestMem *mem)
{
    for (unsigned i = 0; i < mem->nregions; i++) {
        hb_guest_mem_unmap_region(&mem->regions[i]);
    }
    mem->nregions = 0;
}

static const HbGuestMemRegion *find_gpa(const HbGuestMem *mem, uint64_t gpa)
{
    for (unsigned i = 0; i < mem->nregions; i++) {
        const HbGuestMemRegion *r = &mem->regions[i];
        if (gpa >= r->gpa && gpa - r->gpa < r->size) {
            return r;
        }
    }
    return NULL;
}

int hb_guest_mem_gpa_to_iov(const HbGuestMem *mem, uint64_t gpa, uint64_t len,
                            struct iovec *iov, unsigned *niov,
                            unsigned max_iov)
{
    while (len > 0) {
        const HbGuestMemRegion *r = find_gpa(mem, gpa);
        uint64_t off, chunk;

        if (!r) {
            return -EFAULT;
        }
        if (*niov >= max_iov) {
            return -ENOBUFS;
        }
        off = gpa - r->gpa;
        chunk = r->size - off;
        if (chunk > len) {
            chunk = len;
        }
        iov[*niov].iov_base = r->host + off;
        iov[*niov].iov_len = chunk;
        (*niov)++;
        len -= chunk;
        gpa += chunk;   /* cannot wrap: the region did not */
    }
    return 0;
}

void *hb_guest_mem_gpa_to_ptr(const HbGuestMem *mem, uint64_t gpa, uint64_t len)
{
    const HbGuestMemRegion *r = find_gpa(mem, gpa);

    if (!r || len > r->size - (gpa - r->gpa)) {
        return NULL;
    }
    return r->host + (gpa - r->gpa);
}

void *hb_guest_mem_uva_to_ptr(const HbGuestMem *mem, uint64_t uva, uint64_t len)
{
    for (unsigned i = 0; i < mem->nregions; i++) {
        const HbGuestMemRegion *r = &mem->regions[i];
        if (uva >= r->uva && uva - r->uva < r->size) {
            if (len > r->size - (uva - r->uva)) {
                return NULL;
            }
            return r->host + (uva - r->uva);
        }
    }
    return NULL;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhost/guest-mem.c — the vhost-user memory table: mapping and bounds-checked translation. */
#include "vhost/guest-mem.h"
#include "vhost/mem-guard.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Address space is shared by every export: a front-end could map sparse
 * files of terabytes until no other front-end can map its guest.  Mappings
 * are therefore counted, per connection (HB_GUEST_MEM_MAX_BYTES, above any
 * real guest) and for the whole daemon (half of the 128 TiB a process has).
 */
#define GUEST_MEM_DAEMON_MAX_BYTES (64ull << 40)
static uint64_t daemon_mapped;   /* atomic */

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
    if (__builtin_add_overflow(r->mmap_offset, r->size, &end) || end > SIZE_MAX ||
        r->size > HB_GUEST_MEM_MAX_BYTES) {
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
    /*
     * The front-end's region may start mid-fd: map from the page holding
     * mmap_offset, not from the start of the file.  The page is the file's
     * own: a hugetlbfs file (st_blksize 2 MiB or 1 GiB) maps only at its
     * huge page boundaries.
     */
    uint64_t align = (uint64_t)sysconf(_SC_PAGESIZE);
    if (st.st_blksize > 0 && (uint64_t)st.st_blksize > align &&
        !((uint64_t)st.st_blksize & ((uint64_t)st.st_blksize - 1))) {
        align = (uint64_t)st.st_blksize;
    }
    uint64_t base = r->mmap_offset & ~(align - 1);
    uint64_t len = end - base;
    if (__atomic_add_fetch(&daemon_mapped, len, __ATOMIC_RELAXED) > GUEST_MEM_DAEMON_MAX_BYTES) {
        __atomic_sub_fetch(&daemon_mapped, len, __ATOMIC_RELAXED);
        return -ENOSPC;
    }
    p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, (off_t)base);
    if (p == MAP_FAILED) {
        int err = -errno;
        __atomic_sub_fetch(&daemon_mapped, len, __ATOMIC_RELAXED);
        return err;
    }
    if (hb_mem_guard_add(p, len, fault_flag) < 0) {
        munmap(p, len);
        __atomic_sub_fetch(&daemon_mapped, len, __ATOMIC_RELAXED);
        return -ENOSPC;
    }
    r->mmap_addr = p;
    r->mmap_size = len;
    r->host = (uint8_t *)p + (r->mmap_offset - base);
    return 0;
}

int hb_guest_mem_add(HbGuestMem *mem, const HbGuestMemRegion *r)
{
    uint64_t total = r->size;

    if (mem->nregions >= HB_GUEST_MEM_MAX_REGIONS) {
        return -ENOSPC;
    }
    for (unsigned i = 0; i < mem->nregions; i++) {
        total += mem->regions[i].size;
    }
    if (total > HB_GUEST_MEM_MAX_BYTES) {
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
        __atomic_sub_fetch(&daemon_mapped, r->mmap_size, __ATOMIC_RELAXED);
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

bool hb_guest_mem_ptr_to_gpa(const HbGuestMem *mem, const void *ptr, uint64_t *gpa)
{
    uintptr_t p = (uintptr_t)ptr;

    for (unsigned i = 0; i < mem->nregions; i++) {
        const HbGuestMemRegion *r = &mem->regions[i];
        uintptr_t host = (uintptr_t)r->host;
        if (p >= host && p - host < r->size) {
            *gpa = r->gpa + (p - host);
            return true;
        }
    }
    return false;
}

uint64_t hb_guest_mem_gpa_end(const HbGuestMem *mem)
{
    uint64_t end = 0;

    for (unsigned i = 0; i < mem->nregions; i++) {
        /* gpa + size - 1 was checked not to wrap when the region came. */
        uint64_t last = mem->regions[i].gpa + (mem->regions[i].size - 1);
        uint64_t e = last == UINT64_MAX ? UINT64_MAX : last + 1;
        end = e > end ? e : end;
    }
    return end;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhost/guest-mem.h — the vhost-user memory table: guest addresses to our pointers. */
#ifndef HB_EXPORT_GUEST_MEM_H
#define HB_EXPORT_GUEST_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/*
 * The front-end shares its guest RAM as fd-backed regions.  Each region is
 * described by its guest-physical address (what descriptors carry), its
 * address in the front-end's own process (what SET_VRING_ADDR carries) and
 * an offset into the fd.  We mmap each region once and translate with a
 * linear scan: there are at most a few dozen regions.
 *
 * Every translation checks the whole [addr, addr + len) range, with
 * overflow-safe arithmetic, so a hostile front-end or guest cannot make us
 * touch memory outside what it shared.
 */

#define HB_GUEST_MEM_MAX_REGIONS 32
/* Guest memory one connection may map: above any real guest (16 TiB). */
#define HB_GUEST_MEM_MAX_BYTES (16ull << 40)

typedef struct HbGuestMemRegion {
    uint64_t gpa;          /* guest physical address */
    uint64_t size;
    uint64_t uva;          /* front-end's virtual address */
    uint64_t mmap_offset;  /* offset of the region in the fd */
    void *mmap_addr;       /* what we mapped (NULL for test regions) */
    size_t mmap_size;
    uint8_t *host;         /* our pointer to gpa */
} HbGuestMemRegion;

typedef struct HbGuestMem {
    unsigned nregions;
    HbGuestMemRegion regions[HB_GUEST_MEM_MAX_REGIONS];
} HbGuestMem;

/**
 * hb_guest_mem_map_region() - mmap one fd-backed region and fill @r.
 * @r: region with gpa/size/uva/mmap_offset set
 * @fd: the region's file descriptor (not consumed)
 * @fault_flag: set to 1 if the front-end truncates the file under us and
 *              we touch a page that is gone (mem-guard.h)
 *
 * Return: 0 or -errno.
 */
int hb_guest_mem_map_region(HbGuestMemRegion *r, int fd, int *fault_flag);

/* Undo hb_guest_mem_map_region() (and clear @r); tables call it for their own regions. */
void hb_guest_mem_unmap_region(HbGuestMemRegion *r);

/**
 * hb_guest_mem_add() - append a region, refusing overlaps in gpa or uva.
 * Return: 0 or -errno (-ENOSPC when full, -EINVAL on overlap).
 */
int hb_guest_mem_add(HbGuestMem *mem, const HbGuestMemRegion *r);

/**
 * hb_guest_mem_remove() - remove (and unmap) the region with this gpa,
 * size and uva.  Return: 0 or -ENOENT.
 */
int hb_guest_mem_remove(HbGuestMem *mem, uint64_t gpa, uint64_t size,
                        uint64_t uva);

/* Unmap every region and empty the table. */
void hb_guest_mem_clear(HbGuestMem *mem);

/**
 * hb_guest_mem_gpa_to_iov() - translate a guest buffer into iovecs.
 * @iov: where to append; @niov: in: entries used, out: updated
 * @max_iov: capacity of @iov
 *
 * A buffer may straddle adjacent regions and then takes several entries.
 * Return: 0, -EFAULT if any byte is outside the table, -ENOBUFS if @iov
 * is full.
 */
int hb_guest_mem_gpa_to_iov(const HbGuestMem *mem, uint64_t gpa, uint64_t len,
                            struct iovec *iov, unsigned *niov,
                            unsigned max_iov);

/**
 * hb_guest_mem_gpa_to_ptr() - a contiguous mapping of [gpa, gpa+len) inside
 * one region, or NULL.
 */
void *hb_guest_mem_gpa_to_ptr(const HbGuestMem *mem, uint64_t gpa, uint64_t len);

/**
 * hb_guest_mem_uva_to_ptr() - the same for a front-end virtual address
 * (vring addresses), or NULL.
 */
void *hb_guest_mem_uva_to_ptr(const HbGuestMem *mem, uint64_t uva, uint64_t len);

/**
 * hb_guest_mem_ptr_to_gpa() - the guest-physical address of our pointer
 * @ptr into a mapped region (the reverse of gpa_to_iov, for the dirty log).
 * Return: false if @ptr is in no region.
 */
bool hb_guest_mem_ptr_to_gpa(const HbGuestMem *mem, const void *ptr, uint64_t *gpa);

/* One past the highest guest-physical address of any region (0 if none). */
uint64_t hb_guest_mem_gpa_end(const HbGuestMem *mem);

#endif

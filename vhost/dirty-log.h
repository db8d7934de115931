/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhost/dirty-log.h — the front-end's dirty-page bitmap for live migration. */
#ifndef HB_VHOST_DIRTY_LOG_H
#define HB_VHOST_DIRTY_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

/*
 * Theory of operation
 *
 * While QEMU migrates a VM it copies guest RAM in rounds, and needs to know
 * which pages changed since it copied them.  It cannot see our writes into
 * guest memory (request data, status bytes, used rings), so it shares a
 * bitmap with us (VHOST_USER_SET_LOG_BASE, an fd with size and offset): bit
 * n of the bitmap stands for the 4 KiB guest-physical page n, and we set it
 * with an atomic OR after every write we make into that page while
 * VHOST_F_LOG_ALL is negotiated.  QEMU reads and clears bits concurrently,
 * hence the atomics.  Marking too much only costs QEMU a resend; marking
 * too little corrupts the migrated guest, so every bound below errs on the
 * side of marking.
 *
 * The bitmap is a file the front-end can truncate under us: it is mapped
 * under the SIGBUS guard (mem-guard.h) like guest RAM.
 */

#define HB_DIRTY_LOG_PAGE 4096u

/* Largest log we map: one bit per 4 KiB page of 16 TiB of guest memory. */
#define HB_DIRTY_LOG_MAX_BYTES ((16ull << 40) / HB_DIRTY_LOG_PAGE / 8)

typedef struct HbDirtyLog {
    uint8_t *bits;        /* NULL: no log */
    uint64_t size;        /* bytes of bitmap */
    void *map;            /* what we mapped */
    uint64_t map_len;
} HbDirtyLog;

/**
 * hb_dirty_log_map() - map the front-end's bitmap (SET_LOG_BASE).
 * @log: filled on success, untouched on failure
 * @fd: the bitmap's file (not consumed)
 * @size: bytes of bitmap, from the message
 * @offset: where the bitmap starts in @fd; a multiple of the page size
 * @fault_flag: raised if the front-end truncates the file later
 *
 * Return: 0, or -EINVAL (zero or huge size, unaligned offset, a file
 * shorter than @offset + @size), -ENOSPC (no guard slot) or mmap's -errno.
 */
int hb_dirty_log_map(HbDirtyLog *log, int fd, uint64_t size, uint64_t offset,
                     int *fault_flag);

/* Unmap @log (if mapped) and clear it. */
void hb_dirty_log_unmap(HbDirtyLog *log);

/**
 * hb_dirty_log_covers() - whether the log has a bit for every page of
 * guest-physical range [@gpa, @gpa + @len).
 */
bool hb_dirty_log_covers(const HbDirtyLog *log, uint64_t gpa, uint64_t len);

/**
 * hb_dirty_log_mark() - mark the pages of [@gpa, @gpa + @len) dirty.
 * Pages beyond the log are skipped: the owner checked coverage when the
 * log and the memory table were set, so there are none but a buggy one's.
 */
void hb_dirty_log_mark(const HbDirtyLog *log, uint64_t gpa, uint64_t len);

#endif

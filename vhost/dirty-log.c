/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhost/dirty-log.c — map the dirty-page bitmap and mark pages in it. */
#include "vhost/dirty-log.h"
#include "vhost/mem-guard.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int hb_dirty_log_map(HbDirtyLog *log, int fd, uint64_t size, uint64_t offset,
                     int *fault_flag)
{
    long page = sysconf(_SC_PAGESIZE);
    struct stat st;
    uint64_t len;
    void *p;

    if (size == 0 || size > HB_DIRTY_LOG_MAX_BYTES || offset > (1ull << 40) ||
        offset % (uint64_t)page) {
        return -EINVAL;
    }
    /* A mapping past the end of the file would fault on first touch. */
    if (fstat(fd, &st) < 0 || st.st_size < 0 || (uint64_t)st.st_size < offset + size) {
        return -EINVAL;
    }
    /* Whole pages: the guard repairs a fault by replacing a page. */
    len = (size + page - 1) & ~(uint64_t)(page - 1);
    p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd,
             (off_t)offset);
    if (p == MAP_FAILED) {
        return -errno;
    }
    if (hb_mem_guard_add(p, len, fault_flag) < 0) {
        munmap(p, len);
        return -ENOSPC;
    }
    log->bits = p;
    log->size = size;
    log->map = p;
    log->map_len = len;
    return 0;
}

void hb_dirty_log_unmap(HbDirtyLog *log)
{
    if (log->map) {
        hb_mem_guard_remove(log->map);
        munmap(log->map, log->map_len);
    }
    memset(log, 0, sizeof(*log));
}

bool hb_dirty_log_covers(const HbDirtyLog *log, uint64_t gpa, uint64_t len)
{
    uint64_t last;

    if (!log->bits) {
        return false;
    }
    if (len == 0) {
        return true;
    }
    if (__builtin_add_overflow(gpa, len - 1, &last)) {
        return false;
    }
    return last / HB_DIRTY_LOG_PAGE / 8 < log->size;
}

void hb_dirty_log_mark(const HbDirtyLog *log, uint64_t gpa, uint64_t len)
{
    uint64_t page, last_page, last;

    if (!log->bits || len == 0) {
        return;
    }
    if (__builtin_add_overflow(gpa, len - 1, &last)) {
        last = UINT64_MAX;
    }
    page = gpa / HB_DIRTY_LOG_PAGE;
    last_page = last / HB_DIRTY_LOG_PAGE;
    /* Release: whoever sees the bit sees the write it stands for. */
    for (; page <= last_page && page / 8 < log->size; page++) {
        __atomic_fetch_or(&log->bits[page / 8], (uint8_t)(1u << (page % 8)),
                          __ATOMIC_RELEASE);
    }
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhost/vu-inflight.c — create and map the INFLIGHT_SHMFD buffer. */
#include "vhost/vu-inflight.h"
#include "vhost/mem-guard.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static bool geometry_ok(uint16_t num_queues, uint16_t queue_size)
{
    return num_queues > 0 && queue_size > 0 && queue_size <= HB_VIRTQ_MAX_SIZE;
}

/*
 * Make mapping @p the buffer of @inf, guarded against truncation, in place
 * of the old one.  Return: 0, or -ENOSPC (@p unmapped) if it cannot be guarded.
 */
static int adopt(HbVuInflight *inf, void *p, size_t size, uint16_t num_queues,
                 uint16_t queue_size, int *fault_flag)
{
    /* The whole last page: the guard repairs a fault by replacing a page. */
    long page = sysconf(_SC_PAGESIZE);
    if (hb_mem_guard_add(p, (size + page - 1) & ~(size_t)(page - 1), fault_flag) < 0) {
        munmap(p, size);
        return -ENOSPC;
    }
    hb_vu_inflight_unmap(inf);
    inf->addr = p;
    inf->size = size;
    inf->num_queues = num_queues;
    inf->queue_size = queue_size;
    return 0;
}

int hb_vu_inflight_create(HbVuInflight *inf, uint16_t num_queues,
                          uint16_t queue_size, int *fd, int *fault_flag)
{
    size_t size;
    void *p;
    int ret;

    if (!geometry_ok(num_queues, queue_size)) {
        return -EINVAL;
    }
    size = num_queues * hb_virtq_inflight_size(queue_size);
    *fd = memfd_create("hotblock-inflight", MFD_CLOEXEC);
    if (*fd < 0) {
        return -errno;
    }
    if (ftruncate(*fd, size) < 0) {
        ret = -errno;
        close(*fd);
        return ret;
    }
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
    if (p == MAP_FAILED) {
        ret = -errno;
        close(*fd);
        return ret;
    }
    /* The front-end gets the fd and could truncate it. */
    ret = adopt(inf, p, size, num_queues, queue_size, fault_flag);
    if (ret < 0) {
        close(*fd);
    }
    return ret;
}

int hb_vu_inflight_map(HbVuInflight *inf, int fd, uint64_t size, uint64_t offset,
                       uint16_t num_queues, uint16_t queue_size, int *fault_flag)
{
    uint64_t need;
    void *p;

    if (!geometry_ok(num_queues, queue_size)) {
        return -EINVAL;
    }
    need = num_queues * hb_virtq_inflight_size(queue_size);
    struct stat st;

    if (size < need || size > (1ull << 30) || offset > (1ull << 40) || offset % 4096) {
        return -EINVAL;
    }
    /* Touching a mapping beyond the end of the file raises SIGBUS. */
    if (fstat(fd, &st) < 0 || (uint64_t)st.st_size < offset + size) {
        return -EINVAL;
    }
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
    if (p == MAP_FAILED) {
        return -errno;
    }
    return adopt(inf, p, size, num_queues, queue_size, fault_flag);
}

HbInflightRegion *hb_vu_inflight_queue(HbVuInflight *inf, unsigned qidx)
{
    if (!inf->addr || qidx >= inf->num_queues) {
        return NULL;
    }
    return (HbInflightRegion *)((uint8_t *)inf->addr +
                                qidx * hb_virtq_inflight_size(inf->queue_size));
}

void hb_vu_inflight_unmap(HbVuInflight *inf)
{
    if (inf->addr) {
        hb_mem_guard_remove(inf->addr);
        munmap(inf->addr, inf->size);
    }
    memset(inf, 0, sizeof(*inf));
}

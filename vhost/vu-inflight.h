/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhost/vu-inflight.h — the INFLIGHT_SHMFD buffer shared with the front-end. */
#ifndef HB_EXPORT_VU_INFLIGHT_H
#define HB_EXPORT_VU_INFLIGHT_H

#include <stddef.h>
#include <stdint.h>

#include "vhost/virtqueue.h"

/*
 * One buffer holds a region per queue (HbInflightRegion).  We create it
 * on GET_INFLIGHT_FD; the front-end keeps the fd and hands it back with
 * SET_INFLIGHT_FD to whichever back-end process serves it next, which is
 * how requests in flight when a back-end died get resubmitted.
 */
typedef struct HbVuInflight {
    void *addr;            /* our mapping, NULL if none */
    size_t size;
    uint16_t num_queues;
    uint16_t queue_size;
} HbVuInflight;

/**
 * hb_vu_inflight_create() - a new zeroed buffer for @num_queues rings of
 * @queue_size entries, mapped into @inf.
 * @fd: the memfd to send to the front-end (the caller closes it)
 * @fault_flag: raised if the front-end truncates the buffer (mem-guard.h)
 * Return: 0 or -errno.
 */
int hb_vu_inflight_create(HbVuInflight *inf, uint16_t num_queues,
                          uint16_t queue_size, int *fd, int *fault_flag);

/**
 * hb_vu_inflight_map() - map a buffer the front-end sent.
 * Return: 0, or -EINVAL if it is too small for the geometry, or -errno.
 */
int hb_vu_inflight_map(HbVuInflight *inf, int fd, uint64_t size, uint64_t offset,
                       uint16_t num_queues, uint16_t queue_size, int *fault_flag);

/* The region of ring @qidx, or NULL. */
HbInflightRegion *hb_vu_inflight_queue(HbVuInflight *inf, unsigned qidx);

void hb_vu_inflight_unmap(HbVuInflight *inf);

#endif

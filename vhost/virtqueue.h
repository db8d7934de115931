/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhost/virtqueue.h — split virtqueues in guest memory, parsed defensively. */
#ifndef HB_EXPORT_VIRTQUEUE_H
#define HB_EXPORT_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vhost/dirty-log.h"
#include "vhost/guest-mem.h"

/*
 * Theory of operation
 *
 * The three parts of a split ring (descriptor table, available ring, used
 * ring) live in memory the guest writes concurrently with us.  So every
 * descriptor is copied once into a local before use (no double fetch),
 * every index read from the guest is range-checked, every buffer is
 * translated through the memory table, and a chain is bounded by the size
 * of its table: a loop, an over-long chain, an indirect table inside an
 * indirect table, a zero or ragged indirect length all make hb_virtq_pop()
 * fail, and the caller drops the connection.  Nothing here allocates.
 */

#define HB_VRING_DESC_F_NEXT      1
#define HB_VRING_DESC_F_WRITE     2
#define HB_VRING_DESC_F_INDIRECT  4
#define HB_VRING_AVAIL_F_NO_INTERRUPT 1
#define HB_VRING_USED_F_NO_NOTIFY     1

#define HB_VIRTQ_MAX_SIZE 1024
/* Per request: a chain is at most one table (1024) long; regions may split
 * a descriptor further, and a request needing more is refused. */
#define HB_VIRTQ_MAX_IOV 1024

typedef struct HbVringDesc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
} HbVringDesc;

typedef struct HbVringAvail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[];
} HbVringAvail;

typedef struct HbVringUsedElem {
    uint32_t id;
    uint32_t len;
} HbVringUsedElem;

typedef struct HbVringUsed {
    uint16_t flags;
    uint16_t idx;
    HbVringUsedElem ring[];
} HbVringUsed;

/*
 * The INFLIGHT_SHMFD region of one queue (vhost-user.rst, "Inflight I/O
 * tracking"): which heads were popped and not yet completed, so that a new
 * back-end process can resubmit them after a crash.  It lives in memory the
 * front-end keeps across back-end restarts.
 */
typedef struct HbInflightDesc {
    uint8_t inflight;
    uint8_t padding[5];
    uint16_t next;
    uint64_t counter;
} HbInflightDesc;

typedef struct HbInflightRegion {
    uint64_t features;
    uint16_t version;
    uint16_t desc_num;
    uint16_t last_batch_head;
    uint16_t used_idx;
    HbInflightDesc desc[];
} HbInflightRegion;

/* Bytes of one queue's region for a ring of @num entries. */
uint64_t hb_virtq_inflight_size(unsigned num);

/**
 * struct HbVirtq - one split ring, as seen by the device.
 */
typedef struct HbVirtq {
    const HbGuestMem *mem;
    unsigned num;             /* ring size, power of two, <= HB_VIRTQ_MAX_SIZE */
    HbVringDesc *desc;
    HbVringAvail *avail;
    HbVringUsed *used;
    uint16_t last_avail_idx;  /* next avail entry to pop */
    uint16_t used_idx;        /* our copy of used->idx */
    uint16_t signalled_used;
    bool signalled_used_valid;
    bool event_idx;           /* VIRTIO_RING_F_EVENT_IDX negotiated */
    bool indirect;            /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
    unsigned inuse;           /* popped, not yet pushed */
    /*
     * Live migration (dirty-log.h): non-NULL while VHOST_F_LOG_ALL is on,
     * and then every write into guest memory is marked in it; the used
     * ring's writes too if @log_used (VHOST_VRING_F_LOG), at @log_used_gpa.
     * Kept by hb_virtq_init(); the owner changes them only while no
     * request of the ring is in flight.
     */
    const HbDirtyLog *log;
    bool log_used;
    uint64_t log_used_gpa;
    /* INFLIGHT_SHMFD tracking; kept by hb_virtq_init() */
    HbInflightRegion *inflight;
    uint64_t counter;         /* order of pops */
    unsigned nresubmit;       /* heads to process again before the avail ring */
    unsigned resubmit_pos;
    uint16_t resubmit[HB_VIRTQ_MAX_SIZE];
} HbVirtq;

/**
 * struct HbVirtqElem - one popped request: device-readable buffers first
 * (iov[0 .. out_num)), then device-writable ones (iov[out_num .. +in_num)).
 */
typedef struct HbVirtqElem {
    uint16_t head;
    unsigned out_num;
    unsigned in_num;
    uint64_t out_len;
    uint64_t in_len;
    struct iovec iov[HB_VIRTQ_MAX_IOV];
} HbVirtqElem;

/* Bytes each ring part occupies for a ring of @num entries (EVENT_IDX included). */
uint64_t hb_virtq_desc_size(unsigned num);
uint64_t hb_virtq_avail_size(unsigned num);
uint64_t hb_virtq_used_size(unsigned num);

/**
 * hb_virtq_init() - attach @vq to ring parts already translated to pointers.
 * The negotiated flags (event_idx, indirect) and the inflight state of @vq
 * are kept; everything else is reset.
 * Return: 0, or -EINVAL if @num is not a power of two in [1, 1024].
 */
int hb_virtq_init(HbVirtq *vq, const HbGuestMem *mem, unsigned num,
                  void *desc, void *avail, void *used, uint16_t base);

/**
 * hb_virtq_pop() - take the next available request.
 * Return: 1 with @elem filled, 0 if the ring is empty, -errno if the guest
 * broke the ring (the caller must stop using it).
 */
int hb_virtq_pop(HbVirtq *vq, HbVirtqElem *elem);

/**
 * hb_virtq_peek() - read the next available request without taking it:
 * until hb_virtq_take(), the ring is as it was, and the next peek or pop
 * reads the same request.  For a server that must decide whether to start
 * a request before it takes it (a throttled ring leaves it in the ring).
 * Return: as hb_virtq_pop().
 */
int hb_virtq_peek(HbVirtq *vq, HbVirtqElem *elem);

/**
 * hb_virtq_take() - take the request hb_virtq_peek() just read into @elem,
 * as hb_virtq_pop() would have.  Nothing may touch @vq in between.
 */
void hb_virtq_take(HbVirtq *vq, const HbVirtqElem *elem);

/**
 * hb_virtq_push() - complete request @head having written @len bytes.
 */
void hb_virtq_push(HbVirtq *vq, uint16_t head, uint32_t len);

/**
 * hb_virtq_log_request() - with a dirty log on, mark every device-writable
 * buffer of @elem (data and status) before its completion is pushed.
 * Whole buffers are marked, whatever was written: over-marking costs a
 * page resend, under-marking a corrupt migrated guest.
 */
void hb_virtq_log_request(HbVirtq *vq, const HbVirtqElem *elem);

/**
 * hb_virtq_log_ptr() - with a dirty log on, mark the @len bytes the device
 * wrote at @p, a pointer into guest memory (nothing if @p is in no region).
 * @vq: the ring whose log it is
 * @p: where the device wrote
 * @len: how many bytes
 */
void hb_virtq_log_ptr(HbVirtq *vq, const void *p, uint64_t len);

/**
 * hb_virtq_should_notify() - whether the driver wants an interrupt now
 * (avail flags or used_event); updates the EVENT_IDX bookkeeping.
 */
bool hb_virtq_should_notify(HbVirtq *vq);

/**
 * hb_virtq_enable_notify() - with EVENT_IDX, ask for a kick at the next
 * avail entry; return true if more entries arrived meanwhile (then go on
 * popping instead of sleeping).
 */
bool hb_virtq_enable_notify(HbVirtq *vq);

/**
 * hb_virtq_suppress_notify() - with EVENT_IDX, take back the request for
 * a kick that hb_virtq_enable_notify() made, while the device goes on
 * popping anyway (without EVENT_IDX nothing changes: the driver kicks).
 */
void hb_virtq_suppress_notify(HbVirtq *vq);

/**
 * hb_virtq_inflight_recover() - on starting a ring with an inflight region:
 * initialise a fresh region, or else queue every head the previous back-end
 * popped without completing for resubmission, oldest first, and resume the
 * avail ring after them.  Return: 0, or -EINVAL if the region does not fit
 * the ring.
 */
int hb_virtq_inflight_recover(HbVirtq *vq);

/* Available entries not yet popped, or -EINVAL if avail->idx is insane. */
int hb_virtq_pending(HbVirtq *vq);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhost/vhost-user.h — the vhost-user back-end protocol as a library behind callbacks. */
#ifndef HB_EXPORT_VHOST_USER_H
#define HB_EXPORT_VHOST_USER_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "vhost/dirty-log.h"
#include "vhost/guest-mem.h"
#include "vhost/virtqueue.h"
#include "vhost/vu-inflight.h"

/*
 * Theory of operation
 *
 * One HbVuDev serves one front-end connection at a time and outlives
 * connections: hb_vu_reset() returns it to the state a new front-end
 * expects.  hb_vu_dispatch() reads and executes one message from the
 * socket; it returns false when the front-end hung up or broke the
 * protocol, and the owner then calls hb_vu_reset().
 *
 * Rings are served by whichever thread the owner chooses: it learns the
 * kick fd of each ring through iface->kick_fd_changed and calls
 * hb_vu_handle_kick() when that fd is readable.  Each ring has a mutex,
 * held while requests are processed; control messages that touch a ring
 * (or, for the memory table, all rings) take it too, so requests are never
 * processed against a table or ring that is changing.  As requests complete
 * synchronously under that mutex, a ring is drained whenever we own its
 * mutex: GET_VRING_BASE can answer at once.
 *
 * Live migration: with VHOST_USER_PROTOCOL_F_LOG_SHMFD and VHOST_F_LOG_ALL
 * negotiated and a bitmap given by SET_LOG_BASE, each ring's HbVirtq points
 * at the bitmap and marks every write into guest memory (dirty-log.h).  The
 * bitmap must cover the memory table and every logged used ring, checked
 * whenever either changes; a front-end that breaks that is dropped.
 */

#define HB_VU_MAX_QUEUES 16

/* Message ids (front-end to back-end) */
enum {
    HB_VU_GET_FEATURES = 1,
    HB_VU_SET_FEATURES = 2,
    HB_VU_SET_OWNER = 3,
    HB_VU_RESET_OWNER = 4,
    HB_VU_SET_MEM_TABLE = 5,
    HB_VU_SET_LOG_BASE = 6,
    HB_VU_SET_LOG_FD = 7,
    HB_VU_SET_VRING_NUM = 8,
    HB_VU_SET_VRING_ADDR = 9,
    HB_VU_SET_VRING_BASE = 10,
    HB_VU_GET_VRING_BASE = 11,
    HB_VU_SET_VRING_KICK = 12,
    HB_VU_SET_VRING_CALL = 13,
    HB_VU_SET_VRING_ERR = 14,
    HB_VU_GET_PROTOCOL_FEATURES = 15,
    HB_VU_SET_PROTOCOL_FEATURES = 16,
    HB_VU_GET_QUEUE_NUM = 17,
    HB_VU_SET_VRING_ENABLE = 18,
    HB_VU_SET_BACKEND_REQ_FD = 21,
    HB_VU_GET_CONFIG = 24,
    HB_VU_SET_CONFIG = 25,
    HB_VU_GET_INFLIGHT_FD = 31,
    HB_VU_SET_INFLIGHT_FD = 32,
    HB_VU_RESET_DEVICE = 34,
    HB_VU_GET_MAX_MEM_SLOTS = 36,
    HB_VU_ADD_MEM_REG = 37,
    HB_VU_REM_MEM_REG = 38,
};

/* Back-end to front-end */
#define HB_VU_BACKEND_CONFIG_CHANGE_MSG 2

/* Protocol feature bits */
enum {
    HB_VU_PROTOCOL_F_MQ = 0,
    HB_VU_PROTOCOL_F_LOG_SHMFD = 1,
    HB_VU_PROTOCOL_F_REPLY_ACK = 3,
    HB_VU_PROTOCOL_F_BACKEND_REQ = 5,
    HB_VU_PROTOCOL_F_CONFIG = 9,
    HB_VU_PROTOCOL_F_INFLIGHT_SHMFD = 12,
    HB_VU_PROTOCOL_F_RESET_DEVICE = 13,
    HB_VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS = 15,
};

#define HB_VU_F_PROTOCOL_FEATURES 30
/* Virtio feature bit: the back-end logs its writes to guest memory (migration). */
#define HB_VU_F_LOG_ALL 26
/* SET_VRING_ADDR flags: log the used ring's writes at log_guest_addr. */
#define HB_VU_VRING_F_LOG 1u

#define HB_VU_MSG_VERSION 0x1
#define HB_VU_MSG_FLAG_REPLY (1u << 2)
#define HB_VU_MSG_FLAG_NEED_REPLY (1u << 3)
#define HB_VU_MAX_FDS 8
#define HB_VU_CONFIG_MAX 256

typedef struct HbVuDev HbVuDev;

/**
 * struct HbVuIface - what the device behind the protocol provides.
 * All callbacks are called on the thread running hb_vu_dispatch(), except
 * process_queue, which runs on the thread calling hb_vu_handle_kick().
 */
typedef struct HbVuIface {
    /* Device virtio features (transport bits included). */
    uint64_t (*get_features)(HbVuDev *dev);
    /* Fill @len bytes of config space; 0 or -errno. */
    int (*get_config)(HbVuDev *dev, uint8_t *buf, uint32_t len);
    /* Driver writes config space; 0 or -errno. */
    int (*set_config)(HbVuDev *dev, const uint8_t *data, uint32_t offset,
                      uint32_t size, uint32_t flags);
    /*
     * Pop, process and push requests of @vq until empty; return false if
     * the ring is broken (the connection is then dropped).  Called with
     * the ring's mutex held.
     */
    bool (*process_queue)(HbVuDev *dev, unsigned qidx, HbVirtq *vq);
    /* Start (@new_fd >= 0) or stop (@old_fd >= 0) polling a ring's kick fd. */
    void (*kick_fd_changed)(HbVuDev *dev, unsigned qidx, int old_fd, int new_fd);
} HbVuIface;

typedef struct HbVuQueue {
    GMutex lock;
    gint lock_waiters;          /* control-path threads waiting for @lock */
    HbVirtq vq;
    unsigned num;
    uint64_t desc_uva, avail_uva, used_uva;
    uint16_t base;
    bool addr_set;
    bool log_used;   /* VHOST_VRING_F_LOG from SET_VRING_ADDR */
    uint64_t log_gpa;  /* its log_guest_addr: the used ring's guest-physical address */
    bool started;    /* kick received, rings mapped */
    bool enabled;    /* SET_VRING_ENABLE */
    bool broken;
    int kick_fd;
    unsigned kick_gen;   /* bumped whenever kick_fd is set: a wake-up armed before is stale */
    int call_fd;
    int err_fd;
} HbVuQueue;

struct HbVuDev {
    const HbVuIface *iface;
    void *opaque;             /* the owner's */
    unsigned max_queues;      /* GET_QUEUE_NUM */
    int sock;                 /* the connection, -1 when none */
    uint64_t features;        /* negotiated virtio features */
    uint64_t protocol_features;
    bool owner_set;
    GMutex backend_lock;      /* guards backend_fd */
    int backend_fd;           /* BACKEND_REQ channel, -1 if none */
    HbGuestMem mem;
    HbVuInflight inflight;    /* INFLIGHT_SHMFD buffer, if the front-end uses one */
    HbDirtyLog log;           /* SET_LOG_BASE's bitmap; used while F_LOG_ALL is on */
    int mem_fault;            /* atomic: shared memory was truncated (mem-guard.h) */
    uint32_t last_request;    /* the last message read (for the log) */
    bool rings_started;       /* some ring was started on this connection */
    GMutex drop_lock;         /* guards drop_reason: rings note it from I/O threads */
    char drop_reason[96];     /* why hb_vu_dispatch()/hb_vu_handle_kick() gave up */
    HbVuQueue q[HB_VU_MAX_QUEUES];
};

/**
 * hb_vu_drop_reason() - copy why the connection was given up (the last
 * reason noted, "" if none) into @buf.  Any thread.
 */
void hb_vu_drop_reason(HbVuDev *dev, char *buf, size_t size);

/**
 * hb_vu_init() - set up @dev (once, before any connection).
 * @max_queues: 1..HB_VU_MAX_QUEUES
 */
void hb_vu_init(HbVuDev *dev, const HbVuIface *iface, void *opaque,
                unsigned max_queues);

/* Take a new connection (the owner checked none is active). */
void hb_vu_attach(HbVuDev *dev, int sock);

/**
 * hb_vu_dispatch() - read one message from the connection and act on it.
 * Return: false when the connection is finished (hangup, protocol error);
 * the owner then calls hb_vu_reset().
 */
bool hb_vu_dispatch(HbVuDev *dev);

/**
 * hb_vu_reset() - drop the connection: stop rings (taking each mutex),
 * unmap memory, close every fd.  The device can take a new connection.
 */
void hb_vu_reset(HbVuDev *dev);

/* Release what hb_vu_init() set up; the device must be reset already. */
void hb_vu_destroy(HbVuDev *dev);

/**
 * hb_vu_handle_kick() - a ring's kick fd is readable: consume it and
 * process the ring.  Safe from any thread.
 * Return: false if the ring is broken (the owner should drop the connection).
 */
bool hb_vu_handle_kick(HbVuDev *dev, unsigned qidx);

/* Signal the driver that used entries were added if it wants to know. */
void hb_vu_queue_notify(HbVuDev *dev, HbVuQueue *q);

/**
 * hb_vu_queue_wake() - make ring @q's kick fd readable once ourselves, so
 * that the ring is served again on its thread's next turn (requests that
 * are waiting must not wait for the guest's next kick).
 */
void hb_vu_queue_wake(HbVuQueue *q);

/*
 * hb_vu_queue_lock_wanted() - a control-path thread waits for ring @q's
 * lock: whoever holds it to serve the ring should finish and let it in.
 */
bool hb_vu_queue_lock_wanted(HbVuQueue *q);

/**
 * hb_vu_config_changed() - tell the front-end the config space changed
 * (resize) via the BACKEND_REQ channel.  Return: false if there is none.
 */
bool hb_vu_config_changed(HbVuDev *dev);

#endif

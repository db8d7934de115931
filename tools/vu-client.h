/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/vu-client.h — a minimal vhost-user-blk front-end for hotblock-bench. */
#ifndef HB_TOOLS_VU_CLIENT_H
#define HB_TOOLS_VU_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "vhost/virtio-blk.h"

#define VU_CLIENT_MAX_QUEUES 16

typedef struct VuClientQueue VuClientQueue;

typedef struct VuClient {
    int sock;
    int memfd;
    uint8_t *mem;
    uint64_t mem_size;
    uint64_t features;
    uint64_t protocol_features;
    uint64_t capacity;        /* bytes */
    uint32_t blk_size;
    uint16_t cfg_num_queues;
    unsigned max_queues;      /* GET_QUEUE_NUM */
    bool read_only;
    uint8_t writeback;
    unsigned nqueues;
    VuClientQueue *queues[VU_CLIENT_MAX_QUEUES];
    bool want_log;            /* negotiate what dirty logging needs */
    int log_fd;               /* the dirty log, once vu_client_dirty_log_start() ran */
    uint8_t *log;
    uint64_t log_size;        /* bytes */
} VuClient;

/* What vu_client_dirty_log_check() found. */
typedef struct VuLogCheck {
    uint64_t checked;         /* pages the back-end wrote, so must be marked */
    uint64_t missing;         /* of those, pages not marked */
    uint64_t spurious;        /* marked pages of the driver-only areas */
    uint64_t first_missing;   /* guest-physical address of the first missing page */
} VuLogCheck;

typedef struct VuCompletion {
    unsigned slot;
    int type;                 /* HB_VIRTIO_BLK_T_* */
    uint64_t offset;
    uint64_t cookie;
    uint8_t status;
} VuCompletion;

/**
 * vu_client_connect() - connect, negotiate, share memory and start
 * @nqueues rings with @depth request slots of @bs bytes each.
 * @path: the export's UNIX socket
 * @nqueues: rings to start, at most what the device offers
 * @depth: request slots per ring
 * @bs: data buffer bytes per slot
 * @dirty_log: also negotiate VHOST_USER_PROTOCOL_F_LOG_SHMFD and require the
 *             device to offer VHOST_F_LOG_ALL, for vu_client_dirty_log_start()
 *
 * Return: the client, or NULL after printing why.
 */
VuClient *vu_client_connect(const char *path, unsigned nqueues, unsigned depth,
                            uint64_t bs, bool dirty_log);

/**
 * vu_client_dirty_log_start() - turn dirty-page logging on, as QEMU does
 * when a migration starts: share a log memfd (SET_LOG_BASE, whose reply we
 * wait for), add VHOST_F_LOG_ALL to the features, and set VHOST_VRING_F_LOG
 * with the used ring's guest address on every ring.
 * @c: a client connected with @dirty_log
 *
 * The log has one bit per 4 KiB page of guest-physical address space,
 * rounded up to whole 64-bit words, as QEMU sizes it.
 *
 * Return: 0, or -1 after printing why.
 */
int vu_client_dirty_log_start(VuClient *c);

/**
 * vu_client_dirty_log_check() - check the log against what the back-end
 * must have written: the data buffers of completed reads, the status byte
 * of every completed request, the used-ring entries and the used index.
 * @c: a client whose logging is on and whose queues are idle
 * @r: the findings
 *
 * A back-end may mark the log just after it publishes a used entry, so a
 * missing mark is looked at again for up to a second before it counts.
 *
 * Return: true when nothing is missing.
 */
bool vu_client_dirty_log_check(VuClient *c, VuLogCheck *r);

/**
 * vu_client_close() - hang up and free @c with its rings and memory.
 * @c: a client from vu_client_connect()
 */
void vu_client_close(VuClient *c);

/**
 * vu_client_slot_data() - the data buffer of request slot @slot.
 * @q: the queue
 * @slot: 0..depth-1
 *
 * Return: its @bs bytes in the shared memory.
 */
uint8_t *vu_client_slot_data(VuClientQueue *q, unsigned slot);

/**
 * vu_client_submit() - queue a request in slot @slot; vu_client_kick()
 * publishes it.
 * @q: the queue
 * @slot: a free slot, 0..depth-1
 * @type: HB_VIRTIO_BLK_T_*
 * @offset: disk byte offset (a multiple of 512)
 * @len: data bytes, in the slot's buffer
 * @cookie: handed back in the completion
 */
void vu_client_submit(VuClientQueue *q, unsigned slot, int type, uint64_t offset,
                      uint64_t len, uint64_t cookie);

/**
 * vu_client_kick() - publish queued requests and notify the back-end if
 * it wants to be.
 * @q: the queue
 */
void vu_client_kick(VuClientQueue *q);

/**
 * vu_client_wait() - wait for completions (at least one).
 * @q: the queue
 * @out: where to put them
 * @max: room in @out
 *
 * Return: number filled into @out, or -1 if the back-end went away.
 */
int vu_client_wait(VuClientQueue *q, VuCompletion *out, int max);

/**
 * vu_client_flush() - a FLUSH request on an idle queue, waited for.
 * @q: the queue
 *
 * Return: the status byte, or -1 if the back-end went away.
 */
int vu_client_flush(VuClientQueue *q);

/**
 * vu_client_get_id() - a GET_ID request on an idle queue, waited for.
 * @q: the queue
 * @serial: the device's serial, NUL-terminated, when the status is 0
 *
 * Return: the status byte, or -1 if the back-end went away.
 */
int vu_client_get_id(VuClientQueue *q, char serial[21]);

/**
 * vu_client_evil() - put a malformed request of kind @kind (see
 * vu_client_evil_kinds()) on an idle queue, as a hostile guest would.
 * @q: the queue
 * @kind: one of vu_client_evil_kinds()
 * @status: the request's status byte, if it completed
 *
 * Return: 0 if the back-end dropped the connection, 1 if it completed the
 * request (*@status set), -2 for an unknown kind.
 */
int vu_client_evil(VuClientQueue *q, const char *kind, int *status);

/**
 * vu_client_evil_kinds() - the kinds vu_client_evil() knows.
 * Return: a NULL-terminated list.
 */
const char *const *vu_client_evil_kinds(void);

#endif

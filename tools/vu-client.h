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
} VuClient;

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
 *
 * Return: the client, or NULL after printing why.
 */
VuClient *vu_client_connect(const char *path, unsigned nqueues, unsigned depth,
                            uint64_t bs);

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

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
 * Return: the client, or NULL after printing why.
 */
VuClient *vu_client_connect(const char *path, unsigned nqueues, unsigned depth,
                            uint64_t bs);
void vu_client_close(VuClient *c);

/* The data buffer of request slot @slot. */
uint8_t *vu_client_slot_data(VuClientQueue *q, unsigned slot);

/* Queue a request of @type (HB_VIRTIO_BLK_T_*) in slot @slot; vu_client_kick() publishes it. */
void vu_client_submit(VuClientQueue *q, unsigned slot, int type, uint64_t offset,
                      uint64_t len, uint64_t cookie);

/* Publish queued requests and notify the back-end if it wants to be. */
void vu_client_kick(VuClientQueue *q);

/**
 * vu_client_wait() - wait for completions (at least one).
 * Return: number filled into @out, or -1 if the back-end went away.
 */
int vu_client_wait(VuClientQueue *q, VuCompletion *out, int max);

/* Synchronous helpers on an idle queue: return the status byte or -1. */
int vu_client_flush(VuClientQueue *q);
int vu_client_get_id(VuClientQueue *q, char serial[21]);

/**
 * vu_client_evil() - put a malformed request of kind @kind (see
 * vu_client_evil_kinds()) on an idle queue, as a hostile guest would.
 * Return: 0 if the back-end dropped the connection, 1 if it completed the
 * request (*@status set), -2 for an unknown kind.
 */
int vu_client_evil(VuClientQueue *q, const char *kind, int *status);
const char *const *vu_client_evil_kinds(void);

#endif

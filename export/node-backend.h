/* SPDX-License-Identifier: GPL-2.0-or-later */
/* export/node-backend.h — a block node as virtio-blk's asynchronous backend. */
#ifndef HB_EXPORT_NODE_BACKEND_H
#define HB_EXPORT_NODE_BACKEND_H

#include "block/acct.h"
#include "block/node.h"
#include "export/io-error.h"
#include "vhost/virtio-blk.h"

/**
 * struct HbNodeBackend - what the backend callbacks need: the node,
 * where failures are reported (BLOCK_IO_ERROR), and the export's
 * accounting (query-blockstats; freed with hb_block_acct_clear()).
 */
typedef struct HbNodeBackend {
    HbNode *node;
    HbExportIoErrors io_errors;
    HbBlockAcct acct;
} HbNodeBackend;

/**
 * hb_node_backend() - virtio-blk's backend callbacks over @nb->node
 * (@nb must outlive them): requests
 * go to hb_node_submit() and complete on the submitting I/O thread's
 * completion context (block/aio.h), which the runner polls through the
 * backend.  On a thread without a context (offload workers) they complete
 * inline.  A request the storage fails is reported through @nb->io_errors.
 * Every request is counted in @nb->acct when it completes.
 */
HbVirtioBlkBackend hb_node_backend(HbNodeBackend *nb);

#endif

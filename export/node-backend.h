/* SPDX-License-Identifier: GPL-2.0-or-later */
/* export/node-backend.h — a block node as virtio-blk's asynchronous backend. */
#ifndef HB_EXPORT_NODE_BACKEND_H
#define HB_EXPORT_NODE_BACKEND_H

#include "block/node.h"
#include "vhost/virtio-blk.h"

/**
 * hb_node_backend() - virtio-blk's backend callbacks over @node: requests
 * go to hb_node_submit() and complete on the submitting I/O thread's
 * completion context (block/aio.h), which the runner polls through the
 * backend.  On a thread without a context (offload workers) they complete
 * inline.
 */
HbVirtioBlkBackend hb_node_backend(HbNode *node);

#endif

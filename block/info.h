/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/info.h — a node described in QEMU's query shapes (QMP and hotblock-img info). */
#ifndef HB_BLOCK_INFO_H
#define HB_BLOCK_INFO_H

#include "block/node.h"

/**
 * hb_node_image_info() - QEMU's ImageInfo for @node: size, format,
 * allocation, and the driver's format-specific part.  Never key material.
 */
QapiImageInfo *hb_node_image_info(HbNode *node);

/* QEMU's BlockDeviceInfo for @node (query-named-block-nodes). */
QapiBlockDeviceInfo *hb_node_query(HbNode *node);

#endif

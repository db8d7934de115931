/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/info.h — a node described in QEMU's query shapes (QMP and hotblock-img info). */
#ifndef HB_BLOCK_INFO_H
#define HB_BLOCK_INFO_H

#include "block/node.h"

/**
 * hb_node_image_info() - QEMU's ImageInfo for @node alone: size, format,
 * allocation, dirty flag, cluster size, the backing file named in the
 * image header, and the driver's format-specific part (no
 * "backing-image", as qemu-img info without --backing-chain).  Never
 * key material.
 */
QapiImageInfo *hb_node_image_info(HbNode *node);

/**
 * hb_node_image_info_chain() - hb_node_image_info() with the backing
 * chain nested in "backing-image", one level per "backing" child.
 */
QapiImageInfo *hb_node_image_info_chain(HbNode *node);

/**
 * hb_node_query_flat() - QEMU's BlockDeviceInfo for @node
 * (query-named-block-nodes): with @flat false the image info nests the
 * backing chain and backing_file_depth counts it; with @flat true
 * neither, as QEMU.
 */
QapiBlockDeviceInfo *hb_node_query_flat(HbNode *node, bool flat);

/* hb_node_query_flat(@node, false), query-named-block-nodes' default. */
QapiBlockDeviceInfo *hb_node_query(HbNode *node);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/luks.h — what the luks driver offers beyond I/O: keyslot changes on an open node. */
#ifndef HB_BLOCK_LUKS_H
#define HB_BLOCK_LUKS_H

#include <glib.h>
#include <stdbool.h>

#include "block/node.h"
#include "crypto/luks-amend.h"

/**
 * hb_luks_node_amend() - add or erase keyslots of an open luks node's
 * header (x-blockdev-amend), while the node serves I/O
 * @node: a luks node, unlocked
 * @o: the change (crypto/luks-amend.h)
 * @errp: why not; "Amending LUKS2 keyslots is not supported yet" for a
 *        LUKS2 header
 *
 * The header is written where the node reads it: the start of its file,
 * or its header node (a detached header, perhaps shared by several luks
 * nodes, which then see the new keyslots when they next read the header).
 * Only the keyslot area and the header change; the payload and the master
 * key do not, so requests in flight are not disturbed.  Any thread; one
 * amend at a time per header (the caller's job holds the node).
 */
bool hb_luks_node_amend(HbNode *node, const HbLuksAmendOpts *o, GError **errp);

/** hb_node_is_luks() - whether @node is a luks node */
bool hb_node_is_luks(HbNode *node);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/node-int.h — what node.c, graph.c and perm.c share, and nobody else. */
#ifndef HB_BLOCK_NODE_INT_H
#define HB_BLOCK_NODE_INT_H

#include "block/node.h"

/* graph.c: every open node, named or automatic, in creation order. */
void hb_graph_insert(HbNode *node);
void hb_graph_remove(HbNode *node);
/* A fresh "#blockNNN" name. */
char *hb_graph_auto_name(void);
/* Number of open nodes (tests). */
unsigned hb_graph_count(void);
/* Every open node, in creation order: a new array the caller frees. */
GPtrArray *hb_graph_snapshot(void);
/* Whether @node is (still) open. */
bool hb_graph_contains(HbNode *node);

/* perm.c: check @perm/@shared of a new edge against @node's other edges
 * (all but @skip), then tell the driver the new totals. */
bool hb_perm_attach(HbNode *node, HbChild *edge, GError **errp);
/* After @edge left node->parents: recompute totals, tell the driver. */
void hb_perm_detach(HbNode *node);
/*
 * perm.c: recompute @node's totals after activation changed (an
 * inactive node or parent asks no write or resize and shares them) and
 * tell the driver.  Only tightening can fail (another process holds a
 * lock byte); then nothing changed.
 */
bool hb_perm_refresh(HbNode *node, GError **errp);

/*
 * node-io.c: what every request must pass before its driver sees it:
 * read-only (-EPERM), then bounds (-EINVAL) unless the driver reads zeroes
 * past the end (@read) or grows (writes).  Return: 0 or -errno.
 */
int hb_node_check_request(HbNode *node, bool read, uint64_t offset, uint64_t bytes);

/*
 * node-io.c: the discard policy.  Whether [*@offset, +*@bytes) discards
 * anything on @node (it unmaps, its driver discards, and a whole aligned
 * block lies inside); if so, narrowed to those blocks.
 */
bool hb_node_discard_range(HbNode *node, uint64_t *offset, uint64_t *bytes);

/*
 * node-io.c: a write, write-zeroes or discard of [@offset, @offset +
 * @bytes) succeeded on @node: raise its wr_highest_offset.  Any thread.
 */
static inline void hb_node_note_write(HbNode *node, uint64_t offset, uint64_t bytes)
{
    uint64_t end = offset + bytes;
    uint64_t cur = __atomic_load_n(&node->wr_highest_offset, __ATOMIC_RELAXED);

    /* Almost always a plain load: only a new high mark writes. */
    while (end > cur &&
           !__atomic_compare_exchange_n(&node->wr_highest_offset, &cur, end, true,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

#endif

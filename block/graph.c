/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/graph.c — the node-name registry: every open node and the named roots. */
#include "block/node-int.h"
#include "util/error.h"
#include "util/lifecycle.h"

/*
 * Two views of the graph.  graph_nodes lists every open node, inline
 * children included, because QEMU lets clients name "#block123" nodes in
 * references and shows them in query-named-block-nodes; it holds no
 * reference (a node removes itself when it closes).  The registry proper
 * is the in_registry flag plus one reference per node added by
 * blockdev-add: only those can be deleted by blockdev-del.
 */
static GPtrArray *graph_nodes;
static unsigned auto_counter = 100;

void hb_graph_insert(HbNode *node)
{
    if (!graph_nodes) {
        graph_nodes = g_ptr_array_new();
    }
    g_ptr_array_add(graph_nodes, node);
}

void hb_graph_remove(HbNode *node)
{
    if (graph_nodes) {
        g_ptr_array_remove(graph_nodes, node);
    }
}

unsigned hb_graph_count(void)
{
    return graph_nodes ? graph_nodes->len : 0;
}

char *hb_graph_auto_name(void)
{
    char *name;

    /* Skip names a client happened to choose (they cannot start with '#'
     * today, but keep the guarantee local). */
    do {
        name = g_strdup_printf("#block%u", auto_counter++);
        if (!hb_node_find(name)) {
            return name;
        }
        g_free(name);
    } while (true);
}

HbNode *hb_node_find(const char *node_name)
{
    if (!graph_nodes || !node_name) {
        return NULL;
    }
    for (guint i = 0; i < graph_nodes->len; i++) {
        HbNode *n = g_ptr_array_index(graph_nodes, i);
        if (g_str_equal(n->node_name, node_name)) {
            return n;
        }
    }
    return NULL;
}

HbNode *hb_node_lookup(const char *node_name, GError **errp)
{
    HbNode *n = hb_node_find(node_name);

    if (!n) {
        hb_error_set(errp, "Cannot find device='' nor node-name='%s'",
                     node_name ? node_name : "");
    }
    return n;
}

bool hb_node_register(HbNode *node, GError **errp)
{
    if (node->in_registry) {
        hb_error_set(errp, "Duplicate nodes with node-name='%s'",
                     node->node_name);
        return false;
    }
    node->in_registry = true;
    hb_node_ref(node);
    /* At exit, after the exports: every node written back and closed. */
    hb_at_shutdown_close(hb_node_close_all);
    return true;
}

/*
 * Newest first, so a parent goes before the nodes it was built on and the
 * last reference to each node is dropped here, through hb_node_unref()'s
 * flush-then-close.  A node someone else still holds (nothing should, once
 * the exports are gone) is flushed at least.
 */
void hb_node_close_all(void)
{
    if (!graph_nodes) {
        return;
    }
    g_autoptr(GPtrArray) snap = g_ptr_array_copy(graph_nodes, NULL, NULL);
    for (guint i = snap->len; i-- > 0;) {
        HbNode *n = g_ptr_array_index(snap, i);
        if (g_ptr_array_find(graph_nodes, n, NULL) && n->in_registry) {
            hb_node_unregister(n);
        }
    }
    g_ptr_array_set_size(snap, 0);
    for (guint i = 0; i < graph_nodes->len; i++) {
        g_ptr_array_add(snap, g_ptr_array_index(graph_nodes, i));
    }
    for (guint i = snap->len; i-- > 0;) {
        HbNode *n = g_ptr_array_index(snap, i);
        if (!n->read_only) {
            int ret = hb_node_flush(n);
            if (ret < 0) {
                hb_node_report_close_error(n, ret);
            }
        }
    }
}

void hb_node_unregister(HbNode *node)
{
    if (node && node->in_registry) {
        node->in_registry = false;
        hb_node_unref(node);
    }
}

void hb_node_foreach(void (*fn)(HbNode *node, void *opaque), void *opaque)
{
    if (!graph_nodes) {
        return;
    }
    /* A snapshot: @fn may close nodes (e.g. delete all at shutdown). */
    g_autoptr(GPtrArray) snap = g_ptr_array_copy(graph_nodes, NULL, NULL);
    for (guint i = 0; i < snap->len; i++) {
        HbNode *n = g_ptr_array_index(snap, i);
        if (g_ptr_array_find(graph_nodes, n, NULL)) {
            fn(n, opaque);
        }
    }
}

char *hb_node_busy_reason(HbNode *node)
{
    if (!node->parents || node->parents->len == 0) {
        return NULL;
    }
    HbChild *c = g_ptr_array_index(node->parents, 0);
    if (c->parent) {
        return g_strdup_printf("Node '%s' is busy: node is used as %s of '%s'",
                               node->node_name, c->name,
                               c->parent->node_name);
    }
    return g_strdup_printf("Node '%s' is busy: node is used by export '%s'",
                           node->node_name, c->name);
}

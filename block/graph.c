/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/graph.c — every open node, by name: insert, remove, find, iterate. */
#include "block/node-int.h"
#include "util/error.h"

/*
 * Two views of the graph.  graph_nodes lists every open node, inline
 * children included, because QEMU lets clients name "#block123" nodes in
 * references and shows them in query-named-block-nodes; it holds no
 * reference (a node removes itself when it closes).  The registry proper
 * is the in_registry flag plus one reference per node added by
 * blockdev-add (node.c: hb_node_register()): only those can be deleted by
 * blockdev-del.  This file calls no node lifecycle function: node.c uses
 * it, never the other way round.
 *
 * by_name indexes graph_nodes by node-name, and members by pointer (the first node of a name, if
 * a failed open ever left two): with ten thousand volumes, every
 * blockdev-add's name checks and lookups scanning the list were half of
 * the daemon's time.
 */
static GPtrArray *graph_nodes;
static GHashTable *by_name;     /* node_name -> HbNode *, borrowed */
static GHashTable *members;     /* the HbNode pointers of graph_nodes */
static unsigned auto_counter = 100;

void hb_graph_insert(HbNode *node)
{
    if (!graph_nodes) {
        graph_nodes = g_ptr_array_new();
        by_name = g_hash_table_new(g_str_hash, g_str_equal);
        members = g_hash_table_new(NULL, NULL);
    }
    g_ptr_array_add(graph_nodes, node);
    g_hash_table_add(members, node);
    if (!g_hash_table_contains(by_name, node->node_name)) {
        g_hash_table_insert(by_name, node->node_name, node);
    }
}

void hb_graph_remove(HbNode *node)
{
    if (!graph_nodes || !g_hash_table_remove(members, node)) {
        return;
    }
    g_ptr_array_remove(graph_nodes, node);
    if (g_hash_table_lookup(by_name, node->node_name) == node) {
        g_hash_table_remove(by_name, node->node_name);
        /* Another open node of that name (see above) takes its place. */
        for (guint i = 0; i < graph_nodes->len; i++) {
            HbNode *n = g_ptr_array_index(graph_nodes, i);
            if (g_str_equal(n->node_name, node->node_name)) {
                g_hash_table_insert(by_name, n->node_name, n);
                break;
            }
        }
    }
}

GPtrArray *hb_graph_snapshot(void)
{
    return graph_nodes ? g_ptr_array_copy(graph_nodes, NULL, NULL) : g_ptr_array_new();
}

bool hb_graph_contains(HbNode *node)
{
    /* By pointer only: @node may be a closed (freed) node of a snapshot. */
    return members && g_hash_table_contains(members, node);
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
    if (!by_name || !node_name) {
        return NULL;
    }
    return g_hash_table_lookup(by_name, node_name);
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

void hb_node_foreach(void (*fn)(HbNode *node, void *opaque), void *opaque)
{
    if (!graph_nodes) {
        return;
    }
    /* A snapshot: @fn may close nodes (e.g. delete all at shutdown). */
    g_autoptr(GPtrArray) snap = hb_graph_snapshot();
    for (guint i = 0; i < snap->len; i++) {
        HbNode *n = g_ptr_array_index(snap, i);
        if (hb_graph_contains(n)) {
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
    /* A command's or job's own user, as perm.c names it. */
    if (g_str_equal(c->name, HB_NODE_ANONYMOUS_USER)) {
        return g_strdup_printf("Node '%s' is busy: node is used by an unnamed block device",
                               node->node_name);
    }
    return g_strdup_printf("Node '%s' is busy: node is used by export '%s'",
                           node->node_name, c->name);
}

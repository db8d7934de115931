/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/perm.c — permissions on edges: conflict checks and the drivers' totals. */
#include "block/node-int.h"
#include "util/error.h"

#include <string.h>

/*
 * Each edge into a node (a parent's child, or a user such as an export)
 * says what it does with the node (perm) and what it tolerates from the
 * others (shared).  An edge may attach only if it does nothing another
 * edge forbids and forbids nothing another edge does.  The node's totals
 * (union of perm, intersection of shared) go to the driver's set_perm,
 * which for a file node turns them into QEMU-compatible lock bytes, so the
 * same rules extend to other processes.
 */

static const char *const perm_names[] = {
    "consistent read", "write", "write unchanged", "resize",
};
G_STATIC_ASSERT(G_N_ELEMENTS(perm_names) == 4 && HB_PERM_ALL == 0xf);

char *hb_perm_names(unsigned perm)
{
    GString *s = g_string_new(NULL);

    for (unsigned i = 0; i < G_N_ELEMENTS(perm_names); i++) {
        if (perm & (1u << i)) {
            if (s->len) {
                g_string_append(s, ", ");
            }
            g_string_append(s, perm_names[i]);
        }
    }
    return g_string_free(s, false);
}

static char *edge_user(const HbChild *e)
{
    if (e->parent) {
        return g_strdup_printf("node '%s'", e->parent->node_name);
    }
    /* A QMP command's own short-lived user (block_resize), as QEMU names it. */
    if (!strcmp(e->name, HB_NODE_ANONYMOUS_USER)) {
        return g_strdup("an unnamed block device");
    }
    return g_strdup_printf("export '%s'", e->name);
}

static void conflict_error(HbNode *node, const HbChild *need,
                           const HbChild *unshare, unsigned perms,
                           GError **errp)
{
    g_autofree char *names = hb_perm_names(perms);
    g_autofree char *a = edge_user(need);
    g_autofree char *b = edge_user(unshare);

    hb_error_set(errp, "Permission conflict on node '%s': permissions '%s' "
                 "are both required by %s (uses node '%s' as '%s' child) "
                 "and unshared by %s (uses node '%s' as '%s' child).",
                 node->node_name, names, a, node->node_name, need->name,
                 b, node->node_name, unshare->name);
}

/*
 * What an edge counts for in the totals.  As in QEMU (an inactive node is
 * not writable), an inactive node, or an edge from an inactive parent,
 * asks for no write or resize and shares both: the image then holds only
 * the read lock bytes, and another process may take the write ones.
 */
static void edge_perm(HbNode *node, const HbChild *e, unsigned *perm,
                      unsigned *shared)
{
    const unsigned writes = HB_PERM_WRITE | HB_PERM_RESIZE;

    *perm = e->perm;
    *shared = e->shared_perm;
    if (node->perms_inactive || (e->parent && e->parent->perms_inactive)) {
        *perm &= ~writes;
        *shared |= writes;
    }
}

static void totals(HbNode *node, const HbChild *extra, unsigned *perm,
                   unsigned *shared)
{
    unsigned p, s;

    *perm = 0;
    *shared = HB_PERM_ALL;
    for (guint i = 0; i < node->parents->len; i++) {
        edge_perm(node, g_ptr_array_index(node->parents, i), &p, &s);
        *perm |= p;
        *shared &= s;
    }
    if (extra) {
        edge_perm(node, extra, &p, &s);
        *perm |= p;
        *shared &= s;
    }
}

bool hb_perm_attach(HbNode *node, HbChild *edge, GError **errp)
{
    if (node->read_only &&
        (edge->perm & (HB_PERM_WRITE | HB_PERM_RESIZE))) {
        hb_error_set(errp, "Block node is read-only");
        return false;
    }
    for (guint i = 0; i < node->parents->len; i++) {
        HbChild *e = g_ptr_array_index(node->parents, i);
        if (edge->perm & ~e->shared_perm) {
            conflict_error(node, edge, e, edge->perm & ~e->shared_perm, errp);
            return false;
        }
        if (e->perm & ~edge->shared_perm) {
            conflict_error(node, e, edge, e->perm & ~edge->shared_perm, errp);
            return false;
        }
    }

    unsigned perm, shared;
    totals(node, edge, &perm, &shared);
    if (node->drv->set_perm &&
        (perm != node->perm || shared != node->shared_perm)) {
        if (!node->drv->set_perm(node, perm, shared, errp)) {
            return false;
        }
    }
    node->perm = perm;
    node->shared_perm = shared;
    return true;
}

bool hb_child_set_perm(HbChild *edge, unsigned perm, unsigned shared, GError **errp)
{
    HbNode *node = edge->node;
    unsigned old_perm = edge->perm, old_shared = edge->shared_perm;
    guint at;

    /* Checked as a new edge against the others, in its place afterwards. */
    if (!g_ptr_array_find(node->parents, edge, &at)) {
        hb_error_set(errp, "Not a child edge of node '%s'", node->node_name);
        return false;
    }
    g_ptr_array_remove_index(node->parents, at);
    edge->perm = perm;
    edge->shared_perm = shared;
    bool ok = hb_perm_attach(node, edge, errp);
    if (!ok) {
        edge->perm = old_perm;
        edge->shared_perm = old_shared;
    }
    g_ptr_array_insert(node->parents, (gint)at, edge);
    return ok;
}

bool hb_perm_refresh(HbNode *node, GError **errp)
{
    unsigned perm, shared;

    totals(node, NULL, &perm, &shared);
    if (node->drv->set_perm &&
        (perm != node->perm || shared != node->shared_perm) &&
        !node->drv->set_perm(node, perm, shared, errp)) {
        return false;
    }
    node->perm = perm;
    node->shared_perm = shared;
    return true;
}

void hb_perm_detach(HbNode *node)
{
    /* Only loosens: releasing lock bytes cannot conflict. */
    g_autoptr(GError) err = NULL;
    hb_perm_refresh(node, &err);
}

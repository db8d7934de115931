/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/activate.c — blockdev-set-active: handing a node's image over to another process and back. */
#include "block/node-int.h"
#include "util/error.h"

#include <errno.h>

/*
 * Theory of operation
 *
 * Two daemons over one image on shared storage hand it over as QEMU does
 * on migration: the destination opens it inactive, the source
 * inactivates, the destination activates.  An inactive node refuses I/O,
 * writes nothing to its image, keeps nothing read from it, and its file
 * holds only the read lock bytes.
 *
 * Two flags per node.  node->inactive is the I/O gate (node-io.c's
 * io_enter()): raised before the node is drained, lowered only once its
 * driver has re-read the image.  node->perms_inactive is what perm.c
 * counts: an inactive node and its edges ask no write and share it.
 *
 * Inactivating goes parents first, for the node and every child no
 * active parent still uses; an export on any of them that did not ask for
 * allow-inactive refuses it, as in QEMU.  Each node: gate, drain, flush (the parent's flush still
 * reaches its active child).  Only when every flush worked are the
 * drivers told (inactivate(): drop the metadata) and the lock bytes
 * released; a failed flush reopens the gates, changing nothing.
 *
 * Activating goes children first: first every lock byte (a process still
 * holding the image fails the command here, before any driver re-reads),
 * then each driver's activate() and its gate.  A driver that refuses the
 * image it finds (a changed LUKS header, a dirty qcow2) undoes the whole
 * command.
 */

static bool contains(GPtrArray *a, HbNode *n)
{
    return g_ptr_array_find(a, n, NULL);
}

/* Post-order from @n: the inactive nodes of its subtree, children first. */
static void collect_inactive(HbNode *n, GPtrArray *out)
{
    if (contains(out, n)) {
        return;
    }
    for (guint i = 0; i < n->children->len; i++) {
        HbChild *c = g_ptr_array_index(n->children, i);
        collect_inactive(c->node, out);
    }
    if (!hb_node_is_active(n)) {
        g_ptr_array_add(out, n);
    }
}

/* Whether every parent node of @n is inactive or in @set. */
static bool parents_leaving(HbNode *n, GPtrArray *set)
{
    for (guint i = 0; i < n->parents->len; i++) {
        HbChild *e = g_ptr_array_index(n->parents, i);
        if (e->parent && hb_node_is_active(e->parent) && !contains(set, e->parent)) {
            return false;
        }
    }
    return true;
}

/* Every node below @n, once each. */
static void collect_below(HbNode *n, GPtrArray *out)
{
    for (guint i = 0; i < n->children->len; i++) {
        HbNode *c = ((HbChild *)g_ptr_array_index(n->children, i))->node;
        if (!contains(out, c)) {
            g_ptr_array_add(out, c);
            collect_below(c, out);
        }
    }
}

/*
 * The active nodes to inactivate, parents first: @top and the nodes below
 * it that no active parent outside the set uses, or with NULL every node.
 * A node joins once all its parents have (or are inactive), so each pass
 * over the candidates adds at least one more level.
 */
static GPtrArray *collect_active(HbNode *top)
{
    GPtrArray *out = g_ptr_array_new();
    g_autoptr(GPtrArray) cand = top ? g_ptr_array_new() : hb_graph_snapshot();
    bool grew = true;

    if (top) {
        if (hb_node_is_active(top)) {
            g_ptr_array_add(out, top);
        }
        collect_below(top, cand);
    }
    while (grew) {
        grew = false;
        for (guint i = 0; i < cand->len; i++) {
            HbNode *c = g_ptr_array_index(cand, i);
            if (hb_node_is_active(c) && !contains(out, c) && parents_leaving(c, out)) {
                g_ptr_array_add(out, c);
                grew = true;
            }
        }
    }
    return out;
}

/* Recompute the lock bytes of @set and their children; loosening cannot fail. */
static bool refresh_perms(GPtrArray *set, GError **errp)
{
    for (guint i = 0; i < set->len; i++) {
        HbNode *n = g_ptr_array_index(set, i);
        if (!hb_perm_refresh(n, errp)) {
            return false;
        }
        for (guint k = 0; k < n->children->len; k++) {
            HbChild *c = g_ptr_array_index(n->children, k);
            if (!hb_perm_refresh(c->node, errp)) {
                return false;
            }
        }
    }
    return true;
}

static void set_perms_inactive(GPtrArray *set, bool inactive)
{
    for (guint i = 0; i < set->len; i++) {
        ((HbNode *)g_ptr_array_index(set, i))->perms_inactive = inactive;
    }
    g_autoptr(GError) ignored = NULL;
    if (inactive) {
        refresh_perms(set, &ignored);
    }
}

/* Close @n's gate and wait for the requests already inside. */
static void gate_close(HbNode *n)
{
    g_atomic_int_set(&n->inactive, 1);
    hb_node_drain(n);
}

/* Whether a user of a node in @set keeps it active (an export without allow-inactive). */
static bool users_keep_active(GPtrArray *set)
{
    for (guint i = 0; i < set->len; i++) {
        HbNode *n = g_ptr_array_index(set, i);
        for (guint k = 0; k < n->parents->len; k++) {
            HbChild *e = g_ptr_array_index(n->parents, k);
            if (!e->parent && !e->allow_inactive) {
                return true;
            }
        }
    }
    return false;
}

static void inactivate_error(GError **errp, HbNode *top, int err)
{
    hb_error_set_errno(errp, err, top ? "Failed to inactivate node"
                                      : "Failed to inactivate all nodes");
}

static bool inactivate(HbNode *top, GError **errp)
{
    g_autoptr(GPtrArray) set = collect_active(top);

    if (users_keep_active(set)) {
        inactivate_error(errp, top, -EPERM);
        return false;
    }
    for (guint i = 0; i < set->len; i++) {
        HbNode *n = g_ptr_array_index(set, i);
        gate_close(n);
        int ret = n->read_only ? 0 : hb_node_flush(n);
        if (ret < 0) {
            for (guint k = 0; k <= i; k++) {
                g_atomic_int_set(&((HbNode *)g_ptr_array_index(set, k))->inactive, 0);
            }
            inactivate_error(errp, top, ret);
            return false;
        }
    }
    for (guint i = 0; i < set->len; i++) {
        HbNode *n = g_ptr_array_index(set, i);
        if (n->drv->inactivate) {
            n->drv->inactivate(n);
        }
    }
    set_perms_inactive(set, true);
    return true;
}

static bool activate(HbNode *top, GError **errp)
{
    g_autoptr(GPtrArray) set = g_ptr_array_new();

    if (top) {
        collect_inactive(top, set);
    } else {
        g_autoptr(GPtrArray) all = hb_graph_snapshot();
        for (guint i = 0; i < all->len; i++) {
            collect_inactive(g_ptr_array_index(all, i), set);
        }
    }
    if (!set->len) {
        return true;
    }
    /* The locks first: while another process holds them, nothing changes. */
    set_perms_inactive(set, false);
    if (!refresh_perms(set, errp)) {
        set_perms_inactive(set, true);
        return false;
    }
    for (guint i = 0; i < set->len; i++) {
        HbNode *n = g_ptr_array_index(set, i);
        if (n->drv->activate && !n->drv->activate(n, errp)) {
            g_prefix_error(errp, "Could not activate node '%s': ", n->node_name);
            /* Undo, parents first: the ones already open are drained again. */
            for (guint k = i; k-- > 0;) {
                HbNode *m = g_ptr_array_index(set, k);
                gate_close(m);
                if (!m->read_only) {
                    hb_node_flush(m);
                }
                if (m->drv->inactivate) {
                    m->drv->inactivate(m);
                }
            }
            set_perms_inactive(set, true);
            return false;
        }
        g_atomic_int_set(&n->inactive, 0);
    }
    return true;
}

void hb_node_set_user_allow_inactive(HbNode *node, const char *user, bool allow)
{
    for (guint i = 0; i < node->parents->len; i++) {
        HbChild *e = g_ptr_array_index(node->parents, i);
        if (!e->parent && g_str_equal(e->name, user)) {
            e->allow_inactive = allow;
        }
    }
}

bool hb_node_is_active(HbNode *node)
{
    return !g_atomic_int_get(&node->inactive);
}

bool hb_node_set_active(HbNode *node, bool active, GError **errp)
{
    if (active) {
        return activate(node, errp);
    }
    if (node) {
        for (guint i = 0; i < node->parents->len; i++) {
            HbChild *e = g_ptr_array_index(node->parents, i);
            if (e->parent && hb_node_is_active(e->parent)) {
                hb_error_set(errp, "Node has active parent node");
                return false;
            }
        }
    }
    return inactivate(node, errp);
}

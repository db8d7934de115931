/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/node.c — node lifecycle, child edges, and the checked I/O entry points. */
#include "block/node-int.h"
#include "block/iov.h"
#include "qapi-json.h"
#include "util/error.h"
#include "util/id.h"
#include "util/lifecycle.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*
 * Theory of operation
 *
 * hb_node_open() validates the name, lets the driver open (which attaches
 * children through hb_node_open_child()), and only then makes the node
 * visible in the graph.  Any failure unwinds what was attached, so inline
 * children close and named ones only lose the reference they gained.
 *
 * The last reference closes a node: drain, flush, the driver's close, then
 * the children's edges, each child closing the same way when it was its
 * last.  The registry (blockdev-add's nodes) is one reference per node.
 * The I/O entry points live in node-io.c, the list of open nodes in
 * graph.c, which calls nothing here.
 */

#define NODE_NAME_MAX 31   /* QEMU's node_name[32] */

static bool check_name(const char *name, GError **errp)
{
    if (!hb_id_wellformed(name)) {
        hb_error_set(errp, "Invalid node-name: '%s'", name);
        return false;
    }
    if (strlen(name) > NODE_NAME_MAX) {
        hb_error_set(errp, "Node name too long");
        return false;
    }
    if (hb_node_find(name)) {
        hb_error_set(errp, "Duplicate nodes with node-name='%s'", name);
        return false;
    }
    return true;
}

static void detach_edge(HbChild *c)
{
    HbNode *child = c->node;

    g_ptr_array_remove(child->parents, c);
    hb_perm_detach(child);
    g_free(c->name);
    g_free(c);
    hb_node_unref(child);
}

static void detach_all_children(HbNode *node)
{
    /* Last attached first: the reverse of opening. */
    while (node->children->len) {
        HbChild *c = g_ptr_array_steal_index(node->children,
                                             node->children->len - 1);
        detach_edge(c);
    }
}

static void node_free(HbNode *node)
{
    g_ptr_array_unref(node->children);
    g_ptr_array_unref(node->parents);
    qapi_free_BlockdevOptions(node->options);
    g_rw_lock_clear(&node->rmw_lock);
    g_free(node->node_name);
    g_free(node);
}

HbNode *hb_node_open(QapiBlockdevOptions *opts, GError **errp)
{
    const HbDriver *drv = hb_driver_for(opts->driver);

    if (!drv || !drv->open) {
        hb_error_set(errp, "Driver '%s' is not supported",
                     QapiBlockdevDriver_str(opts->driver));
        return NULL;
    }
    if (opts->node_name && !check_name(opts->node_name, errp)) {
        return NULL;
    }
    bool ro = opts->has_read_only && opts->read_only;
    if (opts->has_force_share && opts->force_share && !ro) {
        hb_error_set(errp,
                     "force-share=on can only be used with read-only images");
        return NULL;
    }

    HbNode *node = g_new0(HbNode, 1);
    node->refcnt = 1;
    node->drv = drv;
    node->options = qapi_clone_BlockdevOptions(opts);
    node->read_only = ro;
    node->force_share = opts->has_force_share && opts->force_share;
    node->cache_direct = opts->cache && opts->cache->has_direct &&
                         opts->cache->direct;
    node->cache_no_flush = opts->cache && opts->cache->has_no_flush &&
                           opts->cache->no_flush;
    node->discard_unmap = opts->has_discard &&
                          opts->discard == QAPI_BLOCKDEV_DISCARD_OPTIONS_UNMAP;
    node->request_alignment = 1;
    /* Inactive from the start: its edges take no write lock (perm.c). */
    node->inactive = node->perms_inactive = opts->has_active && !opts->active;
    node->shared_perm = HB_PERM_ALL;
    node->children = g_ptr_array_new();
    node->parents = g_ptr_array_new();
    g_rw_lock_init(&node->rmw_lock);
    node->node_name = g_strdup(opts->node_name);

    if (!drv->open(node, node->options, errp)) {
        detach_all_children(node);
        node_free(node);
        return NULL;
    }
    /* An inline child may have claimed the name while we opened. */
    if (node->node_name && hb_node_find(node->node_name)) {
        hb_error_set(errp, "Duplicate nodes with node-name='%s'",
                     node->node_name);
        drv->close(node);
        detach_all_children(node);
        node_free(node);
        return NULL;
    }
    if (!node->node_name) {
        node->node_name = hb_graph_auto_name();
        node->auto_named = true;
    }
    hb_graph_insert(node);
    return node;
}

HbNode *hb_node_ref(HbNode *node)
{
    if (node) {
        g_atomic_int_inc(&node->refcnt);
    }
    return node;
}

static void (*close_error_handler)(HbNode *node, int err);

void hb_node_set_close_error_handler(void (*fn)(HbNode *node, int err))
{
    close_error_handler = fn;
}

void hb_node_report_close_error(HbNode *node, int err)
{
    if (close_error_handler) {
        close_error_handler(node, err);
    }
}

/*
 * Closing writes back first, as QEMU's bdrv_close() does: whatever a driver
 * caches (qcow2's L2 and refcount tables) reaches its child, and the child
 * its disk, before anything is released.  The children are still attached
 * here; each flushes again as its own last reference goes.  A failure is
 * handed to the driver's close() in close_error (qcow2 then marks the
 * image dirty) and reported: acknowledged data may not be on disk.
 */
void hb_node_unref(HbNode *node)
{
    if (!node || !g_atomic_int_dec_and_test(&node->refcnt)) {
        return;
    }
    hb_node_drain(node);
    node->close_error = node->read_only ? 0 : hb_node_flush(node);
    hb_graph_remove(node);
    node->drv->close(node);
    if (node->close_error < 0) {
        hb_node_report_close_error(node, node->close_error);
    }
    detach_all_children(node);
    node_free(node);
}

static HbChild *attach(HbNode *child, HbNode *parent, const char *name,
                       unsigned perm, unsigned shared, GError **errp)
{
    HbChild *c = g_new0(HbChild, 1);

    c->name = g_strdup(name);
    c->parent = parent;
    c->node = child;
    c->perm = perm;
    c->shared_perm = shared;
    if (!hb_perm_attach(child, c, errp)) {
        g_free(c->name);
        g_free(c);
        return NULL;
    }
    g_ptr_array_add(child->parents, c);
    if (parent) {
        g_ptr_array_add(parent->children, c);
    }
    return c;
}

/*
 * An inline child takes its parent's cache mode, read-only, force-share and
 * active settings unless it sets them itself, as QEMU's inherited options do: an
 * operator who asks for cache.direct on a qcow2 node means the file below.
 */
static QapiBlockdevOptions *inherit_options(HbNode *parent,
                                            const QapiBlockdevOptions *def)
{
    QapiBlockdevOptions *o = qapi_clone_BlockdevOptions(def);

    if (parent->cache_direct || parent->cache_no_flush) {
        if (!o->cache) {
            o->cache = g_new0(QapiBlockdevCacheOptions, 1);
        }
        if (!o->cache->has_direct && parent->cache_direct) {
            o->cache->has_direct = o->cache->direct = true;
        }
        if (!o->cache->has_no_flush && parent->cache_no_flush) {
            o->cache->has_no_flush = o->cache->no_flush = true;
        }
    }
    if (!o->has_read_only && parent->read_only) {
        o->has_read_only = o->read_only = true;
    }
    if (!o->has_force_share && parent->force_share && o->read_only) {
        o->has_force_share = o->force_share = true;
    }
    if (!o->has_active && !hb_node_is_active(parent)) {
        o->has_active = true;
        o->active = false;
    }
    return o;
}

HbChild *hb_node_open_child(HbNode *parent, const char *role,
                            QapiBlockdevRef *ref, unsigned perm,
                            unsigned shared, GError **errp)
{
    g_autoptr(HbNode) child = NULL;

    if (!ref) {
        hb_error_set(errp, "A block device must be specified for \"%s\"",
                     role);
        return NULL;
    }
    if (ref->type == QAPI_QTYPE_QSTRING) {
        child = hb_node_ref(hb_node_lookup(ref->u.reference, errp));
    } else {
        g_autoptr(QapiBlockdevOptions) def =
            inherit_options(parent, ref->u.definition);
        child = hb_node_open(def, errp);
    }
    if (!child) {
        return NULL;
    }
    /* Its requests would fail, and its locks not be taken (block/activate.c). */
    if (hb_node_is_active(parent) && !hb_node_is_active(child)) {
        hb_error_set(errp, "Inactive '%s' can't be a %s child of active '%s'",
                     child->node_name, role, parent->node_name ? parent->node_name : "");
        return NULL;
    }
    if (parent->force_share) {
        shared = HB_PERM_ALL;
    }
    HbChild *c = attach(child, parent, role, perm, shared, errp);
    if (c) {
        g_steal_pointer(&child);    /* the edge holds the reference */
    }
    return c;
}

HbChild *hb_node_child(HbNode *node, const char *role)
{
    for (guint i = 0; i < node->children->len; i++) {
        HbChild *c = g_ptr_array_index(node->children, i);
        if (g_str_equal(c->name, role)) {
            return c;
        }
    }
    return NULL;
}

HbChild *hb_node_attach_user(HbNode *node, const char *user, unsigned perm,
                             unsigned shared, GError **errp)
{
    HbChild *c = attach(node, NULL, user, perm, shared, errp);

    if (c) {
        hb_node_ref(node);
    }
    return c;
}

void hb_node_detach_user(HbChild *child)
{
    if (child) {
        detach_edge(child);
    }
}

/* ---- the registry's reference (blockdev-add, blockdev-del, exit) ---- */

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
    g_autoptr(GPtrArray) snap = hb_graph_snapshot();
    for (guint i = snap->len; i-- > 0;) {
        HbNode *n = g_ptr_array_index(snap, i);
        if (hb_graph_contains(n) && n->in_registry) {
            hb_node_unregister(n);
        }
    }
    g_autoptr(GPtrArray) left = hb_graph_snapshot();
    for (guint i = left->len; i-- > 0;) {
        HbNode *n = g_ptr_array_index(left, i);
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

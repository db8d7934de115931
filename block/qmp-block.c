/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/qmp-block.c — blockdev-add, blockdev-del, blockdev-set-active, block_resize, query-named-block-nodes. */
#include "block/info.h"
#include "block/node.h"
#include "qapi-commands.h"
#include "qapi-events.h"
#include "util/log.h"
#include "util/error.h"

#include <stdio.h>

/*
 * blockdev-add is a transaction by construction: hb_node_open() either
 * returns a fully open node (with inline children) or has already undone
 * everything.  Registering cannot fail after a successful open (the name
 * was checked), so the only reference that survives is the registry's.
 */
/*
 * A node that cannot write its data back when it closes may have lost
 * acknowledged writes: that is never silent.  It goes to the daemon's
 * log and to every QMP client as an event.
 */
static void report_close_error(HbNode *node, int err)
{
    hb_log(HB_LOG_ERROR, "node '%s': writing data back on close failed: %s",
           node->node_name, g_strerror(-err));
    qapi_event_send_block_node_close_error(node->node_name, g_strerror(-err));
}

bool qmp_blockdev_add(QapiBlockdevOptions *args, GError **errp)
{
    /* Every node comes through here (--blockdev too), before any closes. */
    hb_node_set_close_error_handler(report_close_error);
    if (!args->node_name) {
        hb_error_set(errp, "'node-name' must be specified for the root node");
        return false;
    }
    g_autoptr(HbNode) node = hb_node_open(args, errp);
    if (!node) {
        return false;
    }
    return hb_node_register(node, errp);
}

bool qmp_blockdev_del(QapiBlockdevDelArgs *args, GError **errp)
{
    HbNode *node = hb_node_find(args->node_name);

    if (!node) {
        hb_error_set(errp, "Failed to find node with node-name='%s'",
                     args->node_name);
        return false;
    }
    g_autofree char *busy = hb_node_busy_reason(node);
    if (busy) {
        hb_error_set(errp, "%s", busy);
        return false;
    }
    if (!node->in_registry) {
        hb_error_set(errp, "Node %s is not owned by the monitor",
                     node->node_name);
        return false;
    }
    hb_node_unregister(node);
    return true;
}

bool qmp_blockdev_set_active(QapiBlockdevSetActiveArgs *args, GError **errp)
{
    HbNode *node = NULL;

    if (args->node_name) {
        node = hb_node_find(args->node_name);
        if (!node) {
            hb_error_set(errp, "Failed to find node with node-name='%s'",
                         args->node_name);
            return false;
        }
    }
    if (!hb_node_set_active(node, args->active, errp)) {
        return false;
    }
    /* The other process may have resized the image: exports tell their guests. */
    if (args->active) {
        hb_node_run_resize_hooks();
    }
    return true;
}

bool qmp_block_resize(QapiBlockResizeArgs *args, GError **errp)
{
    HbNode *node = args->node_name ? hb_node_find(args->node_name) : NULL;
    HbChild *user;
    int ret;

    /* No block backends here, as in QSD: a bare @device never matches. */
    if (!node) {
        hb_error_set_code(errp, HB_ERROR_DEVICE_NOT_FOUND,
                          "Cannot find device='%s' nor node-name='%s'",
                          args->device ? args->device : "",
                          args->node_name ? args->node_name : "");
        return false;
    }
    if (args->size < 0) {
        hb_error_set(errp, "Parameter 'size' expects a >0 size");
        return false;
    }
    /* Like QEMU, resize as a user asking RESIZE and sharing everything. */
    user = hb_node_attach_user(node, HB_NODE_ANONYMOUS_USER, HB_PERM_RESIZE, HB_PERM_ALL, errp);
    if (!user) {
        return false;
    }
    ret = hb_node_truncate(node, (uint64_t)args->size, errp);
    hb_node_detach_user(user);
    if (ret < 0) {
        return false;
    }
    hb_node_run_resize_hooks();
    return true;
}

typedef struct QueryAcc {
    QapiBlockDeviceInfoList **tail;
    bool flat;
} QueryAcc;

static void query_one(HbNode *node, void *opaque)
{
    QueryAcc *acc = opaque;
    QapiBlockDeviceInfoList *e = g_new0(QapiBlockDeviceInfoList, 1);

    e->value = hb_node_query_flat(node, acc->flat);
    *acc->tail = e;
    acc->tail = &e->next;
}

bool qmp_query_named_block_nodes(QapiQueryNamedBlockNodesArgs *args,
                                 QapiBlockDeviceInfoList **ret,
                                 GError **errp)
{
    QueryAcc acc = { .tail = ret, .flat = args->has_flat && args->flat };

    *ret = NULL;
    hb_node_foreach(query_one, &acc);
    return true;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/qmp-block.c — blockdev-add, blockdev-del, query-named-block-nodes. */
#include "block/info.h"
#include "block/node.h"
#include "qapi-commands.h"
#include "util/error.h"

/*
 * blockdev-add is a transaction by construction: hb_node_open() either
 * returns a fully open node (with inline children) or has already undone
 * everything.  Registering cannot fail after a successful open (the name
 * was checked), so the only reference that survives is the registry's.
 */
bool qmp_blockdev_add(QapiBlockdevOptions *args, GError **errp)
{
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

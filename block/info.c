/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/info.c — filenames ("json:{...}") and query structures for nodes. */
#include "block/info.h"
#include "qapi-json.h"

#include <json-glib/json-glib.h>

/* Options that say how a node is used, not what it is: QEMU leaves them
 * out of json: filenames too. */
static const char *const runtime_opts[] = {
    "node-name", "read-only", "auto-read-only", "force-share", "discard",
    "cache", "detect-zeroes", NULL,
};

static JsonNode *node_json(HbNode *node)
{
    JsonNode *j = qapi_to_json_BlockdevOptions(node->options);
    JsonObject *o = json_node_get_object(j);

    for (const char *const *k = runtime_opts; *k; k++) {
        if (json_object_has_member(o, *k)) {
            json_object_remove_member(o, *k);
        }
    }
    for (guint i = 0; i < node->children->len; i++) {
        HbChild *c = g_ptr_array_index(node->children, i);
        json_object_set_member(o, c->name, node_json(c->node));
    }
    return j;
}

/* raw without a window is transparent, as QEMU shows it. */
static bool is_plain_raw(HbNode *node)
{
    QapiBlockdevOptionsRaw *r = node->options->u.raw;

    return node->options->driver == QAPI_BLOCKDEV_DRIVER_RAW &&
           !r->has_offset && !r->has_size;
}

char *hb_node_filename(HbNode *node)
{
    switch (node->options->driver) {
    case QAPI_BLOCKDEV_DRIVER_FILE:
        return g_strdup(node->options->u.file->filename);
    case QAPI_BLOCKDEV_DRIVER_NULL_CO:
        return g_strdup("null-co://");
    default:
        break;
    }
    if (is_plain_raw(node) && hb_node_child(node, "file")) {
        return hb_node_filename(hb_node_child(node, "file")->node);
    }
    g_autoptr(JsonNode) j = node_json(node);
    g_autofree char *text = json_to_string(j, false);
    return g_strconcat("json:", text, NULL);
}

QapiImageInfo *hb_node_image_info(HbNode *node)
{
    QapiImageInfo *info = g_new0(QapiImageInfo, 1);
    int64_t len = hb_node_get_length(node);
    int64_t alloc = hb_node_get_allocated_size(node);

    info->filename = hb_node_filename(node);
    info->format = g_strdup(node->drv->name);
    info->virtual_size = len > 0 ? len : 0;
    if (alloc >= 0) {
        info->has_actual_size = true;
        info->actual_size = alloc;
    }
    if (node->options->driver == QAPI_BLOCKDEV_DRIVER_LUKS) {
        info->has_encrypted = true;
        info->encrypted = true;
    }
    if (node->drv->query_specific) {
        info->format_specific = node->drv->query_specific(node);
    }
    return info;
}

QapiBlockDeviceInfo *hb_node_query(HbNode *node)
{
    QapiBlockDeviceInfo *d = g_new0(QapiBlockDeviceInfo, 1);

    d->file = hb_node_filename(node);
    d->node_name = g_strdup(node->node_name);
    d->ro = node->read_only;
    d->drv = g_strdup(node->drv->name);
    d->encrypted = node->options->driver == QAPI_BLOCKDEV_DRIVER_LUKS;
    d->detect_zeroes = node->options->has_detect_zeroes
                       ? node->options->detect_zeroes
                       : QAPI_BLOCKDEV_DETECT_ZEROES_OPTIONS_OFF;
    d->image = hb_node_image_info(node);
    d->cache = g_new0(QapiBlockdevCacheInfo, 1);
    d->cache->writeback = true;
    d->cache->direct = node->cache_direct;
    d->cache->no_flush = node->cache_no_flush;
    return d;
}

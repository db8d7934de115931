/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/info.c — filenames ("json:{...}") and query structures for nodes. */
#include "block/info.h"
#include "qapi-json.h"

#include <json-glib/json-glib.h>
#include <string.h>

/* Options that say how a node is used, not what it is: QEMU leaves them
 * out of json: filenames too. */
static const char *const runtime_opts[] = {
    "node-name", "read-only", "auto-read-only", "force-share", "discard",
    "cache", "detect-zeroes", NULL,
};

/*
 * Everything driver-specific comes through HbDriver's info callbacks
 * (filename, named_by_file, backing_filename/format, get_info, encrypted):
 * this file names no driver.
 */

/* The backing file name the image header gives, or NULL. */
static const char *header_backing(HbNode *node)
{
    return node->drv->backing_filename ? node->drv->backing_filename(node) : NULL;
}

/*
 * QEMU's bdrv_dirname(): everything up to and including the last '/' of
 * the image's file name ("" for a bare name), or NULL when the image has
 * no plain file name to be relative to.
 */
static char *image_dirname(HbNode *node)
{
    HbChild *file = hb_node_child(node, "file");
    g_autofree char *name = file ? hb_node_filename(file->node) : NULL;

    if (!name || g_str_has_prefix(name, "json:")) {
        return NULL;
    }
    const char *slash = strrchr(name, '/');
    return g_strndup(name, slash ? (gsize)(slash - name + 1) : 0);
}

/*
 * The header's backing file name as QEMU resolves it for
 * full-backing-filename: relative names are taken relative to the
 * image's directory.  NULL if there is none or it cannot be resolved.
 */
static char *full_backing_filename(HbNode *node)
{
    const char *name = header_backing(node);

    if (!name) {
        return NULL;
    }
    if (g_path_is_absolute(name) || g_str_has_prefix(name, "json:")) {
        return g_strdup(name);
    }
    g_autofree char *dir = image_dirname(node);
    return dir ? g_strconcat(dir, name, NULL) : NULL;
}

/* Same file, whatever way its name is spelt (relative or absolute, "d/../a"). */
static bool same_path(const char *a, const char *b)
{
    if (g_str_has_prefix(a, "json:") || g_str_has_prefix(b, "json:")) {
        return g_str_equal(a, b);
    }
    g_autofree char *ca = g_canonicalize_filename(a, NULL);
    g_autofree char *cb = g_canonicalize_filename(b, NULL);
    return g_str_equal(ca, cb);
}

/*
 * QEMU's bdrv_backing_overridden(): the backing node is not the one the
 * image header names (given by node-name or inline, or "backing": null
 * over a header that names one).  Only then does the backing belong in
 * the node's filename.
 */
static bool backing_overridden(HbNode *node)
{
    if (!node->drv->backing_filename) {
        return hb_node_child(node, "backing") != NULL;
    }
    HbChild *backing = hb_node_child(node, "backing");
    const char *header = header_backing(node);

    if (!backing) {
        return header != NULL;
    }
    g_autofree char *full = full_backing_filename(node);
    g_autofree char *actual = hb_node_filename(backing->node);
    return !full || !same_path(full, actual);
}

static JsonNode *node_json(HbNode *node)
{
    JsonNode *j = qapi_to_json_BlockdevOptions(node->options);
    JsonObject *o = json_node_get_object(j);

    for (const char *const *k = runtime_opts; *k; k++) {
        if (json_object_has_member(o, *k)) {
            json_object_remove_member(o, *k);
        }
    }
    bool overridden = backing_overridden(node);
    for (guint i = 0; i < node->children->len; i++) {
        HbChild *c = g_ptr_array_index(node->children, i);
        if (g_str_equal(c->name, "backing") && !overridden) {
            continue;
        }
        json_object_set_member(o, c->name, node_json(c->node));
    }
    if (!overridden && json_object_has_member(o, "backing")) {
        json_object_remove_member(o, "backing");
    } else if (overridden && !hb_node_child(node, "backing")) {
        json_object_set_null_member(o, "backing");
    }
    return j;
}

/*
 * A format node with nothing but its file (raw without a window, qcow2
 * with the backing its header names) is named by its file, as QEMU
 * shows it: such an image would open the same way from that name.
 */
static bool is_plain_format(HbNode *node)
{
    return node->drv->named_by_file && node->drv->named_by_file(node) &&
           !backing_overridden(node);
}

char *hb_node_filename(HbNode *node)
{
    if (node->drv->filename) {
        return node->drv->filename(node);
    }
    HbChild *file = hb_node_child(node, "file");
    if (file && is_plain_format(node)) {
        char *name = hb_node_filename(file->node);
        if (!g_str_has_prefix(name, "json:")) {
            return name;
        }
        g_free(name);
    }
    g_autoptr(JsonNode) j = node_json(node);
    g_autofree char *text = json_to_string(j, false);
    return g_strconcat("json:", text, NULL);
}

/* The driver's answer to QEMU's bdrv_get_info(), or false if it has none. */
static bool driver_info(HbNode *node, HbDriverInfo *bdi)
{
    *bdi = (HbDriverInfo){ 0 };
    return node->drv->get_info ? node->drv->get_info(node, bdi) : true;
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
    if (node->drv->encrypted) {
        info->has_encrypted = true;
        info->encrypted = true;
    }
    HbDriverInfo bdi;
    if (driver_info(node, &bdi)) {
        info->has_dirty_flag = true;
        info->dirty_flag = bdi.dirty;
        if (bdi.cluster_size) {
            info->has_cluster_size = true;
            info->cluster_size = bdi.cluster_size;
        }
    }
    const char *backing = header_backing(node);
    if (backing) {
        info->backing_filename = g_strdup(backing);
        info->full_backing_filename = full_backing_filename(node);
        const char *fmt = node->drv->backing_format ? node->drv->backing_format(node) : NULL;
        info->backing_filename_format = g_strdup(fmt);
    }
    if (node->drv->query_specific) {
        info->format_specific = node->drv->query_specific(node);
    }
    return info;
}

QapiImageInfo *hb_node_image_info_chain(HbNode *node)
{
    QapiImageInfo *top = hb_node_image_info(node);
    QapiImageInfo *info = top;

    for (HbChild *b = hb_node_child(node, "backing"); b;
         b = hb_node_child(b->node, "backing")) {
        info->backing_image = hb_node_image_info(b->node);
        info = info->backing_image;
    }
    return top;
}

QapiBlockDeviceInfo *hb_node_query(HbNode *node)
{
    return hb_node_query_flat(node, false);
}

QapiBlockDeviceInfo *hb_node_query_flat(HbNode *node, bool flat)
{
    QapiBlockDeviceInfo *d = g_new0(QapiBlockDeviceInfo, 1);
    HbChild *backing = hb_node_child(node, "backing");

    d->file = hb_node_filename(node);
    d->node_name = g_strdup(node->node_name);
    d->ro = node->read_only;
    d->active = hb_node_is_active(node);
    d->drv = g_strdup(node->drv->name);
    d->encrypted = node->drv->encrypted;
    d->detect_zeroes = node->options->has_detect_zeroes
                       ? node->options->detect_zeroes
                       : QAPI_BLOCKDEV_DETECT_ZEROES_OPTIONS_OFF;
    if (backing) {
        d->backing_file = hb_node_filename(backing->node);
    }
    /* As QEMU: the depth is counted while nesting, so flat reports 0. */
    if (flat) {
        d->image = hb_node_image_info(node);
    } else {
        d->image = hb_node_image_info_chain(node);
        for (QapiImageInfo *i = d->image->backing_image; i; i = i->backing_image) {
            d->backing_file_depth++;
        }
    }
    d->cache = g_new0(QapiBlockdevCacheInfo, 1);
    d->cache->writeback = true;
    d->cache->direct = node->cache_direct;
    d->cache->no_flush = node->cache_no_flush;
    if (node->drv->get_aio) {
        d->has_aio = true;
        d->aio = node->drv->get_aio(node);
    }
    return d;
}

QapiBlockStats *hb_node_query_stats(HbNode *node, bool backing)
{
    QapiBlockStats *s = g_new0(QapiBlockStats, 1);
    HbChild *c;

    s->node_name = g_strdup(node->node_name);
    s->stats = g_new0(QapiBlockDeviceStats, 1);
    s->stats->wr_highest_offset =
        (int64_t)__atomic_load_n(&node->wr_highest_offset, __ATOMIC_RELAXED);
    /* QEMU's "parent" is the primary data child: "file" for every format here. */
    if ((c = hb_node_child(node, "file"))) {
        s->parent = hb_node_query_stats(c->node, backing);
    }
    if (backing && (c = hb_node_child(node, "backing"))) {
        s->backing = hb_node_query_stats(c->node, backing);
    }
    return s;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/img/open.c — opening an image name (file, json:{...}, --image-opts) as a block graph. */

#include <fcntl.h>
#include <unistd.h>

#include "tools/img/img.h"

#include "util/keyval.h"
#include "qapi-json.h"
#include "util/error.h"

/*
 * In a json: filename a child given only by "filename" is a file, as
 * QEMU reads {"file":{"filename":"x"}}.
 */
static void default_file_driver(JsonObject *o)
{
    if (!json_object_has_member(o, "driver") &&
        json_object_has_member(o, "filename")) {
        json_object_set_string_member(o, "driver", "file");
    }
    g_autoptr(GList) members = json_object_get_members(o);
    for (GList *l = members; l; l = l->next) {
        JsonNode *v = json_object_get_member(o, l->data);
        if (JSON_NODE_HOLDS_OBJECT(v)) {
            default_file_driver(json_node_get_object(v));
        }
    }
}

/* Set @key to @value on every file node definition in the tree. */
static void set_on_files(JsonObject *o, const char *key, const char *value)
{
    if (g_strcmp0(json_object_get_string_member_with_default(o, "driver", NULL), "file") == 0) {
        json_object_set_string_member(o, key, value);
    }
    g_autoptr(GList) members = json_object_get_members(o);
    for (GList *l = members; l; l = l->next) {
        JsonNode *v = json_object_get_member(o, l->data);
        if (JSON_NODE_HOLDS_OBJECT(v)) {
            set_on_files(json_node_get_object(v), key, value);
        }
    }
}

/* Set @key on every node definition in the tree (inline children too). */
static void set_everywhere(JsonObject *o, const char *key, bool keyval)
{
    if (json_object_has_member(o, "driver")) {
        if (keyval) {
            json_object_set_string_member(o, key, "on");
        } else {
            json_object_set_boolean_member(o, key, true);
        }
    }
    g_autoptr(GList) members = json_object_get_members(o);
    for (GList *l = members; l; l = l->next) {
        JsonNode *v = json_object_get_member(o, l->data);
        if (JSON_NODE_HOLDS_OBJECT(v)) {
            set_everywhere(json_node_get_object(v), key, keyval);
        }
    }
}

bool hb_img_cache_mode_valid(const char *mode, GError **errp)
{
    static const char *const modes[] = { "none", "writeback", "unsafe", "directsync",
                                         "writethrough", NULL };

    if (!g_strv_contains(modes, mode)) {
        hb_error_set(errp, "Invalid cache option: %s", mode);
        return false;
    }
    return true;
}

/*
 * A cache mode as the root's cache options (its children inherit them):
 * none and directsync bypass the page cache, unsafe never flushes.  The
 * write-through modes' flush after every write is not kept: the copy
 * flushes once at its end.
 */
static void set_cache(JsonObject *root, const char *mode, bool keyval)
{
    bool direct = g_str_equal(mode, "none") || g_str_equal(mode, "directsync");
    bool no_flush = g_str_equal(mode, "unsafe");

    if (!direct && !no_flush) {
        return;
    }
    JsonObject *c = json_object_new();
    const char *key = direct ? "direct" : "no-flush";
    if (keyval) {
        json_object_set_string_member(c, key, "on");
    } else {
        json_object_set_boolean_member(c, key, true);
    }
    json_object_set_object_member(root, "cache", c);
}

HbNode *hb_img_open_image(const char *name, const HbImgOpenSpec *spec, GError **errp)
{
    g_autoptr(JsonNode) j = NULL;
    bool keyval = false;

    if (spec->image_opts) {
        j = hb_keyval_parse(name, NULL, NULL, errp);
        keyval = true;
    } else if (g_str_has_prefix(name, "json:")) {
        j = json_from_string(name + 5, errp);
        if (j && !JSON_NODE_HOLDS_OBJECT(j)) {
            hb_error_set(errp, "Could not parse the JSON options");
            return NULL;
        }
    } else {
        const char *fmt = spec->fmt ? spec->fmt : hb_img_probe_format(name);
        if (!spec->fmt && !hb_img_format_supported(fmt, errp)) {
            return NULL;
        }
        JsonObject *o = json_object_new();
        j = json_node_init_object(json_node_alloc(), o);
        json_object_set_string_member(o, "driver", fmt);
        if (spec->no_backing && g_str_equal(fmt, "qcow2")) {
            json_object_set_null_member(o, "backing");
        }
        if (!g_str_equal(fmt, "file")) {
            JsonObject *f = json_object_new();
            json_object_set_string_member(f, "driver", "file");
            json_object_set_string_member(f, "filename", name);
            json_object_set_object_member(o, "file", f);
        } else {
            json_object_set_string_member(o, "filename", name);
        }
        json_object_unref(o);
    }
    if (!j) {
        return NULL;
    }
    JsonObject *root = json_node_get_object(j);
    default_file_driver(root);
    if (spec->read_only) {
        set_everywhere(root, "read-only", keyval);
    }
    if (spec->force_share) {
        set_everywhere(root, "force-share", keyval);
    }
    if (spec->cache) {
        set_cache(root, spec->cache, keyval);
    }
    if (spec->aio) {
        set_on_files(root, "aio", spec->aio);
    }
    if (spec->key_secret && !json_object_has_member(root, "key-secret") &&
        g_strcmp0(json_object_get_string_member_with_default(root, "driver", ""),
                  "luks") == 0) {
        json_object_set_string_member(root, "key-secret", spec->key_secret);
    }
    g_autoptr(QapiBlockdevOptions) opts = NULL;
    if (!qapi_from_json_BlockdevOptions(j, keyval, &opts, errp)) {
        return NULL;
    }
    return hb_node_open(opts, errp);
}

int hb_img_open_fail(GError *err, const char *name)
{
    fprintf(stderr, "%s: Could not open '%s': %s\n", hb_img_prog, name, err->message);
    /* qemu-img's hint, word for word: operators search for it. */
    if (strstr(err->message, "\" lock")) {
        fprintf(stderr, "Is another process using the image [%s]?\n", name);
    }
    g_error_free(err);
    return 1;
}

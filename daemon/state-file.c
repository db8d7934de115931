/* SPDX-License-Identifier: GPL-2.0-or-later */
/* daemon/state-file.c — record the graph's making commands; replay them at start. */
#include "daemon/state-file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/node.h"
#include "block/throttle-group.h"
#include "qapi-json.h"
#include "qmp/dispatch.h"
#include "util/error.h"
#include "util/fd-io.h"
#include "util/json.h"
#include "util/log.h"

#define STATE_VERSION 1
/* A state file bigger than this is not one of ours. */
#define STATE_MAX_BYTES (64u << 20)

/* One recorded command; @key names what it made ("node:disk0"). */
typedef struct Item {
    char *key;
    char *execute;
    JsonNode *args;
    bool keyval;
} Item;

static char *state_path;
static GPtrArray *items;      /* Item *, creation order */
static bool recording;        /* after startup (or a replay) */

static void item_free(gpointer p)
{
    Item *it = p;

    g_free(it->key);
    g_free(it->execute);
    if (it->args) {
        json_node_unref(it->args);
    }
    g_free(it);
}

static const char *arg_str(JsonNode *args, const char *member)
{
    if (!args || !JSON_NODE_HOLDS_OBJECT(args)) {
        return NULL;
    }
    JsonNode *n = json_object_get_member(json_node_get_object(args), member);
    return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
           ? json_node_get_string(n) : NULL;
}

/*
 * A copy sharing nothing with @args: json_node_copy() shares the object,
 * and a session wipes object-add's strings once the command is done.
 */
static JsonNode *deep_copy(JsonNode *args)
{
    g_autofree char *text = hb_json_to_string(args);
    JsonNode *copy = hb_json_parse(text, -1, NULL);

    return copy ? copy : json_node_new(JSON_NODE_OBJECT);
}

/* The key of what @execute makes, or deletes; NULL if it is not a graph command. */
static char *key_for(const char *execute, JsonNode *args, bool *adds)
{
    static const struct {
        const char *cmd, *prefix, *member;
        bool adds;
    } table[] = {
        { "object-add", "object", "id", true },
        { "object-del", "object", "id", false },
        { "blockdev-add", "node", "node-name", true },
        { "blockdev-del", "node", "node-name", false },
        { "block-export-add", "export", "id", true },
        { "block-export-del", "export", "id", false },
        { "device_add", "export", "id", true },
        { "device_del", "export", "id", false },
    };

    for (unsigned i = 0; i < G_N_ELEMENTS(table); i++) {
        if (g_str_equal(execute, table[i].cmd)) {
            const char *name = arg_str(args, table[i].member);
            *adds = table[i].adds;
            return name ? g_strdup_printf("%s:%s", table[i].prefix, name) : NULL;
        }
    }
    return NULL;
}

static int find(const char *key)
{
    for (guint i = 0; i < items->len; i++) {
        if (g_str_equal(((Item *)items->pdata[i])->key, key)) {
            return (int)i;
        }
    }
    return -1;
}

/* Each recorded node's "active" as the graph has it now (blockdev-set-active). */
static void refresh_active(void)
{
    for (guint i = 0; i < items->len; i++) {
        Item *it = items->pdata[i];
        if (!g_str_has_prefix(it->key, "node:")) {
            continue;
        }
        HbNode *node = hb_node_lookup(it->key + strlen("node:"), NULL);
        if (!node) {
            continue;
        }
        JsonObject *o = json_node_get_object(it->args);
        bool active = !g_atomic_int_get(&node->inactive);
        if (active && !json_object_has_member(o, "active")) {
            continue;           /* the default: the arguments stay as given */
        }
        if (it->keyval) {
            json_object_set_string_member(o, "active", active ? "on" : "off");
        } else {
            json_object_set_boolean_member(o, "active", active);
        }
    }
}

static JsonNode *to_json(void)
{
    JsonArray *arr = json_array_new();
    JsonObject *top = json_object_new();
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);

    for (guint i = 0; i < items->len; i++) {
        Item *it = items->pdata[i];
        JsonObject *o = json_object_new();
        json_object_set_string_member(o, "execute", it->execute);
        json_object_set_member(o, "arguments", json_node_copy(it->args));
        if (it->keyval) {
            json_object_set_boolean_member(o, "keyval", true);
        }
        json_array_add_object_element(arr, o);
    }
    json_object_set_int_member(top, "hotblock-state", STATE_VERSION);
    json_object_set_array_member(top, "items", arr);
    json_node_take_object(node, top);
    return node;
}

/* Write the list: a new file, fsynced, renamed over the old, directory fsynced. */
static bool save(GError **errp)
{
    g_autoptr(JsonNode) node = to_json();
    g_autofree char *text = hb_json_to_string(node);
    g_autofree char *tmp = g_strconcat(state_path, ".new", NULL);
    g_autofree char *dir = g_path_get_dirname(state_path);
    int fd, dfd;

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        hb_error_set_errno(errp, errno, "Cannot write state file %s", tmp);
        return false;
    }
    if (hb_write_all(fd, text, strlen(text)) < 0 || hb_write_all(fd, "\n", 1) < 0 ||
        fsync(fd) < 0) {
        hb_error_set_errno(errp, errno, "Cannot write state file %s", tmp);
        close(fd);
        unlink(tmp);
        return false;
    }
    close(fd);
    if (rename(tmp, state_path) < 0) {
        hb_error_set_errno(errp, errno, "Cannot replace state file %s", state_path);
        unlink(tmp);
        return false;
    }
    /* The rename itself must survive a crash too. */
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return true;
}

/* Whether a member named in @members, anywhere under @n, has the string value @name. */
static bool refers_to(JsonNode *n, const char *const *members, const char *name)
{
    if (JSON_NODE_HOLDS_ARRAY(n)) {
        JsonArray *a = json_node_get_array(n);
        for (guint i = 0; i < json_array_get_length(a); i++) {
            if (refers_to(json_array_get_element(a, i), members, name)) {
                return true;
            }
        }
        return false;
    }
    if (!JSON_NODE_HOLDS_OBJECT(n)) {
        return false;
    }
    JsonObjectIter it;
    const char *member;
    JsonNode *v;
    json_object_iter_init(&it, json_node_get_object(n));
    while (json_object_iter_next(&it, &member, &v)) {
        if (g_strv_contains(members, member) && JSON_NODE_HOLDS_VALUE(v) &&
            json_node_get_value_type(v) == G_TYPE_STRING &&
            g_str_equal(json_node_get_string(v), name)) {
            return true;
        }
        if (refers_to(v, members, name)) {
            return true;
        }
    }
    return false;
}

/* The recorded item (other than @self) that refers to @name through @members, or NULL. */
static Item *user_of(const char *const *members, const char *name, const Item *self)
{
    for (guint i = 0; i < items->len; i++) {
        Item *it = items->pdata[i];
        if (it != self && refers_to(it->args, members, name)) {
            return it;
        }
    }
    return NULL;
}

/* The node-names defined inside @n (inline children), into @out. */
static void inline_names(JsonNode *n, bool top, GPtrArray *out)
{
    if (!JSON_NODE_HOLDS_OBJECT(n)) {
        return;
    }
    JsonObjectIter it;
    const char *member;
    JsonNode *v;
    json_object_iter_init(&it, json_node_get_object(n));
    while (json_object_iter_next(&it, &member, &v)) {
        if (!top && g_str_equal(member, "node-name") && JSON_NODE_HOLDS_VALUE(v) &&
            json_node_get_value_type(v) == G_TYPE_STRING) {
            g_ptr_array_add(out, (gpointer)json_node_get_string(v));
        }
        inline_names(v, false, out);
    }
}

static const char *const secret_refs[] = { "key-secret", "keyid", NULL };
static const char *const node_refs[] = { "file", "header", "backing", "data-file", "node-name",
                                         "drive", NULL };

/*
 * Deletions that would leave a list that cannot be replayed: a secret a
 * recorded node or secret still names (QEMU lets it go: it is read only
 * at open), or a parent whose inline child something else still uses (the
 * child lives on, but its definition goes with the parent's item).
 */
static bool check_delete(const char *execute, JsonNode *args, GError **errp)
{
    if (g_str_equal(execute, "object-del") && arg_str(args, "id")) {
        const char *id = arg_str(args, "id");
        Item *user = user_of(secret_refs, id, NULL);
        if (user) {
            hb_error_set(errp, "Secret '%s' is still named by %s in the state file: delete "
                         "that first (the file could not be replayed without it)", id,
                         user->key);
            return false;
        }
    }
    if (g_str_equal(execute, "blockdev-del") && arg_str(args, "node-name")) {
        g_autofree char *key = g_strdup_printf("node:%s", arg_str(args, "node-name"));
        int i = find(key);
        if (i < 0) {
            return true;
        }
        Item *self = items->pdata[i];
        g_autoptr(GPtrArray) names = g_ptr_array_new();
        inline_names(self->args, true, names);
        for (guint k = 0; k < names->len; k++) {
            Item *user = user_of(node_refs, names->pdata[k], self);
            if (user) {
                hb_error_set(errp, "Node '%s', defined inside '%s', is still used by %s: "
                             "delete that first (the state file could not be replayed)",
                             (const char *)names->pdata[k], arg_str(args, "node-name"),
                             user->key);
                return false;
            }
        }
    }
    return true;
}

/*
 * Before a command runs: a secret given as plain data would have to be
 * written out in the clear, so it is refused while a state file is kept;
 * and so are deletions that would leave a list that cannot be replayed.
 */
static bool watch_check(const char *execute, JsonNode *args, bool keyval, GError **errp)
{
    if (!check_delete(execute, args, errp)) {
        return false;
    }
    if (!g_str_equal(execute, "object-add")) {
        return true;
    }
    const char *type = arg_str(args, "qom-type");
    if (type && g_str_equal(type, "secret") && arg_str(args, "data") && !arg_str(args, "keyid")) {
        hb_error_set(errp, "Secret '%s' cannot be recorded in the state file in the clear: "
                     "give it with 'file', or encrypted with 'keyid' and 'iv'",
                     arg_str(args, "id") ? arg_str(args, "id") : "");
        return false;
    }
    return true;
}

/*
 * qom-set of a throttle group's limits: the group's recorded object-add
 * gets the limits in force now (all of them), so that a restart brings
 * back those, not the ones the group was made with.  Return: whether an
 * item changed.
 */
static bool refresh_limits(const char *execute, JsonNode *args)
{
    const char *path = arg_str(args, "path");
    const char *prop = arg_str(args, "property");

    if (!g_str_equal(execute, "qom-set") || !path || !prop || strcmp(prop, "limits")) {
        return false;
    }
    const char *id = g_str_has_prefix(path, "/objects/") ? path + strlen("/objects/") : path;
    g_autofree char *key = g_strdup_printf("object:%s", id);
    g_autoptr(QapiThrottleLimits) l = hb_throttle_group_get_limits(id);
    int i = find(key);
    if (i < 0 || !l) {
        return false;
    }
    Item *it = items->pdata[i];
    JsonNode *lim = qapi_to_json_ThrottleLimits(l);
    if (it->keyval) {
        /* key=value items hold every scalar as a string. */
        JsonObject *o = json_node_get_object(lim);
        g_autoptr(GList) names = json_object_get_members(o);
        for (GList *n = names; n; n = n->next) {
            g_autofree char *v = g_strdup_printf("%" G_GINT64_FORMAT,
                                                 json_object_get_int_member(o, n->data));
            json_object_set_string_member(o, n->data, v);
        }
    }
    /* The flat x- members (object-add only) would override them on replay. */
    JsonObject *args_o = json_node_get_object(it->args);
    g_autoptr(GList) members = json_object_get_members(args_o);
    for (GList *m = members; m; m = m->next) {
        if (g_str_has_prefix(m->data, "x-")) {
            json_object_remove_member(args_o, m->data);
        }
    }
    json_object_set_member(args_o, "limits", lim);
    return true;
}

/* After a command succeeded: record the change, and write the file once running. */
static void watch_done(const char *execute, JsonNode *args, bool keyval)
{
    bool adds = false, changed = false;
    g_autofree char *key = key_for(execute, args, &adds);

    if (key && adds) {
        Item *it = g_new0(Item, 1);
        it->key = g_steal_pointer(&key);
        it->execute = g_strdup(execute);
        it->args = deep_copy(args);
        it->keyval = keyval;
        g_ptr_array_add(items, it);
        changed = true;
    } else if (key) {
        int i = find(key);
        if (i >= 0) {
            g_ptr_array_remove_index(items, (guint)i);
            changed = true;
        }
    }
    if (refresh_limits(execute, args)) {
        changed = true;
    }
    if (g_str_equal(execute, "blockdev-set-active") || changed) {
        refresh_active();
        changed = true;
    }
    if (changed && recording) {
        g_autoptr(GError) err = NULL;
        if (!save(&err)) {
            /* The change stands; the next one writes the file again. */
            hb_log(HB_LOG_ERROR, "state file not updated after %s: %s", execute, err->message);
        }
    }
}

static const HbQmpWatcher watcher = {
    .check = watch_check,
    .done = watch_done,
};

int hb_state_file_open(const char *path, bool have_graph_options, GError **errp)
{
    struct stat st;

    state_path = g_canonicalize_filename(path, NULL);
    items = g_ptr_array_new_with_free_func(item_free);
    hb_qmp_set_watcher(&watcher);
    if (lstat(state_path, &st) < 0) {
        if (errno != ENOENT) {
            hb_error_set_errno(errp, errno, "Cannot read state file %s", state_path);
            return -1;
        }
        return 0;
    }
    if (have_graph_options) {
        hb_error_set(errp, "State file %s exists: the graph is rebuilt from it, so "
                     "--object, --blockdev and --export cannot be given too (remove them, "
                     "or the file to start afresh)", state_path);
        return -1;
    }
    return 1;
}

/* Check the whole file before running any of it. */
static JsonArray *parse_items(JsonNode *root, GError **errp)
{
    JsonObject *top = JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
    JsonNode *ver = top ? json_object_get_member(top, "hotblock-state") : NULL;
    JsonNode *list = top ? json_object_get_member(top, "items") : NULL;

    if (!ver || !JSON_NODE_HOLDS_VALUE(ver) || json_node_get_value_type(ver) != G_TYPE_INT64 ||
        !list || !JSON_NODE_HOLDS_ARRAY(list)) {
        hb_error_set(errp, "not a hotblock state file (no 'hotblock-state' and 'items')");
        return NULL;
    }
    if (json_node_get_int(ver) != STATE_VERSION) {
        hb_error_set(errp, "state file version %" G_GINT64_FORMAT " is not supported (this "
                     "daemon writes version %d)", json_node_get_int(ver), STATE_VERSION);
        return NULL;
    }
    JsonArray *arr = json_node_get_array(list);
    for (guint i = 0; i < json_array_get_length(arr); i++) {
        JsonNode *n = json_array_get_element(arr, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
        JsonNode *args = o ? json_object_get_member(o, "arguments") : NULL;
        const char *execute = o && json_object_has_member(o, "execute")
                              ? json_object_get_string_member_with_default(o, "execute", NULL)
                              : NULL;
        bool adds = false;
        g_autofree char *key = execute && args ? key_for(execute, args, &adds) : NULL;
        if (!key || !adds || !JSON_NODE_HOLDS_OBJECT(args)) {
            hb_error_set(errp, "item %u is not a recorded object-add, blockdev-add, "
                         "block-export-add or device_add", i + 1);
            return NULL;
        }
    }
    return arr;
}

bool hb_state_file_replay(GError **errp)
{
    g_autofree char *text = NULL;
    gsize len = 0;
    g_autoptr(GError) err = NULL;

    if (!g_file_get_contents(state_path, &text, &len, &err)) {
        hb_error_set(errp, "Cannot read state file %s: %s", state_path, err->message);
        return false;
    }
    if (len > STATE_MAX_BYTES) {
        hb_error_set(errp, "State file %s: too big (%" G_GSIZE_FORMAT " bytes)", state_path, len);
        return false;
    }
    g_autoptr(JsonNode) root = hb_json_parse(text, (gssize)len, &err);
    JsonArray *arr = root ? parse_items(root, &err) : NULL;
    if (!arr) {
        hb_error_set(errp, "State file %s is corrupt: %s; nothing was started from it",
                     state_path, err->message);
        return false;
    }
    for (guint i = 0; i < json_array_get_length(arr); i++) {
        JsonObject *o = json_array_get_object_element(arr, i);
        const char *execute = json_object_get_string_member(o, "execute");
        JsonNode *args = json_object_get_member(o, "arguments");
        bool keyval = json_object_get_boolean_member_with_default(o, "keyval", FALSE);
        if (!hb_qmp_run_command(execute, args, keyval, NULL, &err)) {
            hb_error_set(errp, "State file %s, item %u (%s): %s", state_path, i + 1, execute,
                         err->message);
            return false;
        }
    }
    hb_log(HB_LOG_INFO, "graph rebuilt from state file %s (%u items)", state_path,
           json_array_get_length(arr));
    return true;
}

bool hb_state_file_commit(GError **errp)
{
    recording = true;
    return save(errp);
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util/keyval.c — QEMU's key=value option syntax (and JSON objects) parsed into a JSON tree. */
#include "util/keyval.h"
#include "util/json.h"

#include <string.h>

#include "util/error.h"

/*
 * Theory of operation.
 *
 * Keyval ("a=1,b.c=2") is parsed in two passes, as QEMU does: the first
 * pass builds a tree of JSON objects in which every inner node is an
 * object, even where the key fragments are array indexes ("a.0=x"); the
 * second pass ("listify") rebuilds the tree, turning each object whose keys
 * are all indexes into an array and rejecting gaps and mixtures.  Building
 * a fresh tree in pass two avoids mutating a JsonObject while iterating its
 * member names, which json-glib does not allow safely.
 *
 * The grammar (QEMU's, from util/keyval.c's comment):
 *   key-vals     = [ key-val { ',' key-val } [ ',' ] ]
 *   key-val      = key '=' val
 *   key          = key-fragment { '.' key-fragment }
 *   val          = { [^,]* | ',,' }
 *   key-vals-ik  = val-no-key [ ',' key-vals ]   (with an implied key)
 * A key fragment is a QAPI name (a letter, then letters, digits, '-', '_')
 * or, except in first position, a decimal index; 1 to 127 characters.
 */

#define KEY_FRAGMENT_MAX 127

/* The length of the QAPI name at @s (0 when there is none). */
static size_t qapi_name_len(const char *s)
{
    size_t n = 0;

    if (!g_ascii_isalpha(s[0])) {
        return 0;
    }
    while (g_ascii_isalnum(s[n]) || s[n] == '-' || s[n] == '_') {
        n++;
    }
    return n;
}

static size_t index_len(const char *s)
{
    size_t n = 0;

    while (g_ascii_isdigit(s[n])) {
        n++;
    }
    return n;
}

static bool is_index_key(const char *key)
{
    return g_ascii_isdigit(key[0]);
}

/*
 * Check the key @key (@key_len bytes, not NUL-terminated) and split it into
 * its fragments.  Returns a NULL-terminated vector or NULL with @errp set.
 */
static char **split_key(const char *key, size_t key_len, GError **errp)
{
    g_autoptr(GPtrArray) frags = g_ptr_array_new_with_free_func(g_free);
    const char *s = key;
    const char *end = key + key_len;

    for (;;) {
        size_t len = (s != key && g_ascii_isdigit(*s)) ? index_len(s)
                                                        : qapi_name_len(s);

        if (s + len > end) {
            len = end - s;
        }
        if (!len || (s + len < end && s[len] != '.')) {
            hb_error_set(errp, "Invalid parameter '%.*s'", (int)key_len, key);
            return NULL;
        }
        if (len > KEY_FRAGMENT_MAX) {
            hb_error_set(errp, "Parameter%s '%.*s' is too long",
                         s != key || s + len != end ? " fragment" : "",
                         (int)len, s);
            return NULL;
        }
        g_ptr_array_add(frags, g_strndup(s, len));
        s += len;
        if (s == end) {
            break;
        }
        s++; /* the '.' */
    }
    g_ptr_array_add(frags, NULL);
    return (char **)g_ptr_array_free(g_steal_pointer(&frags), FALSE);
}

/*
 * Store @value at the path @frags under @root, creating inner objects on
 * demand.  @key is the whole key as written, for messages.
 */
static bool put_value(JsonObject *root, char **frags, const char *key,
                      const char *value, GError **errp)
{
    JsonObject *cur = root;
    g_autoptr(GString) prefix = g_string_new(NULL);
    guint i;

    for (i = 0; frags[i + 1]; i++) {
        JsonNode *child = json_object_get_member(cur, frags[i]);

        if (prefix->len) {
            g_string_append_c(prefix, '.');
        }
        g_string_append(prefix, frags[i]);
        if (!child) {
            json_object_set_object_member(cur, frags[i], json_object_new());
            child = json_object_get_member(cur, frags[i]);
        } else if (!JSON_NODE_HOLDS_OBJECT(child)) {
            hb_error_set(errp, "Parameters '%s.*' used inconsistently",
                         prefix->str);
            return false;
        }
        cur = json_node_get_object(child);
    }

    if (json_object_has_member(cur, frags[i])) {
        JsonNode *old = json_object_get_member(cur, frags[i]);

        if (JSON_NODE_HOLDS_OBJECT(old)) {
            hb_error_set(errp, "Parameters '%s.*' used inconsistently", key);
        } else {
            hb_error_set(errp, "Parameter '%s' is given more than once", key);
        }
        return false;
    }
    json_object_set_string_member(cur, frags[i], value);
    return true;
}

/*
 * Parse one element starting at @s; on success return where the next one
 * starts (or the terminating NUL).
 */
static const char *parse_one(JsonObject *root, const char *s,
                             const char *implied_key, GError **errp)
{
    size_t len = strcspn(s, "=,");
    const char *key = s;
    size_t key_len = len;
    const char *v;
    g_auto(GStrv) frags = NULL;
    g_autoptr(GString) val = g_string_new(NULL);
    g_autofree char *key_str = NULL;

    if (implied_key && len && s[len] != '=') {
        /* "secret,id=x": the first element is the implied key's value. */
        key = implied_key;
        key_len = strlen(implied_key);
        v = s;
    } else {
        v = s + len;
    }

    frags = split_key(key, key_len, errp);
    if (!frags) {
        return NULL;
    }
    if (key != implied_key) {
        if (*v != '=') {
            hb_error_set(errp, "Expected '=' after parameter '%.*s'",
                         (int)key_len, key);
            return NULL;
        }
        v++;
    }

    /* The value runs to the first single comma; ",," is a comma. */
    for (;;) {
        if (!*v) {
            break;
        }
        if (*v == ',') {
            v++;
            if (*v != ',') {
                break;
            }
        }
        g_string_append_c(val, *v++);
    }

    key_str = g_strndup(key, key_len);
    if (!put_value(root, frags, key_str, val->str, errp)) {
        return NULL;
    }
    return v;
}

static int compare_index(const char *a)
{
    /* Indexes are all digits; cap huge ones so they become a clear gap. */
    guint64 v = g_ascii_strtoull(a, NULL, 10);

    return v > G_MAXINT ? G_MAXINT : (int)v;
}

/*
 * Rebuild @node (a keyval object tree) turning all-index objects into
 * arrays.  @path is the key prefix of @node with a trailing '.' (empty at
 * the root).
 */
static JsonNode *listify(JsonNode *node, GString *path, GError **errp)
{
    JsonObject *obj;
    g_autoptr(GList) names = NULL;
    bool has_index = false, has_member = false;
    GList *l;
    size_t base = path->len;

    if (!JSON_NODE_HOLDS_OBJECT(node)) {
        return json_node_copy(node);
    }
    obj = json_node_get_object(node);
    names = json_object_get_members(obj);
    for (l = names; l; l = l->next) {
        if (is_index_key(l->data)) {
            has_index = true;
        } else {
            has_member = true;
        }
    }
    if (has_index && has_member) {
        hb_error_set(errp, "Parameters '%s*' used inconsistently", path->str);
        return NULL;
    }

    if (!has_index) {
        JsonObject *out = json_object_new();
        JsonNode *ret = json_node_new(JSON_NODE_OBJECT);

        json_node_take_object(ret, out);
        for (l = names; l; l = l->next) {
            JsonNode *child;

            g_string_truncate(path, base);
            g_string_append_printf(path, "%s.", (const char *)l->data);
            child = listify(json_object_get_member(obj, l->data), path, errp);
            if (!child) {
                json_node_unref(ret);
                return NULL;
            }
            json_object_set_member(out, l->data, child);
        }
        g_string_truncate(path, base);
        return ret;
    } else {
        guint n = g_list_length(names);
        g_autofree JsonNode **elt = g_new0(JsonNode *, n);
        JsonArray *arr;
        JsonNode *ret;
        guint i;

        for (l = names; l; l = l->next) {
            int idx = compare_index(l->data);

            if ((guint)idx < n) {
                elt[idx] = json_object_get_member(obj, l->data);
            }
        }
        /* n keys fill 0..n-1 exactly unless one is missing (or doubled). */
        for (i = 0; i < n; i++) {
            if (!elt[i]) {
                hb_error_set(errp, "Parameter '%s%u' missing", path->str, i);
                return NULL;
            }
        }
        arr = json_array_sized_new(n);
        ret = json_node_new(JSON_NODE_ARRAY);
        json_node_take_array(ret, arr);
        for (i = 0; i < n; i++) {
            JsonNode *child;

            g_string_truncate(path, base);
            g_string_append_printf(path, "%u.", i);
            child = listify(elt[i], path, errp);
            if (!child) {
                json_node_unref(ret);
                return NULL;
            }
            json_array_add_element(arr, child);
        }
        g_string_truncate(path, base);
        return ret;
    }
}

static JsonNode *parse_json_object(const char *str, GError **errp)
{
    g_autoptr(JsonNode) root = hb_json_parse(str, -1, errp);

    if (!root) {
        return NULL;
    }
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        hb_error_set(errp, "Expected a JSON object");
        return NULL;
    }
    return g_steal_pointer(&root);
}

JsonNode *hb_keyval_parse(const char *str, const char *implied_key,
                          bool *is_keyval, GError **errp)
{
    g_autoptr(JsonNode) tree = NULL;
    g_autoptr(GString) path = g_string_new(NULL);
    JsonObject *root;
    const char *s = str;

    if (is_keyval) {
        *is_keyval = str[0] != '{';
    }
    if (str[0] == '{') {
        return parse_json_object(str, errp);
    }

    root = json_object_new();
    tree = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(tree, root);
    while (*s) {
        s = parse_one(root, s, implied_key, errp);
        if (!s) {
            return NULL;
        }
        implied_key = NULL;
    }
    return listify(tree, path, errp);
}

bool hb_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = { "on", "yes", "true", "y" };
    static const char *const no[] = { "off", "no", "false", "n" };

    for (guint i = 0; i < G_N_ELEMENTS(yes); i++) {
        if (g_str_equal(s, yes[i]) || g_str_equal(s, no[i])) {
            *out = g_str_equal(s, yes[i]);
            return true;
        }
    }
    return false;
}

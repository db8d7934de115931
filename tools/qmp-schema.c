/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/qmp-schema.c — hotblock-qmp's typed short forms: key=value converted as query-qmp-schema says. */
#include "tools/qmp-schema.h"

#include <errno.h>
#include <string.h>

#include "util/size.h"

/*
 * qmp-shell guesses ("1024" looks like a number, so it is one); here the
 * daemon's own schema decides, so node-name=1024 stays a string while
 * size=1024 becomes an integer.  Types are looked up by the path of the
 * dotted key: the command's arg-type, then each member's type, through
 * flat unions (the tag member's value picks the variant, as the daemon
 * picks it) and alternates (their object branch, for nesting).
 */
struct HbQmpSchema {
    GHashTable *types;      /* name -> JsonObject * (borrowed from @root) */
    JsonNode *root;
};

HbQmpSchema *hb_qmp_schema_new(JsonNode *list)
{
    HbQmpSchema *s = g_new0(HbQmpSchema, 1);

    s->root = json_node_copy(list);
    s->types = g_hash_table_new(g_str_hash, g_str_equal);
    if (JSON_NODE_HOLDS_ARRAY(s->root)) {
        JsonArray *a = json_node_get_array(s->root);
        for (guint i = 0; i < json_array_get_length(a); i++) {
            JsonNode *e = json_array_get_element(a, i);
            if (!JSON_NODE_HOLDS_OBJECT(e)) {
                continue;
            }
            JsonObject *o = json_node_get_object(e);
            const char *name = json_object_get_string_member_with_default(o, "name", NULL);
            if (name) {
                g_hash_table_insert(s->types, (char *)name, o);
            }
        }
    }
    return s;
}

void hb_qmp_schema_free(HbQmpSchema *s)
{
    if (s) {
        g_hash_table_unref(s->types);
        json_node_unref(s->root);
        g_free(s);
    }
}

static const char *str_of(JsonObject *o, const char *key)
{
    return o ? json_object_get_string_member_with_default(o, key, NULL) : NULL;
}

static const char *meta(HbQmpSchema *s, const char *type)
{
    return type ? str_of(g_hash_table_lookup(s->types, type), "meta-type") : NULL;
}

/* An alternate's object branch (to descend into), or @type itself. */
static const char *as_object(HbQmpSchema *s, const char *type)
{
    JsonObject *t = type ? g_hash_table_lookup(s->types, type) : NULL;

    if (t && g_strcmp0(str_of(t, "meta-type"), "alternate") == 0 &&
        json_object_has_member(t, "members")) {
        JsonArray *m = json_object_get_array_member(t, "members");
        for (guint i = 0; i < json_array_get_length(m); i++) {
            const char *bt = str_of(json_array_get_object_element(m, i), "type");
            if (g_strcmp0(meta(s, bt), "object") == 0) {
                return bt;
            }
        }
        return NULL;
    }
    return g_strcmp0(meta(s, type), "object") == 0 ? type : NULL;
}

/* The type of member @name of object type @type, given the values in @at. */
static const char *member_type(HbQmpSchema *s, const char *type, JsonObject *at,
                               const char *name, unsigned depth)
{
    JsonObject *t = type ? g_hash_table_lookup(s->types, type) : NULL;

    if (!t || depth > 16 || !json_object_has_member(t, "members")) {
        return NULL;
    }
    JsonArray *m = json_object_get_array_member(t, "members");
    for (guint i = 0; i < json_array_get_length(m); i++) {
        JsonObject *mem = json_array_get_object_element(m, i);
        if (g_strcmp0(str_of(mem, "name"), name) == 0) {
            return str_of(mem, "type");
        }
    }
    const char *tag = str_of(t, "tag");
    JsonNode *tv = tag && at ? json_object_get_member(at, tag) : NULL;
    if (!tv || !JSON_NODE_HOLDS_VALUE(tv) || json_node_get_value_type(tv) != G_TYPE_STRING ||
        !json_object_has_member(t, "variants")) {
        return NULL;
    }
    JsonArray *v = json_object_get_array_member(t, "variants");
    for (guint i = 0; i < json_array_get_length(v); i++) {
        JsonObject *var = json_array_get_object_element(v, i);
        if (g_strcmp0(str_of(var, "case"), json_node_get_string(tv)) == 0) {
            return member_type(s, str_of(var, "type"), at, name, depth + 1);
        }
    }
    return NULL;
}

static bool parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = { "on", "true", "yes", NULL };
    static const char *const no[] = { "off", "false", "no", NULL };

    *out = g_strv_contains(yes, v);
    return *out || g_strv_contains(no, v);
}

/* Does builtin or alternate @type take a JSON value of @json_type? */
static bool accepts(HbQmpSchema *s, const char *type, const char *json_type)
{
    JsonObject *t = type ? g_hash_table_lookup(s->types, type) : NULL;
    const char *m = str_of(t, "meta-type");

    if (g_strcmp0(m, "builtin") == 0) {
        return g_strcmp0(str_of(t, "json-type"), json_type) == 0;
    }
    if (g_strcmp0(m, "alternate") == 0) {
        JsonArray *a = json_object_get_array_member(t, "members");
        for (guint i = 0; i < json_array_get_length(a); i++) {
            if (accepts(s, str_of(json_array_get_object_element(a, i), "type"), json_type)) {
                return true;
            }
        }
    }
    return false;
}

/*
 * The JSON value @text stands for in a member of @type, or NULL (a
 * string stays a string).  An integer takes k/M/G/T suffixes ("size=1G").
 */
static JsonNode *typed_value(HbQmpSchema *s, const char *type, const char *key,
                             const char *text, GError **errp)
{
    bool b;
    uint64_t u;
    char *end;

    if (accepts(s, type, "string") || !type) {
        return NULL;     /* str, enums' strings, alternates with a str branch */
    }
    if (g_strcmp0(meta(s, type), "enum") == 0) {
        return NULL;
    }
    if (accepts(s, type, "boolean") && parse_bool(text, &b)) {
        JsonNode *n = json_node_new(JSON_NODE_VALUE);
        json_node_set_boolean(n, b);
        return n;
    }
    if (accepts(s, type, "int")) {
        errno = 0;
        gint64 v = g_ascii_strtoll(text, &end, 10);
        if (*text && !*end && !errno) {
            JsonNode *n = json_node_new(JSON_NODE_VALUE);
            json_node_set_int(n, v);
            return n;
        }
        if (hb_parse_size(text, &u) && u <= G_MAXINT64) {
            JsonNode *n = json_node_new(JSON_NODE_VALUE);
            json_node_set_int(n, (gint64)u);
            return n;
        }
    }
    if (accepts(s, type, "number")) {
        double d = g_ascii_strtod(text, &end);
        if (*text && !*end) {
            JsonNode *n = json_node_new(JSON_NODE_VALUE);
            json_node_set_double(n, d);
            return n;
        }
    }
    g_set_error(errp, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "argument '%s': '%s' is not a %s (the schema's type is '%s'; "
                "use %s:=JSON for any value)", key, text,
                accepts(s, type, "boolean") ? "boolean (on/off, true/false)" : "number",
                type, key);
    return NULL;
}

bool hb_qmp_schema_type_args(HbQmpSchema *s, JsonNode *req, char **keys, GError **errp)
{
    JsonObject *cmd = json_node_get_object(req);
    JsonObject *c = g_hash_table_lookup(s->types,
                                        json_object_get_string_member_with_default(cmd, "execute", ""));
    JsonObject *args = json_object_has_member(cmd, "arguments")
                       ? json_object_get_object_member(cmd, "arguments") : NULL;

    if (!c || g_strcmp0(str_of(c, "meta-type"), "command") || !args) {
        return true;    /* unknown command: the daemon says so */
    }
    for (char **k = keys; k && *k; k++) {
        g_auto(GStrv) parts = g_strsplit(*k, ".", -1);
        const char *type = str_of(c, "arg-type");
        JsonObject *at = args;
        guint n = g_strv_length(parts);

        for (guint i = 0; i < n && type && at; i++) {
            type = member_type(s, as_object(s, type), at, parts[i], 0);
            JsonNode *v = json_object_get_member(at, parts[i]);
            if (i + 1 < n) {
                at = v && JSON_NODE_HOLDS_OBJECT(v) ? json_node_get_object(v) : NULL;
                continue;
            }
            if (!v || !JSON_NODE_HOLDS_VALUE(v) ||
                json_node_get_value_type(v) != G_TYPE_STRING) {
                break;
            }
            GError *err = NULL;
            JsonNode *typed = typed_value(s, type, *k, json_node_get_string(v), &err);
            if (err) {
                g_propagate_error(errp, err);
                return false;
            }
            if (typed) {
                json_object_set_member(at, parts[i], typed);
            }
        }
    }
    return true;
}

static gint cmp_str(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char **sorted_strv(GPtrArray *a)
{
    g_ptr_array_sort(a, cmp_str);
    g_ptr_array_add(a, NULL);
    return (char **)g_ptr_array_free(a, FALSE);
}

char **hb_qmp_schema_commands(HbQmpSchema *s)
{
    GPtrArray *a = g_ptr_array_new();
    GHashTableIter it;
    gpointer key, value;

    g_hash_table_iter_init(&it, s->types);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        if (g_strcmp0(str_of(value, "meta-type"), "command") == 0) {
            g_ptr_array_add(a, g_strdup(key));
        }
    }
    return sorted_strv(a);
}

/* "prefix.name=" for every member of @type and its variants, nested objects dotted. */
static void add_members(HbQmpSchema *s, const char *type, const char *prefix,
                        GHashTable *seen, unsigned depth)
{
    JsonObject *t = type ? g_hash_table_lookup(s->types, as_object(s, type) ?
                                               as_object(s, type) : "") : NULL;

    if (!t || depth > 3) {
        return;
    }
    if (json_object_has_member(t, "members")) {
        JsonArray *m = json_object_get_array_member(t, "members");
        for (guint i = 0; i < json_array_get_length(m); i++) {
            JsonObject *mem = json_array_get_object_element(m, i);
            g_autofree char *name = g_strconcat(prefix, str_of(mem, "name"), NULL);
            g_hash_table_add(seen, g_strconcat(name, "=", NULL));
            if (as_object(s, str_of(mem, "type"))) {
                g_autofree char *sub = g_strconcat(name, ".", NULL);
                add_members(s, str_of(mem, "type"), sub, seen, depth + 1);
            }
        }
    }
    if (json_object_has_member(t, "variants")) {
        JsonArray *v = json_object_get_array_member(t, "variants");
        for (guint i = 0; i < json_array_get_length(v); i++) {
            add_members(s, str_of(json_array_get_object_element(v, i), "type"), prefix,
                        seen, depth + 1);
        }
    }
}

char **hb_qmp_schema_members(HbQmpSchema *s, const char *command)
{
    JsonObject *c = g_hash_table_lookup(s->types, command);
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    GPtrArray *a = g_ptr_array_new();

    if (c && g_strcmp0(str_of(c, "meta-type"), "command") == 0) {
        add_members(s, str_of(c, "arg-type"), "", seen, 0);
    }
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init(&it, seen);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        g_ptr_array_add(a, g_strdup(key));
    }
    return sorted_strv(a);
}

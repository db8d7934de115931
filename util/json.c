/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util/json.c — JSON input as QEMU reads it: json-glib, but duplicate keys refused. */
#include "util/json.h"
#include "util/error.h"

#include <math.h>
#include <string.h>
#include <stdbool.h>

/*
 * json-glib keeps the last of two members with the same name; QEMU refuses
 * the message ("duplicate key"), and so must we: a filtering proxy that
 * reads the first "execute" could otherwise be bypassed.  The parser
 * reports each member it adds; an object that ends with fewer members
 * than were reported had one replaced.  Escapes are already decoded, so
 * "execute" and "\u0065xecute" count as the same name.
 */
typedef struct DupCheck {
    GHashTable *reported;   /* JsonObject * -> members reported so far */
    bool found;
} DupCheck;

static void on_object_member(JsonParser *p, JsonObject *obj, char *name, gpointer opaque)
{
    DupCheck *d = opaque;
    guint n = GPOINTER_TO_UINT(g_hash_table_lookup(d->reported, obj)) + 1;

    g_hash_table_insert(d->reported, obj, GUINT_TO_POINTER(n));
    if (n > json_object_get_size(obj)) {
        d->found = true;
    }
}

/*
 * 1e400 parses as infinity, which has no JSON spelling: a request holding
 * one could never be answered with valid JSON (its id comes back), so it
 * is refused like any other unreadable input.
 */
static bool all_finite(JsonNode *n)
{
    switch (JSON_NODE_TYPE(n)) {
    case JSON_NODE_OBJECT: {
        g_autoptr(GList) vals = json_object_get_values(json_node_get_object(n));
        for (GList *l = vals; l; l = l->next) {
            if (!all_finite(l->data)) {
                return false;
            }
        }
        return true;
    }
    case JSON_NODE_ARRAY: {
        JsonArray *a = json_node_get_array(n);
        for (guint i = 0; i < json_array_get_length(a); i++) {
            if (!all_finite(json_array_get_element(a, i))) {
                return false;
            }
        }
        return true;
    }
    case JSON_NODE_VALUE:
        return json_node_get_value_type(n) != G_TYPE_DOUBLE ||
               isfinite(json_node_get_double(n));
    default:
        return true;
    }
}

/**
 * hb_json_parse() - parse one JSON value, refusing duplicate keys.
 * @text, @len: the text (@len -1: NUL-terminated)
 * @errp: "JSON parse error, ..." as QEMU words it
 *
 * Return: the parsed value (the caller unrefs it), or NULL with @errp set
 * (also for a text of nothing but blanks).
 */
JsonNode *hb_json_parse(const char *text, gssize len, GError **errp)
{
    g_autoptr(JsonParser) parser = json_parser_new_immutable();
    g_autoptr(GError) err = NULL;
    DupCheck d = { .reported = g_hash_table_new(NULL, NULL) };

    g_signal_connect(parser, "object-member", G_CALLBACK(on_object_member), &d);
    bool ok = json_parser_load_from_data(parser, text, len, &err);
    g_hash_table_unref(d.reported);
    if (!ok) {
        hb_error_set(errp, "JSON parse error, %s", err->message);
        return NULL;
    }
    if (d.found) {
        hb_error_set(errp, "JSON parse error, duplicate key");
        return NULL;
    }
    g_autoptr(JsonNode) root = json_parser_steal_root(parser);
    if (!root) {
        /* nothing but blanks, or a bare byte-order mark */
        hb_error_set(errp, "JSON parse error, expecting value");
        return NULL;
    }
    if (!all_finite(root)) {
        hb_error_set(errp, "JSON parse error, number out of range");
        return NULL;
    }
    return g_steal_pointer(&root);
}

/* ---- output ---- */

static void put_escaped_char(GString *out, gunichar c)
{
    switch (c) {
    case '"': g_string_append(out, "\\\""); return;
    case '\\': g_string_append(out, "\\\\"); return;
    case '\b': g_string_append(out, "\\b"); return;
    case '\f': g_string_append(out, "\\f"); return;
    case '\n': g_string_append(out, "\\n"); return;
    case '\r': g_string_append(out, "\\r"); return;
    case '\t': g_string_append(out, "\\t"); return;
    default:
        break;
    }
    if (c >= 0x20 && c < 0x7f) {
        g_string_append_c(out, (char)c);
    } else if (c < 0x10000) {
        g_string_append_printf(out, "\\u%04x", c);
    } else {
        c -= 0x10000;
        g_string_append_printf(out, "\\u%04x\\u%04x", 0xd800 + (c >> 10), 0xdc00 + (c & 0x3ff));
    }
}

/*
 * Strings come out in ASCII, as QEMU writes them: controls and everything
 * past 0x7e as \uXXXX (surrogate pairs above the BMP).  Bytes that are not
 * valid UTF-8 (a lone surrogate a client sent as \ud800 arrives as such)
 * become U+FFFD, so the output is valid JSON and valid UTF-8 whatever went
 * in.
 */
static void put_string(GString *out, const char *s)
{
    const char *end = s + strlen(s);

    g_string_append_c(out, '"');
    while (s < end) {
        gunichar c = g_utf8_get_char_validated(s, end - s);
        if (c == (gunichar)-1 || c == (gunichar)-2) {
            put_escaped_char(out, 0xfffd);
            s++;
            continue;
        }
        put_escaped_char(out, c);
        s = g_utf8_next_char(s);
    }
    g_string_append_c(out, '"');
}

static void put_value(GString *out, JsonNode *n)
{
    char buf[G_ASCII_DTOSTR_BUF_SIZE];

    switch (json_node_get_value_type(n)) {
    case G_TYPE_INT64:
        g_string_append_printf(out, "%" G_GINT64_FORMAT, json_node_get_int(n));
        break;
    case G_TYPE_DOUBLE: {
        double d = json_node_get_double(n);
        if (!isfinite(d)) {
            g_string_append(out, "null");   /* never made by us; never invalid */
            break;
        }
        g_ascii_dtostr(buf, sizeof(buf), d);
        g_string_append(out, buf);
        if (!strpbrk(buf, ".eE")) {
            g_string_append(out, ".0");
        }
        break;
    }
    case G_TYPE_BOOLEAN:
        g_string_append(out, json_node_get_boolean(n) ? "true" : "false");
        break;
    case G_TYPE_STRING:
        put_string(out, json_node_get_string(n));
        break;
    default:
        g_string_append(out, "null");
        break;
    }
}

static void put_node(GString *out, JsonNode *n)
{
    switch (JSON_NODE_TYPE(n)) {
    case JSON_NODE_OBJECT: {
        JsonObject *o = json_node_get_object(n);
        g_autoptr(GList) names = json_object_get_members(o);
        g_string_append_c(out, '{');
        for (GList *l = names; l; l = l->next) {
            put_string(out, l->data);
            g_string_append_c(out, ':');
            put_node(out, json_object_get_member(o, l->data));
            if (l->next) {
                g_string_append_c(out, ',');
            }
        }
        g_string_append_c(out, '}');
        break;
    }
    case JSON_NODE_ARRAY: {
        JsonArray *a = json_node_get_array(n);
        g_string_append_c(out, '[');
        for (guint i = 0; i < json_array_get_length(a); i++) {
            if (i) {
                g_string_append_c(out, ',');
            }
            put_node(out, json_array_get_element(a, i));
        }
        g_string_append_c(out, ']');
        break;
    }
    case JSON_NODE_VALUE:
        put_value(out, n);
        break;
    case JSON_NODE_NULL:
        g_string_append(out, "null");
        break;
    }
}

char *hb_json_to_string(JsonNode *node)
{
    GString *out = g_string_new(NULL);

    put_node(out, node);
    return g_string_free(out, FALSE);
}

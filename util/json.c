/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util/json.c — JSON input as QEMU reads it: json-glib, but duplicate keys refused. */
#include "util/json.h"
#include "util/error.h"

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
    JsonNode *root = json_parser_steal_root(parser);
    if (!root) {
        hb_error_set(errp, "JSON parse error, expecting value");
    }
    return root;
}

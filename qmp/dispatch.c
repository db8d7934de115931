/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qmp/dispatch.c — the command table. */
#include "qmp/dispatch.h"

#include "util/error.h"

static GPtrArray *commands;   /* const QapiCommandDef *, registration order */
static const HbQmpWatcher *watcher;
static GHashTable *by_name;   /* name -> const QapiCommandDef * */

void hb_qmp_register_commands(const QapiCommandDef *defs, size_t n)
{
    if (!commands) {
        commands = g_ptr_array_new();
        by_name = g_hash_table_new(g_str_hash, g_str_equal);
    }
    for (size_t i = 0; i < n; i++) {
        g_assert(!g_hash_table_contains(by_name, defs[i].name));
        g_ptr_array_add(commands, (gpointer)&defs[i]);
        g_hash_table_insert(by_name, (gpointer)defs[i].name, (gpointer)&defs[i]);
    }
}

const QapiCommandDef *hb_qmp_find_command(const char *name)
{
    return by_name ? g_hash_table_lookup(by_name, name) : NULL;
}

void hb_qmp_foreach_command(void (*fn)(const char *name, void *opaque), void *opaque)
{
    for (guint i = 0; commands && i < commands->len; i++) {
        const QapiCommandDef *def = commands->pdata[i];
        fn(def->name, opaque);
    }
}

bool hb_qmp_run_command(const char *name, JsonNode *args, bool keyval,
                        JsonNode **ret, GError **errp)
{
    const QapiCommandDef *def = hb_qmp_find_command(name);
    JsonNode *result = NULL;

    if (!def) {
        hb_error_set_code(errp, HB_ERROR_COMMAND_NOT_FOUND,
                          "The command %s has not been found", name);
        return false;
    }
    if (!hb_qmp_call(def, args, keyval, &result, errp)) {
        return false;
    }
    if (ret) {
        *ret = result;
    } else if (result) {
        json_node_unref(result);
    }
    return true;
}

void hb_qmp_set_watcher(const HbQmpWatcher *w)
{
    watcher = w;
}

bool hb_qmp_call(const QapiCommandDef *def, JsonNode *args, bool keyval, JsonNode **ret,
                 GError **errp)
{
    if (watcher && watcher->check && !watcher->check(def->name, args, keyval, errp)) {
        return false;
    }
    if (!def->fn(args, keyval, ret, errp)) {
        return false;
    }
    if (watcher && watcher->done) {
        watcher->done(def->name, args, keyval);
    }
    return true;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qmp/qmp-control.c — qmp_capabilities, query-version, query-commands, query-qmp-schema, quit. */
#include <string.h>

#include "qapi-commands.h"
#include "qmp/control.h"
#include "qmp/dispatch.h"
#include "qmp/session.h"
#include "util/error.h"

static void (*quit_handler)(void);

void hb_qmp_set_quit_handler(void (*fn)(void))
{
    quit_handler = fn;
}

bool qmp_qmp_capabilities(QapiQmpCapabilitiesArgs *args, GError **errp)
{
    HbQmpSession *s = hb_qmp_current_session();
    bool oob = false;

    for (QapiQMPCapabilityList *l = args->enable; l; l = l->next) {
        if (l->value == QAPI_QMP_CAPABILITY_OOB) {
            oob = true;
        }
    }
    if (s) {
        hb_qmp_session_set_negotiated(s, oob);
    }
    return true;
}

bool qmp_query_version(QapiVersionInfo **ret, GError **errp)
{
    QapiVersionInfo *v = g_new0(QapiVersionInfo, 1);

    v->qemu = g_new0(QapiVersionTriple, 1);
    v->qemu->major = HB_QMP_QEMU_MAJOR;
    v->qemu->minor = HB_QMP_QEMU_MINOR;
    v->qemu->micro = HB_QMP_QEMU_MICRO;
    v->package = g_strdup_printf("hotblock %s", HB_VERSION);
    *ret = v;
    return true;
}

static void add_command(const char *name, void *opaque)
{
    QapiCommandInfoList ***tail = opaque;
    QapiCommandInfoList *e = g_new0(QapiCommandInfoList, 1);

    e->value = g_new0(QapiCommandInfo, 1);
    e->value->name = g_strdup(name);
    **tail = e;
    *tail = &e->next;
}

bool qmp_query_commands(QapiCommandInfoList **ret, GError **errp)
{
    QapiCommandInfoList *head = NULL, **tail = &head;

    hb_qmp_foreach_command(add_command, &tail);
    *ret = head;
    return true;
}

/* Hand-written ('gen': false): the reply is the generated JSON text itself. */
bool qmp_marshal_query_qmp_schema(JsonNode *args, bool keyval, JsonNode **ret,
                                  GError **errp)
{
    static JsonNode *schema;   /* parsed once, main thread only */

    if (args && JSON_NODE_HOLDS_OBJECT(args) &&
        json_object_get_size(json_node_get_object(args)) > 0) {
        g_autoptr(GList) m = json_object_get_members(json_node_get_object(args));
        hb_error_set(errp, "Parameter '%s' is unexpected", (const char *)m->data);
        return false;
    }
    if (!schema) {
        g_autoptr(JsonParser) p = json_parser_new();
        g_autoptr(GError) err = NULL;
        if (!json_parser_load_from_data(p, qapi_introspect_json, -1, &err)) {
            g_error("generated introspection data is not JSON: %s", err->message);
        }
        schema = json_node_copy(json_parser_get_root(p));
    }
    *ret = json_node_copy(schema);
    return true;
}

static gboolean quit_later(gpointer data)
{
    if (quit_handler) {
        quit_handler();
    }
    return G_SOURCE_REMOVE;
}

bool qmp_quit(GError **errp)
{
    /* The reply goes out first; the daemon shuts down from the main loop. */
    g_idle_add(quit_later, NULL);
    return true;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qmp/event.c — event objects, timestamps, and delivery on the main thread. */
#include "qmp/event.h"

#include "qapi-runtime.h"
#include "qmp/session.h"

static gboolean deliver(gpointer data)
{
    JsonNode *ev = data;

    hb_qmp_sessions_send_event(ev);
    json_node_unref(ev);
    return G_SOURCE_REMOVE;
}

void hb_qmp_event_broadcast(const char *name, JsonObject *data)
{
    gint64 now = g_get_real_time();
    JsonObject *ev = json_object_new();
    JsonObject *ts = json_object_new();
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);

    json_object_set_string_member(ev, "event", name);
    json_object_set_object_member(ev, "data", data ? data : json_object_new());
    json_object_set_int_member(ts, "seconds", now / G_USEC_PER_SEC);
    json_object_set_int_member(ts, "microseconds", now % G_USEC_PER_SEC);
    json_object_set_object_member(ev, "timestamp", ts);
    json_node_take_object(node, ev);
    /* Runs at once on the main thread, or is queued to it from I/O threads. */
    g_main_context_invoke(NULL, deliver, node);
}

void hb_qmp_event_init(void)
{
    qapi_event_set_emitter(hb_qmp_event_broadcast);
}

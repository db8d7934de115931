/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qmp/event.h — timestamped events broadcast to every negotiated session. */
#ifndef HB_QMP_EVENT_H
#define HB_QMP_EVENT_H

#include <json-glib/json-glib.h>

/* Install the emitter the generated qapi_event_send_*() functions call. */
void hb_qmp_event_init(void);

/**
 * hb_qmp_event_broadcast() - send an event to every negotiated session
 * @name: event name, e.g. "SHUTDOWN"
 * @data: (transfer full) the data object, or NULL
 *
 * Safe from any thread: the timestamp is taken now, the delivery happens
 * on the main loop.
 */
void hb_qmp_event_broadcast(const char *name, JsonObject *data);

#endif

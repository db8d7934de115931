/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qmp/session.h — one QMP client: greeting, negotiation, requests, replies. */
#ifndef HB_QMP_SESSION_H
#define HB_QMP_SESSION_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>

typedef struct HbQmpSession HbQmpSession;

/* Per-client limits (see docs/running.md). */
#define HB_QMP_MAX_VALUE_LEN (4u << 20)     /* one request, bytes */
#define HB_QMP_MAX_DEPTH 1024u              /* JSON nesting, as QEMU */
#define HB_QMP_OUT_PAUSE (1u << 20)         /* stop reading above this many unsent bytes */
#define HB_QMP_OUT_DROP (64u << 20)         /* disconnect a client this far behind */

/* Version announced in the greeting: the QEMU release whose QMP we follow. */
#define HB_QMP_QEMU_MAJOR 7
#define HB_QMP_QEMU_MINOR 2
#define HB_QMP_QEMU_MICRO 0

/*
 * How many sessions a listener has open now.  The listener and each of its
 * sessions hold a reference, so a session closing after its listener went
 * (at shutdown) still has somewhere to count down.
 */
typedef struct HbQmpClientCount {
    gint refs;
    unsigned open;
} HbQmpClientCount;

HbQmpClientCount *hb_qmp_client_count_new(void);
HbQmpClientCount *hb_qmp_client_count_ref(HbQmpClientCount *c);
void hb_qmp_client_count_unref(HbQmpClientCount *c);

/**
 * hb_qmp_session_new() - take over a connected socket: send the greeting,
 * serve it on the main loop.
 * @count: NULL, or the listener's count: incremented now, decremented when
 *         the session closes
 */
HbQmpSession *hb_qmp_session_new(int fd, HbQmpClientCount *count);

/* The session whose command is running now (main thread), or NULL. */
HbQmpSession *hb_qmp_current_session(void);
/* Negotiation state, for qmp_capabilities. */
bool hb_qmp_session_negotiated(HbQmpSession *s);
void hb_qmp_session_set_negotiated(HbQmpSession *s, bool oob);

/* Deliver an event object to every negotiated session (main thread). */
void hb_qmp_sessions_send_event(JsonNode *event);
/* Try hard to write out what every session still has queued (shutdown). */
void hb_qmp_sessions_flush_all(guint timeout_ms);
/* Close every session (shutdown). */
void hb_qmp_sessions_close_all(void);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qmp/server.h — listening UNIX sockets that hand clients to sessions. */
#ifndef HB_QMP_SERVER_H
#define HB_QMP_SERVER_H

#include <glib.h>

typedef struct HbQmpServer HbQmpServer;

/**
 * hb_qmp_server_listen() - listen for QMP clients on a UNIX socket
 * @path: socket path; created with mode 0600.  A stale socket file (no
 *        listener behind it) is replaced; a live one is an error.
 */
HbQmpServer *hb_qmp_server_listen(const char *path, GError **errp);
/* Stop accepting and remove the socket file. */
void hb_qmp_server_free(HbQmpServer *srv);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HbQmpServer, hb_qmp_server_free)


#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qmp/server.h — listening UNIX sockets that hand clients to sessions. */
#ifndef HB_QMP_SERVER_H
#define HB_QMP_SERVER_H

#include <glib.h>

#include "util/perms.h"

typedef struct HbQmpServer HbQmpServer;

/* Sessions one listener serves at once unless --max-qmp-clients says. */
#define HB_QMP_MAX_CLIENTS_DEFAULT 128

/**
 * hb_qmp_server_listen() - listen for QMP clients on a UNIX socket
 * @path: socket path; created with mode 0600.  A stale socket file (no
 *        listener behind it) is replaced; a live one is an error.
 * @max_clients: sessions at once (0: HB_QMP_MAX_CLIENTS_DEFAULT); one more
 *        is told "Too many QMP clients ..." and disconnected.  Clients are
 *        refused the same way when only the exports' reserve of file
 *        descriptors is left.
 */
HbQmpServer *hb_qmp_server_listen(const char *path, unsigned max_clients, GError **errp);

/**
 * hb_qmp_server_set_perms() - owner, group and mode for the QMP sockets
 * made from now on (--qmp-socket-owner/-group/-mode); default: ours, 0600.
 */
void hb_qmp_server_set_perms(const HbPerms *perms);

/**
 * hb_qmp_server_adopt() - serve QMP on a socket that already listens
 * @fd: a listening AF_UNIX stream socket handed over by socket activation
 *      (the caller has checked it); the server owns it from here on, even
 *      on failure.  Made non-blocking, as accepting takes every pending
 *      client at once.
 * @max_clients: as for hb_qmp_server_listen()
 *
 * The socket file, if any, is the service manager's: it is never removed.
 */
HbQmpServer *hb_qmp_server_adopt(int fd, unsigned max_clients, GError **errp);
/* Stop accepting and remove the socket file (one hb_qmp_server_listen() made). */
void hb_qmp_server_free(HbQmpServer *srv);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HbQmpServer, hb_qmp_server_free)


#endif

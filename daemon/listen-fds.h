/* SPDX-License-Identifier: GPL-2.0-or-later */
/* daemon/listen-fds.h — socket activation: QMP listeners passed by the service manager. */
#ifndef HB_DAEMON_LISTEN_FDS_H
#define HB_DAEMON_LISTEN_FDS_H

#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>

/* The first descriptor the sd_listen_fds(3) protocol passes. */
#define HB_LISTEN_FDS_START 3

/* The LISTEN_FDNAMES name that makes a passed socket a QMP listener. */
#define HB_LISTEN_FDS_QMP_NAME "qmp"

/**
 * hb_listen_fds_parse() - read the socket-activation variables
 * @pid: $LISTEN_PID, or NULL when unset
 * @fds: $LISTEN_FDS, or NULL when unset
 * @names: $LISTEN_FDNAMES, or NULL when unset
 * @self: this process's pid
 * @out_names: set to a NULL-terminated array of one name per descriptor
 *        (descriptor HB_LISTEN_FDS_START + i is named (*out_names)[i];
 *        "unknown" for each when @names is NULL), or NULL when nothing
 *        is passed to this process; free with g_strfreev()
 * @errp: why the variables are malformed
 *
 * Descriptors are meant for this process only when @pid is @self: other
 * values (a parent's variables left in the environment) are ignored, as
 * sd_listen_fds(3) does.
 *
 * Return: how many descriptors were passed (0 when none, or not to us),
 * or -1 with @errp set.
 */
int hb_listen_fds_parse(const char *pid, const char *fds, const char *names, pid_t self,
                        char ***out_names, GError **errp);

/**
 * hb_listen_fds_claim() - take the descriptors socket activation passed
 * @errp: why they cannot be used
 *
 * Called once at startup, before --daemonize forks ($LISTEN_PID names the
 * process systemd started).  Always removes LISTEN_PID, LISTEN_FDS and
 * LISTEN_FDNAMES from the environment and marks every passed descriptor
 * close-on-exec.  Those named "qmp" — or all of them when they carry no
 * names (no $LISTEN_FDNAMES, or "unknown") — become QMP listeners for
 * hb_listen_fds_serve_qmp(), and each must be a listening AF_UNIX stream
 * socket.  The others stay inherited for an export's addr.type=fd (a
 * note on stderr says so).
 *
 * Return: false with @errp set on malformed variables or an unusable
 * QMP descriptor.
 */
bool hb_listen_fds_claim(GError **errp);

/**
 * hb_listen_fds_serve_qmp() - serve QMP on the descriptors
 * hb_listen_fds_claim() took
 * @servers: HbQmpServer * array the listeners are added to
 * @max_clients: --max-qmp-clients, or 0 for the default
 * @errp: error
 *
 * Return: how many listeners were added, or -1 with @errp set.
 */
int hb_listen_fds_serve_qmp(GPtrArray *servers, unsigned max_clients, GError **errp);

#endif

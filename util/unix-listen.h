/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util/unix-listen.h — listening UNIX sockets shared by QMP monitors and exports. */
#ifndef HB_UTIL_UNIX_LISTEN_H
#define HB_UTIL_UNIX_LISTEN_H

#include <glib.h>
#include <sys/types.h>

/**
 * hb_unix_listen() - bind and listen on a UNIX socket path
 * @path: the socket path.  A socket file nobody listens on (left by a
 *        crash) is replaced; a live one, or a file that is not a socket,
 *        is an error ("Address already in use").
 * @mode: permission bits the socket is created with (e.g. 0600), or 0 to
 *        leave them to the process umask
 *
 * Return: a non-blocking, close-on-exec listening fd, or -1 with @errp set.
 */
int hb_unix_listen(const char *path, mode_t mode, GError **errp);

#endif

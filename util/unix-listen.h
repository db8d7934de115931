/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util/unix-listen.h — listening UNIX sockets shared by QMP monitors and exports. */
#ifndef HB_UTIL_UNIX_LISTEN_H
#define HB_UTIL_UNIX_LISTEN_H

#include <glib.h>
#include <stdbool.h>
#include <sys/stat.h>
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

/**
 * hb_unix_listen_at() - hb_unix_listen() for @name inside the directory
 * @dirfd holds, never following a symlink at @name.
 * @shown: how errors name the socket (e.g. "<dir>/<name>")
 * @made: filled with the socket file's identity, for hb_unix_unlink_own()
 */
int hb_unix_listen_at(int dirfd, const char *name, const char *shown, mode_t mode,
                      struct stat *made, GError **errp);

/**
 * hb_unix_unlink_own() - remove the socket file @name in @dirfd (AT_FDCWD:
 * @name is a path) only if it is still the one @made describes (same
 * device and inode): a file someone renamed over it is left alone.
 * Return: whether it was removed.
 */
bool hb_unix_unlink_own(int dirfd, const char *name, const struct stat *made);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* daemon/export-dir.h — the --export-dir: made if missing, refused if others could write to it. */
#ifndef HB_DAEMON_EXPORT_DIR_H
#define HB_DAEMON_EXPORT_DIR_H

#include <glib.h>
#include <stdbool.h>

#include "util/perms.h"

/**
 * hb_open_export_dir() - create (0700) or check the export directory.
 * @path: --export-dir
 * @insecure: --allow-insecure-export-dir: a directory another user owns
 *            or may write to is used anyway, with a warning on stderr
 * @perms: group and mode to give it (--export-dir-group/-mode), e.g.
 *         0711 so that QEMU's user may reach the sockets inside; a mode
 *         with a write bit for group or others is refused
 * @errp: why it was refused
 *
 * Another user who can write to the directory can rename() a socket of
 * their own over an export's, and a VM then attaches to an impostor; so
 * by default such a directory is refused.
 *
 * Return: a descriptor of the directory, or -1.
 */
int hb_open_export_dir(const char *path, bool insecure, const HbPerms *perms, GError **errp);

#endif

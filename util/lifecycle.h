/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util/lifecycle.h — daemon-wide settings and shutdown hooks any module may use. */
#ifndef HB_UTIL_LIFECYCLE_H
#define HB_UTIL_LIFECYCLE_H

#include <stdbool.h>

/*
 * The daemon sits at the top of the layering, so modules below it cannot
 * call into it.  What they need from it lives here instead: the export
 * directory (--export-dir) and a list of shutdown hooks, which a module
 * registers the first time it has something to tear down (exports to
 * drain, nodes to close) and which the daemon runs, newest first, on exit.
 * Main thread only.
 */

/*
 * The --export-dir and a descriptor of it, opened (and checked) once at
 * startup: sockets are made and removed relative to the descriptor, so a
 * directory renamed or replaced by a symlink later changes nothing.
 * The lifecycle module owns @dirfd from here on.
 */
void hb_set_export_dir(const char *dir, int dirfd);
/* The --export-dir, or NULL when none was given. */
const char *hb_export_dir(void);
/* Its descriptor, or -1. */
int hb_export_dir_fd(void);

/*
 * Two phases, so that the order does not depend on which module happened
 * to register first: hb_at_shutdown() hooks stop the serving of data
 * (exports drain their requests and go), then hb_at_shutdown_close() hooks
 * close what holds data (block nodes write their caches back and flush).
 * Within a phase, newest first.
 */
void hb_at_shutdown(void (*fn)(void));
void hb_at_shutdown_close(void (*fn)(void));
void hb_run_shutdown_hooks(void);

/*
 * Descriptors the daemon inherited from whoever started it (a listening
 * socket from systemd or libvirt, for addr.type=fd).  Noted once at the
 * very start; an export takes one over for good, and no other descriptor
 * (an image a node has open, a QMP listener) can be named that way.
 */
void hb_note_inherited_fds(void);
/* Take inherited @fd: true (and it is no longer listed) if it was there. */
bool hb_take_inherited_fd(int fd);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* daemon/pidfile.h — a locked pid file, removed on exit. */
#ifndef HB_DAEMON_PIDFILE_H
#define HB_DAEMON_PIDFILE_H

#include <glib.h>

typedef struct HbPidfile HbPidfile;

/* Create/lock @path and write our pid; fails if another process holds it. */
HbPidfile *hb_pidfile_acquire(const char *path, GError **errp);
/* Remove the file (if still ours) and release the lock. */
void hb_pidfile_release(HbPidfile *pf);

#endif

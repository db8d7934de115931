/* SPDX-License-Identifier: GPL-2.0-or-later */
/* daemon/sd-notify.h — readiness and stop notices to the service manager ($NOTIFY_SOCKET). */
#ifndef HB_DAEMON_SD_NOTIFY_H
#define HB_DAEMON_SD_NOTIFY_H

#include <glib.h>
#include <stdbool.h>

/**
 * hb_sd_notify_init() - take $NOTIFY_SOCKET and open the socket to it
 * @errp: why the variable cannot be used (not an absolute path or an
 *        '@' abstract name, too long, or the socket cannot be made)
 *
 * Called once before startup; the variable is removed from the
 * environment so that nothing else sends in our name.  Without the
 * variable nothing is opened and hb_sd_notify() does nothing.
 *
 * Return: false with @errp set on a bad variable.
 */
bool hb_sd_notify_init(GError **errp);

/**
 * hb_sd_notify() - send @state ("READY=1", "STOPPING=1", ...) to the
 * service manager, if hb_sd_notify_init() found one
 * @state: newline-separated VARIABLE=VALUE assignments (sd_notify(3))
 *
 * Needs only sendto() on the socket opened before the sandbox (which
 * allows it), so it may be called at any time.  A failure is reported on
 * stderr and otherwise ignored: the manager's timeout says the rest.
 */
void hb_sd_notify(const char *state);

#endif

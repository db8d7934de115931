/* SPDX-License-Identifier: GPL-2.0-or-later */
/* daemon/sd-notify.c — the sd_notify datagram protocol, spoken directly. */
#include "daemon/sd-notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "util/error.h"

/*
 * Why not libsystemd's sd_notify(): the protocol is one datagram of text
 * to the AF_UNIX address in $NOTIFY_SOCKET (sd_notify(3) documents it as
 * stable), which is a few lines here.  Linking libsystemd would add a
 * build dependency and a library that opens its own sockets at the time
 * of the call, after the seccomp sandbox is in place; this way the socket
 * is made at startup and each notice is a single sendto() that the
 * sandbox allows.  Credentials and fds (SCM_*) are never sent, so nothing
 * else of the library is needed.
 */

static int notify_fd = -1;
static struct sockaddr_un notify_addr;
static socklen_t notify_len;

bool hb_sd_notify_init(GError **errp)
{
    const char *path = getenv("NOTIFY_SOCKET");
    size_t len;

    if (!path) {
        return true;
    }
    len = strlen(path);
    /* An absolute path, or '@' for a name in the abstract namespace. */
    if (path[0] != '/' && path[0] != '@') {
        hb_error_set(errp, "NOTIFY_SOCKET '%s' is neither an absolute path nor "
                     "an abstract socket name starting with '@'", path);
        return false;
    }
    if (len < 2 || len > sizeof(notify_addr.sun_path)) {
        hb_error_set(errp, "NOTIFY_SOCKET '%s': the length of a socket address "
                     "is 2 to %zu bytes", path, sizeof(notify_addr.sun_path));
        return false;
    }
    memset(&notify_addr, 0, sizeof(notify_addr));
    notify_addr.sun_family = AF_UNIX;
    memcpy(notify_addr.sun_path, path, len);
    if (path[0] == '@') {
        /* Abstract: a leading NUL; the address length bounds the name. */
        notify_addr.sun_path[0] = '\0';
    }
    notify_len = offsetof(struct sockaddr_un, sun_path) + len;
    notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (notify_fd < 0) {
        hb_error_set_errno(errp, errno, "NOTIFY_SOCKET: socket");
        return false;
    }
    /* Ours alone: nothing the daemon runs may notify in its name. */
    unsetenv("NOTIFY_SOCKET");
    return true;
}

void hb_sd_notify(const char *state)
{
    ssize_t n;

    if (notify_fd < 0) {
        return;
    }
    do {
        n = sendto(notify_fd, state, strlen(state), MSG_NOSIGNAL,
                   (struct sockaddr *)&notify_addr, notify_len);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        fprintf(stderr, "hotblockd: cannot notify the service manager (%s): %s\n",
                state, g_strerror(errno));
    }
}

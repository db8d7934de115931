/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qmp/server.c — UNIX listeners; each accepted client becomes a session. */
#include "qmp/server.h"
#include "util/log.h"

#include <errno.h>
#include <glib-unix.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "qmp/session.h"
#include "util/error.h"
#include "util/unix-listen.h"

/* How long accepting pauses when the process is out of fds. */
#define HB_QMP_ACCEPT_RETRY_MS 100

/*
 * Descriptors kept free for exports (listening sockets, epoll and event
 * fds, a front-end's memory regions and rings): QMP clients never take the
 * last of them, so an operator can still add and serve disks when idle
 * connections pile up.  A quarter of the limit when that is smaller.
 */
#define HB_QMP_FD_RESERVE 256

struct HbQmpServer {
    char *path;
    int fd;
    guint watch;
    guint retry;  /* out of fds: accepting resumes from this timeout */
    struct stat made;  /* to remove only our own socket file at exit */
    unsigned max_clients;
    HbQmpClientCount *count;
};

static gboolean on_accept(gint fd, GIOCondition cond, gpointer opaque);

static gboolean resume_accept(gpointer opaque)
{
    HbQmpServer *srv = opaque;

    srv->retry = 0;
    srv->watch = g_unix_fd_add(srv->fd, G_IO_IN, on_accept, srv);
    return G_SOURCE_REMOVE;
}

/* Descriptors at or above this number are the exports' reserve. */
static int fd_ceiling(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
        rl.rlim_cur > INT_MAX) {
        return INT_MAX;
    }
    int limit = (int)rl.rlim_cur;
    return limit - MIN(HB_QMP_FD_RESERVE, limit / 4);
}

/*
 * A client over the limit hears why, in QMP's error shape, before its
 * connection closes: a best-effort non-blocking write, as it has not read
 * anything yet its socket buffer has room.
 */
static void refuse(int client, const char *why)
{
    g_autofree char *msg = g_strdup_printf(
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"%s\"}}\n", why);

    (void)!send(client, msg, strlen(msg), MSG_DONTWAIT | MSG_NOSIGNAL);
    close(client);
    /* A flood of clients must not flood the log: a line a second at most. */
    static gint64 logged_at;
    if (hb_log_due(&logged_at, G_USEC_PER_SEC)) {
        hb_log(HB_LOG_WARNING, "QMP: %s", why);
    }
}

static gboolean on_accept(gint fd, GIOCondition cond, gpointer opaque)
{
    HbQmpServer *srv = opaque;

    /* Take every pending client: a burst must not fill the backlog. */
    for (int i = 0; i < 64; i++) {
        int client = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (client < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                errno == ENOMEM) {
                /*
                 * The pending client stays in the backlog and the listener
                 * stays readable: polling again at once would spin.  Wait
                 * a little for sessions to close and free fds.
                 */
                srv->watch = 0;
                srv->retry = g_timeout_add(HB_QMP_ACCEPT_RETRY_MS, resume_accept, srv);
                return G_SOURCE_REMOVE;
            }
            break;  /* EAGAIN, ECONNABORTED, EINTR: keep listening */
        }
        if (srv->count->open >= srv->max_clients) {
            g_autofree char *why = g_strdup_printf(
                "Too many QMP clients on this socket (limit %u): connection refused",
                srv->max_clients);
            refuse(client, why);
            continue;
        }
        /* Descriptors are handed out lowest first: this one's number says
         * at least that many are in use. */
        if (client >= fd_ceiling()) {
            refuse(client, "Too many open files: the rest is kept for exports; "
                   "connection refused");
            continue;
        }
        hb_qmp_session_new(client, srv->count);
    }
    return G_SOURCE_CONTINUE;
}

static HbPerms socket_perms = { (uid_t)-1, (gid_t)-1, -1 };

void hb_qmp_server_set_perms(const HbPerms *perms)
{
    socket_perms = *perms;
}

/* Serve on @fd, which listens already; @path is the file to remove at the end, or NULL. */
static HbQmpServer *server_new(int fd, const char *path, unsigned max_clients)
{
    HbQmpServer *srv = g_new0(HbQmpServer, 1);

    srv->fd = fd;
    srv->path = g_strdup(path);
    srv->max_clients = max_clients ? max_clients : HB_QMP_MAX_CLIENTS_DEFAULT;
    srv->count = hb_qmp_client_count_new();
    srv->watch = g_unix_fd_add(srv->fd, G_IO_IN, on_accept, srv);
    return srv;
}

HbQmpServer *hb_qmp_server_listen(const char *path, unsigned max_clients, GError **errp)
{
    struct stat made;
    int fd = hb_unix_listen_at(AT_FDCWD, path, path, 0600, &made, errp);

    if (fd < 0) {
        return NULL;
    }
    /* From 0600 to what the operator asked: never more open in between. */
    if (!hb_perms_apply_at(AT_FDCWD, path, path, &socket_perms, &made, errp)) {
        close(fd);
        hb_unix_unlink_own(AT_FDCWD, path, &made);
        return NULL;
    }
    HbQmpServer *srv = server_new(fd, path, max_clients);
    srv->made = made;
    return srv;
}

HbQmpServer *hb_qmp_server_adopt(int fd, unsigned max_clients, GError **errp)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        hb_error_set_errno(errp, errno, "fd %d: cannot make it non-blocking", fd);
        close(fd);
        return NULL;
    }
    return server_new(fd, NULL, max_clients);
}

void hb_qmp_server_free(HbQmpServer *srv)
{
    if (!srv) {
        return;
    }
    if (srv->watch) {
        g_source_remove(srv->watch);
    }
    if (srv->retry) {
        g_source_remove(srv->retry);
    }
    close(srv->fd);
    /* Remove the file only if it is still the socket we created. */
    if (srv->path) {
        hb_unix_unlink_own(AT_FDCWD, srv->path, &srv->made);
    }
    hb_qmp_client_count_unref(srv->count);
    g_free(srv->path);
    g_free(srv);
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qmp/server.c — UNIX listeners; each accepted client becomes a session. */
#include "qmp/server.h"

#include <errno.h>
#include <glib-unix.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "qmp/session.h"
#include "util/error.h"
#include "util/unix-listen.h"

/* How long accepting pauses when the process is out of fds. */
#define HB_QMP_ACCEPT_RETRY_MS 100

struct HbQmpServer {
    char *path;
    int fd;
    guint watch;
    guint retry;  /* out of fds: accepting resumes from this timeout */
    dev_t dev;    /* to remove only our own socket file at exit */
    ino_t ino;
};

static gboolean on_accept(gint fd, GIOCondition cond, gpointer opaque);

static gboolean resume_accept(gpointer opaque)
{
    HbQmpServer *srv = opaque;

    srv->retry = 0;
    srv->watch = g_unix_fd_add(srv->fd, G_IO_IN, on_accept, srv);
    return G_SOURCE_REMOVE;
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
        hb_qmp_session_new(client);
    }
    return G_SOURCE_CONTINUE;
}

HbQmpServer *hb_qmp_server_listen(const char *path, GError **errp)
{
    HbQmpServer *srv;
    struct stat st;
    int fd = hb_unix_listen(path, 0600, errp);

    if (fd < 0) {
        return NULL;
    }
    srv = g_new0(HbQmpServer, 1);
    srv->path = g_strdup(path);
    srv->fd = fd;
    if (stat(path, &st) == 0) {
        srv->dev = st.st_dev;
        srv->ino = st.st_ino;
    }
    srv->watch = g_unix_fd_add(fd, G_IO_IN, on_accept, srv);
    return srv;
}

void hb_qmp_server_free(HbQmpServer *srv)
{
    struct stat st;

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
    if (stat(srv->path, &st) == 0 && st.st_dev == srv->dev && st.st_ino == srv->ino) {
        unlink(srv->path);
    }
    g_free(srv->path);
    g_free(srv);
}

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

static bool fill_addr(struct sockaddr_un *sun, const char *path, GError **errp)
{
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sun->sun_path)) {
        hb_error_set(errp, "UNIX socket path '%s' is too long", path);
        return false;
    }
    strcpy(sun->sun_path, path);
    return true;
}

/* Is something accepting on @path?  Then it is not ours to replace. */
static bool socket_is_live(const struct sockaddr_un *sun)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool live;

    if (fd < 0) {
        return false;
    }
    live = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0;
    close(fd);
    return live;
}

int hb_unix_listen(const char *path, GError **errp)
{
    struct sockaddr_un sun;
    struct stat st;
    mode_t old_umask;
    int fd, rc;

    if (!fill_addr(&sun, path, errp)) {
        return -1;
    }
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            hb_error_set(errp, "Failed to bind socket to %s: File exists and is not a socket",
                         path);
            return -1;
        }
        if (socket_is_live(&sun)) {
            hb_error_set(errp, "Failed to bind socket to %s: Address already in use "
                         "(another process is listening)", path);
            return -1;
        }
        unlink(path);   /* stale: nobody listens behind it */
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        hb_error_set_errno(errp, errno, "Failed to create socket");
        return -1;
    }
    /* 0600 from the start: no window where others could connect. */
    old_umask = umask(0177);
    rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
    umask(old_umask);
    if (rc < 0) {
        hb_error_set_errno(errp, errno, "Failed to bind socket to %s", path);
        close(fd);
        return -1;
    }
    if (listen(fd, SOMAXCONN) < 0) {
        hb_error_set_errno(errp, errno, "Failed to listen on socket %s", path);
        close(fd);
        unlink(path);
        return -1;
    }
    return fd;
}

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
    int fd = hb_unix_listen(path, errp);

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

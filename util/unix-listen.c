/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util/unix-listen.c — listening UNIX sockets that replace stale socket files. */
#include "util/unix-listen.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/error.h"

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

int hb_unix_listen(const char *path, mode_t mode, GError **errp)
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
    /* The mode from the start: no window where others could connect. */
    if (mode) {
        old_umask = umask(~mode & 0777);
        rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
        umask(old_umask);
    } else {
        rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
    }
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

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util/unix-listen.c — listening UNIX sockets that replace stale socket files. */
#include "util/unix-listen.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/error.h"

static bool fill_addr(struct sockaddr_un *sun, const char *path, const char *shown,
                      GError **errp)
{
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sun->sun_path)) {
        hb_error_set(errp, "UNIX socket path '%s' is too long", shown);
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

/*
 * Both entry points come here.  @dirfd/@name say where the socket goes
 * (AT_FDCWD and a path, or a directory descriptor and a plain name);
 * @shown is how errors name it.  bind() and connect() take paths only, so
 * a descriptor-relative name is reached through /proc/self/fd/N/NAME,
 * which resolves to the directory that descriptor holds, whatever has
 * happened to its path since.
 */
static int listen_at(int dirfd, const char *name, const char *shown, mode_t mode,
                     struct stat *made, GError **errp)
{
    g_autofree char *bind_path = dirfd == AT_FDCWD ? g_strdup(name)
                                 : g_strdup_printf("/proc/self/fd/%d/%s", dirfd, name);
    struct sockaddr_un sun;
    struct stat st;
    mode_t old_umask;
    int fd, rc;

    if (!fill_addr(&sun, bind_path, shown, errp)) {
        return -1;
    }
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            hb_error_set(errp, "Failed to bind socket to %s: File exists and is not a socket",
                         shown);
            return -1;
        }
        if (socket_is_live(&sun)) {
            hb_error_set(errp, "Failed to bind socket to %s: Address already in use "
                         "(another process is listening)", shown);
            return -1;
        }
        unlinkat(dirfd, name, 0);   /* stale: nobody listens behind it */
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
        hb_error_set_errno(errp, errno, "Failed to bind socket to %s", shown);
        close(fd);
        return -1;
    }
    if (listen(fd, SOMAXCONN) < 0 ||
        (made && fstatat(dirfd, name, made, AT_SYMLINK_NOFOLLOW) < 0)) {
        hb_error_set_errno(errp, errno, "Failed to listen on socket %s", shown);
        close(fd);
        unlinkat(dirfd, name, 0);
        return -1;
    }
    return fd;
}

int hb_unix_listen(const char *path, mode_t mode, GError **errp)
{
    return listen_at(AT_FDCWD, path, path, mode, NULL, errp);
}

int hb_unix_listen_at(int dirfd, const char *name, const char *shown, mode_t mode,
                      struct stat *made, GError **errp)
{
    return listen_at(dirfd, name, shown, mode, made, errp);
}

bool hb_unix_unlink_own(int dirfd, const char *name, const struct stat *made)
{
    struct stat st;

    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
        st.st_dev != made->st_dev || st.st_ino != made->st_ino) {
        return false;   /* gone, or someone else's now: not ours to remove */
    }
    return unlinkat(dirfd, name, 0) == 0;
}

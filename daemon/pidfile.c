/* SPDX-License-Identifier: GPL-2.0-or-later */
/* daemon/pidfile.c — pid file held with an fcntl write lock for the daemon's life. */
#include "daemon/pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"

struct HbPidfile {
    char *path;
    int fd;
};

HbPidfile *hb_pidfile_acquire(const char *path, GError **errp)
{
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    char buf[32];
    int fd, len;
    HbPidfile *pf;

    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        hb_error_set_errno(errp, errno, "Cannot open pid file %s", path);
        return NULL;
    }
    if (fcntl(fd, F_SETLK, &fl) < 0) {
        int e = errno;
        close(fd);
        if (e == EAGAIN || e == EACCES) {
            hb_error_set(errp, "Cannot lock pid file %s: another instance is running",
                         path);
        } else {
            hb_error_set_errno(errp, e, "Cannot lock pid file %s", path);
        }
        return NULL;
    }
    len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, len, 0) != len) {
        hb_error_set_errno(errp, errno, "Cannot write pid file %s", path);
        close(fd);
        return NULL;
    }
    pf = g_new0(HbPidfile, 1);
    pf->path = g_strdup(path);
    pf->fd = fd;
    return pf;
}

void hb_pidfile_release(HbPidfile *pf)
{
    struct stat a, b;

    if (!pf) {
        return;
    }
    /* Unlink only the file we locked, not one someone put in its place. */
    if (fstat(pf->fd, &a) == 0 && stat(pf->path, &b) == 0 &&
        a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
        unlink(pf->path);
    }
    close(pf->fd);
    g_free(pf->path);
    g_free(pf);
}

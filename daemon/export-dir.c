/* SPDX-License-Identifier: GPL-2.0-or-later */
/* daemon/export-dir.c — the --export-dir: made if missing, refused if others could write to it. */
#include "daemon/export-dir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"

int hb_open_export_dir(const char *path, bool insecure, const HbPerms *perms, GError **errp)
{
    struct stat st;

    /* A mode that lets others replace sockets is refused up front, not applied. */
    if (perms->mode >= 0 && (perms->mode & (S_IWGRP | S_IWOTH)) && !insecure) {
        hb_error_set(errp, "--export-dir-mode %04o would let other users write to the "
                     "export directory and replace a socket a VM connects to",
                     (unsigned)perms->mode);
        return -1;
    }
    if (g_mkdir_with_parents(path, 0700) < 0) {
        hb_error_set_errno(errp, errno, "Cannot create export directory %s", path);
        return -1;
    }
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        hb_error_set_errno(errp, errno, "Cannot open export directory %s", path);
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    if ((perms->gid != (gid_t)-1 && fchown(fd, (uid_t)-1, perms->gid) < 0) ||
        (perms->mode >= 0 && fchmod(fd, (mode_t)perms->mode) < 0) ||
        fstat(fd, &st) < 0) {
        hb_error_set_errno(errp, errno, "Cannot set the group or mode of export directory %s",
                           path);
        close(fd);
        return -1;
    }
    bool foreign = st.st_uid != geteuid();
    bool open_to_others = (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
    if (!foreign && !open_to_others) {
        return fd;
    }
    g_autofree char *why = g_strdup_printf(
        "export directory %s is %s (mode %04o, owner uid %u): another user could "
        "replace a socket a VM connects to", path,
        foreign ? "not owned by this user" : "writable by other users",
        (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid);
    if (insecure) {
        fprintf(stderr, "hotblockd: warning: %s (--allow-insecure-export-dir)\n", why);
        return fd;
    }
    hb_error_set(errp, "%s; make it private (chmod go-w, chown) or start with "
                 "--allow-insecure-export-dir", why);
    close(fd);
    return -1;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util/perms.c — parse and apply owner, group and mode. */
#include "util/perms.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"

/* A decimal id, or -1 if @s is not one. */
static long long parse_id(const char *s)
{
    char *end;
    long long v;

    if (!g_ascii_isdigit(s[0])) {
        return -1;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    return errno || *end || v < 0 || v >= (long long)UINT32_MAX ? -1 : v;
}

bool hb_perms_parse(const char *owner, const char *group, const char *mode,
                    const char *what, HbPerms *out, GError **errp)
{
    HbPerms p = HB_PERMS_NONE;

    if (owner) {
        long long id = parse_id(owner);
        struct passwd *pw = id < 0 ? getpwnam(owner) : NULL;
        if (id < 0 && !pw) {
            hb_error_set(errp, "%s: unknown user '%s'", what, owner);
            return false;
        }
        p.uid = id >= 0 ? (uid_t)id : pw->pw_uid;
    }
    if (group) {
        long long id = parse_id(group);
        struct group *gr = id < 0 ? getgrnam(group) : NULL;
        if (id < 0 && !gr) {
            hb_error_set(errp, "%s: unknown group '%s'", what, group);
            return false;
        }
        p.gid = id >= 0 ? (gid_t)id : gr->gr_gid;
    }
    if (mode) {
        char *end;
        long v = strtol(mode, &end, 8);
        if (!*mode || *end || v < 0 || v > 0777) {
            hb_error_set(errp, "%s: '%s' must be an octal mode between 0 and 0777", what,
                         mode);
            return false;
        }
        p.mode = (int)v;
    }
    *out = p;
    return true;
}

HbPerms hb_perms_merge(HbPerms base, HbPerms over)
{
    if (over.uid != (uid_t)-1) {
        base.uid = over.uid;
    }
    if (over.gid != (gid_t)-1) {
        base.gid = over.gid;
    }
    if (over.mode >= 0) {
        base.mode = over.mode;
    }
    return base;
}

bool hb_perms_apply_at(int dirfd, const char *name, const char *shown, const HbPerms *p,
                       const struct stat *expect, GError **errp)
{
    struct stat st;

    if (p->uid == (uid_t)-1 && p->gid == (gid_t)-1 && p->mode < 0) {
        return true;
    }
    /* chmod follows symlinks: make sure the name is still our own file. */
    if (expect && (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                   st.st_dev != expect->st_dev || st.st_ino != expect->st_ino)) {
        hb_error_set(errp, "%s was replaced before its owner and mode were set", shown);
        return false;
    }
    /* Owner first: chown clears no bits of a socket, and a mode set after it sticks. */
    if ((p->uid != (uid_t)-1 || p->gid != (gid_t)-1) &&
        fchownat(dirfd, name, p->uid, p->gid, AT_SYMLINK_NOFOLLOW) < 0) {
        hb_error_set_errno(errp, errno, "Cannot set the owner of %s", shown);
        return false;
    }
    if (p->mode >= 0 && fchmodat(dirfd, name, (mode_t)p->mode, 0) < 0) {
        hb_error_set_errno(errp, errno, "Cannot set the mode of %s", shown);
        return false;
    }
    return true;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util/perms.h — owner, group and mode for the sockets and directory others connect through. */
#ifndef HB_UTIL_PERMS_H
#define HB_UTIL_PERMS_H

#include <glib.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

/*
 * libvirt runs QEMU as its own user (libvirt-qemu on Debian), so the
 * sockets QEMU connects to must be reachable by that user: the operator
 * names an owner, a group and a mode, which are applied right after the
 * daemon binds the socket (before it listens, nobody could connect yet).
 */

/**
 * struct HbPerms - what to set; unset members leave the file as it is.
 * @uid: the owner, or (uid_t)-1
 * @gid: the group, or (gid_t)-1
 * @mode: permission bits, or -1
 */
typedef struct HbPerms {
    uid_t uid;
    gid_t gid;
    int mode;
} HbPerms;

#define HB_PERMS_NONE ((HbPerms){ (uid_t)-1, (gid_t)-1, -1 })

/**
 * hb_perms_parse() - resolve user and group names (or numbers) and an
 * octal mode.  Each of @owner, @group, @mode may be NULL.
 * @what: how errors name the setting, e.g. "socket-mode"
 * Return: false with @errp set ("Unknown user 'x'", "... must be an octal
 * mode between 0 and 0777").
 */
bool hb_perms_parse(const char *owner, const char *group, const char *mode,
                    const char *what, HbPerms *out, GError **errp);

/* @over's members where set, @base's elsewhere. */
HbPerms hb_perms_merge(HbPerms base, HbPerms over);

/**
 * hb_perms_apply_at() - set @p on @name inside @dirfd (AT_FDCWD: a path).
 * @shown: how errors name the file
 * @expect: the identity of the file we made (hb_unix_listen_at()'s), or
 *          NULL: if @name is no longer that file (someone with write access
 *          to the directory swapped in a symlink), nothing is changed
 */
bool hb_perms_apply_at(int dirfd, const char *name, const char *shown, const HbPerms *p,
                       const struct stat *expect, GError **errp);

#endif

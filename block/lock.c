/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/lock.c — QEMU-compatible image lock bytes over OFD locks. */
#include "block/lock.h"
#include "block/node.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

#define PERM_BITS 4

/* fcntl(F_OFD_SETLK): a shared (read) lock on one byte, or its release. */
static int lock_byte(int fd, int off, bool lock)
{
    struct flock fl = {
        .l_whence = SEEK_SET,
        .l_start = off,
        .l_len = 1,
        .l_type = lock ? F_RDLCK : F_UNLCK,
    };

    return fcntl(fd, F_OFD_SETLK, &fl) == -1 ? -errno : 0;
}

/* fcntl(F_OFD_GETLK) with F_WRLCK: does another open file hold @off? */
static int test_byte(int fd, int off)
{
    struct flock fl = {
        .l_whence = SEEK_SET,
        .l_start = off,
        .l_len = 1,
        .l_type = F_WRLCK,
    };

    if (fcntl(fd, F_OFD_GETLK, &fl) == -1) {
        return -errno;
    }
    return fl.l_type == F_UNLCK ? 0 : -EAGAIN;
}

bool hb_lock_supported(int fd)
{
    struct flock fl = {
        .l_whence = SEEK_SET, .l_start = 0, .l_len = 0, .l_type = F_WRLCK,
    };

    return fcntl(fd, F_OFD_GETLK, &fl) == 0;
}

static void lock_error(GError **errp, int err, bool shared, unsigned bit)
{
    g_autofree char *name = hb_perm_names(bit);

    /* QEMU leaves strerror out for the ordinary "someone holds it" case. */
    if (err == -EAGAIN || err == -EACCES) {
        hb_error_set(errp, "Failed to get %s\"%s\" lock",
                     shared ? "shared " : "", name);
    } else {
        hb_error_set_errno(errp, err, "Failed to get %s\"%s\" lock",
                           shared ? "shared " : "", name);
    }
}

/* Make the held bytes exactly @perm / @unshared; 0 or -errno. */
static int apply(HbImageLock *lk, unsigned perm, unsigned unshared)
{
    for (unsigned i = 0; i < PERM_BITS; i++) {
        unsigned bit = 1u << i;
        int ret;

        if ((perm & bit) != (lk->locked_perm & bit)) {
            ret = lock_byte(lk->fd, HB_LOCK_PERM_BASE + i, perm & bit);
            if (ret < 0) {
                return ret;
            }
            lk->locked_perm ^= bit;
        }
        if ((unshared & bit) != (lk->locked_unshared & bit)) {
            ret = lock_byte(lk->fd, HB_LOCK_SHARED_BASE + i, unshared & bit);
            if (ret < 0) {
                return ret;
            }
            lk->locked_unshared ^= bit;
        }
    }
    return 0;
}

bool hb_lock_update(HbImageLock *lk, unsigned perm, unsigned shared,
                    GError **errp)
{
    unsigned old_perm = lk->locked_perm;
    unsigned old_unshared = lk->locked_unshared;
    unsigned unshared = ~shared & HB_PERM_ALL;
    int ret;

    /* Take the union first so a racing process sees us before we look. */
    ret = apply(lk, perm | old_perm, unshared | old_unshared);
    if (ret < 0) {
        hb_error_set_errno(errp, ret, "Failed to lock byte");
        goto fail;
    }
    for (unsigned i = 0; i < PERM_BITS; i++) {
        unsigned bit = 1u << i;
        if ((perm & bit) && (ret = test_byte(lk->fd, HB_LOCK_SHARED_BASE + i))) {
            lock_error(errp, ret, false, bit);
            goto fail;
        }
    }
    for (unsigned i = 0; i < PERM_BITS; i++) {
        unsigned bit = 1u << i;
        if ((unshared & bit) &&
            (ret = test_byte(lk->fd, HB_LOCK_PERM_BASE + i))) {
            lock_error(errp, ret, true, bit);
            goto fail;
        }
    }
    apply(lk, perm, unshared);
    return true;

fail:
    apply(lk, old_perm, old_unshared);
    return false;
}

void hb_lock_release(HbImageLock *lk)
{
    apply(lk, 0, 0);
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/lock.h — image locking with the lock bytes QEMU's file-posix uses. */
#ifndef HB_BLOCK_LOCK_H
#define HB_BLOCK_LOCK_H

#include <glib.h>
#include <stdbool.h>

/*
 * QEMU (and so qemu-img, qemu-io, qemu-storage-daemon) takes shared OFD
 * locks on single bytes of the image: byte 100 + i while it uses
 * permission bit i, byte 200 + i while it refuses to share bit i.  A
 * process may use bit i only if nobody holds 200 + i, and may refuse bit i
 * only if nobody holds 100 + i.  We speak the same language, so each side
 * sees the other's use.
 */
#define HB_LOCK_PERM_BASE 100
#define HB_LOCK_SHARED_BASE 200

typedef struct HbImageLock {
    int fd;
    unsigned locked_perm;      /* bytes PERM_BASE + i we hold */
    unsigned locked_unshared;  /* bytes SHARED_BASE + i we hold */
} HbImageLock;

/* True if @fd supports OFD locks (probed once per open). */
bool hb_lock_supported(int fd);

/**
 * hb_lock_update() - hold exactly the bytes for @perm / @shared
 * @lk: lock state of one open file
 * @perm: HB_PERM_* we use
 * @shared: HB_PERM_* we let others use
 * @errp: "Failed to get \"write\" lock" / "Failed to get shared \"write\"
 *        lock" when another process is in the way
 *
 * Takes the new bytes first, then checks for conflicting holders, so two
 * processes racing cannot both succeed.  On failure the previous set of
 * bytes is restored.
 */
bool hb_lock_update(HbImageLock *lk, unsigned perm, unsigned shared,
                    GError **errp);

/* Drop every byte (the fd stays open). */
void hb_lock_release(HbImageLock *lk);

#endif

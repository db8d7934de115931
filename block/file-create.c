/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/file-create.c — make a host file of a given size, as QEMU's file driver creates one. */
#include "block/create.h"
#include "block/lock.h"
#include "util/error.h"
#include "util/fd-io.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Zeroes are written this much at a time for preallocation=full. */
#define FILE_ZERO_CHUNK (1024 * 1024)

int hb_file_preallocate(int fd, uint64_t from, uint64_t to, QapiPreallocMode prealloc,
                        GError **errp)
{
    int ret = 0;

    if (to <= from || prealloc == QAPI_PREALLOC_MODE_OFF) {
        return 0;
    }
    switch (prealloc) {
    case QAPI_PREALLOC_MODE_FALLOC:
        ret = -posix_fallocate(fd, (off_t)from, (off_t)(to - from));
        if (ret) {
            hb_error_set_errno(errp, ret, "Could not preallocate new data");
        }
        return ret;
    case QAPI_PREALLOC_MODE_FULL: {
        g_autofree uint8_t *zero = g_malloc0(FILE_ZERO_CHUNK);
        for (uint64_t off = from; off < to && !ret; off += FILE_ZERO_CHUNK) {
            ret = hb_pwrite_all(fd, zero, MIN((uint64_t)FILE_ZERO_CHUNK, to - off), off);
        }
        if (!ret && fsync(fd) < 0) {
            ret = -errno;
        }
        if (ret) {
            hb_error_set_errno(errp, ret, "Could not write zeros for preallocation");
        }
        return ret;
    }
    default:
        hb_error_set(errp, "Unsupported preallocation mode: %s", QapiPreallocMode_str(prealloc));
        return -ENOTSUP;
    }
}

bool hb_file_create(const char *filename, uint64_t size, QapiPreallocMode prealloc,
                    bool nocow, GError **errp)
{
    if (prealloc == QAPI_PREALLOC_MODE_METADATA) {
        hb_error_set(errp, "Unsupported preallocation mode: metadata");
        return false;
    }
    if (size > INT64_MAX) {
        hb_error_set(errp, "Image size too large");
        return false;
    }
    HB_AUTOFD int fd = open(filename, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        hb_error_set_errno(errp, errno, "Could not create file");
        return false;
    }
    if (nocow) {
        int attr = 0;
        /* As QEMU: only where the file system knows the flag; never fatal. */
        if (ioctl(fd, FS_IOC_GETFLAGS, &attr) == 0) {
            attr |= FS_NOCOW_FL;
            (void)ioctl(fd, FS_IOC_SETFLAGS, &attr);
        }
    }
    /* As QEMU: writing and resizing, sharing all but resize. */
    HbImageLock lk = { .fd = fd };
    if (hb_lock_supported(fd) &&
        !hb_lock_update(&lk, HB_PERM_WRITE | HB_PERM_RESIZE, HB_PERM_ALL & ~HB_PERM_RESIZE,
                        errp)) {
        return false;
    }
    bool ok = false;
    if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)size) < 0) {
        hb_error_set_errno(errp, errno, "Could not resize file");
    } else {
        ok = hb_file_preallocate(fd, 0, size, prealloc, errp) == 0;
    }
    hb_lock_release(&lk);
    return ok;
}

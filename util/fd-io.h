/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util/fd-io.h — whole positional writes, and file descriptors closed with their scope. */
#ifndef HB_UTIL_FD_IO_H
#define HB_UTIL_FD_IO_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

/**
 * hb_pwrite_all() - write all @len bytes of @buf at @off of @fd.
 * Return: 0, or -errno (also left in errno; -EIO if the file took nothing).
 */
int hb_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);

/**
 * hb_write_all() - hb_pwrite_all() at the file position (pipes, O_APPEND).
 * Return: 0, or -errno (also left in errno).
 */
int hb_write_all(int fd, const void *buf, size_t len);

/**
 * hb_autofd_cleanup() - the cleanup function behind HB_AUTOFD.
 * @fd: the variable going out of scope; closed unless negative.
 *
 * errno survives, so an error path may still read it after the
 * descriptor is gone.
 */
static inline void hb_autofd_cleanup(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;

        close(*fd);
        errno = saved;
    }
}

/*
 * HB_AUTOFD - closes an int file descriptor when its variable goes out of
 * scope, as glib's g_autofd (2.76; Debian 12 has 2.74):
 *
 *     HB_AUTOFD int fd = open(path, O_RDONLY | O_CLOEXEC);
 *
 * A negative value (a failed open) is left alone.  The close is
 * best-effort: code that must see close() fail closes by hand and stores
 * -1 in the variable.
 */
#define HB_AUTOFD __attribute__((cleanup(hb_autofd_cleanup)))

#endif

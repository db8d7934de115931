/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util/fd-io.h — whole positional writes, retried over EINTR and short counts. */
#ifndef HB_UTIL_FD_IO_H
#define HB_UTIL_FD_IO_H

#include <stddef.h>
#include <stdint.h>

/**
 * hb_pwrite_all() - write all @len bytes of @buf at @off of @fd.
 * Return: 0, or -errno (also left in errno; -EIO if the file took nothing).
 */
int hb_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util/fd-io.c — whole positional writes, retried over EINTR and short counts. */
#include "util/fd-io.h"

#include <errno.h>
#include <unistd.h>

/* @off < 0: at the file position. */
static int write_all_at(int fd, const void *buf, size_t len, int64_t off)
{
    const char *p = buf;

    while (len) {
        ssize_t n = off < 0 ? write(fd, p, len) : pwrite(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            if (n == 0) {
                errno = EIO;
            }
            return -errno;
        }
        p += n;
        len -= (size_t)n;
        if (off >= 0) {
            off += n;
        }
    }
    return 0;
}

int hb_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
    return write_all_at(fd, buf, len, (int64_t)off);
}

int hb_write_all(int fd, const void *buf, size_t len)
{
    return write_all_at(fd, buf, len, -1);
}

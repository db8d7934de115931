/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util/fd-io.c — whole positional writes, retried over EINTR and short counts. */
#include "util/fd-io.h"

#include <errno.h>
#include <unistd.h>

int hb_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
    const char *p = buf;

    while (len) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
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
        off += (uint64_t)n;
    }
    return 0;
}

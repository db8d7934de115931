/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/iov.c — scatter/gather copies for bounce buffers (luks, O_DIRECT, RMW). */
#include "block/iov.h"

#include <string.h>

size_t hb_iov_size(const struct iovec *iov, int niov)
{
    size_t n = 0;

    for (int i = 0; i < niov; i++) {
        n += iov[i].iov_len;
    }
    return n;
}

/* Shared walker: @to_iov selects the direction; @src_or_dst is the flat side. */
static size_t iov_copy(const struct iovec *iov, int niov, size_t skip,
                       void *flat, size_t bytes, bool to_iov)
{
    size_t done = 0;

    for (int i = 0; i < niov && done < bytes; i++) {
        size_t len = iov[i].iov_len;

        if (skip >= len) {
            skip -= len;
            continue;
        }
        size_t n = len - skip;
        if (n > bytes - done) {
            n = bytes - done;
        }
        char *base = (char *)iov[i].iov_base + skip;
        if (to_iov) {
            memcpy(base, (char *)flat + done, n);
        } else {
            memcpy((char *)flat + done, base, n);
        }
        done += n;
        skip = 0;
    }
    return done;
}

size_t hb_iov_to_buf(const struct iovec *iov, int niov, size_t skip,
                     void *buf, size_t bytes)
{
    return iov_copy(iov, niov, skip, buf, bytes, false);
}

size_t hb_iov_from_buf(const struct iovec *iov, int niov, size_t skip,
                       const void *buf, size_t bytes)
{
    return iov_copy(iov, niov, skip, (void *)buf, bytes, true);
}

size_t hb_iov_memset(const struct iovec *iov, int niov, size_t skip, int c,
                     size_t bytes)
{
    size_t done = 0;

    for (int i = 0; i < niov && done < bytes; i++) {
        size_t len = iov[i].iov_len;

        if (skip >= len) {
            skip -= len;
            continue;
        }
        size_t n = len - skip;
        if (n > bytes - done) {
            n = bytes - done;
        }
        memset((char *)iov[i].iov_base + skip, c, n);
        done += n;
        skip = 0;
    }
    return done;
}

bool hb_iov_is_aligned(const struct iovec *iov, int niov, size_t align)
{
    if (align <= 1) {
        return true;
    }
    for (int i = 0; i < niov; i++) {
        if ((uintptr_t)iov[i].iov_base % align || iov[i].iov_len % align) {
            return false;
        }
    }
    return true;
}

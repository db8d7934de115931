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

typedef enum { IOV_TO_BUF, IOV_FROM_BUF, IOV_FILL } IovOp;

/*
 * The one walker over (iov, niov) from byte @skip for @bytes: copy to or
 * from the flat buffer @flat, or fill with @c.  Returns the bytes done,
 * fewer when the vector is shorter.
 */
static size_t iov_walk(const struct iovec *iov, int niov, size_t skip,
                       void *flat, int c, size_t bytes, IovOp op)
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
        switch (op) {
        case IOV_TO_BUF:
            memcpy((char *)flat + done, base, n);
            break;
        case IOV_FROM_BUF:
            memcpy(base, (char *)flat + done, n);
            break;
        case IOV_FILL:
            memset(base, c, n);
            break;
        }
        done += n;
        skip = 0;
    }
    return done;
}

size_t hb_iov_to_buf(const struct iovec *iov, int niov, size_t skip,
                     void *buf, size_t bytes)
{
    return iov_walk(iov, niov, skip, buf, 0, bytes, IOV_TO_BUF);
}

size_t hb_iov_from_buf(const struct iovec *iov, int niov, size_t skip,
                       const void *buf, size_t bytes)
{
    return iov_walk(iov, niov, skip, (void *)buf, 0, bytes, IOV_FROM_BUF);
}

size_t hb_iov_memset(const struct iovec *iov, int niov, size_t skip, int c,
                     size_t bytes)
{
    return iov_walk(iov, niov, skip, NULL, c, bytes, IOV_FILL);
}

bool hb_iov_is_aligned(const struct iovec *iov, int niov, size_t align)
{
    if (align <= 1) {
        return true;
    }
    for (int i = 0; i < niov; i++) {
        /* An empty entry moves no data, wherever it points. */
        if (iov[i].iov_len && ((uintptr_t)iov[i].iov_base % align ||
                               iov[i].iov_len % align)) {
            return false;
        }
    }
    return true;
}

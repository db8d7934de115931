/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/iov.h — small scatter/gather helpers shared by the block drivers. */
#ifndef HB_BLOCK_IOV_H
#define HB_BLOCK_IOV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Total bytes described by @iov. */
size_t hb_iov_size(const struct iovec *iov, int niov);

/**
 * hb_iov_to_buf() - gather @bytes from @iov, starting @skip bytes in, into @buf
 * Return: bytes copied (less than @bytes only if @iov is shorter).
 */
size_t hb_iov_to_buf(const struct iovec *iov, int niov, size_t skip,
                     void *buf, size_t bytes);

/**
 * hb_iov_from_buf() - scatter @bytes of @buf into @iov, starting @skip bytes in
 * Return: bytes copied.
 */
size_t hb_iov_from_buf(const struct iovec *iov, int niov, size_t skip,
                       const void *buf, size_t bytes);

/* Fill @bytes of @iov from @skip with @c; return bytes filled. */
size_t hb_iov_memset(const struct iovec *iov, int niov, size_t skip, int c,
                     size_t bytes);

/* True if every base and length in @iov is a multiple of @align. */
bool hb_iov_is_aligned(const struct iovec *iov, int niov, size_t align);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/lib/frame-fixture.h — the front-end's side of a vhost-user socketpair in tests and fuzzers. */
#ifndef HB_TESTS_FRAME_FIXTURE_H
#define HB_TESTS_FRAME_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "vhost/vu-msg.h"

/*
 * Tests and fuzz targets play the front-end over one end of a socketpair
 * whose other end is attached to an HbVuDev.  They send with
 * hb_vu_msg_send() (a header as given, for hostile framing) or
 * hb_vu_msg_send_request(), and share what is here: guest memory as a
 * memfd to pass along, and draining whatever the back-end replied.
 */

/**
 * hbt_memfd() - a memfd of @size bytes whose first bytes copy @fill.
 * @size: file size
 * @fill: initial contents, may be NULL if @len is 0
 * @len: bytes of @fill to copy (at most @size are)
 *
 * Return: the fd (close-on-exec), the caller's to close; -1 with errno
 * set on failure.
 */
int hbt_memfd(size_t size, const void *fill, size_t len);

/**
 * hbt_memfd_map() - map all @size bytes of memfd @fd shared, read-write,
 * as a front-end maps the guest memory it shares.
 * @fd: the memfd
 * @size: its size
 *
 * Return: the mapping, for munmap(); NULL with errno set on failure.
 */
uint8_t *hbt_memfd_map(int fd, size_t size);

/**
 * hbt_frame_drain() - read and drop every message the back-end has sent
 * to @sock so far, closing the fds they carry; does not wait for more.
 * @sock: the front-end's end of the connection
 *
 * Return: the number of messages dropped.
 */
unsigned hbt_frame_drain(int sock);

#endif

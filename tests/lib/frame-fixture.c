/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/lib/frame-fixture.c — the front-end's side of a vhost-user socketpair in tests and fuzzers. */
#include "tests/lib/frame-fixture.h"

#include <errno.h>
#include <poll.h>
#include <sys/mman.h>
#include <unistd.h>

int hbt_memfd(size_t size, const void *fill, size_t len)
{
    int fd = memfd_create("hbt-guest", MFD_CLOEXEC);

    if (fd < 0) {
        return -1;
    }
    if (ftruncate(fd, size) < 0 ||
        (len && pwrite(fd, fill, len < size ? len : size, 0) < 0)) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

uint8_t *hbt_memfd_map(int fd, size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

    return p == MAP_FAILED ? NULL : p;
}

unsigned hbt_frame_drain(int sock)
{
    unsigned n = 0;

    for (;;) {
        struct pollfd pfd = { .fd = sock, .events = POLLIN };
        VuMsg msg;
        bool ok;

        if (poll(&pfd, 1, 0) != 1 || !(pfd.revents & POLLIN)) {
            return n;
        }
        ok = hb_vu_msg_read(sock, &msg);
        hb_vu_msg_close_fds(&msg);
        if (!ok) {
            return n;
        }
        n++;
    }
}

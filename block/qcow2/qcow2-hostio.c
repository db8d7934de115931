/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/qcow2/qcow2-hostio.c — the bottom of the qcow2 core: I/O on the host file, and an HbQcow2Io over an fd. */

/*
 * Every other qcow2 file reads and writes the image file through these
 * helpers, so they sit below all of them: the cache, header, map,
 * refcount and io layers call down here and never up into the file that
 * opens images (qcow2-image.c).
 */
#include "qcow2-int.h"
#include "util/fd-io.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

int hb_qcow2_io_pread(HbQcow2 *s, uint64_t off, void *buf, uint64_t len)
{
    struct iovec iov = { .iov_base = buf, .iov_len = len };

    return s->io.preadv(s->io.opaque, off, len, &iov, 1);
}

int hb_qcow2_io_pwrite(HbQcow2 *s, uint64_t off, const void *buf, uint64_t len)
{
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

    if (s->read_only) {
        return -EROFS;
    }
    return s->io.pwritev(s->io.opaque, off, len, &iov, 1);
}

int hb_qcow2_io_flush(HbQcow2 *s)
{
    int ret = s->io.flush ? s->io.flush(s->io.opaque) : 0;

    if (ret < 0) {
        g_atomic_int_set(&s->sync_failed, 1);
    }
    return ret;
}

static int fd_preadv(void *opaque, uint64_t off, uint64_t bytes,
                     const struct iovec *iov, int niov)
{
    int fd = *(int *)opaque;

    for (int i = 0; i < niov; i++) {
        uint8_t *p = iov[i].iov_base;
        size_t left = iov[i].iov_len;
        while (left) {
            ssize_t n = pread(fd, p, left, off);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0) {
                return -errno;
            }
            if (n == 0) {
                /* Past the end of file reads as zeroes, like QEMU's file driver. */
                memset(p, 0, left);
                n = left;
            }
            p += n;
            off += n;
            left -= n;
        }
    }
    return 0;
}

static int fd_pwritev(void *opaque, uint64_t off, uint64_t bytes,
                      const struct iovec *iov, int niov)
{
    int fd = *(int *)opaque;

    for (int i = 0; i < niov; i++) {
        int ret = hb_pwrite_all(fd, iov[i].iov_base, iov[i].iov_len, off);
        if (ret < 0) {
            return ret;
        }
        off += iov[i].iov_len;
    }
    return 0;
}

static int fd_flush(void *opaque)
{
    return fdatasync(*(int *)opaque) < 0 ? -errno : 0;
}

static int fd_pdiscard(void *opaque, uint64_t off, uint64_t bytes)
{
    int r = fallocate(*(int *)opaque, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                      off, bytes);

    return r < 0 ? -errno : 0;
}

static int fd_pzero(void *opaque, uint64_t off, uint64_t bytes)
{
    int r = fallocate(*(int *)opaque, FALLOC_FL_ZERO_RANGE, off, bytes);

    return r < 0 ? -errno : 0;      /* EOPNOTSUPP is ENOTSUP on Linux */
}

static int64_t fd_length(void *opaque)
{
    off_t len = lseek(*(int *)opaque, 0, SEEK_END);

    return len < 0 ? -errno : len;
}

/**
 * hb_qcow2_io_from_fd() - an HbQcow2Io over a file descriptor.
 * @io: filled in
 * @fd: points at the descriptor; must outlive the image
 */
void hb_qcow2_io_from_fd(HbQcow2Io *io, int *fd)
{
    /* Every member: callers keep @io on the stack, and unset ones are read. */
    *io = (HbQcow2Io){
        .opaque = fd,
        .preadv = fd_preadv,
        .pwritev = fd_pwritev,
        .flush = fd_flush,
        .get_length = fd_length,
        .pdiscard = fd_pdiscard,
        .pzero = fd_pzero,
        .write_align = 1,
    };
}

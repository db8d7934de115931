/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/file.c — the "file" protocol driver: a host file or block device. */
#include "block/aio.h"
#include "block/create.h"
#include "block/iov.h"
#include "block/lock.h"
#include "block/node.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Requests are plain positional syscalls (pread/pwrite/preadv/pwritev) on
 * one fd shared by all threads, which is safe because positional I/O
 * has no shared file offset.  With cache.direct the node's
 * request_alignment is the probed O_DIRECT block size, so node.c pads
 * offsets and lengths; memory alignment is this file's business: iovecs
 * that are not aligned go through a bounce buffer.
 *
 * The node is growable: formats (qcow2) allocate by writing past the end.
 * Short reads at the end of the file read as zeroes.
 *
 * Asynchronously (aio=io_uring, the default where the kernel allows it),
 * reads, writes, flushes (fdatasync), discards and zeroes (fallocate)
 * become SQEs on the submitting thread's ring (block/aio.h); iovecs that
 * O_DIRECT cannot take, more than IOV_MAX of them, a block device's
 * discard or zeroes (ioctls), or a full ring make submit() say -ENOTSUP,
 * and the request runs
 * through the synchronous calls on the I/O pool, which is also all that
 * aio=threads does.  A short transfer (EOF, a signal) is finished with the
 * synchronous calls in the completion.  aio=native is io_uring here: the
 * kernel AIO interface it names is what io_uring replaced.
 */

typedef struct FileState {
    int fd;
    bool direct;
    bool is_blockdev;
    bool use_lock;
    uint32_t mem_align;
    bool uring;             /* aio=io_uring (else threads) */
    gint no_nowait_writes;  /* the file system refused an RWF_NOWAIT write */
    gint64 length;          /* cached; grows with writes (atomic) */
    HbImageLock lock;
} FileState;

static int64_t fd_length(int fd, bool blockdev)
{
    struct stat st;

    if (blockdev) {
        uint64_t n;
        if (ioctl(fd, BLKGETSIZE64, &n) == -1) {
            return -errno;
        }
        return (int64_t)n;
    }
    if (fstat(fd, &st) == -1) {
        return -errno;
    }
    return st.st_size;
}

/* The smallest size an O_DIRECT read at offset 0 accepts. */
static uint32_t probe_alignment(int fd)
{
    void *buf = NULL;
    uint32_t found = 4096;

    if (posix_memalign(&buf, 4096, 4096)) {
        return found;
    }
    for (uint32_t a = 512; a <= 4096; a <<= 1) {
        if (pread(fd, buf, a, 0) >= 0) {
            found = a;
            break;
        }
    }
    free(buf);
    return found;
}

/*
 * aio: io_uring unless told otherwise and the kernel lets us; native is
 * io_uring, with QEMU's rule that it needs O_DIRECT.  Asking for io_uring
 * where there is none is an error; not asking falls back to threads
 * (the daemon logs that once at startup).
 */
static bool file_choose_aio(FileState *s, QapiBlockdevOptionsFile *fo,
                            GError **errp)
{
    int err = hb_aio_uring_probe();

    if (!fo->has_aio) {
        s->uring = err == 0;
        return true;
    }
    if (fo->aio == QAPI_BLOCKDEV_AIO_OPTIONS_THREADS) {
        return true;
    }
    if (fo->aio == QAPI_BLOCKDEV_AIO_OPTIONS_NATIVE && !s->direct) {
        hb_error_set(errp, "aio=native was specified, but it requires "
                     "cache.direct=on, which was not specified.");
        return false;
    }
    if (err < 0) {
        hb_error_set_errno(errp, -err, "Unable to use io_uring: failed to "
                           "init linux io_uring ring");
        return false;
    }
    s->uring = true;
    return true;
}

static void file_state_free(FileState *s)
{
    if (s->fd >= 0) {
        close(s->fd);   /* drops every OFD lock byte with it */
    }
    g_free(s);
}

static bool file_open(HbNode *node, QapiBlockdevOptions *opts, GError **errp)
{
    QapiBlockdevOptionsFile *fo = opts->u.file;
    FileState *s = g_new0(FileState, 1);
    int flags = O_CLOEXEC | (node->cache_direct ? O_DIRECT : 0);
    struct stat st;

    s->direct = node->cache_direct;
    if (!file_choose_aio(s, fo, errp)) {
        goto fail;
    }
    s->fd = open(fo->filename, flags | (node->read_only ? O_RDONLY : O_RDWR));
    if (s->fd < 0 && !node->read_only && opts->has_auto_read_only &&
        opts->auto_read_only &&
        (errno == EACCES || errno == EPERM || errno == EROFS)) {
        node->read_only = true;
        s->fd = open(fo->filename, flags | O_RDONLY);
    }
    if (s->fd < 0) {
        hb_error_set_errno(errp, errno, "Could not open '%s'", fo->filename);
        goto fail;
    }
    if (fstat(s->fd, &st) == -1) {
        hb_error_set_errno(errp, errno, "Could not stat '%s'", fo->filename);
        goto fail;
    }
    s->is_blockdev = S_ISBLK(st.st_mode);
    if (!S_ISREG(st.st_mode) && !s->is_blockdev) {
        hb_error_set(errp, "'file' driver requires '%s' to be a regular file",
                     fo->filename);
        goto fail;
    }

    QapiOnOffAuto locking = fo->has_locking ? fo->locking
                                            : QAPI_ON_OFF_AUTO_Q_AUTO;
    if (locking != QAPI_ON_OFF_AUTO_OFF) {
        s->use_lock = hb_lock_supported(s->fd);
        if (!s->use_lock && locking == QAPI_ON_OFF_AUTO_ON) {
            hb_error_set(errp, "OFD lock is not supported on '%s'",
                         fo->filename);
            goto fail;
        }
    }
    s->lock.fd = s->fd;

    int64_t len = fd_length(s->fd, s->is_blockdev);
    if (len < 0) {
        hb_error_set_errno(errp, (int)len, "Could not get the size of '%s'",
                           fo->filename);
        goto fail;
    }
    s->length = len;
    s->mem_align = 1;
    if (s->direct) {
        s->mem_align = probe_alignment(s->fd);
        node->request_alignment = s->mem_align;
    }
    node->opaque = s;
    return true;

fail:
    file_state_free(s);
    return false;
}

static void file_close(HbNode *node)
{
    file_state_free(node->opaque);
    node->opaque = NULL;
}

static int64_t file_get_length(HbNode *node)
{
    FileState *s = node->opaque;

    return __atomic_load_n(&s->length, __ATOMIC_RELAXED);
}

/*
 * The other process may have grown the file while we were inactive (a
 * qcow2 allocating clusters): the length we keep is read again.
 */
static bool file_activate(HbNode *node, GError **errp)
{
    FileState *s = node->opaque;
    int64_t len = fd_length(s->fd, s->is_blockdev);

    if (len < 0) {
        hb_error_set_errno(errp, (int)len, "Could not get the size of the file");
        return false;
    }
    __atomic_store_n(&s->length, len, __ATOMIC_RELAXED);
    return true;
}

/*
 * block_resize, as QEMU's file driver: regular files any size, devices no
 * bigger.  With @prealloc the grown part is reserved (falloc: by
 * posix_fallocate alone, which lengthens the file, so that its failure
 * is the one reported, as with QEMU) or written with zeroes (full); if
 * that fails the file gets its old length back.
 */
static int file_truncate(HbNode *node, uint64_t size, QapiPreallocMode prealloc,
                         GError **errp)
{
    FileState *s = node->opaque;
    struct stat st;

    if (fstat(s->fd, &st) == -1) {
        int ret = -errno;
        hb_error_set_errno(errp, ret, "Failed to fstat() the file");
        return ret;
    }
    if (!S_ISREG(st.st_mode)) {
        if (prealloc != QAPI_PREALLOC_MODE_OFF) {
            hb_error_set(errp, "Preallocation mode '%s' unsupported for this non-regular file",
                         QapiPreallocMode_str(prealloc));
            return -ENOTSUP;
        }
        if ((int64_t)size > file_get_length(node)) {
            hb_error_set(errp, "Cannot grow device files");
            return -EINVAL;
        }
        return 0;
    }
    if (prealloc == QAPI_PREALLOC_MODE_METADATA) {
        hb_error_set(errp, "Unsupported preallocation mode: metadata");
        return -ENOTSUP;
    }
    if (prealloc != QAPI_PREALLOC_MODE_OFF && size < (uint64_t)st.st_size) {
        hb_error_set(errp, "Cannot use preallocation for shrinking files");
        return -ENOTSUP;
    }
    /*
     * The length first: a write racing with a shrink that lands past the
     * new end grows the file again and then also raises s->length (its
     * compare-and-swap keeps the maximum), so the two stay in step.
     */
    gint64 old = __atomic_exchange_n(&s->length, (gint64)size, __ATOMIC_RELAXED);
    int ret = 0;
    if (prealloc != QAPI_PREALLOC_MODE_FALLOC && ftruncate(s->fd, (off_t)size) == -1) {
        ret = -errno;
        hb_error_set_errno(errp, ret, "Could not resize file");
    } else {
        ret = hb_file_preallocate(s->fd, (uint64_t)st.st_size, size, prealloc, errp);
        if (ret < 0 && ftruncate(s->fd, st.st_size) == -1) {
            g_prefix_error(errp, "(and could not restore the old length) ");
        }
    }
    if (ret < 0) {
        __atomic_store_n(&s->length, old, __ATOMIC_RELAXED);
    }
    return ret;
}

static int64_t file_get_allocated_size(HbNode *node)
{
    FileState *s = node->opaque;
    struct stat st;

    if (fstat(s->fd, &st) == -1) {
        return -errno;
    }
    return (int64_t)st.st_blocks * 512;
}

static void grow_to(FileState *s, uint64_t end)
{
    gint64 cur = __atomic_load_n(&s->length, __ATOMIC_RELAXED);

    while ((uint64_t)cur < end &&
           !__atomic_compare_exchange_n(&s->length, &cur, (gint64)end, true,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
        /* cur was reloaded by the failed exchange */
    }
}

/*
 * Move @bytes between the file at @off and @iov.  One vectored syscall
 * normally does it; a short transfer (signal, EOF, > IOV_MAX segments)
 * finishes segment by segment.  Reading past EOF gives zeroes.
 */
static int rw_full(int fd, bool write, uint64_t off, const struct iovec *iov,
                   int niov, uint64_t bytes)
{
    int cnt = niov < IOV_MAX ? niov : IOV_MAX;
    ssize_t n;

    do {
        n = write ? pwritev(fd, iov, cnt, (off_t)off)
                  : preadv(fd, iov, cnt, (off_t)off);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return -errno;
    }
    uint64_t done = (uint64_t)n;
    uint64_t skip = done;
    for (int i = 0; i < niov && done < bytes; i++) {
        if (skip >= iov[i].iov_len) {
            skip -= iov[i].iov_len;
            continue;
        }
        char *p = (char *)iov[i].iov_base + skip;
        size_t left = iov[i].iov_len - skip;
        skip = 0;
        while (left) {
            n = write ? pwrite(fd, p, left, (off_t)(off + done))
                      : pread(fd, p, left, (off_t)(off + done));
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0) {
                return -errno;
            }
            if (n == 0) {
                if (write) {
                    return -EIO;
                }
                hb_iov_memset(iov, niov, done, 0, bytes - done);
                return 0;
            }
            p += n;
            left -= n;
            done += n;
        }
    }
    return 0;
}

static int file_rw(HbNode *node, bool write, uint64_t offset, uint64_t bytes,
                   const struct iovec *iov, int niov)
{
    FileState *s = node->opaque;
    int ret;

    if (s->direct && !hb_iov_is_aligned(iov, niov, s->mem_align)) {
        void *buf = NULL;
        if (posix_memalign(&buf, s->mem_align, bytes)) {
            return -ENOMEM;
        }
        struct iovec v = { .iov_base = buf, .iov_len = bytes };
        if (write) {
            hb_iov_to_buf(iov, niov, 0, buf, bytes);
        }
        ret = rw_full(s->fd, write, offset, &v, 1, bytes);
        if (!write && ret == 0) {
            hb_iov_from_buf(iov, niov, 0, buf, bytes);
        }
        free(buf);
    } else {
        ret = rw_full(s->fd, write, offset, iov, niov, bytes);
    }
    if (write && ret == 0) {
        grow_to(s, offset + bytes);
    }
    return ret;
}

static int file_preadv(HbNode *node, uint64_t offset, uint64_t bytes,
                       const struct iovec *iov, int niov, unsigned flags)
{
    return file_rw(node, false, offset, bytes, iov, niov);
}

static int file_pwritev(HbNode *node, uint64_t offset, uint64_t bytes,
                        const struct iovec *iov, int niov, unsigned flags)
{
    return file_rw(node, true, offset, bytes, iov, niov);
}

/* ---- asynchronous I/O over the thread's io_uring ---- */

/* Buffered reads larger than this take the I/O pool (see file_submit_takes()). */
#define FILE_POOL_READ_MAX (64 * 1024)

typedef struct FileReq {
    HbAioCb cb;
    HbIoReq *req;
    HbNode *node;
} FileReq;

/* Finish @req's transfer from byte @done on synchronously (rare: EOF, a signal). */
static int finish_short(HbNode *node, HbIoReq *req, uint64_t done)
{
    FileState *s = node->opaque;
    struct iovec *v = g_newa(struct iovec, req->niov);
    int n = 0;
    uint64_t skip = done;

    for (int i = 0; i < req->niov; i++) {
        if (skip >= req->iov[i].iov_len) {
            skip -= req->iov[i].iov_len;
            continue;
        }
        v[n].iov_base = (char *)req->iov[i].iov_base + skip;
        v[n].iov_len = req->iov[i].iov_len - skip;
        skip = 0;
        n++;
    }
    return rw_full(s->fd, req->op == HB_IO_WRITE, req->offset + done, v, n,
                   req->bytes - done);
}

static void file_req_done(HbAioCb *cb, int res)
{
    FileReq *fr = (FileReq *)cb;
    HbIoReq *req = fr->req;
    HbNode *node = fr->node;
    int ret = res < 0 ? res : 0;

    g_free(fr);
    bool data = req->op == HB_IO_READ || req->op == HB_IO_WRITE;
    if (data && res >= 0 && (uint64_t)res < req->bytes) {
        if (res == 0 && req->op == HB_IO_READ) {
            /* At or past EOF: zeroes, as the synchronous path gives. */
            hb_iov_memset(req->iov, req->niov, 0, 0, req->bytes);
        } else {
            ret = finish_short(node, req, (uint64_t)res);
        }
    }
    /* A write, or zeroes past the end (FALLOC_FL_ZERO_RANGE extends the file). */
    if ((req->op == HB_IO_WRITE || req->op == HB_IO_WRITE_ZEROES) && ret == 0) {
        grow_to(node->opaque, req->offset + req->bytes);
    }
    req->cb.done(&req->cb, ret);
}

/*
 * Buffered I/O that the page cache can take is a memory copy: done here and
 * now, it costs a syscall and no more, where io_uring costs its own
 * bookkeeping and, for writes the file system cannot do without blocking
 * (ext4 has no RWF_NOWAIT buffered writes), a hand-off to a kernel worker
 * thread: on a page-cached raw file at depth 32, 4k reads made 430k IOPS
 * through io_uring and 650k here, 4k writes 70k and 97k.
 *
 * Reads ask the kernel not to wait (RWF_NOWAIT): a read that would go to
 * the disk returns EAGAIN, and takes io_uring after all.  Writes do the
 * same where the file system allows it; where it does not, they are
 * written here, as before the data path was asynchronous: a write that
 * the kernel throttles (dirty pages over the limit) then waits here, as
 * it would on any thread, and two writers of one file only contend for
 * its inode lock.
 * Return: true if @req is complete (its callback ran), false to submit it.
 */
static bool buffered_inline(HbNode *node, HbIoReq *req)
{
    FileState *s = node->opaque;
    bool write = req->op == HB_IO_WRITE;
    ssize_t n;

    if (write && g_atomic_int_get(&s->no_nowait_writes)) {
        req->cb.done(&req->cb, file_rw(node, true, req->offset, req->bytes,
                                       req->iov, req->niov));
        return true;
    }
    do {
        n = write ? pwritev2(s->fd, req->iov, req->niov, (off_t)req->offset, RWF_NOWAIT)
                  : preadv2(s->fd, req->iov, req->niov, (off_t)req->offset, RWF_NOWAIT);
    } while (n < 0 && errno == EINTR);
    if (n >= 0 && (uint64_t)n == req->bytes) {
        if (write) {
            grow_to(s, req->offset + req->bytes);
        }
        req->cb.done(&req->cb, 0);
        return true;
    }
    if (n < 0 && write && errno == EOPNOTSUPP) {
        g_atomic_int_set(&s->no_nowait_writes, 1);
        return buffered_inline(node, req);
    }
    /*
     * Would block, or a short transfer (part cached, EOF, an error to
     * come): io_uring does the whole request again, which is harmless
     * for a read and for a write of the same bytes.
     */
    return false;
}

/*
 * With O_DIRECT, queued SQEs go to the kernel once there are this many,
 * instead of all at the end of the I/O thread's pass.  A disk (a virtio
 * disk at least) takes each submission as one batch and tends to complete
 * it as one: given the whole queue depth at once, it hands it all back at
 * once, the front-end answers with the whole depth again, and the queue
 * moves in lock-step, the disk idle while the batch turns around.  On this
 * project's VM, raw 4k randread at depth 32 went from 62-72k to 97-99k IOPS
 * with batches of 4, and randwrite from 59-70k to 72-83k; batches of 2 and
 * 8 did as well, one SQE per submission a little worse (bench/README.md).
 */
#define FILE_DIRECT_BATCH 4

/* Whether file_submit() takes @req rather than leave it to the pool. */
static bool file_submit_takes(HbNode *node, const HbIoReq *req)
{
    FileState *s = node->opaque;
    bool data = req->op == HB_IO_READ || req->op == HB_IO_WRITE;

    if (!s->uring || !hb_aio_ctx_has_uring(hb_aio_ctx_current())) {
        return false;
    }
    /*
     * A buffered read that hits the page cache is a copy, done on this
     * thread.  Large ones go to the pool instead, where several copies
     * run on several CPUs at once.
     */
    if (req->op == HB_IO_READ && !s->direct && req->bytes > FILE_POOL_READ_MAX) {
        return false;
    }
    if (data && (req->niov > IOV_MAX ||
                 (s->direct && !hb_iov_is_aligned(req->iov, req->niov, s->mem_align)))) {
        return false;
    }
    /* A device's discard and zeroing are ioctls, which io_uring has not. */
    return data || req->op == HB_IO_FLUSH || !s->is_blockdev;
}

static int file_submit(HbNode *node, HbIoReq *req)
{
    FileState *s = node->opaque;
    HbAioCtx *ctx = hb_aio_ctx_current();
    bool data = req->op == HB_IO_READ || req->op == HB_IO_WRITE;

    if (!file_submit_takes(node, req)) {
        return -ENOTSUP;
    }
    if (req->op == HB_IO_FLUSH && node->cache_no_flush) {
        req->cb.done(&req->cb, 0);
        return 0;
    }
    if (data && !s->direct && buffered_inline(node, req)) {
        return 0;
    }
    FileReq *fr = g_new(FileReq, 1);
    fr->cb.done = file_req_done;
    fr->req = req;
    fr->node = node;
    struct io_uring_sqe *sqe = hb_aio_ctx_get_sqe(ctx, &fr->cb);
    if (!sqe) {
        g_free(fr);
        return -ENOTSUP;
    }
    switch (req->op) {
    case HB_IO_READ:
        io_uring_prep_readv(sqe, s->fd, req->iov, req->niov, req->offset);
        break;
    case HB_IO_WRITE:
        io_uring_prep_writev(sqe, s->fd, req->iov, req->niov, req->offset);
        break;
    case HB_IO_DISCARD:
        io_uring_prep_fallocate(sqe, s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                (off_t)req->offset, (off_t)req->bytes);
        break;
    case HB_IO_WRITE_ZEROES: {
        /* As file_pwrite_zeroes(); its other ways are the pool's fallback. */
        uint64_t end = req->offset + req->bytes;
        bool hole = (req->flags & HB_REQ_MAY_UNMAP) &&
                    end <= (uint64_t)__atomic_load_n(&s->length, __ATOMIC_RELAXED);
        io_uring_prep_fallocate(sqe, s->fd, hole ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
                                                 : FALLOC_FL_ZERO_RANGE,
                                (off_t)req->offset, (off_t)req->bytes);
        break;
    }
    default:
        io_uring_prep_fsync(sqe, s->fd, IORING_FSYNC_DATASYNC);
        break;
    }
    io_uring_sqe_set_data(sqe, &fr->cb);
    if (s->direct) {
        hb_aio_ctx_submit_if_queued(ctx, FILE_DIRECT_BATCH);
    }
    return 0;
}

/* aio=native is io_uring here, and query says so. */
static QapiBlockdevAioOptions file_get_aio(HbNode *node)
{
    FileState *s = node->opaque;

    return s->uring ? QAPI_BLOCKDEV_AIO_OPTIONS_IO_URING
                    : QAPI_BLOCKDEV_AIO_OPTIONS_THREADS;
}

static int file_flush(HbNode *node)
{
    FileState *s = node->opaque;

    if (node->cache_no_flush) {
        return 0;   /* cache.no-flush: the host's cache is trusted */
    }
    return fdatasync(s->fd) == -1 ? -errno : 0;
}

/*
 * Holes read as zeroes, the rest as data, from SEEK_DATA/SEEK_HOLE
 * (lseek(2)); positional I/O never uses the fd's offset, so moving it here
 * disturbs no other thread.  Where the file system cannot tell, all is
 * data.  A data run ending at an EOF that is not aligned is rounded up to
 * the node's alignment, as requests are.
 */
static int file_block_status(HbNode *node, uint64_t offset, uint64_t bytes,
                             uint64_t *pnum, uint64_t *map, HbNode **file)
{
    FileState *s = node->opaque;
    off_t data = lseek(s->fd, (off_t)offset, SEEK_DATA);

    *map = offset;
    *file = node;
    if (data == -1 && errno == ENXIO) {
        *pnum = bytes;                          /* a hole up to EOF */
        return HB_BS_ZERO | HB_BS_OFFSET_VALID;
    }
    if (data == -1) {
        *pnum = bytes;
        return HB_BS_DATA | HB_BS_OFFSET_VALID;
    }
    if ((uint64_t)data > offset) {
        *pnum = MIN(bytes, (uint64_t)data - offset);
        return HB_BS_ZERO | HB_BS_OFFSET_VALID;
    }
    off_t hole = lseek(s->fd, (off_t)offset, SEEK_HOLE);
    uint64_t n = bytes;
    if (hole != -1 && (uint64_t)hole > offset) {
        uint32_t align = MAX(node->request_alignment, 1u);
        n = ((uint64_t)hole - offset + align - 1) / align * align;
    }
    *pnum = MIN(bytes, n);
    return HB_BS_DATA | HB_BS_OFFSET_VALID;
}

static int file_pdiscard(HbNode *node, uint64_t offset, uint64_t bytes)
{
    FileState *s = node->opaque;
    int ret;

    if (s->is_blockdev) {
        uint64_t range[2] = { offset, bytes };
        ret = ioctl(s->fd, BLKDISCARD, range);
    } else {
        ret = fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                        (off_t)offset, (off_t)bytes);
    }
    /* Discard is a hint: a file system without holes simply keeps data. */
    if (ret == -1 && errno != EOPNOTSUPP && errno != ENOTTY) {
        return -errno;
    }
    return 0;
}

/* fallocate(), again while a signal interrupts it. */
static int fallocate_retry(int fd, int mode, uint64_t offset, uint64_t bytes)
{
    int r;

    do {
        r = fallocate(fd, mode, (off_t)offset, (off_t)bytes);
    } while (r == -1 && errno == EINTR);
    return r == -1 ? -errno : 0;
}

/* A failed zeroing's errno: -ENOTSUP or the real error (hb_zeroing_unsupported()). */
static int zeroing_error(int ret)
{
    return hb_zeroing_unsupported(ret) ? -ENOTSUP : ret;
}

static int file_pwrite_zeroes(HbNode *node, uint64_t offset, uint64_t bytes,
                              unsigned flags)
{
    FileState *s = node->opaque;
    uint64_t end = offset + bytes;
    int64_t len = __atomic_load_n(&s->length, __ATOMIC_RELAXED);

    if (s->is_blockdev) {
        uint64_t range[2] = { offset, bytes };
        /*
         * BLKZEROOUT writes zeroes itself where the device has no cheap
         * way: that is the fallback a caller with NO_FALLBACK would rather
         * do its own way (qcow2 writes its cluster whole), as QEMU has it.
         */
        if (flags & HB_REQ_NO_FALLBACK) {
            return -ENOTSUP;
        }
        int r;
        do {
            r = ioctl(s->fd, BLKZEROOUT, range);
        } while (r == -1 && errno == EINTR);
        return r == 0 ? 0 : zeroing_error(-errno);
    }
    /* A hole reads as zeroes; beyond EOF a hole would not grow the file. */
    if ((flags & HB_REQ_MAY_UNMAP) && end <= (uint64_t)len &&
        fallocate_retry(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, bytes) == 0) {
        return 0;
    }
    int ret = fallocate_retry(s->fd, FALLOC_FL_ZERO_RANGE, offset, bytes);
    if (ret == 0) {
        grow_to(s, end);
        return 0;
    }
    return zeroing_error(ret);
}

static bool file_set_perm(HbNode *node, unsigned perm, unsigned shared,
                          GError **errp)
{
    FileState *s = node->opaque;

    if (!s->use_lock) {
        return true;
    }
    return hb_lock_update(&s->lock, perm, shared, errp);
}

static char *file_filename(HbNode *node)
{
    return g_strdup(node->options->u.file->filename);
}

const HbDriver hb_driver_file = {
    .name = "file",
    .is_format = false,
    .growable = true,
    .zero_past_eof = true,
    .open = file_open,
    .close = file_close,
    .get_length = file_get_length,
    .get_allocated_size = file_get_allocated_size,
    .truncate = file_truncate,
    .preadv = file_preadv,
    .pwritev = file_pwritev,
    .flush = file_flush,
    .submit = file_submit,
    .submit_takes = file_submit_takes,
    .get_aio = file_get_aio,
    .pdiscard = file_pdiscard,
    .pwrite_zeroes = file_pwrite_zeroes,
    .block_status = file_block_status,
    .set_perm = file_set_perm,
    .activate = file_activate,
    .filename = file_filename,
};

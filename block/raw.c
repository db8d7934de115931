/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/raw.c — the "raw" format: its file child as is, or a window of it. */
#include "block/node.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct RawState {
    HbChild *file;
    uint64_t offset;
    bool has_size;
    uint64_t size;
} RawState;

/*
 * What a format node takes on a child it stores data in: a writable node
 * writes and lets nobody else write (one writer per image, as QEMU's
 * default); a read-only one reads and, with force-share, shares all.
 */
static unsigned child_perm(HbNode *node)
{
    return HB_PERM_CONSISTENT_READ | (node->read_only ? 0 : HB_PERM_WRITE);
}

static unsigned child_shared(HbNode *node)
{
    return HB_PERM_CONSISTENT_READ | HB_PERM_WRITE_UNCHANGED |
           (node->read_only ? HB_PERM_RESIZE : 0);
}

static bool raw_open(HbNode *node, QapiBlockdevOptions *opts, GError **errp)
{
    QapiBlockdevOptionsRaw *ro = opts->u.raw;
    RawState *s = g_new0(RawState, 1);

    if ((ro->has_offset && ro->offset < 0) || (ro->has_size && ro->size < 0)) {
        hb_error_set(errp, "offset and size must not be negative");
        goto fail;
    }
    s->offset = ro->has_offset ? (uint64_t)ro->offset : 0;
    s->has_size = ro->has_size;
    s->size = ro->has_size ? (uint64_t)ro->size : 0;

    s->file = hb_node_open_child(node, "file", ro->file, child_perm(node),
                                 child_shared(node), errp);
    if (!s->file) {
        goto fail;
    }
    int64_t len = hb_node_get_length(s->file->node);
    if (len < 0) {
        hb_error_set_errno(errp, (int)len, "Could not get the file size");
        goto fail;
    }
    if (s->offset > (uint64_t)len ||
        (s->has_size && s->size > (uint64_t)len - s->offset)) {
        /* QEMU's text, double space included. */
        hb_error_set(errp, "The sum of offset (%" G_GUINT64_FORMAT ") and size "
                     "(%" G_GUINT64_FORMAT ") has to be smaller or equal to "
                     "the  actual size of the containing file (%" G_GINT64_FORMAT
                     ")", s->offset, s->size, len);
        goto fail;
    }
    node->request_alignment = 1;   /* the child pads for itself */
    node->opaque = s;
    return true;

fail:
    g_free(s);
    return false;
}

static void raw_close(HbNode *node)
{
    g_free(node->opaque);
    node->opaque = NULL;
}

static int64_t raw_get_length(HbNode *node)
{
    RawState *s = node->opaque;

    if (s->has_size) {
        return (int64_t)s->size;
    }
    int64_t len = hb_node_get_length(s->file->node);
    if (len < 0) {
        return len;
    }
    return len > (int64_t)s->offset ? len - (int64_t)s->offset : 0;
}

/* Whatever the file says of the same bytes, moved by the window's offset. */
static int raw_block_status(HbNode *node, uint64_t offset, uint64_t bytes,
                            uint64_t *pnum, uint64_t *map, HbNode **file)
{
    RawState *s = node->opaque;

    *pnum = bytes;
    *map = s->offset + offset;
    *file = s->file->node;
    return HB_BS_FORWARD;
}

static int raw_preadv(HbNode *node, uint64_t offset, uint64_t bytes,
                      const struct iovec *iov, int niov, unsigned flags)
{
    RawState *s = node->opaque;

    return hb_node_preadv(s->file->node, s->offset + offset, bytes, iov, niov,
                          flags);
}

static int raw_pwritev(HbNode *node, uint64_t offset, uint64_t bytes,
                       const struct iovec *iov, int niov, unsigned flags)
{
    RawState *s = node->opaque;

    return hb_node_pwritev(s->file->node, s->offset + offset, bytes, iov, niov,
                           flags);
}

static int raw_pdiscard(HbNode *node, uint64_t offset, uint64_t bytes)
{
    RawState *s = node->opaque;

    return hb_node_pdiscard(s->file->node, s->offset + offset, bytes);
}

static int raw_pwrite_zeroes(HbNode *node, uint64_t offset, uint64_t bytes,
                             unsigned flags)
{
    RawState *s = node->opaque;

    return hb_node_pwrite_zeroes(s->file->node, s->offset + offset, bytes,
                                 flags);
}

typedef struct RawReq {
    HbIoReq child;
    HbIoReq *parent;
} RawReq;

static void raw_req_done(HbAioCb *cb, int ret)
{
    RawReq *rr = (RawReq *)cb;
    HbIoReq *parent = rr->parent;

    g_free(rr);
    parent->cb.done(&parent->cb, ret);
}

/* The same request on the file, moved by the window's offset. */
static int raw_submit(HbNode *node, HbIoReq *req)
{
    RawState *s = node->opaque;
    RawReq *rr = g_new(RawReq, 1);

    rr->child = *req;
    rr->child.cb.done = raw_req_done;
    rr->child.offset += s->offset;
    rr->parent = req;
    hb_node_submit(s->file->node, &rr->child);
    return 0;
}

/* block_resize: the file follows (preallocated as asked), unless a fixed size was given. */
static int raw_truncate(HbNode *node, uint64_t size, QapiPreallocMode prealloc,
                        GError **errp)
{
    RawState *s = node->opaque;

    if (s->has_size) {
        hb_error_set(errp, "Cannot resize fixed-size raw disks");
        return -ENOTSUP;
    }
    if (INT64_MAX - size < s->offset) {
        hb_error_set(errp, "Disk size too large for the chosen offset");
        return -EINVAL;
    }
    return hb_node_truncate_prealloc(s->file->node, s->offset + size, prealloc, errp);
}

/* hotblock-img create -f raw: a sparse file of @size bytes. */
static bool raw_create(const char *filename, int64_t size, GHashTable *opts,
                       GError **errp)
{
    if (size < 0) {
        hb_error_set(errp, "Image creation needs a size parameter");
        return false;
    }
    int fd = open(filename, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        hb_error_set_errno(errp, errno, "Could not create '%s'", filename);
        return false;
    }
    if (ftruncate(fd, size) == -1) {
        hb_error_set_errno(errp, errno, "Could not resize file");
        close(fd);
        unlink(filename);
        return false;
    }
    close(fd);
    return true;
}

/* Without a window, a raw node is its file, and QEMU names it so. */
static bool raw_named_by_file(HbNode *node)
{
    QapiBlockdevOptionsRaw *r = node->options->u.raw;

    return !r->has_offset && !r->has_size;
}

const HbDriver hb_driver_raw = {
    .name = "raw",
    .is_format = true,
    .open = raw_open,
    .close = raw_close,
    .get_length = raw_get_length,
    .preadv = raw_preadv,
    .pwritev = raw_pwritev,
    .pdiscard = raw_pdiscard,
    .pwrite_zeroes = raw_pwrite_zeroes,
    .block_status = raw_block_status,
    .submit = raw_submit,
    .truncate = raw_truncate,
    .named_by_file = raw_named_by_file,
    .create = raw_create,
};

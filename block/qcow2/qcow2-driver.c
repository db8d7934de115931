/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/qcow2/qcow2-driver.c — the qcow2 HbDriver: children, backing chain, node I/O glue, query. */

#include "block/iov.h"
#include "block/node.h"
#include "qcow2.h"
#include "qcow2-int.h"
#include "util/error.h"
#include "util/fd-io.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

typedef struct Qcow2Node {
    HbQcow2 *img;
    HbChild *file;
    HbChild *backing;
    HbQcow2Io io;           /* to open the image again on activation */
    HbQcow2OpenOpts oo;
    gint prealloc;          /* block status: 0 not known yet, 1 no, 2 metadata preallocated */
} Qcow2Node;

/* ---- HbQcow2Io over the "file" child ---- */

/*
 * Reads pass HB_REQ_WHILE_INACTIVE: an inactive node opens (or
 * activates) reading its header and tables from a child that is still
 * inactive; once active, its children are too (block/activate.c).
 *
 * The format core may read past the end of the image file (a table of a
 * truncated image, the last compressed cluster rounded up to sectors):
 * those bytes read as zeroes.  A child whose driver returns zeroes there
 * itself (zero_past_eof) gets the read as it is; for any other the read
 * is cut at EOF here.  Errors are errors either way.
 */
static int child_preadv(void *opaque, uint64_t off, uint64_t bytes,
                        const struct iovec *iov, int niov)
{
    HbNode *n = opaque;

    if (n->drv->zero_past_eof) {
        return hb_node_preadv(n, off, bytes, iov, niov, HB_REQ_WHILE_INACTIVE);
    }
    int64_t len = hb_node_get_length(n);
    if (len < 0) {
        return (int)len;
    }
    if (off + bytes <= (uint64_t)len) {
        return hb_node_preadv(n, off, bytes, iov, niov, HB_REQ_WHILE_INACTIVE);
    }
    uint64_t have = off < (uint64_t)len ? (uint64_t)len - off : 0;
    hb_iov_memset(iov, niov, have, 0, bytes - have);
    if (have == 0) {
        return 0;
    }
    g_autofree uint8_t *buf = g_try_malloc(have);
    if (!buf) {
        return -ENOMEM;
    }
    struct iovec v = { .iov_base = buf, .iov_len = have };
    int ret = hb_node_preadv(n, off, have, &v, 1, HB_REQ_WHILE_INACTIVE);
    if (ret == 0) {
        hb_iov_from_buf(iov, niov, 0, buf, have);
    }
    return ret;
}

static int child_pwritev(void *opaque, uint64_t off, uint64_t bytes,
                         const struct iovec *iov, int niov)
{
    return hb_node_pwritev(opaque, off, bytes, iov, niov, 0);
}

static int child_flush(void *opaque)
{
    return hb_node_flush(opaque);
}

static int64_t child_length(void *opaque)
{
    return hb_node_get_length(opaque);
}

static int child_pdiscard(void *opaque, uint64_t off, uint64_t bytes)
{
    return hb_node_pdiscard(opaque, off, bytes);
}

static int child_pzero(void *opaque, uint64_t off, uint64_t bytes)
{
    return hb_node_pwrite_zeroes(opaque, off, bytes, HB_REQ_NO_FALLBACK);
}

/* The qcow2 modes the file honours have QEMU's PreallocMode values. */
G_STATIC_ASSERT((int)HB_QCOW2_PREALLOC_OFF == (int)QAPI_PREALLOC_MODE_OFF);
G_STATIC_ASSERT((int)HB_QCOW2_PREALLOC_FALLOC == (int)QAPI_PREALLOC_MODE_FALLOC);
G_STATIC_ASSERT((int)HB_QCOW2_PREALLOC_FULL == (int)QAPI_PREALLOC_MODE_FULL);

/* Resize's preallocation: the file grows through its own driver, as QEMU's qcow2 does. */
static int child_grow(void *opaque, uint64_t length, HbQcow2Prealloc mode, GError **errp)
{
    int64_t cur = hb_node_get_length(opaque);
    int ret;

    if (cur < 0) {
        hb_error_set_errno(errp, (int)cur, "Could not get the size of the file");
        return (int)cur;
    }
    if (length <= (uint64_t)cur) {
        return 0;
    }
    ret = hb_node_truncate_prealloc(opaque, length, (QapiPreallocMode)mode, errp);
    if (ret == 0) {
        ret = hb_node_flush(opaque);
        if (ret < 0) {
            hb_error_set_errno(errp, ret, "Could not flush");
        }
    }
    return ret;
}

static int backing_preadv(void *opaque, uint64_t off, uint64_t bytes,
                          const struct iovec *iov, int niov)
{
    return hb_node_preadv(opaque, off, bytes, iov, niov, 0);
}

/* ---- backing chain from the header ---- */

static QapiBlockdevRef *ref_for_definition(QapiBlockdevOptions *def)
{
    QapiBlockdevRef *ref = g_new0(QapiBlockdevRef, 1);

    ref->type = QAPI_QTYPE_QDICT;
    ref->u.definition = def;
    return ref;
}

/* Absolute path of the header's backing file name, relative to the image. */
static char *resolve_backing_path(HbNode *file, const char *name)
{
    if (g_path_is_absolute(name) || !file->options ||
        file->options->driver != QAPI_BLOCKDEV_DRIVER_FILE) {
        return g_strdup(name);
    }
    /*
     * As QEMU: keep the image name up to its last '/' ("" for a bare
     * name), so a relative image "mid.qcow2" names its backing "base.qcow2",
     * not "./base.qcow2".
     */
    const char *img = file->options->u.file->filename;
    const char *slash = strrchr(img, '/');
    g_autofree char *dir = slash ? g_strndup(img, slash - img + 1) : g_strdup("");
    return g_strconcat(dir, name, NULL);
}

static bool probe_is_qcow2(const char *path)
{
    uint8_t buf[4];
    HbQcow2Header h = { 0 };
    HB_AUTOFD int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd >= 0 && pread(fd, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf)) {
        hb_qcow2_header_decode(&h, buf, sizeof(buf));
    }
    return h.magic == QCOW2_MAGIC;
}

/*
 * Build {"driver": fmt, "read-only": true, "file": {"driver": "file",
 * "filename": path, "read-only": true}} for the header's backing file.
 */
static QapiBlockdevRef *header_backing_ref(HbNode *node, HbQcow2 *img,
                                           GError **errp)
{
    g_autofree char *path = NULL;
    QapiBlockdevDriver fmt;
    HbChild *file = hb_node_child(node, "file");

    if (g_str_has_prefix(img->backing_file, "json:")) {
        hb_error_set(errp, "qcow2: json: backing file names are not supported");
        return NULL;
    }
    path = resolve_backing_path(file->node, img->backing_file);
    if (img->backing_fmt) {
        if (!QapiBlockdevDriver_parse(img->backing_fmt, &fmt) ||
            (fmt != QAPI_BLOCKDEV_DRIVER_RAW && fmt != QAPI_BLOCKDEV_DRIVER_QCOW2 &&
             fmt != QAPI_BLOCKDEV_DRIVER_FILE)) {
            hb_error_set(errp, "Unknown driver '%s' for backing file '%s'",
                         img->backing_fmt, img->backing_file);
            return NULL;
        }
    } else {
        fmt = probe_is_qcow2(path) ? QAPI_BLOCKDEV_DRIVER_QCOW2 : QAPI_BLOCKDEV_DRIVER_RAW;
    }

    QapiBlockdevOptions *proto = g_new0(QapiBlockdevOptions, 1);
    proto->driver = QAPI_BLOCKDEV_DRIVER_FILE;
    proto->has_read_only = true;
    proto->read_only = true;
    proto->u.file = g_new0(QapiBlockdevOptionsFile, 1);
    proto->u.file->filename = g_steal_pointer(&path);
    if (fmt == QAPI_BLOCKDEV_DRIVER_FILE) {
        return ref_for_definition(proto);
    }

    QapiBlockdevOptions *top = g_new0(QapiBlockdevOptions, 1);
    top->driver = fmt;
    top->has_read_only = true;
    top->read_only = true;
    if (fmt == QAPI_BLOCKDEV_DRIVER_RAW) {
        top->u.raw = g_new0(QapiBlockdevOptionsRaw, 1);
        top->u.raw->file = ref_for_definition(proto);
    } else {
        top->u.qcow2 = g_new0(QapiBlockdevOptionsQcow2, 1);
        top->u.qcow2->file = ref_for_definition(proto);
    }
    return ref_for_definition(top);
}

static bool open_backing(HbNode *node, Qcow2Node *s, QapiBlockdevOptionsQcow2 *o,
                         GError **errp)
{
    const unsigned perm = HB_PERM_CONSISTENT_READ;
    const unsigned shared = HB_PERM_ALL;

    if (o->backing) {
        QapiBlockdevRefOrNull *b = o->backing;
        QapiBlockdevRef ref = { .type = b->type };

        if (b->type == QAPI_QTYPE_QNULL ||
            (b->type == QAPI_QTYPE_QSTRING && b->u.reference[0] == '\0')) {
            return true;
        }
        if (b->type == QAPI_QTYPE_QSTRING) {
            ref.u.reference = b->u.reference;
        } else {
            ref.u.definition = b->u.definition;
        }
        s->backing = hb_node_open_child(node, "backing", &ref, perm, shared, errp);
    } else if (s->img->backing_file) {
        g_autoptr(QapiBlockdevRef) ref = header_backing_ref(node, s->img, errp);
        if (!ref) {
            return false;
        }
        s->backing = hb_node_open_child(node, "backing", ref, perm, shared, errp);
        if (!s->backing) {
            g_prefix_error(errp, "Could not open backing file: ");
        }
    } else {
        return true;
    }
    if (!s->backing) {
        return false;
    }
    int64_t len = hb_node_get_length(s->backing->node);
    if (len < 0) {
        hb_error_set_errno(errp, (int)len, "Could not get the backing file size");
        return false;
    }
    s->img->backing.opaque = s->backing->node;
    s->img->backing.preadv = backing_preadv;
    s->img->backing.length = len;
    return true;
}

/* ---- HbDriver callbacks ---- */

static void qcow2_close(HbNode *node)
{
    Qcow2Node *s = node->opaque;

    if (!s) {
        return;
    }
    /* node.c has just written the caches back (qcow2_flush()): no second
     * write-back and sync here, only its verdict recorded in the image. */
    hb_qcow2_settle_close(s->img, node->close_error);
    hb_qcow2_free_image(s->img);
    g_free(s);
    node->opaque = NULL;
}

static bool qcow2_open(HbNode *node, QapiBlockdevOptions *opts, GError **errp)
{
    QapiBlockdevOptionsQcow2 *o = opts->u.qcow2;
    Qcow2Node *s = g_new0(Qcow2Node, 1);
    HbQcow2OpenOpts oo = { .read_only = node->read_only };
    HbQcow2Io io = { 0 };
    unsigned perm = HB_PERM_CONSISTENT_READ |
                    (node->read_only ? 0 : HB_PERM_WRITE | HB_PERM_RESIZE);
    unsigned shared = HB_PERM_CONSISTENT_READ | HB_PERM_WRITE_UNCHANGED;

    node->opaque = s;
    if ((o->has_cache_size && o->cache_size < 0) ||
        (o->has_l2_cache_size && o->l2_cache_size < 0) ||
        (o->has_refcount_cache_size && o->refcount_cache_size < 0)) {
        hb_error_set(errp, "Cache size must be non-negative");
        goto fail;
    }
    if (o->has_cache_size) {
        oo.l2_cache_size = (uint64_t)o->cache_size / 4 * 3;
        oo.refcount_cache_size = (uint64_t)o->cache_size / 4;
    }
    if (o->has_l2_cache_size) {
        oo.l2_cache_size = o->l2_cache_size;
    }
    if (o->has_refcount_cache_size) {
        oo.refcount_cache_size = o->refcount_cache_size;
    }

    s->file = hb_node_open_child(node, "file", o->file, perm, shared, errp);
    if (!s->file) {
        goto fail;
    }
    io.opaque = s->file->node;
    io.preadv = child_preadv;
    io.pwritev = child_pwritev;
    io.flush = child_flush;
    io.get_length = child_length;
    io.pdiscard = child_pdiscard;
    io.pzero = child_pzero;
    io.write_align = s->file->node->request_alignment;
    io.grow = child_grow;
    s->io = io;
    s->oo = oo;
    /* Inactive: only read (no autoclear update, no writer's checks), and
     * keep nothing but the header; activation opens it for real. */
    oo.read_only |= !hb_node_is_active(node);
    s->img = hb_qcow2_open_image(&io, &oo, errp);
    if (!s->img) {
        goto fail;
    }
    if (!hb_node_is_active(node)) {
        hb_qcow2_drop_metadata(s->img);
    }
    /* QEMU's default: pass discards down when the node has discard=unmap. */
    s->img->discard_passthrough = o->has_pass_discard_request ? o->pass_discard_request
                                                              : node->discard_unmap;
    if (!open_backing(node, s, o, errp)) {
        goto fail;
    }
    return true;

fail:
    if (s->img) {
        hb_qcow2_free_image(s->img);
    }
    g_free(s);
    node->opaque = NULL;
    return false;
}

/*
 * block/activate.c has flushed the node: record a sync that failed while
 * it was active (the dirty bit, as closing would), then forget the
 * metadata, which the other process may now change.
 */
static void qcow2_inactivate(HbNode *node)
{
    Qcow2Node *s = node->opaque;

    hb_qcow2_settle_close(s->img, 0);
    hb_qcow2_drop_metadata(s->img);
}

/* Open the image afresh (header, L1, refcount table, empty caches). */
static bool qcow2_activate(HbNode *node, GError **errp)
{
    Qcow2Node *s = node->opaque;
    HbQcow2 *img = hb_qcow2_open_image(&s->io, &s->oo, errp);

    if (!img) {
        return false;
    }
    img->discard_passthrough = s->img->discard_passthrough;
    img->backing = s->img->backing;
    hb_qcow2_free_image(s->img);
    s->img = img;
    return true;
}

static int64_t qcow2_get_length(HbNode *node)
{
    Qcow2Node *s = node->opaque;

    return (int64_t)hb_qcow2_virtual_size(s->img);
}

/*
 * block_resize (grow only; see qcow2-resize.c).  Without preallocation
 * the image file is left alone: it grows as clusters are allocated; with
 * it the file grows through child_grow().  The core holds requests back only while it moves
 * the L1 table, so I/O threads keep running; block_resize runs on the
 * main thread, which serializes resizes.
 */
static int qcow2_truncate(HbNode *node, uint64_t size, QapiPreallocMode prealloc,
                          GError **errp)
{
    Qcow2Node *s = node->opaque;

    G_STATIC_ASSERT((int)HB_QCOW2_PREALLOC_METADATA == (int)QAPI_PREALLOC_MODE_METADATA);
    return hb_qcow2_truncate_prealloc(s->img, size, (HbQcow2Prealloc)prealloc, errp);
}

static int64_t qcow2_get_allocated_size(HbNode *node)
{
    Qcow2Node *s = node->opaque;

    return hb_node_get_allocated_size(s->file->node);
}

/*
 * Found out once per node, on the first block status: a data cluster of
 * a metadata-preallocated image may be a hole in the file.  An error
 * counts as "no" (the answer then only misses some zeroes).
 */
static bool metadata_preallocated(Qcow2Node *s)
{
    int p = g_atomic_int_get(&s->prealloc);

    if (p == 0) {
        int64_t allocated = hb_node_get_allocated_size(s->file->node);
        int r = allocated < 0 ? 0 : hb_qcow2_metadata_preallocated(s->img, allocated);
        p = r == 1 ? 2 : 1;
        g_atomic_int_set(&s->prealloc, p);
    }
    return p == 2;
}

/*
 * The format core's kinds as block status: data and zero clusters with a
 * host offset lie at it in the file child; compressed data lies nowhere a
 * reader could use; unallocated bytes are the backing file's.
 */
static int qcow2_block_status(HbNode *node, uint64_t offset, uint64_t bytes,
                              uint64_t *pnum, uint64_t *map, HbNode **file)
{
    Qcow2Node *s = node->opaque;
    uint64_t host = 0;
    int kind = hb_qcow2_block_status(s->img, offset, bytes, pnum, &host);
    int ret;

    switch (kind) {
    case QCOW2_KIND_DATA: ret = HB_BS_DATA; break;
    case QCOW2_KIND_ZERO: ret = HB_BS_ZERO; break;
    case QCOW2_KIND_COMPRESSED: ret = HB_BS_DATA | HB_BS_COMPRESSED; break;
    case QCOW2_KIND_UNALLOCATED: ret = 0; break;
    default: return kind;   /* -errno */
    }
    if (host) {
        *map = host;
        *file = s->file->node;
        ret |= HB_BS_OFFSET_VALID;
    }
    if (kind == QCOW2_KIND_DATA && host && metadata_preallocated(s)) {
        ret |= HB_BS_RECURSE;
    }
    return ret;
}

static int qcow2_make_empty(HbNode *node)
{
    Qcow2Node *s = node->opaque;

    return hb_qcow2_make_empty(s->img);
}

static int qcow2_preadv(HbNode *node, uint64_t offset, uint64_t bytes,
                        const struct iovec *iov, int niov, unsigned flags)
{
    Qcow2Node *s = node->opaque;

    return hb_qcow2_preadv(s->img, offset, bytes, iov, niov);
}

static int qcow2_pwritev(HbNode *node, uint64_t offset, uint64_t bytes,
                         const struct iovec *iov, int niov, unsigned flags)
{
    Qcow2Node *s = node->opaque;

    return hb_qcow2_pwritev(s->img, offset, bytes, iov, niov,
                            (flags & HB_REQ_FUA) != 0);
}

static int qcow2_pwrite_compressed(HbNode *node, uint64_t offset, uint64_t bytes,
                                   const void *buf)
{
    Qcow2Node *s = node->opaque;

    return hb_qcow2_pwrite_compressed(s->img, offset, bytes, buf);
}

/*
 * The fast path (theory in qcow2-fast.c): a read or write whose clusters
 * are all mapped in cached L2 tables goes to the image file as one child
 * request per host-contiguous piece; the caller completes when the last
 * piece does, with the first error.  Everything else returns -ENOTSUP
 * and runs through qcow2_preadv/pwritev on the I/O pool.
 */
typedef struct FastReq FastReq;

typedef struct FastPiece {
    HbIoReq req;            /* on the file child */
    FastReq *parent;
} FastPiece;

struct FastReq {
    HbIoReq *req;           /* the caller's */
    HbQcow2 *img;
    unsigned pending;       /* pieces not yet done, +1 while submitting */
    int ret;                /* the first error */
    FastPiece piece[];      /* then the pieces' iovecs */
};

static void fast_piece_done(HbAioCb *cb, int ret)
{
    FastPiece *p = (FastPiece *)cb;
    FastReq *fr = p->parent;

    if (ret < 0 && fr->ret == 0) {
        fr->ret = ret;
    }
    if (--fr->pending > 0) {
        return;
    }
    HbIoReq *req = fr->req;
    ret = fr->ret;
    /* All I/O on the clusters is over: a slow path may free them now. */
    hb_qcow2_fast_leave(fr->img);
    g_free(fr);
    req->cb.done(&req->cb, ret);
}

/* @n slices of @iov, after each other, of @ext[i].bytes each, into @out. */
static int slice_iov(const struct iovec *iov, int niov, const HbQcow2Extent *ext,
                     unsigned n, struct iovec *out, int *start)
{
    int i = 0, k = 0;
    uint64_t skip = 0;

    for (unsigned e = 0; e < n; e++) {
        uint64_t left = ext[e].bytes;
        start[e] = k;
        while (left) {
            if (i >= niov) {
                return -EINVAL;
            }
            uint64_t len = MIN(iov[i].iov_len - skip, left);
            if (len) {
                out[k].iov_base = (uint8_t *)iov[i].iov_base + skip;
                out[k].iov_len = len;
                k++;
            }
            left -= len;
            skip += len;
            if (skip == iov[i].iov_len) {
                i++;
                skip = 0;
            }
        }
    }
    start[n] = k;
    return 0;
}

/*
 * Fast I/O must never wait for the I/O pool: the slow paths that free
 * clusters wait on pool threads for it (qcow2-fast.c), and a pool filled
 * with such waits would never run it.  So each piece is checked with
 * hb_node_submit_avoids_pool() (the file's ring takes it, or the page
 * cache does at once) before anything starts.  Residual: a full
 * submission queue that the kernel will not drain sends a request to the
 * pool too (hb_aio_ctx_get_sqe()).
 */
static bool pieces_avoid_pool(HbNode *file, const HbIoReq *req, const HbQcow2Extent *ext,
                              unsigned n, struct iovec *iov, const int *start)
{
    for (unsigned e = 0; e < n; e++) {
        HbIoReq piece = {
            .op = req->op,
            .offset = ext[e].host,
            .bytes = ext[e].bytes,
            .iov = iov + start[e],
            .niov = start[e + 1] - start[e],
        };
        if (!ext[e].zero && !hb_node_submit_avoids_pool(file, &piece)) {
            return false;
        }
    }
    return true;
}

static int qcow2_submit(HbNode *node, HbIoReq *req)
{
    Qcow2Node *s = node->opaque;
    HbQcow2Extent ext[HB_QCOW2_FAST_EXTENTS];
    int start[HB_QCOW2_FAST_EXTENTS + 1];
    bool write = req->op == HB_IO_WRITE;
    unsigned n = 0;

    if ((req->op != HB_IO_READ && !write) || !hb_qcow2_fast_enter(s->img)) {
        return -ENOTSUP;
    }
    if (hb_qcow2_fast_map(s->img, req->offset, req->bytes, write, ext, &n) < 0) {
        hb_qcow2_fast_leave(s->img);
        return -ENOTSUP;
    }
    HbNode *file = s->file->node;
    if (!write && !file->drv->zero_past_eof) {
        /* The slow path cuts reads at the file's end (child_preadv()). */
        int64_t len = hb_node_get_length(file);
        for (unsigned e = 0; e < n; e++) {
            if (!ext[e].zero && (len < 0 || ext[e].host + ext[e].bytes > (uint64_t)len)) {
                hb_qcow2_fast_leave(s->img);
                return -ENOTSUP;
            }
        }
    }

    /* Splitting at piece boundaries adds at most one iovec per piece. */
    size_t niov = (size_t)req->niov + n;
    FastReq *fr = g_malloc(sizeof(*fr) + n * sizeof(FastPiece) +
                           niov * sizeof(struct iovec));
    struct iovec *iov = (struct iovec *)&fr->piece[n];
    if (slice_iov(req->iov, req->niov, ext, n, iov, start) < 0 ||
        !pieces_avoid_pool(file, req, ext, n, iov, start)) {
        hb_qcow2_fast_leave(s->img);
        g_free(fr);
        return -ENOTSUP;
    }
    g_atomic_int_inc(&s->img->fast_taken);
    fr->req = req;
    fr->img = s->img;
    fr->ret = 0;
    fr->pending = 1;
    for (unsigned e = 0; e < n; e++) {
        FastPiece *p = &fr->piece[e];
        p->parent = fr;
        p->req = (HbIoReq){
            .cb.done = fast_piece_done,
            .op = req->op,
            .offset = ext[e].host,
            .bytes = ext[e].bytes,
            .iov = iov + start[e],
            .niov = start[e + 1] - start[e],
        };
        fr->pending++;
        if (ext[e].zero) {
            hb_iov_memset(p->req.iov, p->req.niov, 0, 0, p->req.bytes);
            fast_piece_done(&p->req.cb, 0);
        } else {
            hb_node_submit(file, &p->req);
        }
    }
    /* Drop the submitting count: pieces that completed inline did not finish fr. */
    FastPiece self = { .parent = fr };
    fast_piece_done(&self.req.cb, 0);
    return 0;
}

static int qcow2_flush(HbNode *node)
{
    Qcow2Node *s = node->opaque;

    return hb_qcow2_flush(s->img);
}

static int qcow2_pdiscard(HbNode *node, uint64_t offset, uint64_t bytes)
{
    Qcow2Node *s = node->opaque;

    return hb_qcow2_pdiscard(s->img, offset, bytes);
}

static int qcow2_pwrite_zeroes(HbNode *node, uint64_t offset, uint64_t bytes,
                               unsigned flags)
{
    Qcow2Node *s = node->opaque;

    if (flags & HB_REQ_NO_FALLBACK) {
        /* Only whole clusters of a v3 image are zeroed without writing data. */
        uint64_t mask = s->img->cluster_mask, end = offset + bytes;
        if (s->img->hdr.version < 3 || (offset & mask) ||
            ((end & mask) && end != hb_qcow2_virtual_size(s->img))) {
            return -ENOTSUP;
        }
    }
    return hb_qcow2_pwrite_zeroes(s->img, offset, bytes,
                                  (flags & HB_REQ_MAY_UNMAP) != 0);
}

static QapiImageInfoSpecific *qcow2_query_specific(HbNode *node)
{
    Qcow2Node *s = node->opaque;
    const HbQcow2Header *h = &s->img->hdr;
    QapiImageInfoSpecific *spec = g_new0(QapiImageInfoSpecific, 1);
    QapiImageInfoSpecificQCow2 *q = g_new0(QapiImageInfoSpecificQCow2, 1);

    q->compat = g_strdup(h->version >= 3 ? "1.1" : "0.10");
    if (h->version >= 3) {
        q->has_lazy_refcounts = true;
        q->lazy_refcounts = (h->compatible_features & QCOW2_COMPAT_LAZY_REFCOUNTS) != 0;
        q->has_corrupt = true;
        q->corrupt = (h->incompatible_features & QCOW2_INCOMPAT_CORRUPT) != 0;
    }
    q->refcount_bits = s->img->refcount_bits;
    q->compression_type = QAPI_QCOW2_COMPRESSION_TYPE_ZLIB;
    q->has_cluster_size = true;
    q->cluster_size = s->img->cluster_size;
    spec->type = QAPI_IMAGE_INFO_SPECIFIC_KIND_QCOW2;
    spec->u.qcow2 = g_new0(QapiImageInfoSpecificQCow2Wrapper, 1);
    spec->u.qcow2->data = q;
    return spec;
}

static const char *qcow2_backing_filename(HbNode *node)
{
    Qcow2Node *s = node->opaque;

    return s ? s->img->backing_file : NULL;
}

static const char *qcow2_backing_format(HbNode *node)
{
    Qcow2Node *s = node->opaque;

    return s ? s->img->backing_fmt : NULL;
}

static bool qcow2_get_info(HbNode *node, HbDriverInfo *info)
{
    Qcow2Node *s = node->opaque;

    info->cluster_size = s->img->cluster_size;
    info->dirty = (s->img->hdr.incompatible_features & QCOW2_INCOMPAT_DIRTY) != 0;
    return true;
}

/* A qcow2 node is its file, unless its backing is not the header's (info.c). */
static bool qcow2_named_by_file(HbNode *node)
{
    return true;
}

bool hb_qcow2_node_amend(HbNode *node, const HbQcow2AmendOpts *o, GError **errp)
{
    Qcow2Node *s = node->opaque;

    g_assert(node->drv == &hb_driver_qcow2);
    return hb_qcow2_amend(s->img, o, errp) == 0;
}

const HbDriver hb_driver_qcow2 = {
    .name = "qcow2",
    .is_format = true,
    .open = qcow2_open,
    .close = qcow2_close,
    .get_length = qcow2_get_length,
    .get_allocated_size = qcow2_get_allocated_size,
    .preadv = qcow2_preadv,
    .pwritev = qcow2_pwritev,
    .pwrite_compressed = qcow2_pwrite_compressed,
    .flush = qcow2_flush,
    .submit = qcow2_submit,
    .pdiscard = qcow2_pdiscard,
    .pwrite_zeroes = qcow2_pwrite_zeroes,
    .block_status = qcow2_block_status,
    .make_empty = qcow2_make_empty,
    .truncate = qcow2_truncate,
    .inactivate = qcow2_inactivate,
    .activate = qcow2_activate,
    .query_specific = qcow2_query_specific,
    .get_info = qcow2_get_info,
    .backing_filename = qcow2_backing_filename,
    .backing_format = qcow2_backing_format,
    .named_by_file = qcow2_named_by_file,
    .create = hb_qcow2_create,
};

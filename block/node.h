/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/node.h — block nodes, their drivers, children, and the I/O API. */
#ifndef HB_BLOCK_NODE_H
#define HB_BLOCK_NODE_H

/*
 * Theory of operation
 *
 * A node is an open instance of a driver (file, raw, null-co, luks, qcow2).
 * Nodes form a DAG through children: a parent holds an HbChild per child
 * role ("file", "header", "backing").  Nodes are reference-counted: the
 * node-name registry holds one reference for nodes added by blockdev-add,
 * each parent's HbChild holds one, each export holds one.
 *
 * Graph changes (open, attach, detach, delete) happen on the main thread
 * only.  The I/O API (hb_node_preadv ... hb_node_get_length) may be called
 * from any thread, concurrently, once a node is open: drivers are plain
 * synchronous, thread-safe code (nbdkit's parallel model).  A request runs
 * to completion on the calling thread.
 *
 * Opening is transactional by construction: hb_node_open() creates the
 * node, the driver's open() attaches children with hb_node_open_child()
 * (which opens inline definitions depth-first, or takes a reference on a
 * named node), and if anything fails every child attached so far is
 * released again, so inline children are closed and named ones are left
 * exactly as they were.  A node is entered into the registry only once it
 * is fully open.
 *
 * Hot-path convention: I/O functions return 0 or -errno, never allocate on
 * the fast path where avoidable, never log.
 */

#include <errno.h>
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "block/aio.h"
#include "qapi-types.h"

typedef struct HbNode HbNode;
typedef struct HbChild HbChild;
typedef struct HbDriver HbDriver;

/* What HbDriver.get_info() reports (QEMU's BlockDriverInfo, in part). */
typedef struct HbDriverInfo {
    bool dirty;             /* the image is marked dirty */
    uint32_t cluster_size;  /* 0: the format has no clusters */
} HbDriverInfo;

/*
 * Permissions a parent (or export) needs on a child, and what it lets
 * others share.  The bit numbers match QEMU's BLK_PERM_* so that file
 * locking can map them onto QEMU's lock bytes one to one.
 */
enum {
    HB_PERM_CONSISTENT_READ = 1u << 0,
    HB_PERM_WRITE = 1u << 1,
    HB_PERM_WRITE_UNCHANGED = 1u << 2,
    HB_PERM_RESIZE = 1u << 3,
    HB_PERM_ALL = (1u << 4) - 1,
};

/* Request flags */
enum {
    HB_REQ_FUA = 1u << 0,        /* write: durable before completion */
    HB_REQ_MAY_UNMAP = 1u << 1,  /* write_zeroes: may deallocate */
    HB_REQ_NO_FALLBACK = 1u << 2,/* write_zeroes: fail with -ENOTSUP rather than write */
    /*
     * read: a format reading its child's metadata while it opens or
     * activates (block/activate.c), allowed on an inactive child.  Filters
     * (raw) pass it on with the read.
     */
    HB_REQ_WHILE_INACTIVE = 1u << 3,
};

/*
 * Block status (hb_node_block_status()): what a range of a node reads as,
 * and where its bytes lie.  The meanings are QEMU's BDRV_BLOCK_* (so that
 * qemu-img map's fields follow from them one to one); the values are ours.
 */
enum {
    HB_BS_DATA = 1u << 0,         /* reads come from stored data */
    HB_BS_ZERO = 1u << 1,         /* reads return zeroes */
    HB_BS_OFFSET_VALID = 1u << 2, /* the bytes lie at *map in *file, as they read */
    HB_BS_ALLOCATED = 1u << 3,    /* this node decides the content, not its backing */
    HB_BS_COMPRESSED = 1u << 4,   /* stored compressed (DATA, never OFFSET_VALID) */
    /*
     * From a driver only, never returned by hb_node_block_status(): the
     * answer is the one *file gives for the same bytes at *map (raw's
     * window, filters), and the node layer asks it.
     */
    HB_BS_FORWARD = 1u << 5,
    /*
     * From a driver only, with DATA and OFFSET_VALID: the data may be a
     * hole in *file (qcow2 preallocated metadata only): where *file says
     * ZERO, the bytes read as zeroes, and are reported ZERO too.
     */
    HB_BS_RECURSE = 1u << 6,
};

/*
 * An asynchronous request (hb_node_submit()).  The caller fills it in and
 * owns it, and the data its iovecs point to, until req->cb.done(&req->cb,
 * ret) runs: once, on the submitting thread, with 0 or -errno, possibly
 * before hb_node_submit() returns.
 */
typedef enum HbIoOp {
    HB_IO_READ,
    HB_IO_WRITE,
    HB_IO_FLUSH,
    HB_IO_DISCARD,
    HB_IO_WRITE_ZEROES,
} HbIoOp;

typedef struct HbIoReq {
    HbAioCb cb;
    HbIoOp op;
    unsigned flags;         /* HB_REQ_* */
    uint64_t offset;        /* not for FLUSH */
    uint64_t bytes;
    struct iovec *iov;      /* READ, WRITE: the data */
    int niov;
} HbIoReq;

/**
 * struct HbDriver - one block driver; all drivers live in one table
 * (block/driver-table.c) indexed by QapiBlockdevDriver.
 *
 * Every callback but open/close is called concurrently from I/O threads.
 * Offsets and lengths reaching preadv/pwritev/... are already checked
 * against get_length() and aligned to node->request_alignment by node.c.
 */
struct HbDriver {
    const char *name;   /* as in the schema's BlockdevDriver enum */
    bool is_format;     /* formats sit on a "file" child; protocols on files */

    /* Open node->opaque from options; attach children with hb_node_open_child(). */
    bool (*open)(HbNode *node, QapiBlockdevOptions *opts, GError **errp);
    /*
     * Release node->opaque; children are detached by node.c afterwards.
     * node.c has flushed the node just before (unless it is read-only) and
     * left the result in node->close_error: a driver need not write back
     * again.  One that can record an unclean close in the image (qcow2: the
     * dirty bit) does so when close_error is set.
     */
    void (*close)(HbNode *node);

    int64_t (*get_length)(HbNode *node);            /* bytes, or -errno */
    int64_t (*get_allocated_size)(HbNode *node);    /* bytes on disk, or -errno; optional */

    int (*preadv)(HbNode *node, uint64_t offset, uint64_t bytes,
                  const struct iovec *iov, int niov, unsigned flags);
    int (*pwritev)(HbNode *node, uint64_t offset, uint64_t bytes,
                   const struct iovec *iov, int niov, unsigned flags);
    /*
     * Write [@offset, @offset + @bytes) compressed (QEMU's
     * bdrv_co_pwritev_compressed): whole clusters, cluster aligned, but
     * for a last partial cluster ending at the node's end; only over
     * clusters holding no data (-EIO otherwise).  Optional: a format that
     * cannot compress (hb_node_pwrite_compressed() says -ENOTSUP).
     */
    int (*pwrite_compressed)(HbNode *node, uint64_t offset, uint64_t bytes,
                             const void *buf);
    int (*flush)(HbNode *node);                     /* optional: default forwards to children */
    int (*pdiscard)(HbNode *node, uint64_t offset, uint64_t bytes);   /* optional */
    /*
     * Zero a range the driver's cheap way.  -ENOTSUP means it has none
     * (hb_zeroing_unsupported()): the node layer then writes zero buffers
     * unless HB_REQ_NO_FALLBACK; any other -errno is the answer.
     * Optional: without it, zero buffers.
     */
    int (*pwrite_zeroes)(HbNode *node, uint64_t offset, uint64_t bytes,
                         unsigned flags);
    /*
     * What [@offset, @offset + @bytes) reads as, from its start: return
     * HB_BS_* flags for the first *@pnum bytes (1 <= *@pnum <= @bytes),
     * with *@map and *@file where HB_BS_OFFSET_VALID or HB_BS_FORWARD say
     * so, or -errno.  A format returns 0 for bytes its backing decides.
     * Optional: without it a format's bytes are all data at no known
     * offset, a protocol's all data at their own offset.
     */
    int (*block_status)(HbNode *node, uint64_t offset, uint64_t bytes,
                        uint64_t *pnum, uint64_t *map, HbNode **file);
    /*
     * Leave every byte to the backing file again (QEMU's bdrv_make_empty):
     * hotblock-img commit empties the image it committed.  Optional.
     */
    int (*make_empty)(HbNode *node);

    /*
     * Start @req asynchronously (block/aio.h): return 0 once the driver
     * has taken it, and then complete it exactly once through req->cb,
     * on this thread; or return -ENOTSUP, having done nothing, to have it
     * run through the synchronous callbacks above on the I/O pool.
     * Called only on a thread with a completion context, for READ, WRITE,
     * FLUSH (if .flush is set), DISCARD (if .pdiscard is set and the node
     * unmaps; already cut to whole aligned blocks) and WRITE_ZEROES (if
     * .pwrite_zeroes is set), with offsets checked and aligned as for
     * preadv/pwritev and without HB_REQ_FUA; a driver returns -ENOTSUP
     * for any it does not take.  A WRITE_ZEROES that completes with an
     * error hb_zeroing_unsupported() accepts is run again on the pool,
     * where the node layer's fallback (writing zero buffers) applies; any
     * other error is its answer.  Optional: without it every request
     * takes the pool.
     */
    int (*submit)(HbNode *node, HbIoReq *req);
    /*
     * Whether submit() would take @req here (not say -ENOTSUP): see
     * hb_node_submit_avoids_pool().  Optional: without it, no.
     */
    bool (*submit_takes)(HbNode *node, const HbIoReq *req);

    /*
     * query-named-block-nodes' "aio": the engine a protocol node's
     * requests take (io_uring or threads).  Optional.
     */
    QapiBlockdevAioOptions (*get_aio)(HbNode *node);

    /* query-named-block-nodes: format-specific info; optional. */
    QapiImageInfoSpecific *(*query_specific)(HbNode *node);

    /*
     * The driver's part of ImageInfo, as QEMU's bdrv_get_info(): fill
     * @info and return true, or return false when the driver has no such
     * answer (null-co), and ImageInfo then has no dirty-flag.  Optional:
     * without it the answer is "not dirty, no cluster size".
     */
    bool (*get_info)(HbNode *node, HbDriverInfo *info);
    /*
     * The backing file name and format the image header names, or NULL.
     * Optional (formats without backing files).
     */
    const char *(*backing_filename)(HbNode *node);
    const char *(*backing_format)(HbNode *node);
    /*
     * A protocol node's own name (file: its path; null-co: "null-co://").
     * Optional: formats are named by their file or a json: description.
     */
    char *(*filename)(HbNode *node);
    /*
     * Whether the node would open the same way from its file's name alone
     * (raw without a window; qcow2, as long as its backing is the one the
     * header names), so that it is shown under that name.  Optional: no.
     */
    bool (*named_by_file)(HbNode *node);

    /*
     * hotblock-img create: make a new image.  @opts maps -o keys to string
     * values; the driver removes each key it consumes and reports the rest
     * as unknown.  On failure it removes what it created.  Optional.
     */
    bool (*create)(const char *filename, int64_t size, GHashTable *opts,
                   GError **errp);

    /*
     * The cumulative permissions of all parents and users changed: a
     * protocol driver updates what it holds outside the process (file:
     * image lock bytes).  Called before the edge is attached, with the
     * new totals; failing vetoes the attach.  Optional.
     */
    bool (*set_perm)(HbNode *node, unsigned perm, unsigned shared,
                     GError **errp);

    /*
     * block_resize: make the node @size bytes long (grow or shrink), as
     * QEMU's bdrv_co_truncate(): new bytes read as zeroes, and on growth
     * @prealloc says what the new part holds on disk (off: nothing;
     * metadata: a format's tables map it; falloc: reserved; full: zeroes
     * written).  A driver refuses a mode it cannot honour with QEMU's
     * text.  Called on the main thread while I/O threads may be running
     * requests on the node: the driver makes that safe.  Return 0, or
     * -errno with @errp set to the QMP error text.  Optional: without it
     * the node cannot be resized ("Image format driver does not support
     * resize").
     */
    int (*truncate)(HbNode *node, uint64_t size, QapiPreallocMode prealloc, GError **errp);

    /*
     * blockdev-set-active (block/activate.c), main thread, with the
     * node drained and refusing new requests.  inactivate(): the node
     * has just been flushed; drop whatever was read from the image
     * (qcow2: caches, tables) and never write again until activate().
     * activate(): the children are active again and the locks taken;
     * re-read what inactivate() dropped (or what open() read while the
     * node was inactive), failing with @errp if the image is no longer
     * usable, which leaves the node inactive.  Both optional: a driver
     * that keeps nothing of the image needs neither.
     */
    void (*inactivate)(HbNode *node);
    bool (*activate)(HbNode *node, GError **errp);

    /*
     * hb_node_drained_begin()/_end(), main thread: requests that wait
     * for something other than the storage (throttle: its limits) stop
     * waiting until the end, so that a drain ends soon, as QEMU lifts
     * I/O limits while it drains.  Calls nest.  Both optional.
     */
    void (*drained_begin)(HbNode *node);
    void (*drained_end)(HbNode *node);

    /*
     * How long a request of that direction arriving now would wait for
     * something other than the storage (throttle: its limits) before it
     * goes down, in ns; 0 if it would go at once.  Nothing is accounted.
     * Any thread.  Optional: without it, 0.
     */
    int64_t (*admission_wait_ns)(HbNode *node, bool is_write);

    /*
     * A filter (throttle): its "file" child holds the same bytes, and a
     * walk down a backing chain passes through it (QEMU's is_filter).
     */
    bool is_filter;
    /* Writes beyond get_length() extend the node (file: formats grow it). */
    bool growable;
    /* The data is encrypted (ImageInfo's "encrypted"). */
    bool encrypted;

    /*
     * Reads beyond get_length() succeed and return zeroes (file: a short
     * read at EOF).  A format above may read a table or a compressed
     * cluster that ends past EOF as it is; without this, node-io.c
     * refuses such a read and the format cuts it at EOF itself.
     */
    bool zero_past_eof;
};

/**
 * struct HbChild - the edge from a parent to one child.
 */
struct HbChild {
    char *name;            /* role: "file", "header", "backing" */
    HbNode *parent;        /* NULL for an export's root reference */
    HbNode *node;
    unsigned perm;         /* what the parent does with the child */
    unsigned shared_perm;  /* what the parent lets others do */
    /* A user (export) that lets its node be inactivated (allow-inactive). */
    bool allow_inactive;
};

/**
 * struct HbNode - public fields are read-only outside node.c and the
 * node's own driver.
 */
struct HbNode {
    char *node_name;
    const HbDriver *drv;
    void *opaque;                 /* the driver's state */
    QapiBlockdevOptions *options; /* as opened: for query and json: filenames */

    bool read_only;
    bool auto_named;              /* "#blockNNN" */
    bool in_registry;             /* added by blockdev-add (or --blockdev) */
    bool cache_direct;
    bool cache_no_flush;
    bool discard_unmap;

    uint32_t request_alignment;   /* I/O below is split/padded to this; 1 = none */
    uint64_t max_transfer;        /* 0 = unlimited */

    GPtrArray *children;          /* HbChild *, owned */
    GPtrArray *parents;           /* HbChild *, not owned */

    gint refcnt;
    gint inflight;                /* requests in the driver now (atomic) */
    int close_error;              /* -errno of the write-back on close, or 0 */

    bool force_share;             /* children are taken sharing everything */
    unsigned perm;                /* union of the parents' and users' perm */
    unsigned shared_perm;         /* intersection of what they share */
    GRWLock rmw_lock;             /* unaligned writes exclude overlapping I/O */
    gint async_writers;           /* aligned writes in flight asynchronously */
    gint rmw_waiting;             /* an unaligned write waits for them to end */
    gint inactive;                /* blockdev-set-active: refuses I/O (atomic) */
    uint64_t wr_highest_offset;   /* end of the highest write that succeeded (atomic) */
    bool perms_inactive;          /* counted as inactive by perm.c: no write locks */
};

/* ---- lifecycle (main thread) ---- */

/**
 * hb_node_open() - open a node (and its inline children) from options.
 * @opts: validated options; the node keeps a clone.
 * @errp: error on failure; then nothing has changed in the graph.
 *
 * Return: a new node holding one reference, or NULL.  It is not in the
 * registry; see hb_node_register().
 */
HbNode *hb_node_open(QapiBlockdevOptions *opts, GError **errp);

/**
 * hb_luks_allow_metadata_only() - let luks nodes open without key-secret
 *
 * Such a node is read-only and refuses data I/O: only useful to show the
 * header, which is what hotblock-img info does.  Everywhere else (the
 * daemon) a luks node without key-secret is refused, as QSD refuses it,
 * rather than exported as a disk that fails every read.  Process-wide;
 * main thread, before any open.
 */
void hb_luks_allow_metadata_only(void);

HbNode *hb_node_ref(HbNode *node);

/**
 * hb_node_unref() - drop a reference; the last one closes the node.
 *
 * Closing drains the node's requests, flushes it (a format writes its
 * cached metadata back, a file syncs unless cache.no-flush), lets the
 * driver close, then drops the children, which close the same way when
 * this was their last parent.  A failed write-back goes to the close error
 * handler.
 */
void hb_node_unref(HbNode *node);

/**
 * hb_node_set_close_error_handler() - who hears that closing a node could
 * not write its data back (@err: -errno).  The daemon logs it and emits an
 * event; the block layer itself never logs.  Main thread.
 */
void hb_node_set_close_error_handler(void (*fn)(HbNode *node, int err));
void hb_node_report_close_error(HbNode *node, int err);

/**
 * hb_node_close_all() - at exit: drop the registry's reference on every
 * named node, newest first, so each closes (and writes back) in turn.
 */
void hb_node_close_all(void);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HbNode, hb_node_unref)

/**
 * hb_node_open_child() - for drivers' open(): attach a child.
 * @parent: the node being opened
 * @role: "file", "header", "backing"
 * @ref: a node-name or inline definition (NULL: error "... is missing")
 * @perm: HB_PERM_* the parent needs
 * @shared: HB_PERM_* the parent tolerates from others
 *
 * Return: the child edge (owned by @parent), or NULL with @errp set.
 */
HbChild *hb_node_open_child(HbNode *parent, const char *role,
                            QapiBlockdevRef *ref, unsigned perm,
                            unsigned shared, GError **errp);

/* The first child of @node with @role, or NULL. */
HbChild *hb_node_child(HbNode *node, const char *role);

/**
 * hb_child_set_perm() - change what a parent (or user) needs and shares on
 * its child, checked as a new edge would be (read-only node, the other
 * edges' shared permissions, the image locks)
 * @edge: a child edge or a user
 * @perm: HB_PERM_* now needed
 * @shared: HB_PERM_* now tolerated from others
 * @errp: "Block node is read-only", a conflict, a lock error
 *
 * Return: true, or false with the edge as it was.  Main thread.
 */
bool hb_child_set_perm(HbChild *edge, unsigned perm, unsigned shared, GError **errp);

/* ---- registry (main thread) ---- */
HbNode *hb_node_find(const char *node_name);            /* borrowed, or NULL */
HbNode *hb_node_lookup(const char *node_name, GError **errp); /* QEMU's "Cannot find device=..." */
bool hb_node_register(HbNode *node, GError **errp);     /* takes a reference */
void hb_node_unregister(HbNode *node);                  /* drops it */
/* Calls @fn for every named node, in creation order. */
void hb_node_foreach(void (*fn)(HbNode *node, void *opaque), void *opaque);
/* Why @node cannot be deleted ("Node 'x' is busy: ..."), or NULL. */
char *hb_node_busy_reason(HbNode *node);

/* ---- users outside the graph: exports ---- */

/**
 * hb_node_attach_user() - an export takes a node.
 * @user: the export's id; errors and busy reasons say "export '<user>'"
 * Checks @perm against other users' shared permissions, like a parent.
 * Return: an HbChild with a NULL parent, released by hb_node_detach_user().
 */
HbChild *hb_node_attach_user(HbNode *node, const char *user, unsigned perm,
                             unsigned shared, GError **errp);

/* The @user of a command's temporary use of a node (QEMU's anonymous "root"). */
#define HB_NODE_ANONYMOUS_USER "root"
void hb_node_detach_user(HbChild *child);

/**
 * hb_node_set_user_allow_inactive() - whether @user (an export's id) lets
 * @node be inactivated.  A user that does not (the default, as a QEMU
 * export without allow-inactive) makes blockdev-set-active fail with
 * "Failed to inactivate node: Operation not permitted".  Main thread.
 */
void hb_node_set_user_allow_inactive(HbNode *node, const char *user, bool allow);

/* ---- I/O (any thread) ---- */
int64_t hb_node_get_length(HbNode *node);
int hb_node_preadv(HbNode *node, uint64_t offset, uint64_t bytes,
                   const struct iovec *iov, int niov, unsigned flags);
int hb_node_pwritev(HbNode *node, uint64_t offset, uint64_t bytes,
                    const struct iovec *iov, int niov, unsigned flags);
int hb_node_pread(HbNode *node, uint64_t offset, void *buf, uint64_t bytes);
int hb_node_pwrite(HbNode *node, uint64_t offset, const void *buf,
                   uint64_t bytes, unsigned flags);
/**
 * hb_node_pwrite_compressed() - write whole clusters of @node compressed,
 * as HbDriver.pwrite_compressed (hotblock-img convert -c).
 * Return: 0, -ENOTSUP for a driver that cannot, or -errno.
 */
int hb_node_pwrite_compressed(HbNode *node, uint64_t offset, const void *buf,
                              uint64_t bytes);
int hb_node_flush(HbNode *node);
int hb_node_pdiscard(HbNode *node, uint64_t offset, uint64_t bytes);
int hb_node_pwrite_zeroes(HbNode *node, uint64_t offset, uint64_t bytes,
                          unsigned flags);

/**
 * hb_zeroing_unsupported() - whether a failed zeroing means "not this way"
 * @ret: the negative errno of fallocate(), BLKZEROOUT or io_uring's fallocate
 *
 * ENOTSUP, ENOTTY and ENODEV say the file system or device has no such
 * operation, ENOSYS that the call is not allowed (the sandbox's seccomp
 * filter answers so); EINVAL, that it will not take this range this way
 * (one unaligned for the device or file system).  The
 * caller may then zero another way, and qcow2 stops asking, which it can
 * afford because it asks only for whole clusters.  Anything else (ENOSPC,
 * EDQUOT, EIO, EFBIG) is a real failure and the answer as it is: taken for
 * "unsupported", one full disk cost qcow2 its fast allocation for good.
 *
 * Return: true if another way may be tried.
 */
static inline bool hb_zeroing_unsupported(int ret)
{
    return ret == -ENOTSUP || ret == -ENOSYS || ret == -ENOTTY || ret == -ENODEV ||
           ret == -EINVAL;
}

/**
 * hb_node_submit() - start @req on @node (see HbIoReq).
 *
 * The same checks as the synchronous calls (bounds, read-only, alignment,
 * FUA, discard policy) apply.  On a thread with a completion context the
 * driver's submit() starts it, or the I/O pool runs it; on any other thread
 * it runs synchronously and @req->cb.done is called before returning.
 */
void hb_node_submit(HbNode *node, HbIoReq *req);

/**
 * hb_node_submit_avoids_pool() - whether hb_node_submit(@node, @req), from
 * this thread, would start @req on the thread's own ring or finish it at
 * once, never needing the I/O pool.  Asynchronous I/O that a pool thread
 * may be waiting for (qcow2's fast path: its frees wait on the pool) must
 * not itself queue on the pool, and asks this first.
 */
bool hb_node_submit_avoids_pool(HbNode *node, const HbIoReq *req);

/* ---- block status (any thread; block/block-status.c) ---- */

/**
 * hb_node_block_status() - what the bytes from @offset read as (QEMU's
 * bdrv_block_status()).
 * @node: an open, active node
 * @offset: where to start; below hb_node_get_length()
 * @bytes: how far to look at most (cut at the node's end)
 * @pnum: set to how many bytes from @offset the answer holds for (>= 1)
 * @map: with HB_BS_OFFSET_VALID, where those bytes start in *@file
 * @file: with HB_BS_OFFSET_VALID, the protocol node (or a format's child)
 *        holding them, borrowed
 *
 * Data and zeroes are ALLOCATED in @node.  Bytes @node leaves to a backing
 * file have neither flag, except where no backing file can supply them
 * (none attached, or past its end): those read as ZERO.  Raw and filters
 * answer with their child's status.  A file answers from SEEK_DATA and
 * SEEK_HOLE: holes are ZERO, the rest DATA.  Nothing is read or changed;
 * qcow2 reads L2 tables into its cache.
 *
 * Return: HB_BS_* flags, or -errno (-EINVAL out of range, -EPERM inactive).
 */
int hb_node_block_status(HbNode *node, uint64_t offset, uint64_t bytes,
                         uint64_t *pnum, uint64_t *map, HbNode **file);

/* One answer of hb_node_block_status_chain(). */
typedef struct HbBlockExtent {
    uint64_t bytes;     /* how many bytes from the offset asked it holds for */
    unsigned flags;     /* HB_BS_* of the layer that decides them, or 0 */
    unsigned depth;     /* that layer: 0 is the node asked, 1 its backing, ... */
    uint64_t map;       /* with HB_BS_OFFSET_VALID: where the bytes lie ... */
    HbNode *file;       /* ... in this node (borrowed) */
} HbBlockExtent;

/**
 * hb_node_block_status_chain() - hb_node_block_status() down a backing
 * chain, as qemu-img map reports it: the first layer (filters skipped)
 * whose status has DATA or ZERO decides the bytes.
 * @node: the top of the chain
 * @offset: below hb_node_get_length(@node)
 * @bytes: how far to look at most
 * @ext: the answer; flags 0 when no layer has the bytes and the last has
 *       no notion of backing files
 *
 * Return: 0, or -errno.
 */
int hb_node_block_status_chain(HbNode *node, uint64_t offset, uint64_t bytes,
                               HbBlockExtent *ext);

/**
 * hb_node_make_empty() - the node's own data is dropped: it reads as its
 * backing file (qcow2), for qemu-img commit.  No request may run on it.
 * Return: 0, -EPERM read-only, -ENOTSUP for a driver that cannot.
 */
int hb_node_make_empty(HbNode *node);

/* ---- resize (main thread) ---- */

/**
 * hb_node_truncate() - make @node @size bytes long through its driver
 * (block_resize; a format's driver calls it on its own child).  The caller
 * of the outermost call holds HB_PERM_RESIZE on @node.
 * Return: 0, or -errno with @errp set.
 */
int hb_node_truncate(HbNode *node, uint64_t size, GError **errp);

/**
 * hb_node_truncate_prealloc() - hb_node_truncate() with a preallocation
 * mode for the grown part (qemu-img resize --preallocation); a driver
 * that cannot honour @prealloc refuses with QEMU's text.
 * Return: 0, or -errno with @errp set.
 */
int hb_node_truncate_prealloc(HbNode *node, uint64_t size, QapiPreallocMode prealloc,
                              GError **errp);

/*
 * @fn runs after block_resize changed a node's size: exports re-read the
 * length of their node and tell their front-end.  Modules above block/
 * register here, so the block layer never calls up into them.
 */
void hb_node_add_resize_hook(void (*fn)(void));
void hb_node_run_resize_hooks(void);

/* ---- activation (main thread; block/activate.c) ---- */

/* Whether @node is active (takes I/O and its write locks). */
bool hb_node_is_active(HbNode *node);

/**
 * hb_node_set_active() - blockdev-set-active
 * @node: a node, or NULL for every node
 * @active: the state wanted
 * @errp: why not; then every node is as it was
 *
 * Activating takes the node and its inactive children: children first,
 * all their image locks before anything else (another process still
 * holding them fails the command), then each driver re-reads its
 * metadata.  Inactivating takes the node and the children no active
 * node uses any more, parents first: each is drained, flushed, its
 * driver drops its metadata, and the write lock bytes are released.
 *
 * Return: true, or false with @errp set.
 */
bool hb_node_set_active(HbNode *node, bool active, GError **errp);

/*
 * Wait (main thread) until no request is inside @node's driver, within
 * hb_node_drained_begin()/_end() of @node.
 */
void hb_node_drain(HbNode *node);

/*
 * hb_node_drained_begin() - from now until hb_node_drained_end(), no
 * request in @node or below waits for anything but its storage (see
 * HbDriver.drained_begin): for whoever waits for @node's requests to end
 * (deleting an export, draining).  Main thread; calls nest.
 */
void hb_node_drained_begin(HbNode *node);

/**
 * hb_node_admission_wait_ns() - how long a request of direction @is_write
 * submitted to @node now would be held before it reaches the storage: the
 * longest HbDriver.admission_wait_ns of @node and the nodes below it on
 * the data path (its "file" child, and so on down).
 * A server reading requests from a queue (an export's ring) asks before it
 * takes the next one, and leaves it queued while the answer is not 0, so
 * that its thread serves other queues meanwhile.  Any thread.
 * Return: the wait in ns, 0 if none.
 */
int64_t hb_node_admission_wait_ns(HbNode *node, bool is_write);
void hb_node_drained_end(HbNode *node);

/**
 * hb_node_query_stats() - query-blockstats' entry for @node: its name
 * and wr_highest_offset (a node keeps no other counters: exports do),
 * its file as "parent", and with @backing its backing chain, as QEMU's
 * node entries.  Main thread.
 * Return: a new QapiBlockStats.
 */
QapiBlockStats *hb_node_query_stats(HbNode *node, bool backing);

/* Bytes used on the host by @node and everything under it, or -errno. */
int64_t hb_node_get_allocated_size(HbNode *node);

/**
 * hb_node_filename() - QEMU's name for @node: a file node's path, or a
 * "json:{...}" pseudo-filename describing the subtree (no secrets: only
 * secret ids appear in options).
 * Return: a new string.
 */
char *hb_node_filename(HbNode *node);

/* HB_PERM_* bits as QEMU names them ("consistent read, write"). */
char *hb_perm_names(unsigned perm);

/* The driver for a schema enum value, or NULL if not built in. */
const HbDriver *hb_driver_for(QapiBlockdevDriver drv);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* job/create.c — the blockdev-create job: file, qcow2, luks and rbd images. */
#include "job/create.h"
#include "job/job.h"

#include <errno.h>

#include "block/create.h"
#include "block/node.h"
#include "block/qcow2/qcow2.h"
#include "block/luks-create.h"
#include "block/rbd.h"
#include "crypto/luks1.h"
#include "crypto/secret.h"
#include "util/error.h"

/*
 * A format is written onto nodes that already exist (libvirt's flow:
 * blockdev-add a file node, blockdev-create the format on it, then
 * blockdev-add the format node).  start() finds and takes the nodes on
 * the main thread; run() writes through them with the synchronous node
 * calls on the job's thread.  A file node's resize is safe there: the
 * job holds the resize permission unshared, and the file driver's
 * truncate is safe against concurrent I/O.
 */
typedef struct CreateJob {
    QapiBlockdevCreateOptions *opts;
    HbChild *file;          /* the node the image goes on */
    HbChild *header;        /* luks: the node of a detached header */
    HbSecretBuf *pass;      /* luks: the passphrase (secrets are main-thread only) */
    HbRbdPool *pool;        /* rbd: the connection, made on the main thread */
} CreateJob;

/* Write and resize, sharing only reads: nobody else writes to an image being made. */
#define CREATE_PERM (HB_PERM_CONSISTENT_READ | HB_PERM_WRITE | HB_PERM_RESIZE)
#define CREATE_SHARED (HB_PERM_CONSISTENT_READ | HB_PERM_WRITE_UNCHANGED)

static HbChild *take_node(QapiBlockdevRef *ref, const char *member, GError **errp)
{
    if (ref->type != QAPI_QTYPE_QSTRING) {
        hb_error_set(errp, "Parameter '%s': an inline node definition is not supported "
                     "by blockdev-create; blockdev-add the node and name it", member);
        return NULL;
    }
    HbNode *node = hb_node_find(ref->u.reference);
    if (!node) {
        /* QEMU looks a reference up as a device and as a node name. */
        hb_error_set(errp, "Cannot find device='%s' nor node-name='%s'",
                     ref->u.reference, ref->u.reference);
        return NULL;
    }
    return hb_node_attach_user(node, HB_NODE_ANONYMOUS_USER, CREATE_PERM, CREATE_SHARED, errp);
}

static int node_write(void *opaque, uint64_t offset, const void *buf, size_t len)
{
    return hb_node_pwrite(opaque, offset, buf, len, 0);
}

/*
 * [@from, @to) of @node for preallocation=falloc (zeroes the file driver
 * allocates without writing, or writes if it cannot) or full (zeroes
 * written); nothing for off and metadata.  QEMU's file driver texts.
 */
static bool node_preallocate(HbNode *node, uint64_t from, uint64_t to, QapiPreallocMode mode,
                             GError **errp)
{
    int ret = 0;

    if (to <= from) {
        return true;
    }
    if (mode == QAPI_PREALLOC_MODE_FALLOC) {
        ret = hb_node_pwrite_zeroes(node, from, to - from, 0);
    } else if (mode == QAPI_PREALLOC_MODE_FULL) {
        g_autofree uint8_t *zero = g_malloc0(1 << 20);
        for (uint64_t off = from; off < to && !ret; off += 1 << 20) {
            ret = hb_node_pwrite(node, off, zero, MIN((uint64_t)1 << 20, to - off), 0);
        }
    }
    if (ret < 0) {
        hb_error_set_errno(errp, ret, mode == QAPI_PREALLOC_MODE_FALLOC
                           ? "Could not preallocate new data"
                           : "Could not write zeros for preallocation");
        return false;
    }
    return true;
}

/* Make the node @size bytes long, preallocate from @from (@mode), then flush it. */
static bool node_finish(HbNode *node, uint64_t size, uint64_t from, QapiPreallocMode mode,
                        GError **errp)
{
    if (hb_node_truncate(node, size, errp) < 0 ||
        !node_preallocate(node, from, size, mode, errp)) {
        return false;
    }
    int ret = hb_node_flush(node);
    if (ret < 0) {
        hb_error_set_errno(errp, ret, "Could not flush the new image");
        return false;
    }
    return true;
}

static int node_sink_truncate(void *opaque, uint64_t len)
{
    g_autoptr(GError) err = NULL;

    return hb_node_truncate(opaque, len, &err);
}

/* falloc: zeroes the file driver allocates without writing them (or writes, if it cannot). */
static int node_sink_allocate(void *opaque, uint64_t offset, uint64_t len)
{
    return hb_node_pwrite_zeroes(opaque, offset, len, 0);
}

static int node_sink_flush(void *opaque)
{
    return hb_node_flush(opaque);
}

/* ---- qcow2 ---- */

static bool qcow2_typed(const QapiBlockdevCreateOptionsQcow2 *q, HbQcow2CreateOpts *c,
                        GError **errp)
{
    if (q->encrypt) {
        hb_error_set(errp, "qcow2 encryption is not supported: "
                     "put a luks node over the qcow2 node instead");
        return false;
    }
    if (q->data_file || (q->has_data_file_raw && q->data_file_raw)) {
        hb_error_set(errp, "External data files are not supported");
        return false;
    }
    if (q->has_extended_l2 && q->extended_l2) {
        hb_error_set(errp, "Extended L2 entries are not supported");
        return false;
    }
    if (q->has_compression_type && q->compression_type != QAPI_QCOW2_COMPRESSION_TYPE_ZLIB) {
        hb_error_set(errp, "Compression type '%s' is not supported",
                     QapiQcow2CompressionType_str(q->compression_type));
        return false;
    }
    if (q->size % 512) {
        hb_error_set(errp, "Image size must be a multiple of 512 bytes");
        return false;
    }
    if (q->has_refcount_bits && (q->refcount_bits < 1 || q->refcount_bits > 64)) {
        hb_error_set(errp, "Refcount width must be a power of two and may not exceed 64 bits");
        return false;
    }
    *c = (HbQcow2CreateOpts)HB_QCOW2_CREATE_OPTS_INIT;
    if (q->has_cluster_size) {
        c->cluster_size = q->cluster_size;
    }
    if (q->has_refcount_bits) {
        c->refcount_bits = (uint64_t)q->refcount_bits;
    }
    if (q->has_version) {
        c->version = q->version == QAPI_BLOCKDEV_QCOW2_VERSION_V2 ? 2 : 3;
    }
    c->lazy_refcounts = q->has_lazy_refcounts && q->lazy_refcounts;
    c->backing = q->backing_file;
    c->backing_fmt = q->has_backing_fmt ? QapiBlockdevDriver_str(q->backing_fmt) : NULL;
    switch (q->has_preallocation ? q->preallocation : QAPI_PREALLOC_MODE_OFF) {
    case QAPI_PREALLOC_MODE_METADATA: c->prealloc = HB_QCOW2_PREALLOC_METADATA; break;
    case QAPI_PREALLOC_MODE_FALLOC: c->prealloc = HB_QCOW2_PREALLOC_FALLOC; break;
    case QAPI_PREALLOC_MODE_FULL: c->prealloc = HB_QCOW2_PREALLOC_FULL; break;
    default: c->prealloc = HB_QCOW2_PREALLOC_OFF; break;
    }
    return true;
}

static bool run_qcow2(HbJob *job, CreateJob *cj, GError **errp)
{
    const QapiBlockdevCreateOptionsQcow2 *q = cj->opts->u.qcow2;
    HbNode *node = cj->file->node;
    HbQcow2CreateOpts c;
    HbQcow2Sink sink = { .write = node_write, .truncate = node_sink_truncate,
                         .allocate = node_sink_allocate, .flush = node_sink_flush,
                         .opaque = node };

    /* The new metadata starts from an empty file. */
    return qcow2_typed(q, &c, errp) && hb_job_step(job, errp) &&
           hb_node_truncate(node, 0, errp) == 0 &&
           hb_qcow2_format(&c, q->size, &sink, errp) &&
           node_finish(node, (uint64_t)hb_node_get_length(node), 0, QAPI_PREALLOC_MODE_OFF, errp);
}

/* ---- luks ---- */

static bool run_luks(HbJob *job, CreateJob *cj, GError **errp)
{
    const QapiBlockdevCreateOptionsLUKS *l = cj->opts->u.luks;
    HbNode *hdr = cj->header ? cj->header->node : cj->file->node;
    HbLuksFormatOpts fo = {
        .luks2 = l->has_format && l->format == QAPI_LUKS_FORMAT_LUKS2,
        .cipher_alg = l->has_cipher_alg ? QapiQCryptoCipherAlgorithm_str(l->cipher_alg) : NULL,
        .cipher_mode = l->has_cipher_mode ? QapiQCryptoCipherMode_str(l->cipher_mode) : NULL,
        .ivgen_alg = l->has_ivgen_alg ? QapiQCryptoIVGenAlgorithm_str(l->ivgen_alg) : NULL,
        .ivgen_hash_alg = l->has_ivgen_hash_alg
                          ? QapiQCryptoHashAlgorithm_str(l->ivgen_hash_alg) : NULL,
        .hash_alg = l->has_hash_alg ? QapiQCryptoHashAlgorithm_str(l->hash_alg) : NULL,
        .iter_time_ms = l->has_iter_time ? l->iter_time : 0,
        .pbkdf = l->pbkdf,
        .pbkdf_memory_kib = l->has_pbkdf_memory ? l->pbkdf_memory : 0,
        .pbkdf_parallel = l->has_pbkdf_parallel ? l->pbkdf_parallel : 0,
        .sector_size = l->has_sector_size ? l->sector_size : 0,
        .detached = cj->header != NULL,
    };
    uint64_t header_size = 0;

    /* As QEMU: metadata is off for luks, which has no metadata to preallocate. */
    QapiPreallocMode prealloc = l->has_preallocation ? l->preallocation : QAPI_PREALLOC_MODE_OFF;
    if (l->has_iter_time && l->iter_time <= 0) {
        hb_error_set(errp, "Parameter 'iter-time' expects a positive number");
        return false;
    }
    /* The -o options' ranges (block/luks-create.h), here as QMP members. */
    const struct { bool has; int64_t v, max; const char *name; } ranges[] = {
        { l->has_pbkdf_memory, l->pbkdf_memory, HB_LUKS_PBKDF_MEMORY_MAX, "pbkdf-memory" },
        { l->has_pbkdf_parallel, l->pbkdf_parallel, HB_LUKS_PBKDF_PARALLEL_MAX,
          "pbkdf-parallel" },
        { l->has_sector_size, l->sector_size, HB_LUKS_SECTOR_SIZE_MAX, "sector-size" },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(ranges); i++) {
        if (ranges[i].has && (ranges[i].v < 1 || ranges[i].v > ranges[i].max)) {
            hb_error_set(errp, "Parameter '%s' expects a number from 1 to %" G_GINT64_FORMAT,
                         ranges[i].name, ranges[i].max);
            return false;
        }
    }
    if (!hb_luks_format_check(&fo, errp) || !hb_job_step(job, errp) ||
        hb_node_truncate(hdr, 0, errp) < 0 ||
        !hb_luks_format(node_write, hdr, &fo, cj->pass, &header_size, errp)) {
        return false;
    }
    g_clear_pointer(&cj->pass, hb_secret_buf_free);
    /* The key derivation took long: a pause or cancel asked meanwhile is honoured here. */
    if (!hb_job_step(job, errp)) {
        return false;
    }
    hb_job_progress(job, 1);
    if (!cj->header) {
        return node_finish(hdr, header_size + l->size, header_size, prealloc, errp);
    }
    return node_finish(hdr, header_size, header_size, QAPI_PREALLOC_MODE_OFF, errp) &&
           (!cj->file || node_finish(cj->file->node, l->size, 0, prealloc, errp));
}

/* ---- file ---- */

static bool run_file(HbJob *job, CreateJob *cj, GError **errp)
{
    const QapiBlockdevCreateOptionsFile *f = cj->opts->u.file;

    return hb_job_step(job, errp) &&
           hb_file_create(f->filename, f->size,
                          f->has_preallocation ? f->preallocation : QAPI_PREALLOC_MODE_OFF,
                          f->has_nocow && f->nocow, errp);
}

/* ---- rbd ---- */

#ifdef HB_HAVE_RBD
static bool start_rbd(CreateJob *cj, GError **errp)
{
    const QapiBlockdevCreateOptionsRbd *r = cj->opts->u.rbd;

    /* QEMU's order: the snapshot, the object size, then the cluster. */
    if (r->location->snapshot) {
        hb_error_set(errp, "Can't use snapshot name for image creation");
        return false;
    }
    if (r->has_cluster_size && !hb_rbd_check_object_size(r->cluster_size, errp)) {
        return false;
    }
    return (cj->pool = hb_rbd_pool_connect(r->location, errp)) != NULL;
}

static bool run_rbd(HbJob *job, CreateJob *cj, GError **errp)
{
    const QapiBlockdevCreateOptionsRbd *r = cj->opts->u.rbd;

    return hb_job_step(job, errp) &&
           hb_rbd_pool_create_image(cj->pool, r->location->image, r->size,
                                    r->has_cluster_size ? r->cluster_size : 0, errp);
}
#endif

/* ---- the job ---- */

static bool create_start(HbJob *job, GError **errp)
{
    CreateJob *cj = hb_job_opaque(job);
    QapiBlockdevCreateOptions *o = cj->opts;

    switch (o->driver) {
    case QAPI_BLOCKDEV_DRIVER_QCOW2:
        return (cj->file = take_node(o->u.qcow2->file, "file", errp)) != NULL;
    case QAPI_BLOCKDEV_DRIVER_LUKS:
        if (!o->u.luks->file && !o->u.luks->header) {
            hb_error_set(errp, "Parameter 'file' is required when 'header' is not given");
            return false;
        }
        if (!(cj->pass = hb_secret_lookup_utf8(o->u.luks->key_secret, errp))) {
            return false;
        }
        if (o->u.luks->header &&
            !(cj->header = take_node(o->u.luks->header, "header", errp))) {
            return false;
        }
        return !o->u.luks->file || (cj->file = take_node(o->u.luks->file, "file", errp));
#ifdef HB_HAVE_RBD
    case QAPI_BLOCKDEV_DRIVER_RBD:
        return start_rbd(cj, errp);
#endif
    default:
        return true;
    }
}

static bool create_run(HbJob *job, GError **errp)
{
    CreateJob *cj = hb_job_opaque(job);
    bool ok;

    /* One unit of progress, as QEMU's create job reports. */
    hb_job_set_total(job, 1);
    switch (cj->opts->driver) {
    case QAPI_BLOCKDEV_DRIVER_FILE:
        ok = run_file(job, cj, errp);
        break;
    case QAPI_BLOCKDEV_DRIVER_QCOW2:
        ok = run_qcow2(job, cj, errp);
        break;
    case QAPI_BLOCKDEV_DRIVER_LUKS:
        return run_luks(job, cj, errp);
#ifdef HB_HAVE_RBD
    case QAPI_BLOCKDEV_DRIVER_RBD:
        ok = run_rbd(job, cj, errp);
        break;
#endif
    default:
        g_assert_not_reached();
    }
    if (ok) {
        hb_job_progress(job, 1);
    }
    return ok;
}

static void create_free(void *opaque)
{
    CreateJob *cj = opaque;

    hb_node_detach_user(cj->file);
    hb_node_detach_user(cj->header);
    hb_secret_buf_free(cj->pass);
#ifdef HB_HAVE_RBD
    hb_rbd_pool_free(cj->pool);
#endif
    qapi_free_BlockdevCreateOptions(cj->opts);
    g_free(cj);
}

static const HbJobDriver create_job = {
    .type = QAPI_JOB_TYPE_CREATE,
    .start = create_start,
    .run = create_run,
    .free = create_free,
};

bool hb_create_job_start(const char *job_id, QapiBlockdevCreateOptions *opts, GError **errp)
{
    CreateJob *cj = g_new0(CreateJob, 1);

    cj->opts = opts;
    switch (opts->driver) {
    case QAPI_BLOCKDEV_DRIVER_FILE:
    case QAPI_BLOCKDEV_DRIVER_QCOW2:
    case QAPI_BLOCKDEV_DRIVER_LUKS:
#ifdef HB_HAVE_RBD
    case QAPI_BLOCKDEV_DRIVER_RBD:
#endif
        return hb_job_start(job_id, &create_job, cj, errp) != NULL;
    default:
        create_free(cj);
        hb_error_set(errp, "Driver does not support blockdev-create");
        return false;
    }
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/node.c — node lifecycle, child edges, and the checked I/O entry points. */
#include "block/node-int.h"
#include "block/iov.h"
#include "qapi-json.h"
#include "util/error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*
 * Theory of operation
 *
 * hb_node_open() validates the name, lets the driver open (which attaches
 * children through hb_node_open_child()), and only then makes the node
 * visible in the graph.  Any failure unwinds what was attached, so inline
 * children close and named ones only lose the reference they gained.
 *
 * The I/O wrappers do everything that is the same for all drivers:
 * bounds, read-only, FUA (as a flush after the write), no-flush, discard
 * policy, and alignment.  A node with request_alignment > 1 gets unaligned
 * requests padded: reads through a bounce buffer, writes as
 * read-modify-write under the node's rmw_lock (writer side), while aligned
 * writes hold the reader side so an RMW never overwrites them with stale
 * data.
 */

#define NODE_NAME_MAX 31   /* QEMU's node_name[32] */
#define BOUNCE_ALIGN 4096  /* satisfies O_DIRECT memory alignment everywhere */

static bool name_wellformed(const char *s)
{
    if (!g_ascii_isalpha(s[0])) {
        return false;
    }
    for (const char *p = s + 1; *p; p++) {
        if (!g_ascii_isalnum(*p) && *p != '-' && *p != '.' && *p != '_') {
            return false;
        }
    }
    return true;
}

static bool check_name(const char *name, GError **errp)
{
    if (!name_wellformed(name)) {
        hb_error_set(errp, "Invalid node-name: '%s'", name);
        return false;
    }
    if (strlen(name) > NODE_NAME_MAX) {
        hb_error_set(errp, "Node name too long");
        return false;
    }
    if (hb_node_find(name)) {
        hb_error_set(errp, "Duplicate nodes with node-name='%s'", name);
        return false;
    }
    return true;
}

static void detach_edge(HbChild *c)
{
    HbNode *child = c->node;

    g_ptr_array_remove(child->parents, c);
    hb_perm_detach(child);
    g_free(c->name);
    g_free(c);
    hb_node_unref(child);
}

static void detach_all_children(HbNode *node)
{
    /* Last attached first: the reverse of opening. */
    while (node->children->len) {
        HbChild *c = g_ptr_array_steal_index(node->children,
                                             node->children->len - 1);
        detach_edge(c);
    }
}

static void node_free(HbNode *node)
{
    g_ptr_array_unref(node->children);
    g_ptr_array_unref(node->parents);
    qapi_free_BlockdevOptions(node->options);
    g_rw_lock_clear(&node->rmw_lock);
    g_free(node->node_name);
    g_free(node);
}

HbNode *hb_node_open(QapiBlockdevOptions *opts, GError **errp)
{
    const HbDriver *drv = hb_driver_for(opts->driver);

    if (!drv || !drv->open) {
        hb_error_set(errp, "Driver '%s' is not supported",
                     QapiBlockdevDriver_str(opts->driver));
        return NULL;
    }
    if (opts->node_name && !check_name(opts->node_name, errp)) {
        return NULL;
    }
    bool ro = opts->has_read_only && opts->read_only;
    if (opts->has_force_share && opts->force_share && !ro) {
        hb_error_set(errp,
                     "force-share=on can only be used with read-only images");
        return NULL;
    }

    HbNode *node = g_new0(HbNode, 1);
    node->refcnt = 1;
    node->drv = drv;
    node->options = qapi_clone_BlockdevOptions(opts);
    node->read_only = ro;
    node->force_share = opts->has_force_share && opts->force_share;
    node->cache_direct = opts->cache && opts->cache->has_direct &&
                         opts->cache->direct;
    node->cache_no_flush = opts->cache && opts->cache->has_no_flush &&
                           opts->cache->no_flush;
    node->discard_unmap = opts->has_discard &&
                          opts->discard == QAPI_BLOCKDEV_DISCARD_OPTIONS_UNMAP;
    node->request_alignment = 1;
    node->shared_perm = HB_PERM_ALL;
    node->children = g_ptr_array_new();
    node->parents = g_ptr_array_new();
    g_rw_lock_init(&node->rmw_lock);
    node->node_name = g_strdup(opts->node_name);

    if (!drv->open(node, node->options, errp)) {
        detach_all_children(node);
        node_free(node);
        return NULL;
    }
    /* An inline child may have claimed the name while we opened. */
    if (node->node_name && hb_node_find(node->node_name)) {
        hb_error_set(errp, "Duplicate nodes with node-name='%s'",
                     node->node_name);
        drv->close(node);
        detach_all_children(node);
        node_free(node);
        return NULL;
    }
    if (!node->node_name) {
        node->node_name = hb_graph_auto_name();
        node->auto_named = true;
    }
    hb_graph_insert(node);
    return node;
}

HbNode *hb_node_ref(HbNode *node)
{
    if (node) {
        g_atomic_int_inc(&node->refcnt);
    }
    return node;
}

static void (*close_error_handler)(HbNode *node, int err);

void hb_node_set_close_error_handler(void (*fn)(HbNode *node, int err))
{
    close_error_handler = fn;
}

void hb_node_report_close_error(HbNode *node, int err)
{
    if (close_error_handler) {
        close_error_handler(node, err);
    }
}

/*
 * Closing writes back first, as QEMU's bdrv_close() does: whatever a driver
 * caches (qcow2's L2 and refcount tables) reaches its child, and the child
 * its disk, before anything is released.  The children are still attached
 * here; each flushes again as its own last reference goes.  A failure is
 * handed to the driver's close() in close_error (qcow2 then marks the
 * image dirty) and reported: acknowledged data may not be on disk.
 */
void hb_node_unref(HbNode *node)
{
    if (!node || !g_atomic_int_dec_and_test(&node->refcnt)) {
        return;
    }
    hb_node_drain(node);
    node->close_error = node->read_only ? 0 : hb_node_flush(node);
    hb_graph_remove(node);
    node->drv->close(node);
    if (node->close_error < 0) {
        hb_node_report_close_error(node, node->close_error);
    }
    detach_all_children(node);
    node_free(node);
}

static HbChild *attach(HbNode *child, HbNode *parent, const char *name,
                       unsigned perm, unsigned shared, GError **errp)
{
    HbChild *c = g_new0(HbChild, 1);

    c->name = g_strdup(name);
    c->parent = parent;
    c->node = child;
    c->perm = perm;
    c->shared_perm = shared;
    if (!hb_perm_attach(child, c, errp)) {
        g_free(c->name);
        g_free(c);
        return NULL;
    }
    g_ptr_array_add(child->parents, c);
    if (parent) {
        g_ptr_array_add(parent->children, c);
    }
    return c;
}

/*
 * An inline child takes its parent's cache mode, read-only and force-share
 * settings unless it sets them itself, as QEMU's inherited options do: an
 * operator who asks for cache.direct on a qcow2 node means the file below.
 */
static QapiBlockdevOptions *inherit_options(HbNode *parent,
                                            const QapiBlockdevOptions *def)
{
    QapiBlockdevOptions *o = qapi_clone_BlockdevOptions(def);

    if (parent->cache_direct || parent->cache_no_flush) {
        if (!o->cache) {
            o->cache = g_new0(QapiBlockdevCacheOptions, 1);
        }
        if (!o->cache->has_direct && parent->cache_direct) {
            o->cache->has_direct = o->cache->direct = true;
        }
        if (!o->cache->has_no_flush && parent->cache_no_flush) {
            o->cache->has_no_flush = o->cache->no_flush = true;
        }
    }
    if (!o->has_read_only && parent->read_only) {
        o->has_read_only = o->read_only = true;
    }
    if (!o->has_force_share && parent->force_share && o->read_only) {
        o->has_force_share = o->force_share = true;
    }
    return o;
}

HbChild *hb_node_open_child(HbNode *parent, const char *role,
                            QapiBlockdevRef *ref, unsigned perm,
                            unsigned shared, GError **errp)
{
    g_autoptr(HbNode) child = NULL;

    if (!ref) {
        hb_error_set(errp, "A block device must be specified for \"%s\"",
                     role);
        return NULL;
    }
    if (ref->type == QAPI_QTYPE_QSTRING) {
        child = hb_node_ref(hb_node_lookup(ref->u.reference, errp));
    } else {
        g_autoptr(QapiBlockdevOptions) def =
            inherit_options(parent, ref->u.definition);
        child = hb_node_open(def, errp);
    }
    if (!child) {
        return NULL;
    }
    if (parent->force_share) {
        shared = HB_PERM_ALL;
    }
    HbChild *c = attach(child, parent, role, perm, shared, errp);
    if (c) {
        g_steal_pointer(&child);    /* the edge holds the reference */
    }
    return c;
}

HbChild *hb_node_child(HbNode *node, const char *role)
{
    for (guint i = 0; i < node->children->len; i++) {
        HbChild *c = g_ptr_array_index(node->children, i);
        if (g_str_equal(c->name, role)) {
            return c;
        }
    }
    return NULL;
}

HbChild *hb_node_attach_user(HbNode *node, const char *user, unsigned perm,
                             unsigned shared, GError **errp)
{
    HbChild *c = attach(node, NULL, user, perm, shared, errp);

    if (c) {
        hb_node_ref(node);
    }
    return c;
}

void hb_node_detach_user(HbChild *child)
{
    if (child) {
        detach_edge(child);
    }
}

void hb_node_drain(HbNode *node)
{
    while (g_atomic_int_get(&node->inflight) > 0) {
        g_usleep(100);
    }
}

/* ---- I/O ---- */

int64_t hb_node_get_length(HbNode *node)
{
    return node->drv->get_length(node);
}

int64_t hb_node_get_allocated_size(HbNode *node)
{
    if (node->drv->get_allocated_size) {
        return node->drv->get_allocated_size(node);
    }
    /* Formats without their own notion: the sum of what lies beneath. */
    int64_t sum = 0;
    for (guint i = 0; i < node->children->len; i++) {
        HbChild *c = g_ptr_array_index(node->children, i);
        int64_t n = hb_node_get_allocated_size(c->node);
        if (n < 0) {
            return n;
        }
        sum += n;
    }
    return sum;
}

static int check_request(HbNode *node, uint64_t offset, uint64_t bytes)
{
    if (bytes > INT64_MAX || offset > (uint64_t)INT64_MAX - bytes) {
        return -EINVAL;
    }
    if (node->drv->growable) {
        return 0;
    }
    int64_t len = node->drv->get_length(node);
    if (len < 0) {
        return (int)len;
    }
    if (offset + bytes > (uint64_t)len) {
        return -EINVAL;
    }
    return 0;
}

static void *bounce_alloc(size_t len)
{
    void *p = NULL;

    if (posix_memalign(&p, BOUNCE_ALIGN, len ? len : 1)) {
        return NULL;
    }
    return p;
}

static inline void inflight_begin(HbNode *node)
{
    g_atomic_int_inc(&node->inflight);
}

static inline void inflight_end(HbNode *node)
{
    g_atomic_int_dec_and_test(&node->inflight);
}

static int read_padded(HbNode *node, uint64_t offset, uint64_t bytes,
                       const struct iovec *iov, int niov)
{
    uint32_t a = node->request_alignment;
    uint64_t aoff = offset / a * a;
    uint64_t aend = (offset + bytes + a - 1) / a * a;
    uint64_t len = aend - aoff;
    void *buf = bounce_alloc(len);

    if (!buf) {
        return -ENOMEM;
    }
    struct iovec v = { .iov_base = buf, .iov_len = len };
    int ret = node->drv->preadv(node, aoff, len, &v, 1, 0);
    if (ret == 0) {
        hb_iov_from_buf(iov, niov, 0, (char *)buf + (offset - aoff), bytes);
    }
    free(buf);
    return ret;
}

static int write_padded(HbNode *node, uint64_t offset, uint64_t bytes,
                        const struct iovec *iov, int niov, unsigned flags)
{
    uint32_t a = node->request_alignment;
    uint64_t aoff = offset / a * a;
    uint64_t aend = (offset + bytes + a - 1) / a * a;
    uint64_t len = aend - aoff;
    char *buf = bounce_alloc(len);
    int ret = 0;

    if (!buf) {
        return -ENOMEM;
    }
    g_rw_lock_writer_lock(&node->rmw_lock);
    if (offset != aoff) {
        struct iovec v = { .iov_base = buf, .iov_len = a };
        ret = node->drv->preadv(node, aoff, a, &v, 1, 0);
    }
    if (ret == 0 && offset + bytes != aend &&
        (aend - a != aoff || offset == aoff)) {
        struct iovec v = { .iov_base = buf + len - a, .iov_len = a };
        ret = node->drv->preadv(node, aend - a, a, &v, 1, 0);
    }
    if (ret == 0) {
        if (iov) {
            hb_iov_to_buf(iov, niov, 0, buf + (offset - aoff), bytes);
        } else {
            memset(buf + (offset - aoff), 0, bytes);
        }
        struct iovec v = { .iov_base = buf, .iov_len = len };
        ret = node->drv->pwritev(node, aoff, len, &v, 1, flags);
    }
    g_rw_lock_writer_unlock(&node->rmw_lock);
    free(buf);
    return ret;
}

int hb_node_preadv(HbNode *node, uint64_t offset, uint64_t bytes,
                   const struct iovec *iov, int niov, unsigned flags)
{
    int ret = check_request(node, offset, bytes);

    if (ret < 0 || bytes == 0) {
        return ret;
    }
    uint32_t a = node->request_alignment;
    inflight_begin(node);
    if (a > 1 && (offset % a || bytes % a)) {
        ret = read_padded(node, offset, bytes, iov, niov);
    } else {
        ret = node->drv->preadv(node, offset, bytes, iov, niov, flags);
    }
    inflight_end(node);
    return ret;
}

int hb_node_pwritev(HbNode *node, uint64_t offset, uint64_t bytes,
                    const struct iovec *iov, int niov, unsigned flags)
{
    if (node->read_only) {
        return -EPERM;
    }
    int ret = check_request(node, offset, bytes);
    if (ret < 0 || bytes == 0) {
        return ret;
    }
    uint32_t a = node->request_alignment;
    unsigned dflags = flags & ~HB_REQ_FUA;
    inflight_begin(node);
    if (a > 1 && (offset % a || bytes % a)) {
        ret = write_padded(node, offset, bytes, iov, niov, dflags);
    } else if (a > 1) {
        g_rw_lock_reader_lock(&node->rmw_lock);
        ret = node->drv->pwritev(node, offset, bytes, iov, niov, dflags);
        g_rw_lock_reader_unlock(&node->rmw_lock);
    } else {
        ret = node->drv->pwritev(node, offset, bytes, iov, niov, dflags);
    }
    inflight_end(node);
    if (ret == 0 && (flags & HB_REQ_FUA)) {
        ret = hb_node_flush(node);
    }
    return ret;
}

int hb_node_pread(HbNode *node, uint64_t offset, void *buf, uint64_t bytes)
{
    struct iovec v = { .iov_base = buf, .iov_len = bytes };

    return hb_node_preadv(node, offset, bytes, &v, 1, 0);
}

int hb_node_pwrite(HbNode *node, uint64_t offset, const void *buf,
                   uint64_t bytes, unsigned flags)
{
    struct iovec v = { .iov_base = (void *)buf, .iov_len = bytes };

    return hb_node_pwritev(node, offset, bytes, &v, 1, flags);
}

int hb_node_truncate(HbNode *node, uint64_t size, GError **errp)
{
    if (size > INT64_MAX) {
        hb_error_set(errp, "Parameter 'size' expects a >0 size");
        return -EINVAL;
    }
    if (node->read_only) {
        hb_error_set(errp, "Image is read-only");
        return -EACCES;
    }
    if (!node->drv->truncate) {
        hb_error_set(errp, "Image format driver does not support resize");
        return -ENOTSUP;
    }
    return node->drv->truncate(node, size, errp);
}

static GPtrArray *resize_hooks;    /* void (*)(void) */

void hb_node_add_resize_hook(void (*fn)(void))
{
    if (!resize_hooks) {
        resize_hooks = g_ptr_array_new();
    }
    g_ptr_array_add(resize_hooks, (gpointer)fn);
}

void hb_node_run_resize_hooks(void)
{
    for (guint i = 0; resize_hooks && i < resize_hooks->len; i++) {
        ((void (*)(void))g_ptr_array_index(resize_hooks, i))();
    }
}

int hb_node_flush(HbNode *node)
{
    /*
     * cache.no-flush spares the disk, not the caches: as in QEMU (whose
     * flush always runs flush_to_os), formats still write their metadata
     * to the child, and only the file driver skips fdatasync.
     */
    int ret = 0;
    inflight_begin(node);
    if (node->drv->flush) {
        ret = node->drv->flush(node);
    } else {
        for (guint i = 0; i < node->children->len && ret == 0; i++) {
            HbChild *c = g_ptr_array_index(node->children, i);
            if (c->perm & HB_PERM_WRITE) {
                ret = hb_node_flush(c->node);
            }
        }
    }
    inflight_end(node);
    return ret;
}

int hb_node_pdiscard(HbNode *node, uint64_t offset, uint64_t bytes)
{
    if (node->read_only) {
        return -EPERM;
    }
    int ret = check_request(node, offset, bytes);
    if (ret < 0 || bytes == 0 || !node->discard_unmap ||
        !node->drv->pdiscard) {
        return ret;   /* discard is advisory: ignoring it is correct */
    }
    /* Only whole aligned blocks can go; the ragged ends stay. */
    uint32_t a = node->request_alignment;
    uint64_t aoff = (offset + a - 1) / a * a;
    uint64_t aend = (offset + bytes) / a * a;
    if (aend <= aoff) {
        return 0;
    }
    inflight_begin(node);
    g_rw_lock_reader_lock(&node->rmw_lock);
    ret = node->drv->pdiscard(node, aoff, aend - aoff);
    g_rw_lock_reader_unlock(&node->rmw_lock);
    inflight_end(node);
    return ret;
}

/* One page of zeroes, repeated through an iovec: no allocation needed. */
static const char zero_page[65536];
#define ZERO_IOVS 16

static int write_zero_buffers(HbNode *node, uint64_t offset, uint64_t bytes,
                              unsigned flags)
{
    struct iovec v[ZERO_IOVS];
    int ret = 0;

    while (bytes && ret == 0) {
        uint64_t chunk = MIN(bytes, (uint64_t)sizeof(zero_page) * ZERO_IOVS);
        int n = 0;
        for (uint64_t left = chunk; left; n++) {
            v[n].iov_base = (void *)zero_page;
            v[n].iov_len = MIN(left, sizeof(zero_page));
            left -= v[n].iov_len;
        }
        ret = node->drv->pwritev(node, offset, chunk, v, n, flags);
        offset += chunk;
        bytes -= chunk;
    }
    return ret;
}

int hb_node_pwrite_zeroes(HbNode *node, uint64_t offset, uint64_t bytes,
                          unsigned flags)
{
    if (node->read_only) {
        return -EPERM;
    }
    int ret = check_request(node, offset, bytes);
    if (ret < 0 || bytes == 0) {
        return ret;
    }
    uint32_t a = node->request_alignment;
    if (a > 1 && (offset % a || bytes % a)) {
        if (flags & HB_REQ_NO_FALLBACK) {
            return -ENOTSUP;
        }
        inflight_begin(node);
        ret = write_padded(node, offset, bytes, NULL, 0, 0);
        inflight_end(node);
        return ret;
    }
    if (!node->discard_unmap) {
        flags &= ~HB_REQ_MAY_UNMAP;
    }
    inflight_begin(node);
    g_rw_lock_reader_lock(&node->rmw_lock);
    ret = -ENOTSUP;
    if (node->drv->pwrite_zeroes) {
        ret = node->drv->pwrite_zeroes(node, offset, bytes,
                                       flags & ~HB_REQ_FUA);
    }
    if (ret == -ENOTSUP && !(flags & HB_REQ_NO_FALLBACK)) {
        ret = write_zero_buffers(node, offset, bytes, 0);
    }
    g_rw_lock_reader_unlock(&node->rmw_lock);
    inflight_end(node);
    if (ret == 0 && (flags & HB_REQ_FUA)) {
        ret = hb_node_flush(node);
    }
    return ret;
}

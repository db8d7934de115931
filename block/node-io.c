/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/node-io.c — the checked I/O entry points every caller goes through, and drain. */
#include "block/node-int.h"
#include "block/iov.h"
#include "util/error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*
 * Theory of operation
 *
 * The I/O wrappers do everything that is the same for all drivers:
 * bounds, read-only, FUA (as a flush after the write), discard policy, and
 * alignment.  A node with request_alignment > 1 gets unaligned requests
 * padded: reads through a bounce buffer, writes as read-modify-write under
 * the node's rmw_lock (writer side), while aligned writes hold the reader
 * side so an RMW never overwrites them with stale data.  Every request is
 * counted in node->inflight while it is inside the driver, which is what
 * hb_node_drain() waits on.
 */

#define BOUNCE_ALIGN 4096  /* satisfies O_DIRECT memory alignment everywhere */

void hb_node_drained_begin(HbNode *node)
{
    if (node->drv->drained_begin) {
        node->drv->drained_begin(node);
    }
    for (guint i = 0; i < node->children->len; i++) {
        hb_node_drained_begin(((HbChild *)g_ptr_array_index(node->children, i))->node);
    }
}

void hb_node_drained_end(HbNode *node)
{
    for (guint i = 0; i < node->children->len; i++) {
        hb_node_drained_end(((HbChild *)g_ptr_array_index(node->children, i))->node);
    }
    if (node->drv->drained_end) {
        node->drv->drained_end(node);
    }
}

int64_t hb_node_admission_wait_ns(HbNode *node, bool is_write)
{
    int64_t wait = node->drv->admission_wait_ns ? node->drv->admission_wait_ns(node, is_write)
                                                : 0;

    /*
     * Down the data path only ("file": a format's or filter's data): a
     * throttle under a backing file or a detached header holds only the
     * requests that reach it, as in QEMU.
     */
    for (guint i = 0; i < node->children->len; i++) {
        HbChild *c = g_ptr_array_index(node->children, i);
        if (g_str_equal(c->name, "file")) {
            wait = MAX(wait, hb_node_admission_wait_ns(c->node, is_write));
        }
    }
    return wait;
}

void hb_node_drain(HbNode *node)
{
    hb_node_drained_begin(node);
    while (g_atomic_int_get(&node->inflight) > 0) {
        g_usleep(100);
    }
    hb_node_drained_end(node);
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

/*
 * Read-only nodes refuse writes (-EPERM); then bounds: a request may reach
 * past the end only where the driver says what that means: a read if it
 * returns zeroes there, a write (or discard, write_zeroes) if it grows the
 * node.
 */
int hb_node_check_request(HbNode *node, bool read, uint64_t offset, uint64_t bytes)
{
    if (!read && node->read_only) {
        return -EPERM;      /* checked first: a read-only node refuses any write */
    }
    if (bytes > INT64_MAX || offset > (uint64_t)INT64_MAX - bytes) {
        return -EINVAL;
    }
    if (read ? node->drv->zero_past_eof : node->drv->growable) {
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

/*
 * Count a request in, unless the node is inactive (-EPERM).  The flag is
 * read after the count is raised, and deactivation raises the flag before
 * it drains (both sequentially consistent): either the request sees the
 * flag, or the drain waits for the request.  @flags may let a format's
 * metadata read through (HB_REQ_WHILE_INACTIVE).
 */
static int io_enter(HbNode *node, unsigned flags)
{
    inflight_begin(node);
    if (g_atomic_int_get(&node->inactive) && !(flags & HB_REQ_WHILE_INACTIVE)) {
        inflight_end(node);
        return -EPERM;
    }
    return 0;
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
    /* Asynchronous aligned writes hold no lock: wait them out (node-io-async.c). */
    g_atomic_int_inc(&node->rmw_waiting);
    while (g_atomic_int_get(&node->async_writers) > 0) {
        g_usleep(20);
    }
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
    g_atomic_int_dec_and_test(&node->rmw_waiting);
    g_rw_lock_writer_unlock(&node->rmw_lock);
    free(buf);
    return ret;
}

int hb_node_preadv(HbNode *node, uint64_t offset, uint64_t bytes,
                   const struct iovec *iov, int niov, unsigned flags)
{
    int ret = hb_node_check_request(node, true, offset, bytes);

    if (ret < 0 || bytes == 0) {
        return ret;
    }
    uint32_t a = node->request_alignment;
    if ((ret = io_enter(node, flags)) < 0) {
        return ret;
    }
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
    int ret = hb_node_check_request(node, false, offset, bytes);
    if (ret < 0 || bytes == 0) {
        return ret;
    }
    uint32_t a = node->request_alignment;
    unsigned dflags = flags & ~HB_REQ_FUA;
    if ((ret = io_enter(node, 0)) < 0) {
        return ret;
    }
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
    if (ret == 0) {
        hb_node_note_write(node, offset, bytes);
    }
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

int hb_node_pwrite_compressed(HbNode *node, uint64_t offset, const void *buf,
                              uint64_t bytes)
{
    int ret = hb_node_check_request(node, false, offset, bytes);

    if (ret < 0 || bytes == 0) {
        return ret;
    }
    if (!node->drv->pwrite_compressed) {
        return -ENOTSUP;
    }
    if ((ret = io_enter(node, 0)) < 0) {
        return ret;
    }
    /* Cluster aligned, so aligned: keep read-modify-writes off it all the same. */
    g_rw_lock_reader_lock(&node->rmw_lock);
    ret = node->drv->pwrite_compressed(node, offset, bytes, buf);
    g_rw_lock_reader_unlock(&node->rmw_lock);
    inflight_end(node);
    if (ret == 0) {
        hb_node_note_write(node, offset, bytes);
    }
    return ret;
}

int hb_node_truncate(HbNode *node, uint64_t size, GError **errp)
{
    return hb_node_truncate_prealloc(node, size, QAPI_PREALLOC_MODE_OFF, errp);
}

int hb_node_truncate_prealloc(HbNode *node, uint64_t size, QapiPreallocMode prealloc,
                              GError **errp)
{
    if (size > INT64_MAX) {
        hb_error_set(errp, "Parameter 'size' expects a >0 size");
        return -EINVAL;
    }
    if (node->read_only) {
        hb_error_set(errp, "Image is read-only");
        return -EACCES;
    }
    if (!hb_node_is_active(node)) {
        hb_error_set(errp, "Permission 'resize' unavailable on inactive node");
        return -EPERM;
    }
    if (!node->drv->truncate) {
        hb_error_set(errp, "Image format driver does not support resize");
        return -ENOTSUP;
    }
    return node->drv->truncate(node, size, prealloc, errp);
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

/*
 * Not refused on an inactive node: deactivation flushes a node it has
 * already closed to requests, and a driver that dropped its metadata has
 * nothing to write, so the flush only syncs.
 */
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

bool hb_node_discard_range(HbNode *node, uint64_t *offset, uint64_t *bytes)
{
    if (!node->discard_unmap || !node->drv->pdiscard) {
        return false;   /* discard is advisory: ignoring it is correct */
    }
    /* Only whole aligned blocks can go; the ragged ends stay. */
    uint32_t a = node->request_alignment;
    uint64_t aoff = (*offset + a - 1) / a * a;
    uint64_t aend = (*offset + *bytes) / a * a;
    if (aend <= aoff) {
        return false;
    }
    *offset = aoff;
    *bytes = aend - aoff;
    return true;
}

int hb_node_pdiscard(HbNode *node, uint64_t offset, uint64_t bytes)
{
    int ret = hb_node_check_request(node, false, offset, bytes);
    if (ret < 0 || bytes == 0 || !hb_node_discard_range(node, &offset, &bytes)) {
        return ret;
    }
    if ((ret = io_enter(node, 0)) < 0) {
        return ret;
    }
    g_rw_lock_reader_lock(&node->rmw_lock);
    ret = node->drv->pdiscard(node, offset, bytes);
    g_rw_lock_reader_unlock(&node->rmw_lock);
    inflight_end(node);
    if (ret == 0) {
        hb_node_note_write(node, offset, bytes);
    }
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
    int ret = hb_node_check_request(node, false, offset, bytes);
    if (ret < 0 || bytes == 0) {
        return ret;
    }
    uint32_t a = node->request_alignment;
    if (a > 1 && (offset % a || bytes % a)) {
        if (flags & HB_REQ_NO_FALLBACK) {
            return -ENOTSUP;
        }
        if ((ret = io_enter(node, 0)) < 0) {
            return ret;
        }
        ret = write_padded(node, offset, bytes, NULL, 0, 0);
        inflight_end(node);
        if (ret == 0) {
            hb_node_note_write(node, offset, bytes);
        }
        return ret;
    }
    if (!node->discard_unmap) {
        flags &= ~HB_REQ_MAY_UNMAP;
    }
    if ((ret = io_enter(node, 0)) < 0) {
        return ret;
    }
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
    if (ret == 0) {
        hb_node_note_write(node, offset, bytes);
    }
    if (ret == 0 && (flags & HB_REQ_FUA)) {
        ret = hb_node_flush(node);
    }
    return ret;
}

int hb_node_make_empty(HbNode *node)
{
    if (node->read_only) {
        return -EPERM;
    }
    if (!node->drv->make_empty) {
        return -ENOTSUP;
    }
    inflight_begin(node);
    int ret = node->drv->make_empty(node);
    inflight_end(node);
    return ret;
}

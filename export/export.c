/* SPDX-License-Identifier: GPL-2.0-or-later */
/* export/export.c — export registry, listening sockets and the I/O threads that serve them. */
#include "export/export.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vhost/offload.h"
#include "vhost/queue-runner.h"
#include "vhost/vhost-user.h"
#include "vhost/virtio-blk.h"
#include "block/node.h"
#include "util/error.h"
#include "util/id.h"
#include "util/unix-listen.h"
#include "util/lifecycle.h"

enum { TAG_LISTEN, TAG_CONN, TAG_WAKE, TAG_KICK };

typedef struct EpollTag {
    int kind;
    unsigned idx;      /* thread (WAKE) or ring (KICK) */
} EpollTag;

typedef struct ExportThread {
    HbExport *exp;
    unsigned idx;
    int epfd;
    int wake_fd;
    GThread *thread;
    EpollTag wake_tag;
} ExportThread;

struct HbExport {
    char *id;
    char *node_name;
    char *socket_path;     /* NULL for an inherited fd */
    int socket_dirfd;      /* AT_FDCWD: socket_path is the path */
    char *socket_name;     /* the name within socket_dirfd */
    struct stat socket_made; /* identity of the file we bound */
    bool is_device;
    HbNode *node;
    HbChild *user;
    HbVirtioBlk blk;
    HbVuDev vu;
    int listen_fd;
    unsigned nthreads;
    ExportThread *threads;
    EpollTag listen_tag, conn_tag, kick_tag[HB_VU_MAX_QUEUES];
    HbQueueRunner *runners[HB_VU_MAX_QUEUES];
    gint stop;             /* atomic: threads exit */
    gint drop;             /* atomic: thread 0 drops the connection */
    gint connected;        /* atomic */
    gint64 accept_retry_at; /* thread 0 only: listener paused until then, or 0 */
};

/* Out of fds, stop polling the listener this long rather than spin on it. */
#define HB_EXPORT_ACCEPT_RETRY_US (100 * G_TIME_SPAN_MILLISECOND)

static GPtrArray *exports;   /* HbExport *, creation order */

/*
 * Workers shared by every export, one per CPU: they run the requests an
 * I/O thread finds too slow to run itself (queue-runner.h).  Started with
 * the first export; without them, exports still work, all inline.
 */
static HbOffloadPool *offload_pool;
static bool resize_hook_added;

/* ---- backend: the node ---- */

static int be_preadv(void *opaque, uint64_t offset, uint64_t bytes,
                     const struct iovec *iov, int niov)
{
    return hb_node_preadv(opaque, offset, bytes, iov, niov, 0);
}

static int be_pwritev(void *opaque, uint64_t offset, uint64_t bytes,
                      const struct iovec *iov, int niov, unsigned flags)
{
    return hb_node_pwritev(opaque, offset, bytes, iov, niov,
                           (flags & HB_VIRTIO_BLK_REQ_FUA) ? HB_REQ_FUA : 0);
}

static int be_flush(void *opaque)
{
    return hb_node_flush(opaque);
}

static int be_pdiscard(void *opaque, uint64_t offset, uint64_t bytes)
{
    return hb_node_pdiscard(opaque, offset, bytes);
}

static int be_pwrite_zeroes(void *opaque, uint64_t offset, uint64_t bytes,
                            unsigned flags)
{
    return hb_node_pwrite_zeroes(opaque, offset, bytes,
                                 (flags & HB_VIRTIO_BLK_REQ_MAY_UNMAP) ? HB_REQ_MAY_UNMAP : 0);
}

/* ---- the vhost-user device ---- */

static uint64_t vu_get_features(HbVuDev *dev)
{
    HbExport *exp = dev->opaque;
    return hb_virtio_blk_features(&exp->blk);
}

static int vu_get_config(HbVuDev *dev, uint8_t *buf, uint32_t len)
{
    HbExport *exp = dev->opaque;
    hb_virtio_blk_get_config(&exp->blk, buf, len);
    return 0;
}

static int vu_set_config(HbVuDev *dev, const uint8_t *data, uint32_t offset,
                         uint32_t size, uint32_t flags)
{
    HbExport *exp = dev->opaque;
    return hb_virtio_blk_set_config(&exp->blk, data, offset, size);
}

static bool vu_process_queue(HbVuDev *dev, unsigned qidx, HbVirtq *vq)
{
    HbExport *exp = dev->opaque;

    return hb_queue_runner_run(exp->runners[qidx], dev, &dev->q[qidx]);
}

static void vu_kick_fd_changed(HbVuDev *dev, unsigned qidx, int old_fd, int new_fd)
{
    HbExport *exp = dev->opaque;
    ExportThread *t = &exp->threads[qidx % exp->nthreads];

    if (old_fd >= 0) {
        epoll_ctl(t->epfd, EPOLL_CTL_DEL, old_fd, NULL);
    }
    if (new_fd >= 0) {
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &exp->kick_tag[qidx] };
        epoll_ctl(t->epfd, EPOLL_CTL_ADD, new_fd, &ev);
    }
}

static const HbVuIface vu_iface = {
    .get_features = vu_get_features,
    .get_config = vu_get_config,
    .set_config = vu_set_config,
    .process_queue = vu_process_queue,
    .kick_fd_changed = vu_kick_fd_changed,
};

/* ---- I/O threads ---- */

/* Thread 0 only (or the main thread once threads are joined). */
static void drop_connection(HbExport *exp)
{
    if (exp->vu.sock >= 0) {
        epoll_ctl(exp->threads[0].epfd, EPOLL_CTL_DEL, exp->vu.sock, NULL);
        hb_vu_reset(&exp->vu);
    }
    /* A broken-ring report about this connection must not hit the next one. */
    g_atomic_int_set(&exp->drop, 0);
    g_atomic_int_set(&exp->connected, 0);
}

static void accept_client(HbExport *exp)
{
    int fd = accept4(exp->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &exp->conn_tag };

    if (fd < 0) {
        /*
         * The pending client stays in the backlog and the level-triggered
         * listener stays readable: without a pause this thread would spin.
         */
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            epoll_ctl(exp->threads[0].epfd, EPOLL_CTL_DEL, exp->listen_fd, NULL);
            exp->accept_retry_at = g_get_monotonic_time() + HB_EXPORT_ACCEPT_RETRY_US;
        }
        return;
    }
    if (exp->vu.sock >= 0) {
        close(fd);          /* one front-end per device */
        return;
    }
    hb_vu_attach(&exp->vu, fd);
    epoll_ctl(exp->threads[0].epfd, EPOLL_CTL_ADD, fd, &ev);
    g_atomic_int_set(&exp->connected, 1);
}

static void wake_thread(ExportThread *t)
{
    eventfd_write(t->wake_fd, 1);
}

static gpointer thread_main(gpointer opaque)
{
    ExportThread *t = opaque;
    HbExport *exp = t->exp;
    struct epoll_event evs[16];

    while (!g_atomic_int_get(&exp->stop)) {
        int timeout = -1;

        if (exp->accept_retry_at && t->idx == 0) {
            gint64 left = exp->accept_retry_at - g_get_monotonic_time();
            if (left <= 0) {
                struct epoll_event lev = { .events = EPOLLIN, .data.ptr = &exp->listen_tag };
                epoll_ctl(t->epfd, EPOLL_CTL_ADD, exp->listen_fd, &lev);
                exp->accept_retry_at = 0;
            } else {
                timeout = (int)(left / G_TIME_SPAN_MILLISECOND) + 1;
            }
        }
        int n = epoll_wait(t->epfd, evs, G_N_ELEMENTS(evs), timeout);

        for (int i = 0; i < n && !g_atomic_int_get(&exp->stop); i++) {
            EpollTag *tag = evs[i].data.ptr;
            eventfd_t v;

            switch (tag->kind) {
            case TAG_LISTEN:
                accept_client(exp);
                break;
            case TAG_CONN:
                if (!hb_vu_dispatch(&exp->vu)) {
                    drop_connection(exp);
                }
                break;
            case TAG_WAKE:
                eventfd_read(t->wake_fd, &v);
                break;
            case TAG_KICK:
                if (!hb_vu_handle_kick(&exp->vu, tag->idx)) {
                    /* The ring is broken: the protocol thread hangs up. */
                    g_atomic_int_set(&exp->drop, 1);
                    wake_thread(&exp->threads[0]);
                }
                break;
            }
        }
        if (t->idx == 0 && g_atomic_int_compare_and_exchange(&exp->drop, 1, 0)) {
            drop_connection(exp);
        }
    }
    return NULL;
}

/* ---- sockets ---- */

/* ---- lifecycle ---- */

static void export_free(HbExport *exp)
{
    if (!exp) {
        return;
    }
    if (exp->threads) {
        g_atomic_int_set(&exp->stop, 1);
        for (unsigned i = 0; i < exp->nthreads; i++) {
            if (exp->threads[i].thread) {
                wake_thread(&exp->threads[i]);
                g_thread_join(exp->threads[i].thread);
            }
        }
        /* Threads are gone: hanging up from here is safe. */
        drop_connection(exp);
        for (unsigned i = 0; i < exp->nthreads; i++) {
            if (exp->threads[i].epfd >= 0) {
                close(exp->threads[i].epfd);
            }
            if (exp->threads[i].wake_fd >= 0) {
                close(exp->threads[i].wake_fd);
            }
        }
        g_free(exp->threads);
    }
    hb_vu_destroy(&exp->vu);
    if (exp->listen_fd >= 0) {
        close(exp->listen_fd);
    }
    if (exp->socket_name) {
        /* Only our own socket: one renamed over it stays. */
        hb_unix_unlink_own(exp->socket_dirfd, exp->socket_name, &exp->socket_made);
    }
    if (exp->user) {
        hb_node_detach_user(exp->user);
    }
    for (unsigned i = 0; i < HB_VU_MAX_QUEUES; i++) {
        hb_queue_runner_free(exp->runners[i]);
    }
    g_free(exp->id);
    g_free(exp->node_name);
    g_free(exp->socket_path);
    g_free(exp->socket_name);
    g_free(exp);
}

static bool check_config(const HbExportConfig *cfg, GError **errp)
{
    if (!cfg->id || !*cfg->id) {
        hb_error_set(errp, "Parameter 'id' is missing");
        return false;
    }
    /* Ids name socket files: QEMU's rule keeps '/', '..' and the like out. */
    if (!hb_id_wellformed(cfg->id)) {
        hb_error_set(errp, cfg->is_device ? "Parameter 'id' expects an identifier"
                                          : "Invalid block export id");
        return false;
    }
    if (hb_export_find(cfg->id)) {
        hb_error_set(errp, "Block export id '%s' is already in use", cfg->id);
        return false;
    }
    if (cfg->has_num_queues && cfg->num_queues == 0) {
        hb_error_set(errp, "num-queues must be greater than 0");
        return false;
    }
    if (cfg->has_num_queues && cfg->num_queues > HB_VU_MAX_QUEUES) {
        hb_error_set(errp, "num-queues must be at most %d", HB_VU_MAX_QUEUES);
        return false;
    }
    uint64_t lbs = cfg->logical_block_size;
    if (cfg->has_logical_block_size &&
        (lbs < 512 || lbs > 32768 || (lbs & (lbs - 1)))) {
        hb_error_set(errp, "Property 'logical-block-size' must be a power of 2 "
                     "between 512 and 32768");
        return false;
    }
    if (cfg->has_iothreads && (cfg->iothreads < 1 || cfg->iothreads > 64)) {
        hb_error_set(errp, "iothreads must be between 1 and 64");
        return false;
    }
    return true;
}

static bool start_threads(HbExport *exp, GError **errp)
{
    struct epoll_event ev;

    exp->threads = g_new0(ExportThread, exp->nthreads);
    for (unsigned i = 0; i < exp->nthreads; i++) {
        exp->threads[i].epfd = exp->threads[i].wake_fd = -1;
    }
    for (unsigned i = 0; i < exp->nthreads; i++) {
        ExportThread *t = &exp->threads[i];
        t->exp = exp;
        t->idx = i;
        t->epfd = epoll_create1(EPOLL_CLOEXEC);
        t->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (t->epfd < 0 || t->wake_fd < 0) {
            hb_error_set_errno(errp, errno, "Cannot create I/O thread");
            return false;
        }
        t->wake_tag = (EpollTag){ TAG_WAKE, i };
        ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &t->wake_tag };
        epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->wake_fd, &ev);
    }
    ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &exp->listen_tag };
    if (epoll_ctl(exp->threads[0].epfd, EPOLL_CTL_ADD, exp->listen_fd, &ev) < 0) {
        hb_error_set_errno(errp, errno, "Cannot poll the export socket");
        return false;
    }
    for (unsigned i = 0; i < exp->nthreads; i++) {
        g_autofree char *name = g_strdup_printf("export-%u", i);
        exp->threads[i].thread = g_thread_try_new(name, thread_main, &exp->threads[i], errp);
        if (!exp->threads[i].thread) {
            return false;
        }
    }
    return true;
}

HbExport *hb_export_add(const HbExportConfig *cfg, GError **errp)
{
    HbExport *exp;
    HbNode *node;
    int64_t len;
    unsigned nq = cfg->has_num_queues ? (unsigned)cfg->num_queues : 1;

    if (!check_config(cfg, errp)) {
        return NULL;
    }
    node = hb_node_lookup(cfg->node_name, errp);
    if (!node) {
        return NULL;
    }
    if (cfg->writable && node->read_only) {
        hb_error_set(errp, "Cannot export read-only node as writable");
        return NULL;
    }
    len = hb_node_get_length(node);
    if (len < 0) {
        hb_error_set_errno(errp, len, "Cannot get the length of node '%s'", cfg->node_name);
        return NULL;
    }

    exp = g_new0(HbExport, 1);
    exp->id = g_strdup(cfg->id);
    exp->node_name = g_strdup(cfg->node_name);
    exp->is_device = cfg->is_device;
    exp->listen_fd = -1;
    exp->nthreads = cfg->has_iothreads ? MIN((unsigned)cfg->iothreads, nq) : nq;
    exp->listen_tag = (EpollTag){ TAG_LISTEN, 0 };
    exp->conn_tag = (EpollTag){ TAG_CONN, 0 };
    if (!offload_pool) {
        /* Not fatal: the I/O threads then run every request themselves. */
        offload_pool = hb_offload_pool_new(MIN(g_get_num_processors(), 8), "offload", NULL);
    }
    for (unsigned i = 0; i < nq; i++) {
        exp->kick_tag[i] = (EpollTag){ TAG_KICK, i };
        exp->runners[i] = hb_queue_runner_new(&exp->blk, offload_pool);
    }
    hb_vu_init(&exp->vu, &vu_iface, exp, nq);

    exp->user = hb_node_attach_user(node, cfg->id,
                                    HB_PERM_CONSISTENT_READ | (cfg->writable ? HB_PERM_WRITE : 0),
                                    HB_PERM_ALL, errp);
    if (!exp->user) {
        goto fail;
    }
    exp->node = node;
    exp->blk = (HbVirtioBlk){
        .be = { node, be_preadv, be_pwritev, be_flush, be_pdiscard, be_pwrite_zeroes },
        .length = len,
        .logical_block_size = cfg->has_logical_block_size
                              ? (uint32_t)cfg->logical_block_size : 512,
        .num_queues = nq,
        .read_only = !cfg->writable,
        .writeback = !cfg->writethrough,
    };
    g_strlcpy(exp->blk.serial, cfg->serial ? cfg->serial : cfg->id, sizeof(exp->blk.serial));

    if (cfg->socket_path) {
        /* 0600 whatever the umask: only this uid may drive the device. */
        exp->socket_dirfd = cfg->socket_name ? cfg->socket_dirfd : AT_FDCWD;
        const char *name = cfg->socket_name ? cfg->socket_name : cfg->socket_path;
        exp->listen_fd = hb_unix_listen_at(exp->socket_dirfd, name, cfg->socket_path, 0600,
                                           &exp->socket_made, errp);
        if (exp->listen_fd < 0) {
            goto fail;
        }
        exp->socket_path = g_strdup(cfg->socket_path);
        exp->socket_name = g_strdup(name);
    } else {
        exp->listen_fd = cfg->listen_fd;
        if (exp->listen_fd < 0) {
            hb_error_set(errp, "Parameter 'addr' is missing");
            goto fail;
        }
    }
    if (!start_threads(exp, errp)) {
        goto fail;
    }
    if (!exports) {
        exports = g_ptr_array_new();
        hb_at_shutdown(hb_export_del_all);
    }
    if (!resize_hook_added) {
        hb_node_add_resize_hook(hb_export_nodes_resized);
        resize_hook_added = true;
    }
    g_ptr_array_add(exports, exp);
    return exp;

fail:
    export_free(exp);
    return NULL;
}

HbExport *hb_export_find(const char *id)
{
    for (guint i = 0; exports && i < exports->len; i++) {
        HbExport *exp = exports->pdata[i];
        if (!strcmp(exp->id, id)) {
            return exp;
        }
    }
    return NULL;
}

bool hb_export_del(const char *id, bool hard, GError **errp)
{
    HbExport *exp = hb_export_find(id);

    if (!exp) {
        hb_error_set(errp, "Export '%s' is not found", id);
        return false;
    }
    if (!hard && g_atomic_int_get(&exp->connected)) {
        hb_error_set(errp, "export '%s' still in use", id);
        return false;
    }
    g_ptr_array_remove(exports, exp);
    export_free(exp);
    return true;
}

void hb_export_del_all(void)
{
    while (exports && exports->len) {
        HbExport *exp = exports->pdata[exports->len - 1];
        g_ptr_array_remove_index(exports, exports->len - 1);
        export_free(exp);
    }
    g_clear_pointer(&exports, g_ptr_array_unref);
    /* Every ring was drained when its export went: no job is left. */
    g_clear_pointer(&offload_pool, hb_offload_pool_free);
}

void hb_export_foreach(void (*fn)(HbExport *exp, void *opaque), void *opaque)
{
    for (guint i = 0; exports && i < exports->len; i++) {
        fn(exports->pdata[i], opaque);
    }
}

void hb_export_nodes_resized(void)
{
    for (guint i = 0; exports && i < exports->len; i++) {
        HbExport *exp = exports->pdata[i];
        int64_t len = hb_node_get_length(exp->node);
        if (len >= 0 && (uint64_t)len != exp->blk.length) {
            /* I/O threads check requests against it: one aligned store. */
            __atomic_store_n(&exp->blk.length, (uint64_t)len, __ATOMIC_RELAXED);
            hb_vu_config_changed(&exp->vu);
        }
    }
}

const char *hb_export_id(const HbExport *exp)
{
    return exp->id;
}

const char *hb_export_node_name(const HbExport *exp)
{
    return exp->node_name;
}

const char *hb_export_socket_path(const HbExport *exp)
{
    return exp->socket_path;
}

bool hb_export_is_device(const HbExport *exp)
{
    return exp->is_device;
}

bool hb_export_connected(const HbExport *exp)
{
    return g_atomic_int_get((gint *)&exp->connected);
}

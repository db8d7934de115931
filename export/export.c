/* SPDX-License-Identifier: GPL-2.0-or-later */
/* export/export.c — export registry, listening sockets, and their handlers on shared I/O threads. */
#include "export/export.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export/iothread-pool.h"
#include "export/node-backend.h"
#include "vhost/queue-runner.h"
#include "vhost/vhost-user.h"
#include "vhost/virtio-blk.h"
#include "block/node.h"
#include "util/error.h"
#include "util/id.h"
#include "util/unix-listen.h"
#include "util/lifecycle.h"
#include "util/log.h"

typedef struct ExportSession ExportSession;

/* One fd's handler: which export, which session (connection and kicks), which ring. */
typedef struct ExportHandler {
    HbIoHandler h;
    HbExport *exp;
    ExportSession *s;      /* NULL for the listener */
    unsigned idx;
} ExportHandler;

/*
 * One front-end connection: its own memory table, rings and inflight
 * buffer (the HbVuDev), its rings' runners and handlers.  Made when a
 * front-end first needs the slot, kept (idle) until the export goes, so
 * that no handler can outlive it.
 */
struct ExportSession {
    HbExport *exp;
    HbVuDev vu;
    ExportHandler conn_h, kick_h[HB_VU_MAX_QUEUES];
    HbQueueRunner *runners[HB_VU_MAX_QUEUES];
    gint drop;             /* atomic: a ring broke, the control thread hangs up */
};

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
    HbNodeBackend backend;  /* the node behind virtio-blk, BLOCK_IO_ERROR */
    unsigned max_sessions;  /* front-ends served at once (migration needs 2) */
    ExportSession *sessions[HB_EXPORT_MAX_SESSIONS];   /* NULL until first needed */
    int listen_fd;
    HbIoTimer timer;       /* on the control thread: accept back-off, drop requests */
    unsigned nq;
    HbIoThread *qthread[HB_VU_MAX_QUEUES];  /* ring i's thread; [0] is the control thread */
    bool obj_use[HB_VU_MAX_QUEUES];         /* qthread[i] is an iothread object's */
    ExportHandler listen_h;
    gint connected;        /* atomic: sessions with a front-end */
    gint stopping;         /* atomic: export_stop() runs; the control thread changes nothing */
    gint64 accept_retry_at; /* control thread only: listener paused until then, or 0 */
    gint64 refusal_logged_at; /* control thread only: rate limit of "too many" lines */
    gint64 backoff_logged_at; /* control thread only: rate limit of "out of fds" lines */
};

/* Out of fds, stop polling the listener this long rather than spin on it. */
#define HB_EXPORT_ACCEPT_RETRY_US (100 * G_TIME_SPAN_MILLISECOND)

static HbPerms default_socket_perms = { (uid_t)-1, (gid_t)-1, -1 };

static GPtrArray *exports;   /* HbExport *, creation order */
static GHashTable *by_id;    /* id -> HbExport *: lookups stay cheap with thousands */

static bool resize_hook_added;

/* ---- the vhost-user device ---- */

static HbExport *dev_export(HbVuDev *dev)
{
    return ((ExportSession *)dev->opaque)->exp;
}

static uint64_t vu_get_features(HbVuDev *dev)
{
    return hb_virtio_blk_features(&dev_export(dev)->blk);
}

static int vu_get_config(HbVuDev *dev, uint8_t *buf, uint32_t len)
{
    hb_virtio_blk_get_config(&dev_export(dev)->blk, buf, len);
    return 0;
}

static int vu_set_config(HbVuDev *dev, const uint8_t *data, uint32_t offset,
                         uint32_t size, uint32_t flags)
{
    return hb_virtio_blk_set_config(&dev_export(dev)->blk, data, offset, size);
}

static bool vu_process_queue(HbVuDev *dev, unsigned qidx, HbVirtq *vq)
{
    ExportSession *s = dev->opaque;

    return hb_queue_runner_run(s->runners[qidx], dev, &dev->q[qidx]);
}

/* Ring i of every session is served by the export's thread for ring i. */
static void vu_kick_fd_changed(HbVuDev *dev, unsigned qidx, int old_fd, int new_fd)
{
    ExportSession *s = dev->opaque;
    HbIoThread *t = s->exp->qthread[qidx];

    if (old_fd >= 0) {
        hb_iothread_del_fd(t, old_fd);
    }
    if (new_fd >= 0) {
        hb_iothread_add_fd(t, new_fd, EPOLLIN, &s->kick_h[qidx].h);
    }
}

static const HbVuIface vu_iface = {
    .get_features = vu_get_features,
    .get_config = vu_get_config,
    .set_config = vu_set_config,
    .process_queue = vu_process_queue,
    .kick_fd_changed = vu_kick_fd_changed,
};

/* ---- handlers on the I/O threads ---- */

static HbExport *handler_export(HbIoHandler *h)
{
    return ((ExportHandler *)h)->exp;
}

/*
 * Fire the control thread's timer in @ns nanoseconds (any thread).  A
 * timer of the thread, not a timerfd of the export's own: an fd per
 * export is a third of what limits how many exports a daemon can hold.
 */
static void arm_timer(HbExport *exp, int64_t ns)
{
    hb_iothread_timer_arm(exp->qthread[0], &exp->timer, g_get_monotonic_time() * 1000 + ns);
}

/*
 * QEMU reads the queue count and, if it wants more queues than that,
 * hangs up with "The maximum number of queues supported by the backend is
 * N" on its side only.  Name the export and the fix on ours.
 */
static void log_queue_refusal(ExportSession *s)
{
    if (s->vu.last_request == HB_VU_GET_QUEUE_NUM && !s->vu.rings_started) {
        hb_log(HB_LOG_WARNING, "export '%s': the front-end hung up right after reading "
               "the queue count (%u): it probably wants more queues; give the export a "
               "larger num-queues, or the QEMU device num-queues=%u", s->exp->id,
               s->exp->nq, s->exp->nq);
    }
}

/*
 * Control thread only (or the main thread once the export's fds are synced
 * away).  @why: for the log; NULL for what the protocol layer noted.
 */
static void drop_connection(ExportSession *s, const char *why)
{
    if (s->vu.sock >= 0) {
        char noted[sizeof(s->vu.drop_reason)];
        hb_vu_drop_reason(&s->vu, noted, sizeof(noted));
        const char *reason = why ? why : noted[0] ? noted : "unknown";
        hb_log(HB_LOG_INFO, "export '%s': front-end disconnected: %s", s->exp->id, reason);
        if (!why && g_str_equal(reason, "it hung up")) {
            log_queue_refusal(s);
        }
        hb_iothread_del_fd(s->exp->qthread[0], s->vu.sock);
        hb_vu_reset(&s->vu);
        g_atomic_int_add(&s->exp->connected, -1);
    }
    /* A broken-ring report about this connection must not hit the next one. */
    g_atomic_int_set(&s->drop, 0);
}

/*
 * At the end of every control-thread handler: a ring thread asked for a
 * connection to go.  Checked here too, not only on the timer, because the
 * accept back-off may have re-armed the timer over the request.
 */
static void control_done(HbExport *exp)
{
    for (unsigned i = 0; i < exp->max_sessions; i++) {
        ExportSession *s = exp->sessions[i];
        if (s && g_atomic_int_get(&s->drop)) {
            drop_connection(s, NULL);
        }
    }
}

static void on_conn(HbIoHandler *h, uint32_t events);
static void on_kick(HbIoHandler *h, uint32_t events);

static ExportSession *session_new(HbExport *exp)
{
    ExportSession *s = g_new0(ExportSession, 1);

    s->exp = exp;
    s->conn_h = (ExportHandler){ { on_conn }, exp, s, 0 };
    for (unsigned i = 0; i < exp->nq; i++) {
        s->kick_h[i] = (ExportHandler){ { on_kick }, exp, s, i };
        /*
         * No offload pool: the backend is asynchronous, and the block
         * layer spreads CPU-heavy requests over its I/O pool itself.
         */
        s->runners[i] = hb_queue_runner_new(&exp->blk, NULL);
    }
    hb_vu_init(&s->vu, &vu_iface, s, exp->nq);
    return s;
}

/* The session is idle (reset) and no handler of it can run any more. */
static void session_free(ExportSession *s)
{
    if (!s) {
        return;
    }
    hb_vu_destroy(&s->vu);
    for (unsigned i = 0; i < HB_VU_MAX_QUEUES; i++) {
        hb_queue_runner_free(s->runners[i]);
    }
    g_free(s);
}

/* A free session for a new front-end, made if needed; NULL past the limit. */
static ExportSession *session_for_new_client(HbExport *exp)
{
    for (unsigned i = 0; i < exp->max_sessions; i++) {
        if (!exp->sessions[i]) {
            /* Published whole: the main thread reads the slots (resize). */
            g_atomic_pointer_set(&exp->sessions[i], session_new(exp));
        }
        if (exp->sessions[i]->vu.sock < 0) {
            return exp->sessions[i];
        }
    }
    return NULL;
}

/* Say why a front-end was turned away: at most once a second per export. */
static void log_refusal(HbExport *exp)
{
    if (!hb_log_due(&exp->refusal_logged_at, G_USEC_PER_SEC)) {
        return;
    }
    hb_log(HB_LOG_WARNING, "export '%s': refused a front-end connection: "
           "%u session%s already connected (max-sessions is %u)", exp->id,
           exp->max_sessions, exp->max_sessions == 1 ? " is" : "s are", exp->max_sessions);
}

static void accept_client(HbExport *exp)
{
    int fd = accept4(exp->listen_fd, NULL, NULL, SOCK_CLOEXEC);

    if (fd < 0) {
        /*
         * The pending client stays in the backlog and the level-triggered
         * listener stays readable: without a pause this thread would spin.
         */
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            int err = errno;
            /* A line a minute at most: the condition may last. */
            if (hb_log_due(&exp->backoff_logged_at, 60 * G_USEC_PER_SEC)) {
                hb_log(HB_LOG_WARNING, "export '%s': cannot accept a front-end (%s); "
                       "trying again every %d ms", exp->id, g_strerror(err),
                       (int)(HB_EXPORT_ACCEPT_RETRY_US / 1000));
            }
            hb_iothread_del_fd(exp->qthread[0], exp->listen_fd);
            exp->accept_retry_at = g_get_monotonic_time() + HB_EXPORT_ACCEPT_RETRY_US;
            arm_timer(exp, HB_EXPORT_ACCEPT_RETRY_US * 1000);
        }
        return;
    }
    ExportSession *s = session_for_new_client(exp);
    if (!s) {
        log_refusal(exp);
        close(fd);
        return;
    }
    hb_vu_attach(&s->vu, fd);
    hb_iothread_add_fd(exp->qthread[0], fd, EPOLLIN, &s->conn_h.h);
    int n = g_atomic_int_add(&exp->connected, 1) + 1;
    hb_log(HB_LOG_INFO, "export '%s': front-end connected (%d of at most %u sessions)",
           exp->id, n, exp->max_sessions);
}

static void on_listen(HbIoHandler *h, uint32_t events)
{
    HbExport *exp = handler_export(h);

    if (g_atomic_int_get(&exp->stopping)) {
        return;
    }
    accept_client(exp);
    control_done(exp);
}

static void on_conn(HbIoHandler *h, uint32_t events)
{
    ExportSession *s = ((ExportHandler *)h)->s;

    /*
     * The export is going: take our fd off the thread (it stays open, so
     * its number cannot be reused under the main thread) and leave the
     * hang-up to export_stop().
     */
    if (g_atomic_int_get(&s->exp->stopping)) {
        hb_iothread_del_fd(s->exp->qthread[0], s->vu.sock);
        return;
    }
    if (!hb_vu_dispatch(&s->vu)) {
        drop_connection(s, NULL);
    }
    control_done(s->exp);
}

/* The timer: the accept back-off ended, or a ring thread asked for a drop. */
static void on_timer(HbIoTimer *tm)
{
    HbExport *exp = (HbExport *)((char *)tm - offsetof(HbExport, timer));

    if (g_atomic_int_get(&exp->stopping)) {
        return;             /* the listener must stay off the thread */
    }
    if (exp->accept_retry_at) {
        gint64 left = exp->accept_retry_at - g_get_monotonic_time();
        if (left <= 0) {
            hb_iothread_add_fd(exp->qthread[0], exp->listen_fd, EPOLLIN, &exp->listen_h.h);
            exp->accept_retry_at = 0;
        } else {
            arm_timer(exp, left * 1000);
        }
    }
    control_done(exp);
}

static void on_kick(HbIoHandler *h, uint32_t events)
{
    ExportHandler *eh = (ExportHandler *)h;

    if (!hb_vu_handle_kick(&eh->s->vu, eh->idx)) {
        /* The ring is broken: the control thread hangs up, on its timer. */
        g_atomic_int_set(&eh->s->drop, 1);
        arm_timer(eh->exp, 1);
    }
}

/* ---- lifecycle ---- */

/*
 * Take every fd of @exp off its threads and wait until no handler of it
 * runs (iothread.h), then hang up.  Main thread.  The control thread goes
 * first: once it is synced, no message can add a kick fd any more.
 */
static void export_stop(HbExport *exp)
{
    HbIoThread *ctl = exp->qthread[0];

    if (!ctl) {
        return;
    }
    /*
     * First the listener: once the control thread has finished what it
     * was doing (the sync), no session is made or hung up any more (the
     * handlers and the timer see @stopping), so the sessions' sockets can
     * be read and taken off here without racing it.
     */
    g_atomic_int_set(&exp->stopping, 1);
    hb_iothread_del_fd(ctl, exp->listen_fd);
    hb_iothread_sync(ctl);
    hb_iothread_del_fd(ctl, exp->listen_fd);   /* a back-off that ended just before */
    for (unsigned k = 0; k < exp->max_sessions; k++) {
        if (exp->sessions[k] && exp->sessions[k]->vu.sock >= 0) {
            hb_iothread_del_fd(ctl, exp->sessions[k]->vu.sock);
        }
    }
    hb_iothread_sync(ctl);
    for (unsigned k = 0; k < exp->max_sessions; k++) {
        for (unsigned i = 0; exp->sessions[k] && i < exp->nq; i++) {
            if (exp->sessions[k]->vu.q[i].kick_fd >= 0) {
                hb_iothread_del_fd(exp->qthread[i], exp->sessions[k]->vu.q[i].kick_fd);
            }
        }
    }
    for (unsigned i = 0; i < exp->nq; i++) {
        bool seen = false;
        for (unsigned j = 0; j < i && !seen; j++) {
            seen = exp->qthread[j] == exp->qthread[i];
        }
        if (!seen) {
            hb_iothread_sync(exp->qthread[i]);
        }
    }
    /* No ring thread can arm the timer any more (on_kick): off with it. */
    hb_iothread_timer_cancel(ctl, &exp->timer);
    /* No handler of ours runs any more: hanging up from here is safe. */
    for (unsigned k = 0; k < exp->max_sessions; k++) {
        if (exp->sessions[k]) {
            drop_connection(exp->sessions[k], "the export is being removed");
        }
    }
}

static void export_free(HbExport *exp)
{
    if (!exp) {
        return;
    }
    /* Its rings drain as export_stop() waits: no request may wait on limits. */
    if (exp->node) {
        hb_node_drained_begin(exp->node);
    }
    export_stop(exp);
    if (exp->node) {
        hb_node_drained_end(exp->node);
    }
    for (unsigned i = 0; i < exp->nq; i++) {
        if (exp->obj_use[i]) {
            hb_iothread_obj_unuse(exp->qthread[i]);
        }
    }
    for (unsigned k = 0; k < HB_EXPORT_MAX_SESSIONS; k++) {
        session_free(exp->sessions[k]);
    }
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
    hb_block_acct_clear(&exp->backend.acct);
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
    if (cfg->has_max_sessions &&
        (cfg->max_sessions < 1 || cfg->max_sessions > HB_EXPORT_MAX_SESSIONS)) {
        hb_error_set(errp, "max-sessions must be between 1 and %d", HB_EXPORT_MAX_SESSIONS);
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
    if (cfg->iothread && cfg->iothread_list) {
        hb_error_set(errp, "'iothread' and 'x-iothreads' cannot be used together");
        return false;
    }
    if (cfg->has_iothreads && (cfg->iothread || cfg->iothread_list)) {
        hb_error_set(errp, "'iothreads' picks threads of the default pool: "
                     "not with 'iothread' or 'x-iothreads'");
        return false;
    }
    if (cfg->iothread_list && !cfg->iothread_list[0]) {
        hb_error_set(errp, "x-iothreads must not be empty");
        return false;
    }
    return true;
}

/*
 * Which thread serves each ring: all on @cfg->iothread; spread over
 * @cfg->iothread_list; else over @cfg->iothreads (default: one per ring)
 * threads of the default pool, from a rotating start.
 */
static bool assign_threads(HbExport *exp, const HbExportConfig *cfg, GError **errp)
{
    if (cfg->iothread || cfg->iothread_list) {
        const char *one[] = { cfg->iothread, NULL };
        const char *const *ids = cfg->iothread ? one : (const char *const *)cfg->iothread_list;
        unsigned n = g_strv_length((char **)ids);

        for (unsigned i = 0; i < n; i++) {
            if (!hb_iothread_obj_exists(ids[i])) {
                hb_error_set(errp, "iothread \"%s\" not found", ids[i]);
                return false;
            }
        }
        for (unsigned i = 0; i < exp->nq; i++) {
            exp->qthread[i] = hb_iothread_obj_use(ids[i % n], errp);
            exp->obj_use[i] = true;
        }
        return true;
    }
    if (!hb_iothread_pool_start(errp)) {
        return false;
    }
    unsigned start = hb_iothread_pool_next_start();
    unsigned n = cfg->has_iothreads ? MIN((unsigned)cfg->iothreads, exp->nq) : exp->nq;

    for (unsigned i = 0; i < exp->nq; i++) {
        exp->qthread[i] = hb_iothread_pool_get(start + i % n);
    }
    return true;
}

/* Serve the listener on the control thread. */
static bool start_serving(HbExport *exp, GError **errp)
{
    if (hb_iothread_add_fd(exp->qthread[0], exp->listen_fd, EPOLLIN, &exp->listen_h.h) < 0) {
        hb_error_set_errno(errp, errno, "Cannot poll the export socket");
        return false;
    }
    return true;
}

void hb_export_set_socket_perms(const HbPerms *perms)
{
    default_socket_perms = *perms;
}

HbExport *hb_export_add(const HbExportConfig *cfg, GError **errp)
{
    HbExport *exp;
    HbPerms perms;
    HbNode *node;
    int64_t len;
    /* Enough for any VM here: QEMU asks for one queue per vCPU by default, and
     * a ring costs nothing until a front-end starts it. */
    unsigned nq = cfg->has_num_queues ? (unsigned)cfg->num_queues
                                      : MIN((unsigned)g_get_num_processors(), HB_VU_MAX_QUEUES);

    if (!check_config(cfg, errp) ||
        !hb_perms_parse(cfg->socket_owner, cfg->socket_group, cfg->socket_mode,
                        "socket", &perms, errp)) {
        return NULL;
    }
    perms = hb_perms_merge(default_socket_perms, perms);
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
    exp->nq = nq;
    exp->max_sessions = cfg->has_max_sessions ? (unsigned)cfg->max_sessions
                                              : HB_EXPORT_DEFAULT_SESSIONS;
    exp->listen_h = (ExportHandler){ { on_listen }, exp, NULL, 0 };
    exp->timer.fn = on_timer;

    exp->user = hb_node_attach_user(node, cfg->id,
                                    HB_PERM_CONSISTENT_READ | (cfg->writable ? HB_PERM_WRITE : 0),
                                    HB_PERM_ALL, errp);
    if (!exp->user) {
        goto fail;
    }
    exp->node = node;
    exp->backend.node = node;
    exp->backend.io_errors.node_name = exp->node_name;
    exp->blk = (HbVirtioBlk){
        .be = hb_node_backend(&exp->backend),
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
        /* From 0600 to what the operator asked: never more open in between. */
        if (!hb_perms_apply_at(exp->socket_dirfd, name, cfg->socket_path, &perms,
                               &exp->socket_made, errp)) {
            goto fail;
        }
    } else {
        exp->listen_fd = cfg->listen_fd;
        if (exp->listen_fd < 0) {
            hb_error_set(errp, "Parameter 'addr' is missing");
            goto fail;
        }
    }
    if (!assign_threads(exp, cfg, errp) || !start_serving(exp, errp)) {
        goto fail;
    }
    if (!exports) {
        exports = g_ptr_array_new();
        by_id = g_hash_table_new(g_str_hash, g_str_equal);
        hb_at_shutdown(hb_export_del_all);
    }
    if (!resize_hook_added) {
        hb_node_add_resize_hook(hb_export_nodes_resized);
        resize_hook_added = true;
    }
    g_ptr_array_add(exports, exp);
    g_hash_table_insert(by_id, exp->id, exp);
    return exp;

fail:
    export_free(exp);
    return NULL;
}

HbExport *hb_export_find(const char *id)
{
    return by_id ? g_hash_table_lookup(by_id, id) : NULL;
}

bool hb_export_in_use(HbExport *exp)
{
    if (g_atomic_int_get(&exp->connected)) {
        /*
         * A front-end that hung up just before this command may not have
         * been noticed yet.  Two barriers on the control thread: the first
         * ends the batch in hand, the second a turn that fetches whatever
         * its sockets say now, hangups included (level-triggered).
         */
        hb_iothread_sync(exp->qthread[0]);
        hb_iothread_sync(exp->qthread[0]);
    }
    return g_atomic_int_get(&exp->connected) > 0;
}

bool hb_export_del(const char *id, bool hard, GError **errp)
{
    HbExport *exp = hb_export_find(id);

    if (!exp) {
        hb_error_set(errp, "Export '%s' is not found", id);
        return false;
    }
    if (!hard && hb_export_in_use(exp)) {
        hb_error_set(errp, "export '%s' still in use", id);
        return false;
    }
    g_ptr_array_remove(exports, exp);
    g_hash_table_remove(by_id, exp->id);
    export_free(exp);
    return true;
}

void hb_export_del_all(void)
{
    while (exports && exports->len) {
        HbExport *exp = exports->pdata[exports->len - 1];
        g_ptr_array_remove_index(exports, exports->len - 1);
        g_hash_table_remove(by_id, exp->id);
        export_free(exp);
    }
    g_clear_pointer(&exports, g_ptr_array_unref);
    g_clear_pointer(&by_id, g_hash_table_unref);
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
            for (unsigned k = 0; k < exp->max_sessions; k++) {
                ExportSession *s = g_atomic_pointer_get(&exp->sessions[k]);
                if (s) {
                    hb_vu_config_changed(&s->vu);
                }
            }
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

HbBlockAcct *hb_export_acct(HbExport *exp)
{
    return &exp->backend.acct;
}

HbNode *hb_export_node(HbExport *exp)
{
    return exp->node;
}

bool hb_export_is_device(const HbExport *exp)
{
    return exp->is_device;
}

bool hb_export_connected(const HbExport *exp)
{
    return g_atomic_int_get((gint *)&exp->connected);
}

unsigned hb_export_sessions(HbExport *exp, HbExportSessionInfo *out)
{
    unsigned n = 0;

    for (unsigned k = 0; k < exp->max_sessions; k++) {
        ExportSession *s = g_atomic_pointer_get(&exp->sessions[k]);
        /* Read while the control thread may change them: a query's snapshot. */
        if (!s || __atomic_load_n(&s->vu.sock, __ATOMIC_RELAXED) < 0) {
            continue;
        }
        HbExportSessionInfo *i = &out[n++];
        i->features = __atomic_load_n(&s->vu.features, __ATOMIC_RELAXED);
        i->protocol_features = __atomic_load_n(&s->vu.protocol_features, __ATOMIC_RELAXED);
        i->dirty_log = (i->features & (1ull << HB_VU_F_LOG_ALL)) &&
                       __atomic_load_n(&s->vu.log.bits, __ATOMIC_RELAXED);
        i->started_queues = 0;
        for (unsigned q = 0; q < exp->nq; q++) {
            i->started_queues += __atomic_load_n(&s->vu.q[q].started, __ATOMIC_RELAXED);
        }
    }
    return n;
}

unsigned hb_export_num_queues(const HbExport *exp)
{
    return exp->nq;
}

unsigned hb_export_max_sessions(const HbExport *exp)
{
    return exp->max_sessions;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* export/qmp-export.c — block-export-add/-del, query-block-exports, device_add/device_del. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "export/export.h"
#include "block/node.h"
#include "qapi-commands.h"
#include "qapi-events.h"
#include "util/error.h"
#include "util/lifecycle.h"

/*
 * Events go out from an idle callback so that a client sees the command's
 * reply first, as with QEMU, where removal completes asynchronously.
 */
typedef struct PendingEvent {
    char *id;
    bool device;
} PendingEvent;

static gboolean send_event(gpointer opaque)
{
    PendingEvent *ev = opaque;

    if (ev->device) {
        g_autofree char *path = g_strdup_printf("/machine/peripheral/%s", ev->id);
        qapi_event_send_device_deleted(ev->id, path);
    }
    qapi_event_send_block_export_deleted(ev->id);
    g_free(ev->id);
    g_free(ev);
    return G_SOURCE_REMOVE;
}

static void queue_event(const char *id, bool device)
{
    PendingEvent *ev = g_new0(PendingEvent, 1);

    ev->id = g_strdup(id);
    ev->device = device;
    g_idle_add(send_event, ev);
}

static bool parse_fd(const char *str, int *fd, GError **errp)
{
    char *end;
    long v = strtol(str, &end, 10);

    if (!*str || *end || v < 0 || v > 65535) {
        hb_error_set(errp, "File descriptor named '%s' has not been found", str);
        return false;
    }
    /*
     * Only a listening socket the daemon inherited is meant here: any other
     * descriptor (an image a node has open, a QMP listener, another export's
     * socket) would be taken over, and closed on failure.  The export owns
     * it from here on, whatever happens next.
     */
    int listening = 0;
    socklen_t len = sizeof(listening);
    struct stat st;
    if (fstat((int)v, &st) < 0 || !S_ISSOCK(st.st_mode) ||
        getsockopt((int)v, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 || !listening) {
        hb_error_set(errp, "File descriptor named '%s' is not a listening socket", str);
        return false;
    }
    if (!hb_take_inherited_fd((int)v)) {
        hb_error_set(errp, "File descriptor named '%s' has not been found", str);
        return false;
    }
    *fd = v;
    return true;
}

bool qmp_block_export_add(QapiBlockExportOptions *args, GError **errp)
{
    QapiBlockExportOptionsVhostUserBlk *vu = args->u.vhost_user_blk;
    g_autoptr(GPtrArray) ids = g_ptr_array_new();
    HbExportConfig cfg = {
        .id = args->id,
        .node_name = args->node_name,
        .listen_fd = -1,
        .writable = args->has_writable && args->writable,
        .writethrough = args->has_writethrough && args->writethrough,
    };

    cfg.has_num_queues = vu->has_num_queues;
    cfg.num_queues = vu->num_queues;
    cfg.has_logical_block_size = vu->has_logical_block_size;
    cfg.logical_block_size = vu->logical_block_size;
    cfg.has_max_sessions = vu->has_max_sessions;
    cfg.max_sessions = vu->max_sessions;
    cfg.socket_owner = vu->socket_owner;
    cfg.socket_group = vu->socket_group;
    cfg.socket_mode = vu->socket_mode;
    cfg.has_iothreads = vu->has_iothreads;
    cfg.iothreads = vu->iothreads;
    cfg.iothread = args->iothread;
    if (vu->x_iothreads) {
        for (QapiStrList *l = vu->x_iothreads; l; l = l->next) {
            g_ptr_array_add(ids, l->value);
        }
        g_ptr_array_add(ids, NULL);
        cfg.iothread_list = (char **)ids->pdata;
    }
    /*
     * As QEMU: without allow-inactive an inactive node is activated
     * first (failing while another process holds its image); with it,
     * the node stays as it is and requests fail until it is activated.
     * A command that fails after all leaves the node inactive again.
     */
    HbNode *node = hb_node_find(args->node_name);
    bool allow_inactive = args->has_allow_inactive && args->allow_inactive;
    bool activated = node && !hb_node_is_active(node) && !allow_inactive;
    if (activated && !hb_node_set_active(node, true, errp)) {
        return false;
    }
    if (vu->addr->type == QAPI_SOCKET_ADDRESS_TYPE_Q_UNIX) {
        cfg.socket_path = vu->addr->u.q_unix->path;
    } else if (!parse_fd(vu->addr->u.fd->str, &cfg.listen_fd, errp)) {
        goto fail;
    }
    if (hb_export_add(&cfg, errp)) {
        /* Without allow-inactive, the export keeps its node active. */
        hb_node_set_user_allow_inactive(node, cfg.id, allow_inactive);
        return true;
    }
fail:
    if (activated) {
        g_autoptr(GError) ignored = NULL;
        hb_node_set_active(node, false, &ignored);
    }
    return false;
}

bool qmp_block_export_del(QapiBlockExportDelArgs *args, GError **errp)
{
    HbExport *exp = hb_export_find(args->id);
    bool hard = args->has_mode && args->mode == QAPI_BLOCK_EXPORT_REMOVE_MODE_HARD;
    bool device;

    if (!exp) {
        hb_error_set(errp, "Export '%s' is not found", args->id);
        return false;
    }
    device = hb_export_is_device(exp);
    if (!hb_export_del(args->id, hard, errp)) {
        return false;
    }
    queue_event(args->id, device);
    return true;
}

static void add_info(HbExport *exp, void *opaque)
{
    QapiBlockExportInfoList ***tail = opaque;
    QapiBlockExportInfoList *e = g_new0(QapiBlockExportInfoList, 1);

    e->value = g_new0(QapiBlockExportInfo, 1);
    e->value->id = g_strdup(hb_export_id(exp));
    e->value->type = QAPI_BLOCK_EXPORT_TYPE_VHOST_USER_BLK;
    e->value->node_name = g_strdup(hb_export_node_name(exp));
    e->value->shutting_down = false;
    e->value->has_connected = e->value->has_num_queues = e->value->has_max_sessions = true;
    e->value->num_queues = hb_export_num_queues(exp);
    e->value->max_sessions = hb_export_max_sessions(exp);

    HbExportSessionInfo si[HB_EXPORT_MAX_SESSIONS];
    unsigned n = hb_export_sessions(exp, si);
    QapiBlockExportSessionInfoList **stail = &e->value->sessions;
    e->value->connected = n > 0;
    for (unsigned i = 0; i < n; i++) {
        QapiBlockExportSessionInfoList *l = g_new0(QapiBlockExportSessionInfoList, 1);
        l->value = g_new0(QapiBlockExportSessionInfo, 1);
        l->value->features = si[i].features;
        l->value->protocol_features = si[i].protocol_features;
        l->value->started_queues = si[i].started_queues;
        l->value->dirty_log = si[i].dirty_log;
        *stail = l;
        stail = &l->next;
    }
    **tail = e;
    *tail = &e->next;
}

bool qmp_query_block_exports(QapiBlockExportInfoList **ret, GError **errp)
{
    QapiBlockExportInfoList **tail = ret;

    *ret = NULL;
    hb_export_foreach(add_info, &tail);
    return true;
}

static bool known_driver(const char *driver)
{
    static const char *const drivers[] = {
        "virtio-blk-pci", "vhost-user-blk-pci", "vhost-user-blk",
    };

    for (size_t i = 0; i < G_N_ELEMENTS(drivers); i++) {
        if (!strcmp(driver, drivers[i])) {
            return true;
        }
    }
    return false;
}

bool qmp_device_add(QapiDeviceAddArgs *args, GError **errp)
{
    g_autofree char *path = NULL;
    g_autofree char *name = NULL;
    HbExportConfig cfg = { .listen_fd = -1, .is_device = true };
    HbNode *node;

    if (!known_driver(args->driver)) {
        hb_error_set(errp, "'%s' is not a valid device model name", args->driver);
        return false;
    }
    if (!args->drive) {
        hb_error_set(errp, "drive property not set");
        return false;
    }
    if (!args->id) {
        hb_error_set(errp, "Parameter 'id' is missing");
        return false;
    }
    if (hb_export_find(args->id)) {
        hb_error_set(errp, "Duplicate device ID '%s'", args->id);
        return false;
    }
    node = hb_node_lookup(args->drive, errp);
    if (!node) {
        return false;
    }
    if (args->socket) {
        path = g_strdup(args->socket);
    } else if (hb_export_dir()) {
        path = g_strdup_printf("%s/%s.sock", hb_export_dir(), args->id);
        name = g_strdup_printf("%s.sock", args->id);
        cfg.socket_name = name;
        cfg.socket_dirfd = hb_export_dir_fd();
    } else {
        hb_error_set(errp, "No export directory configured: start hotblockd with "
                     "--export-dir or give 'socket'");
        return false;
    }
    cfg.has_num_queues = args->has_num_queues;
    cfg.num_queues = args->num_queues;
    cfg.has_max_sessions = args->has_max_sessions;
    cfg.max_sessions = args->max_sessions;
    cfg.socket_owner = args->socket_owner;
    cfg.socket_group = args->socket_group;
    cfg.socket_mode = args->socket_mode;
    cfg.has_logical_block_size = args->has_logical_block_size;
    cfg.logical_block_size = args->logical_block_size;
    if (args->has_read_only && args->has_writable && args->read_only == args->writable) {
        hb_error_set(errp, "'read-only' and 'writable' contradict each other");
        return false;
    }
    cfg.writable = args->has_writable ? args->writable :
                   args->has_read_only ? !args->read_only : !node->read_only;
    cfg.id = args->id;
    cfg.node_name = args->drive;
    cfg.socket_path = path;
    cfg.serial = args->serial;
    if (!hb_export_add(&cfg, errp)) {
        return false;
    }
    /* A device, as QEMU's, lets the node be inactivated on migration. */
    hb_node_set_user_allow_inactive(node, cfg.id, true);
    return true;
}

bool qmp_device_del(QapiDeviceDelArgs *args, GError **errp)
{
    HbExport *exp = hb_export_find(args->id);

    if (!exp || !hb_export_is_device(exp)) {
        hb_error_set_code(errp, HB_ERROR_DEVICE_NOT_FOUND, "Device '%s' not found",
                          args->id);
        return false;
    }
    /*
     * Pulling the disk from under a running VM stalls its pending I/O and
     * then its own unplug: the VM lets go first (its device_del), and
     * block-export-del mode=hard is the way to force it.
     */
    if (hb_export_in_use(exp)) {
        hb_error_set(errp, "Device '%s' is in use by a connected VM: unplug it from the VM "
                     "first, or force it with block-export-del (mode=hard)", args->id);
        return false;
    }
    if (!hb_export_del(args->id, false, errp)) {
        return false;
    }
    queue_event(args->id, true);
    return true;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* export/export.h — the export registry: vhost-user-blk servers over block nodes. */
#ifndef HB_EXPORT_EXPORT_H
#define HB_EXPORT_EXPORT_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "block/acct.h"
#include "block/node.h"
#include "util/perms.h"

/*
 * Theory of operation
 *
 * An export serves one node on one listening UNIX socket, to up to
 * max-sessions front-ends at once (default 2): live migration on one host
 * has the destination QEMU connect while the source is still connected.
 * Each session has its own memory table, rings and inflight buffer; ring i
 * of every session is served by the same thread.  A connection past the
 * limit is closed at once, with a line on stderr.  It owns no threads: its fds are
 * registered as handlers on shared I/O threads (iothread.h), ring i's kick
 * fd on the thread chosen for ring i (an iothread object, or the default
 * pool: iothread-pool.h), and the listener and the connection on ring 0's
 * thread, the control thread, with a timer of that thread (no fd).  A ring
 * thread that finds its ring broken sets a flag and fires the timer; the
 * control thread hangs up.
 * Requests run synchronously to completion on the thread that popped them
 * (the queue runner returns drained), so removing the export's fds and
 * syncing each of its threads is draining it.
 *
 * The registry and every function here are main-thread only.  A client
 * that disconnects leaves the export listening: the next one gets the
 * device back.
 */

typedef struct HbExport HbExport;

/* Front-end sessions one export serves at once: by default the two of a migration. */
#define HB_EXPORT_DEFAULT_SESSIONS 2
#define HB_EXPORT_MAX_SESSIONS 8

/**
 * struct HbExportConfig - what block-export-add / device_add ask for.
 */
typedef struct HbExportConfig {
    const char *id;
    const char *node_name;
    const char *socket_path;     /* listen here (shown as such), or: */
    const char *socket_name;     /* non-NULL: socket_path is this name ... */
    int socket_dirfd;            /* ... inside the directory this holds */
    int listen_fd;               /* an inherited listening socket; -1 if none */
    bool writable;
    bool writethrough;
    /*
     * As the client gave them, unchecked: hb_export_add() validates every
     * one, so each rule and its error text live in one place.
     */
    bool has_num_queues;         /* else 1 */
    uint64_t num_queues;
    bool has_logical_block_size; /* else 512 */
    uint64_t logical_block_size;
    bool has_iothreads;          /* pool threads; else one per queue */
    int64_t iothreads;
    const char *iothread;        /* iothread object serving every queue, or NULL */
    char **iothread_list;        /* NULL-terminated ids, queue i on [i % n]; or NULL */
    const char *serial;          /* GET_ID; NULL: the id */
    const char *socket_owner;    /* NULL: the daemon-wide default (hb_export_set_socket_perms) */
    const char *socket_group;
    const char *socket_mode;     /* octal */
    bool has_max_sessions;       /* else HB_EXPORT_DEFAULT_SESSIONS */
    int64_t max_sessions;
    bool is_device;              /* made by device_add */
} HbExportConfig;

/**
 * hb_export_add() - open an export and start serving it.
 * Errors: duplicate id, unknown node, permission conflicts, bad sizes,
 * socket path in use.  Return: the export (owned by the registry) or NULL.
 */
HbExport *hb_export_add(const HbExportConfig *cfg, GError **errp);

/**
 * hb_export_del() - stop and remove an export.
 * @hard: drop a connected client; otherwise fail while one is connected
 *
 * On return no handler of the export runs (in-flight requests drained), the node
 * is released and the id can be reused.
 */
bool hb_export_del(const char *id, bool hard, GError **errp);

/**
 * hb_export_set_socket_perms() - owner, group and mode of export sockets
 * made from now on, where the export names none (--export-socket-*).
 * Default: ours, 0600.
 */
void hb_export_set_socket_perms(const HbPerms *perms);

/**
 * hb_export_in_use() - whether a front-end is connected, counting one that
 * hung up just now as gone (main thread; it waits for the control thread).
 */
bool hb_export_in_use(HbExport *exp);

/* What query-block-exports shows of one connected front-end. */
typedef struct HbExportSessionInfo {
    uint64_t features;
    uint64_t protocol_features;
    unsigned started_queues;
    bool dirty_log;
} HbExportSessionInfo;

/**
 * hb_export_sessions() - the front-ends connected to @exp now (main thread;
 * a snapshot that may be a moment old).
 * @out: room for HB_EXPORT_MAX_SESSIONS entries
 * Return: how many were filled in.
 */
unsigned hb_export_sessions(HbExport *exp, HbExportSessionInfo *out);

/* Queues offered, and front-ends allowed at once. */
unsigned hb_export_num_queues(const HbExport *exp);
unsigned hb_export_max_sessions(const HbExport *exp);

/* The export named @id, or NULL. */
HbExport *hb_export_find(const char *id);

/* Calls @fn for every export, in creation order. */
void hb_export_foreach(void (*fn)(HbExport *exp, void *opaque), void *opaque);

const char *hb_export_id(const HbExport *exp);
const char *hb_export_node_name(const HbExport *exp);
const char *hb_export_socket_path(const HbExport *exp);
bool hb_export_is_device(const HbExport *exp);
/* The export's node (borrowed), and its accounting (query-blockstats). */
HbNode *hb_export_node(HbExport *exp);
HbBlockAcct *hb_export_acct(HbExport *exp);
/* Whether a front-end is connected right now. */
bool hb_export_connected(const HbExport *exp);

/**
 * hb_export_node_resized() - re-read the length of every export's node
 * and tell connected front-ends the config changed.
 */
void hb_export_nodes_resized(void);

/* Remove every export (daemon shutdown). */
void hb_export_del_all(void);

#endif

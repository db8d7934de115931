/* SPDX-License-Identifier: GPL-2.0-or-later */
/* daemon/options.c — hotblockd's argv: the startup item list (values parsed by util/keyval.c). */
#include "daemon/options.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/keyval.h"

enum {
    OPT_QMP, OPT_CHARDEV, OPT_MONITOR, OPT_EXPORT_DIR, OPT_PIDFILE,
    OPT_DAEMONIZE, OPT_VERSION, OPT_HELP, OPT_OBJECT, OPT_BLOCKDEV,
    OPT_EXPORT, OPT_INSECURE_EXPORT_DIR, OPT_MAX_QMP_CLIENTS, OPT_MAX_PBKDF_ITERS, OPT_MAX_ARGON2_MEMORY,
    OPT_ALLOW_CORE_DUMPS, OPT_IO_URING_RINGS,
    OPT_LOG_LEVEL, OPT_LOG_FILE, OPT_SYSLOG,
    OPT_QMP_SOCK_OWNER, OPT_QMP_SOCK_GROUP, OPT_QMP_SOCK_MODE,
    OPT_EXP_SOCK_OWNER, OPT_EXP_SOCK_GROUP, OPT_EXP_SOCK_MODE,
    OPT_EXP_DIR_GROUP, OPT_EXP_DIR_MODE, OPT_STATE_FILE,
};

static const struct {
    const char *name;
    int id;
    bool has_arg;
} long_opts[] = {
    { "qmp", OPT_QMP, true },
    { "chardev", OPT_CHARDEV, true },
    { "monitor", OPT_MONITOR, true },
    { "export-dir", OPT_EXPORT_DIR, true },
    { "allow-insecure-export-dir", OPT_INSECURE_EXPORT_DIR, false },
    { "max-qmp-clients", OPT_MAX_QMP_CLIENTS, true },
    { "max-pbkdf-iterations", OPT_MAX_PBKDF_ITERS, true },
    { "max-argon2-memory", OPT_MAX_ARGON2_MEMORY, true },
    { "io-uring-rings", OPT_IO_URING_RINGS, true },
    { "pidfile", OPT_PIDFILE, true },
    { "daemonize", OPT_DAEMONIZE, false },
    { "allow-core-dumps", OPT_ALLOW_CORE_DUMPS, false },
    { "log-level", OPT_LOG_LEVEL, true },
    { "log-file", OPT_LOG_FILE, true },
    { "syslog", OPT_SYSLOG, false },
    { "qmp-socket-owner", OPT_QMP_SOCK_OWNER, true },
    { "qmp-socket-group", OPT_QMP_SOCK_GROUP, true },
    { "qmp-socket-mode", OPT_QMP_SOCK_MODE, true },
    { "export-socket-owner", OPT_EXP_SOCK_OWNER, true },
    { "export-socket-group", OPT_EXP_SOCK_GROUP, true },
    { "export-socket-mode", OPT_EXP_SOCK_MODE, true },
    { "export-dir-group", OPT_EXP_DIR_GROUP, true },
    { "export-dir-mode", OPT_EXP_DIR_MODE, true },
    { "state-file", OPT_STATE_FILE, true },
    { "version", OPT_VERSION, false },
    { "help", OPT_HELP, false },
    { "object", OPT_OBJECT, true },
    { "blockdev", OPT_BLOCKDEV, true },
    { "export", OPT_EXPORT, true },
};

/* A --chardev seen so far, waiting for a --monitor to use it. */
typedef struct {
    char *path;
    bool used;
} Chardev;

static void chardev_free(gpointer p)
{
    Chardev *c = p;

    g_free(c->path);
    g_free(c);
}

static void startup_item_free(gpointer p)
{
    HbStartupItem *it = p;

    if (!it) {
        return;
    }
    if (it->args) {
        json_node_unref(it->args);
    }
    g_free(it->path);
    g_free(it);
}

/* A string option: the last one given wins, as for --pidfile. */
static bool set_str(char **dst, const char *val)
{
    g_free(*dst);
    *dst = g_strdup(val);
    return true;
}

/* The string member @name of @obj, or NULL (also when it is nested). */
static const char *get_str(JsonObject *obj, const char *name)
{
    JsonNode *n = json_object_get_member(obj, name);

    return n && JSON_NODE_HOLDS_VALUE(n) ? json_node_get_string(n) : NULL;
}

static bool check_keys(JsonObject *obj, const char *const *allowed,
                       GError **errp)
{
    g_autoptr(GList) names = json_object_get_members(obj);
    GList *l;

    for (l = names; l; l = l->next) {
        JsonNode *n = json_object_get_member(obj, l->data);

        if (!g_strv_contains(allowed, l->data)) {
            hb_error_set(errp, "Parameter '%s' is unexpected",
                         (const char *)l->data);
            return false;
        }
        if (!JSON_NODE_HOLDS_VALUE(n)) {
            hb_error_set(errp, "Invalid parameter type for '%s', expected: "
                         "string", (const char *)l->data);
            return false;
        }
    }
    return true;
}

static bool add_chardev(GHashTable *chardevs, const char *arg, GError **errp)
{
    static const char *const keys[] = {
        "backend", "id", "path", "server", "wait", NULL
    };
    g_autoptr(JsonNode) node = hb_keyval_parse(arg, "backend", NULL, errp);
    JsonObject *obj;
    const char *backend, *id, *path, *v;
    bool b;
    Chardev *c;

    if (!node) {
        return false;
    }
    if (arg[0] == '{') {
        hb_error_set(errp, "JSON syntax is not supported for --chardev");
        return false;
    }
    obj = json_node_get_object(node);
    if (!check_keys(obj, keys, errp)) {
        return false;
    }
    backend = get_str(obj, "backend");
    id = get_str(obj, "id");
    path = get_str(obj, "path");
    if (!backend) {
        hb_error_set(errp, "Parameter 'backend' is missing");
        return false;
    }
    if (strcmp(backend, "socket")) {
        hb_error_set(errp, "chardev backend '%s' is not supported "
                     "(only 'socket' is)", backend);
        return false;
    }
    if (!id || !*id) {
        hb_error_set(errp, "Parameter 'id' is missing");
        return false;
    }
    if (!path || !*path) {
        hb_error_set(errp, "chardev '%s': only UNIX sockets are supported: "
                     "Parameter 'path' is missing", id);
        return false;
    }
    v = get_str(obj, "server");
    if (!v || !hb_parse_bool(v, &b) || !b) {
        hb_error_set(errp, "chardev '%s': only listening sockets "
                     "(server=on) are supported", id);
        return false;
    }
    /* wait=on would block startup until a client connects; we never do. */
    v = get_str(obj, "wait");
    if (v && !hb_parse_bool(v, &b)) {
        hb_error_set(errp, "Parameter 'wait' expects 'on' or 'off'");
        return false;
    }
    if (g_hash_table_contains(chardevs, id)) {
        hb_error_set(errp, "Duplicate ID '%s' for chardev", id);
        return false;
    }
    c = g_new0(Chardev, 1);
    c->path = g_strdup(path);
    g_hash_table_insert(chardevs, g_strdup(id), c);
    return true;
}

static HbStartupItem *monitor_item(GHashTable *chardevs, const char *arg,
                                   GError **errp)
{
    static const char *const keys[] = {
        "chardev", "id", "mode", "pretty", NULL
    };
    g_autoptr(JsonNode) node = hb_keyval_parse(arg, "chardev", NULL, errp);
    JsonObject *obj;
    const char *id, *v;
    bool b;
    Chardev *c;
    HbStartupItem *it;

    if (!node) {
        return NULL;
    }
    if (arg[0] == '{') {
        hb_error_set(errp, "JSON syntax is not supported for --monitor");
        return NULL;
    }
    obj = json_node_get_object(node);
    if (!check_keys(obj, keys, errp)) {
        return NULL;
    }
    id = get_str(obj, "chardev");
    if (!id) {
        hb_error_set(errp, "Parameter 'chardev' is missing");
        return NULL;
    }
    v = get_str(obj, "mode");
    if (v && strcmp(v, "control")) {
        hb_error_set(errp, "Only QMP (mode=control) is supported");
        return NULL;
    }
    v = get_str(obj, "pretty");
    if (v && !hb_parse_bool(v, &b)) {
        hb_error_set(errp, "Parameter 'pretty' expects 'on' or 'off'");
        return NULL;
    }
    c = g_hash_table_lookup(chardevs, id);
    if (!c) {
        hb_error_set(errp, "chardev '%s' not found (a --chardev must come "
                     "before the --monitor that uses it)", id);
        return NULL;
    }
    if (c->used) {
        hb_error_set(errp, "Device '%s' is in use", id);
        return NULL;
    }
    c->used = true;
    it = g_new0(HbStartupItem, 1);
    it->kind = HB_OPT_MONITOR_PATH;
    it->args = g_steal_pointer(&node);
    it->keyval = true;
    it->path = g_strdup(c->path);
    return it;
}

static bool add_monitor(HbDaemonOptions *opts, HbStartupItem *it,
                        GError **errp)
{
    guint i;

    for (i = 0; i < opts->items->len; i++) {
        HbStartupItem *o = opts->items->pdata[i];

        if (o->kind == HB_OPT_MONITOR_PATH && !strcmp(o->path, it->path)) {
            hb_error_set(errp, "Monitor socket '%s' is given more than once",
                         it->path);
            startup_item_free(it);
            return false;
        }
    }
    g_ptr_array_add(opts->items, it);
    return true;
}

static const char *implied_key_of(HbOptKind kind)
{
    switch (kind) {
    case HB_OPT_OBJECT:
        return "qom-type";
    case HB_OPT_BLOCKDEV:
        return "driver";
    case HB_OPT_EXPORT:
        return "type";
    default:
        return NULL;
    }
}

const char *hb_opt_kind_name(HbOptKind kind)
{
    switch (kind) {
    case HB_OPT_OBJECT:
        return "object";
    case HB_OPT_BLOCKDEV:
        return "blockdev";
    case HB_OPT_EXPORT:
        return "export";
    case HB_OPT_MONITOR_PATH:
        return "qmp";
    }
    return "?";
}

/* A count from 1 to @max for option @name. */
static bool parse_count(const char *val, const char *name, guint64 max, unsigned *out,
                        GError **errp)
{
    char *end;
    guint64 n = g_ascii_strtoull(val, &end, 10);

    if (!g_ascii_isdigit(*val) || *end || n < 1 || n > max) {
        hb_error_set(errp, "%s expects a number from 1 to %" G_GUINT64_FORMAT, name, max);
        return false;
    }
    *out = (unsigned)n;
    return true;
}

static bool handle_opt(HbDaemonOptions *opts, GHashTable *chardevs, int id,
                       const char *val, GError **errp)
{
    HbStartupItem *it;
    HbOptKind kind;

    switch (id) {
    case OPT_QMP:
        /* QEMU's -qmp spelling "unix:PATH,server=on,wait=off" too. */
        it = g_new0(HbStartupItem, 1);
        it->kind = HB_OPT_MONITOR_PATH;
        if (g_str_has_prefix(val, "unix:")) {
            const char *p = val + strlen("unix:");

            it->path = g_strndup(p, strcspn(p, ","));
        } else {
            it->path = g_strdup(val);
        }
        if (!*it->path) {
            startup_item_free(it);
            hb_error_set(errp, "an empty socket path");
            return false;
        }
        return add_monitor(opts, it, errp);
    case OPT_CHARDEV:
        return add_chardev(chardevs, val, errp);
    case OPT_MONITOR:
        it = monitor_item(chardevs, val, errp);
        return it && add_monitor(opts, it, errp);
    case OPT_EXPORT_DIR:
        g_free(opts->export_dir);
        opts->export_dir = g_strdup(val);
        return true;
    case OPT_PIDFILE:
        g_free(opts->pidfile);
        opts->pidfile = g_strdup(val);
        return true;
    case OPT_DAEMONIZE:
        opts->daemonize = true;
        return true;
    case OPT_INSECURE_EXPORT_DIR:
        opts->insecure_export_dir = true;
        return true;
    case OPT_ALLOW_CORE_DUMPS:
        opts->allow_core_dumps = true;
        return true;
    case OPT_MAX_QMP_CLIENTS:
        return parse_count(val, "--max-qmp-clients", 65536, &opts->max_qmp_clients, errp);
    case OPT_MAX_PBKDF_ITERS:
        return parse_count(val, "--max-pbkdf-iterations", UINT32_MAX,
                           &opts->max_pbkdf_iterations, errp);
    case OPT_MAX_ARGON2_MEMORY:
        return parse_count(val, "--max-argon2-memory", UINT32_MAX,
                           &opts->max_argon2_memory, errp);
    case OPT_IO_URING_RINGS:
        return parse_count(val, "--io-uring-rings", 1024, &opts->io_uring_rings, errp);
    case OPT_LOG_LEVEL:
        return set_str(&opts->log_level, val);
    case OPT_LOG_FILE:
        return set_str(&opts->log_file, val);
    case OPT_SYSLOG:
        opts->syslog = true;
        return true;
    case OPT_QMP_SOCK_OWNER:
        return set_str(&opts->qmp_socket.owner, val);
    case OPT_QMP_SOCK_GROUP:
        return set_str(&opts->qmp_socket.group, val);
    case OPT_QMP_SOCK_MODE:
        return set_str(&opts->qmp_socket.mode, val);
    case OPT_EXP_SOCK_OWNER:
        return set_str(&opts->export_socket.owner, val);
    case OPT_EXP_SOCK_GROUP:
        return set_str(&opts->export_socket.group, val);
    case OPT_EXP_SOCK_MODE:
        return set_str(&opts->export_socket.mode, val);
    case OPT_EXP_DIR_GROUP:
        return set_str(&opts->export_dir_perms.group, val);
    case OPT_EXP_DIR_MODE:
        return set_str(&opts->export_dir_perms.mode, val);
    case OPT_STATE_FILE:
        return set_str(&opts->state_file, val);
    case OPT_VERSION:
        opts->version = true;
        return true;
    case OPT_HELP:
        opts->help = true;
        return true;
    case OPT_OBJECT:
    case OPT_BLOCKDEV:
    case OPT_EXPORT:
        kind = id == OPT_OBJECT ? HB_OPT_OBJECT
             : id == OPT_BLOCKDEV ? HB_OPT_BLOCKDEV : HB_OPT_EXPORT;
        it = g_new0(HbStartupItem, 1);
        it->kind = kind;
        it->args = hb_keyval_parse(val, implied_key_of(kind), &it->keyval,
                                   errp);
        if (!it->args) {
            startup_item_free(it);
            return false;
        }
        g_ptr_array_add(opts->items, it);
        return true;
    }
    g_assert_not_reached();
}

bool hb_daemon_options_parse(int argc, char **argv, HbDaemonOptions *opts,
                             GError **errp)
{
    g_autoptr(GHashTable) chardevs =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, chardev_free);
    int i;

    if (!opts->items) {
        opts->items = g_ptr_array_new_with_free_func(startup_item_free);
    }
    for (i = 1; i < argc; i++) {
        const char *arg = argv[i];
        g_autofree char *name = NULL;
        const char *eq, *val = NULL;
        guint k;

        if (!strcmp(arg, "-h")) {
            opts->help = true;
            continue;
        }
        if (!strcmp(arg, "-V")) {
            opts->version = true;
            continue;
        }
        if (!strcmp(arg, "--")) {
            if (i + 1 < argc) {
                hb_error_set(errp, "Unexpected argument '%s'", argv[i + 1]);
                return false;
            }
            break;
        }
        if (!g_str_has_prefix(arg, "--")) {
            if (arg[0] == '-' && arg[1]) {
                hb_error_set(errp, "Unknown option '%s'", arg);
            } else {
                hb_error_set(errp, "Unexpected argument '%s'", arg);
            }
            return false;
        }

        eq = strchr(arg, '=');
        name = eq ? g_strndup(arg + 2, eq - arg - 2) : g_strdup(arg + 2);
        for (k = 0; k < G_N_ELEMENTS(long_opts); k++) {
            if (!strcmp(long_opts[k].name, name)) {
                break;
            }
        }
        if (k == G_N_ELEMENTS(long_opts)) {
            hb_error_set(errp, "Unknown option '--%s'", name);
            return false;
        }
        if (long_opts[k].has_arg) {
            if (eq) {
                val = eq + 1;
            } else if (i + 1 < argc) {
                val = argv[++i];
            } else {
                hb_error_set(errp, "Option '--%s' requires an argument",
                             name);
                return false;
            }
        } else if (eq) {
            hb_error_set(errp, "Option '--%s' doesn't take an argument",
                         name);
            return false;
        }

        if (!handle_opt(opts, chardevs, long_opts[k].id, val, errp)) {
            g_prefix_error(errp, "--%s: ", name);
            return false;
        }
    }
    return true;
}

void hb_daemon_options_clear(HbDaemonOptions *opts)
{
    if (!opts) {
        return;
    }
    g_clear_pointer(&opts->items, g_ptr_array_unref);
    g_clear_pointer(&opts->export_dir, g_free);
    g_clear_pointer(&opts->pidfile, g_free);
    g_clear_pointer(&opts->log_level, g_free);
    g_clear_pointer(&opts->log_file, g_free);
    g_clear_pointer(&opts->state_file, g_free);
    HbPermOptions *perms[] = { &opts->qmp_socket, &opts->export_socket, &opts->export_dir_perms };
    for (unsigned i = 0; i < G_N_ELEMENTS(perms); i++) {
        g_clear_pointer(&perms[i]->owner, g_free);
        g_clear_pointer(&perms[i]->group, g_free);
        g_clear_pointer(&perms[i]->mode, g_free);
    }
    opts->syslog = false;
    opts->daemonize = opts->version = opts->help = opts->allow_core_dumps = false;
}

const char *hb_daemon_usage(void)
{
    return
"Usage: hotblockd [options]\n"
"A block storage daemon controlled over QMP, exporting vhost-user-blk.\n"
"\n"
"  -h, --help                 print this help and exit\n"
"  -V, --version              print the version and exit\n"
"  --qmp PATH                 listen for QMP clients on the UNIX socket PATH\n"
"                             (mode 0600; repeatable)\n"
"  --chardev socket,id=ID,path=PATH,server=on,wait=off\n"
"  --monitor [chardev=]ID     QSD's spelling of --qmp PATH; the --chardev\n"
"                             must come before the --monitor using it\n"
"  --export-dir DIR           where device_add creates vhost-user sockets (mode\n"
"                             0600); DIR must be ours and writable by no one else\n"
"  --allow-insecure-export-dir  use an export dir others may write to anyway\n"
"  --max-qmp-clients N        QMP clients each socket serves at once (128)\n"
"  --max-pbkdf-iterations N   refuse LUKS headers asking for more PBKDF2\n"
"                             iterations (default 50000000)\n"
"  --max-argon2-memory KIB    refuse LUKS2 keyslots asking for more Argon2\n"
"                             memory, in KiB (default 1048576, 1 GiB)\n"
"  --io-uring-rings N         io_uring rings made at startup for the I/O threads\n"
"                             (default: one per CPU and two more); a thread\n"
"                             without one runs file I/O on the thread pool\n"
"  --qmp-socket-owner USER, --qmp-socket-group GROUP, --qmp-socket-mode MODE\n"
"                             owner, group and mode (octal, default 0600) of\n"
"                             the QMP sockets\n"
"  --export-socket-owner USER, --export-socket-group GROUP,\n"
"  --export-socket-mode MODE  the same for export sockets (each export may\n"
"                             override them: socket-owner/-group/-mode); for\n"
"                             libvirt, --export-socket-owner libvirt-qemu\n"
"  --export-dir-group GROUP, --export-dir-mode MODE\n"
"                             group and mode of the --export-dir (default\n"
"                             0700; no write bit for group or others), e.g.\n"
"                             0711 so that QEMU's user may reach its sockets\n"
"  --log-level LEVEL          error, warning, info (default) or debug\n"
"  --log-file FILE            log to FILE (appended; reopened on SIGHUP)\n"
"  --syslog                   log to syslog (the default with --daemonize)\n"
"  --state-file FILE          record the graph (objects, nodes, exports, active\n"
"                             state) in FILE at every change, and rebuild it\n"
"                             from FILE at start if it exists\n"
"  --pidfile FILE             write the pid to FILE (locked, removed on exit)\n"
"  --daemonize                detach once every socket is listening\n"
"  --allow-core-dumps         for debugging: leave the process dumpable, so a\n"
"                             crash writes a core file (off by default: key\n"
"                             material in memory must not reach core files)\n"
"  --object OPTIONS           like the object-add command\n"
"                             e.g. secret,id=sec0,file=/path/to/key\n"
"  --blockdev OPTIONS         like the blockdev-add command\n"
"                             e.g. driver=file,node-name=disk,filename=x.img\n"
"  --export OPTIONS           like the block-export-add command\n"
"                             e.g. vhost-user-blk,id=exp0,node-name=disk,\n"
"                             addr.type=unix,addr.path=/run/vdisk.sock\n"
"\n"
"OPTIONS is a JSON object ('{\"driver\":\"file\",...}') or key=value pairs\n"
"separated by ',' (',,' for a literal comma; 'a.b=x' nests).  --object,\n"
"--blockdev and --export run in command-line order before the monitors\n"
"accept clients, so later options may refer to earlier ones.\n"
"Options take their value as the next argument or after '='.\n"
"\n"
"Under systemd (docs/systemd.md): listening sockets passed by socket\n"
"activation (LISTEN_FDS) and named 'qmp', or unnamed, serve QMP too;\n"
"READY=1 goes to NOTIFY_SOCKET once startup is done.\n";
}

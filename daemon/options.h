/* SPDX-License-Identifier: GPL-2.0-or-later */
/* daemon/options.h — hotblockd's command line: the startup item list. */
#ifndef HB_DAEMON_OPTIONS_H
#define HB_DAEMON_OPTIONS_H

#include <stdbool.h>
#include <glib.h>
#include <json-glib/json-glib.h>


/* What one command-line startup item asks for. */
typedef enum {
    HB_OPT_OBJECT,          /* --object: args is object-add's arguments */
    HB_OPT_BLOCKDEV,        /* --blockdev: args is blockdev-add's arguments */
    HB_OPT_EXPORT,          /* --export: args is block-export-add's arguments */
    HB_OPT_MONITOR_PATH,    /* --qmp PATH, or --chardev + --monitor: path */
} HbOptKind;

/**
 * struct HbStartupItem - one --object/--blockdev/--export/monitor option
 * @kind: which option
 * @args: the option's value as a JSON object (NULL for --qmp; for
 *        --monitor the monitor's own keys: chardev, id, mode, pretty)
 * @keyval: @args came from key=value syntax (scalars are strings)
 * @path: the UNIX socket path of a monitor item, NULL otherwise
 */
typedef struct HbStartupItem {
    HbOptKind kind;
    JsonNode *args;
    bool keyval;
    char *path;
} HbStartupItem;

/**
 * struct HbDaemonOptions - the parsed command line
 * @items: HbStartupItem *, in command-line order; the daemon runs them in
 *         this order so later options may refer to earlier ones
 * @export_dir: --export-dir, or NULL
 * @pidfile: --pidfile, or NULL
 * @insecure_export_dir: --allow-insecure-export-dir
 * @max_qmp_clients: --max-qmp-clients, or 0 for the default
 * @max_pbkdf_iterations: --max-pbkdf-iterations, or 0 for the default
 * @max_argon2_memory: --max-argon2-memory in KiB, or 0 for the default
 * @io_uring_rings: --io-uring-rings, or 0 for the default
 * @daemonize: --daemonize
 * @allow_core_dumps: --allow-core-dumps: stay dumpable (otherwise the daemon
 *        sets PR_SET_DUMPABLE to 0 at start, so no core file is written)
 * @log_level: --log-level, or NULL
 * @log_file: --log-file, or NULL
 * @syslog: --syslog
 * @state_file: --state-file, or NULL
 * @qmp_socket: --qmp-socket-owner/-group/-mode
 * @export_socket: --export-socket-owner/-group/-mode (defaults for exports)
 * @export_dir_perms: --export-dir-group/-mode (no owner: the dir must stay ours)
 * @version: --version / -V was given
 * @help: --help / -h was given
 */
/* Owner, group and mode of a socket or directory, as given (unparsed). */
typedef struct HbPermOptions {
    char *owner;
    char *group;
    char *mode;
} HbPermOptions;

typedef struct HbDaemonOptions {
    GPtrArray *items;
    char *export_dir;
    char *pidfile;
    bool insecure_export_dir;
    unsigned max_qmp_clients;
    unsigned max_pbkdf_iterations;
    unsigned max_argon2_memory;
    unsigned io_uring_rings;
    bool daemonize;
    bool allow_core_dumps;
    char *log_level;
    char *log_file;
    bool syslog;
    char *state_file;
    HbPermOptions qmp_socket;
    HbPermOptions export_socket;
    HbPermOptions export_dir_perms;
    bool version;
    bool help;
} HbDaemonOptions;

/**
 * hb_daemon_options_parse() - parse hotblockd's argv
 * @argc: argument count
 * @argv: arguments, argv[0] being the program name
 * @opts: filled in; must be zero-initialised; clear with
 *        hb_daemon_options_clear() whether or not parsing succeeds
 * @errp: error naming the offending option
 *
 * Accepts "--opt VALUE" and "--opt=VALUE".  QSD's monitor spelling,
 * "--chardev socket,id=ID,path=PATH,server=on,wait=off" followed by
 * "--monitor chardev=ID", becomes the same HB_OPT_MONITOR_PATH item as
 * "--qmp PATH", placed where --monitor appears.
 *
 * Return: true on success.
 */
bool hb_daemon_options_parse(int argc, char **argv, HbDaemonOptions *opts,
                             GError **errp);

/**
 * hb_daemon_options_clear() - free everything hb_daemon_options_parse() set
 * @opts: options; NULL is fine; left zeroed and reusable
 */
void hb_daemon_options_clear(HbDaemonOptions *opts);

/**
 * hb_daemon_usage() - the --help text
 *
 * Return: a static string.
 */
const char *hb_daemon_usage(void);

/**
 * hb_opt_kind_name() - the option name of a startup item kind, without "--"
 * @kind: kind
 *
 * Return: "object", "blockdev", "export" or "qmp" (for error prefixes such
 * as "--blockdev: ...").
 */
const char *hb_opt_kind_name(HbOptKind kind);

#endif

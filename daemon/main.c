/* SPDX-License-Identifier: GPL-2.0-or-later */
/* daemon/main.c — hotblockd: command line, startup graph, main loop, signals, shutdown. */
#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/options.h"
#include "daemon/pidfile.h"
#include "daemon/sandbox.h"
#include "qapi-commands.h"
#include "qapi-events.h"
#include "qmp/control.h"
#include "qmp/dispatch.h"
#include "qmp/event.h"
#include "qmp/server.h"
#include "qmp/session.h"
#include "crypto/luks1.h"
#include "crypto/luks2.h"
#include "export/qmp-iothread.h"
#include "daemon/export-dir.h"
#include "daemon/state-file.h"
#include "daemon/listen-fds.h"
#include "daemon/sd-notify.h"
#include "block/aio.h"
#include "block/throttle-group.h"
#include "export/export.h"
#include "util/error.h"
#include "util/lifecycle.h"
#include "util/log.h"
#include "util/perms.h"
#include "util/slow-job.h"

/*
 * io_uring rings made beyond one per CPU (the default I/O pool), for
 * iothread objects.  Each costs two fds (the ring and its eventfd) from
 * the start, whether used or not.
 */
#define HB_SPARE_RINGS 2

/*
 * Theory of operation
 *
 * Startup runs the command line in order — monitors, objects, block nodes,
 * exports — through the same command table QMP clients use, and exits
 * non-zero with a message on the first error, before the main loop runs.
 * With --daemonize the process forks first (before any thread exists); the
 * parent waits on a pipe and exits 0 only when the child reports that every
 * socket listens, or non-zero with the child's error.  Once startup is
 * done the seccomp allow-list of daemon/sandbox.c is applied to every thread.  Shutdown (SIGTERM,
 * SIGINT, SIGHUP or quit) emits SHUTDOWN, stops accepting, drains exports,
 * removes socket files and the pidfile, and exits 0.
 */

static GMainLoop *loop;
static GPtrArray *servers;        /* HbQmpServer * */
static HbPidfile *pidfile;
static bool shutting_down;
static QapiShutdownCause shutdown_cause;

static void request_shutdown(QapiShutdownCause cause)
{
    if (shutting_down) {
        return;
    }
    shutting_down = true;
    shutdown_cause = cause;
    hb_slow_jobs_serve_main_loop(false);   /* a command waiting on a slow job stops serving */
    g_main_loop_quit(loop);
}

static void on_quit(void)
{
    request_shutdown(QAPI_SHUTDOWN_CAUSE_HOST_QMP_QUIT);
}

static gboolean on_signal(gpointer data)
{
    hb_log(HB_LOG_INFO, "%s received: shutting down", (const char *)data);
    request_shutdown(QAPI_SHUTDOWN_CAUSE_HOST_SIGNAL);
    return G_SOURCE_CONTINUE;
}

/* SIGHUP: logrotate moved the log file; the daemon and its VMs go on. */
static gboolean on_sighup(gpointer data)
{
    hb_log_reopen();
    return G_SOURCE_CONTINUE;
}

/*
 * --log-*, --syslog and the socket permission options, before anything is
 * logged or bound.  With --daemonize stderr becomes /dev/null: unless a
 * file is named, the log goes to syslog then.
 */
static bool setup_logging_and_perms(HbDaemonOptions *opts, GError **errp)
{
    HbPerms p;

    if (opts->log_level && !hb_log_set_level(opts->log_level, errp)) {
        return false;
    }
    if (opts->log_file) {
        g_autofree char *path = g_canonicalize_filename(opts->log_file, NULL);
        if (!hb_log_to_file(path, errp)) {
            return false;
        }
    }
    if (opts->syslog || (opts->daemonize && !opts->log_file)) {
        hb_log_to_syslog();
    }
    if (!hb_perms_parse(opts->qmp_socket.owner, opts->qmp_socket.group,
                        opts->qmp_socket.mode, "--qmp-socket-*", &p, errp)) {
        return false;
    }
    hb_qmp_server_set_perms(&p);
    if (!hb_perms_parse(opts->export_socket.owner, opts->export_socket.group,
                        opts->export_socket.mode, "--export-socket-*", &p, errp)) {
        return false;
    }
    hb_export_set_socket_perms(&p);
    return true;
}

static const char *command_for(HbOptKind kind)
{
    switch (kind) {
    case HB_OPT_OBJECT:
        return "object-add";
    case HB_OPT_BLOCKDEV:
        return "blockdev-add";
    case HB_OPT_EXPORT:
        return "block-export-add";
    default:
        return NULL;
    }
}

static bool run_startup(HbDaemonOptions *opts, GError **errp)
{
    for (guint i = 0; i < opts->items->len; i++) {
        HbStartupItem *it = opts->items->pdata[i];

        if (it->kind == HB_OPT_MONITOR_PATH) {
            /* Absolute: with --daemonize the daemon leaves for / and must
             * still remove this socket at exit. */
            g_autofree char *path = g_canonicalize_filename(it->path, NULL);
            HbQmpServer *srv = hb_qmp_server_listen(path, opts->max_qmp_clients, errp);
            if (!srv) {
                return false;
            }
            g_ptr_array_add(servers, srv);
            continue;
        }
        if (!hb_qmp_run_command(command_for(it->kind), it->args, it->keyval,
                                NULL, errp)) {
            g_prefix_error(errp, "--%s: ", hb_opt_kind_name(it->kind));
            return false;
        }
    }
    return true;
}

/* The parent of --daemonize: exit with the child's verdict. */
static int wait_for_child(int rfd)
{
    GString *msg = g_string_new(NULL);
    char buf[512];
    ssize_t n;
    bool ok = false;

    while ((n = read(rfd, buf, sizeof(buf))) != 0) {
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        g_string_append_len(msg, buf, n);
    }
    if (msg->len == 1 && msg->str[0] == '\0') {
        ok = true;
    } else if (msg->len) {
        fprintf(stderr, "%s", msg->str);
    } else {
        fprintf(stderr, "hotblockd: the daemon exited during startup\n");
    }
    g_string_free(msg, TRUE);
    return ok ? 0 : 1;
}

static int daemonize(void)
{
    int fds[2];
    pid_t pid;

    if (pipe2(fds, O_CLOEXEC) < 0) {
        fprintf(stderr, "hotblockd: pipe: %s\n", g_strerror(errno));
        exit(1);
    }
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "hotblockd: fork: %s\n", g_strerror(errno));
        exit(1);
    }
    if (pid > 0) {
        close(fds[1]);
        exit(wait_for_child(fds[0]));
    }
    close(fds[0]);
    setsid();
    return fds[1];
}

static void report_startup(int status_fd, const char *error)
{
    if (status_fd < 0) {
        if (error) {
            fprintf(stderr, "%s", error);
        }
        return;
    }
    if (error) {
        (void)!write(status_fd, error, strlen(error));
    } else {
        int null = open("/dev/null", O_RDWR);
        (void)!write(status_fd, "", 1);
        if (null >= 0) {
            dup2(null, STDIN_FILENO);
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
            close(null);
        }
    }
    close(status_fd);
}

static void shutdown_daemon(void)
{
    /* Stop accepting first: no new client sees a half-torn-down daemon. */
    g_ptr_array_set_size(servers, 0);
    qapi_event_send_shutdown(false, shutdown_cause);
    hb_qmp_sessions_flush_all(2000);
    /* Exports drain and go, then every node writes back and closes. */
    hb_run_shutdown_hooks();
    hb_qmp_sessions_flush_all(2000);   /* events raised while closing */
    hb_qmp_sessions_close_all();
    hb_pidfile_release(pidfile);
    pidfile = NULL;
}

/*
 * Every export needs descriptors (its socket, epoll and event fds, a
 * front-end's memory regions): take all the kernel allows, as QEMU does.
 */
static void raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    HbDaemonOptions opts = { 0 };
    g_autoptr(GError) err = NULL;
    int status_fd = -1;

    hb_note_inherited_fds();   /* before this process opens any of its own */
    if (!hb_daemon_options_parse(argc, argv, &opts, &err)) {
        fprintf(stderr, "hotblockd: %s\nTry 'hotblockd --help' for more information.\n",
                err->message);
        return 1;
    }
    if (opts.help) {
        fputs(hb_daemon_usage(), stdout);
        hb_daemon_options_clear(&opts);
        return 0;
    }
    if (opts.version) {
        printf("hotblockd %s (QMP of QEMU %d.%d.%d)\n", HB_VERSION,
               HB_QMP_QEMU_MAJOR, HB_QMP_QEMU_MINOR, HB_QMP_QEMU_MICRO);
        hb_daemon_options_clear(&opts);
        return 0;
    }
    /* No core file may carry key material (docs/running.md, "Core dumps"). */
    if (!opts.allow_core_dumps && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
        fprintf(stderr, "hotblockd: cannot disable core dumps: %s\n", g_strerror(errno));
        hb_daemon_options_clear(&opts);
        return 1;
    }
    if (!setup_logging_and_perms(&opts, &err)) {
        fprintf(stderr, "hotblockd: %s\n", err->message);
        hb_daemon_options_clear(&opts);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    if (opts.max_pbkdf_iterations) {
        hb_luks1_set_max_iterations(opts.max_pbkdf_iterations);
    }
    if (opts.max_argon2_memory) {
        hb_luks2_set_max_memory(opts.max_argon2_memory);
    }
    /*
     * File nodes that name no aio use io_uring when it works here; say
     * once why they use the thread pool when it does not (before startup
     * opens any node, and before --daemonize leaves the terminal).
     */
    int uring_err = hb_aio_uring_probe();
    if (uring_err < 0) {
        hb_log(HB_LOG_WARNING, "io_uring is not available (%s): file nodes "
               "without an aio option use aio=threads", g_strerror(-uring_err));
    }
    /* systemd's variables, read before --daemonize forks: LISTEN_PID is our pid. */
    if (!hb_sd_notify_init(&err) || !hb_listen_fds_claim(&err)) {
        fprintf(stderr, "hotblockd: %s\n", err->message);
        hb_daemon_options_clear(&opts);
        return 1;
    }
    if (opts.daemonize) {
        status_fd = daemonize();
    }

    servers = g_ptr_array_new_with_free_func((GDestroyNotify)hb_qmp_server_free);
    loop = g_main_loop_new(NULL, FALSE);
    /* Now, not after startup: logrotate's SIGHUP during a long replay or
     * key derivation must not kill the daemon (SIGHUP's default action). */
    g_unix_signal_add(SIGHUP, on_sighup, NULL);
    hb_qmp_register_commands(qapi_commands, qapi_commands_count);
    hb_iothread_register_object_type();
    hb_throttle_group_register_object_type();
    hb_qmp_event_init();
    hb_qmp_set_quit_handler(on_quit);

    g_autofree char *pidfile_path = opts.pidfile ? g_canonicalize_filename(opts.pidfile, NULL)
                                                 : NULL;
    if (pidfile_path && !(pidfile = hb_pidfile_acquire(pidfile_path, &err))) {
        goto fail;
    }
    if (opts.export_dir) {
        HbPerms dir_perms;
        if (!hb_perms_parse(NULL, opts.export_dir_perms.group, opts.export_dir_perms.mode,
                            "--export-dir-*", &dir_perms, &err)) {
            goto fail;
        }
        int dirfd = hb_open_export_dir(opts.export_dir, opts.insecure_export_dir, &dir_perms,
                                       &err);
        if (dirfd < 0) {
            goto fail;
        }
        g_autofree char *dir = g_canonicalize_filename(opts.export_dir, NULL);
        hb_set_export_dir(dir, dirfd);
    }
    /*
     * The I/O threads' io_uring rings, made before any I/O thread starts
     * (startup's exports start some) and after --daemonize's fork (a ring
     * does not survive one): the sandbox allows no ring to be set up
     * later.  By default one per default I/O thread (one per CPU) and a
     * few for iothread objects (--io-uring-rings sets the number); a
     * thread that finds none left uses the I/O pool (aio=threads) instead.
     */
    if (!hb_aio_reserve_rings(opts.io_uring_rings ? opts.io_uring_rings
                                                  : g_get_num_processors() + HB_SPARE_RINGS,
                              &err)) {
        goto fail;
    }
    int state = 0;
    if (opts.state_file) {
        bool graph_opts = false;
        for (guint i = 0; i < opts.items->len; i++) {
            graph_opts |= ((HbStartupItem *)opts.items->pdata[i])->kind != HB_OPT_MONITOR_PATH;
        }
        state = hb_state_file_open(opts.state_file, graph_opts, &err);
        if (state < 0) {
            goto fail;
        }
    }
    if (hb_listen_fds_serve_qmp(servers, opts.max_qmp_clients, &err) < 0 ||
        !run_startup(&opts, &err) || (state > 0 && !hb_state_file_replay(&err)) ||
        (opts.state_file && !hb_state_file_commit(&err))) {
        goto fail;
    }
    g_unix_signal_add(SIGTERM, on_signal, (gpointer)"SIGTERM");
    g_unix_signal_add(SIGINT, on_signal, (gpointer)"SIGINT");

    for (guint i = 0; i < opts.items->len; i++) {
        HbStartupItem *it = opts.items->pdata[i];
        if (it->kind == HB_OPT_MONITOR_PATH && status_fd < 0) {
            fprintf(stderr, "hotblockd: QMP listening on %s\n", it->path);
        }
    }
    /*
     * A daemon keeps no directory busy (as QEMU's --daemonize): startup
     * options have resolved their relative paths by now, and the sockets
     * and pidfile were made absolute.  Before the sandbox, which has no
     * chdir (it silently failed there before).
     */
    if (opts.daemonize && chdir("/") < 0) {
        /* not fatal: relative paths given later resolve from the old cwd */
    }
    /*
     * From here on the daemon only serves what it has set up and what QMP
     * asks of it: no exec, no network sockets, no odd ioctls.
     */
    if (!hb_sandbox_apply(&err)) {
        goto fail;
    }
    report_startup(status_fd, NULL);
    hb_daemon_options_clear(&opts);
    /*
     * Type=notify: ready once the graph is built, the sockets listen and
     * the sandbox is on.  MAINPID names the --daemonize child, the one
     * systemd must then watch.
     */
    {
        g_autofree char *ready = g_strdup_printf("READY=1\nMAINPID=%d", (int)getpid());
        hb_sd_notify(ready);
    }

    hb_slow_jobs_serve_main_loop(true);
    g_main_loop_run(loop);
    hb_slow_jobs_serve_main_loop(false);
    hb_sd_notify("STOPPING=1");
    shutdown_daemon();
    g_ptr_array_unref(servers);
    g_main_loop_unref(loop);
    return 0;

fail:
    /*
     * Close what startup made (nodes write back, locks go) before the
     * --daemonize parent learns the verdict and exits: a caller that
     * retries at once must not find the images still locked.
     */
    g_ptr_array_unref(servers);  /* removes the sockets made so far */
    hb_run_shutdown_hooks();
    {
        g_autofree char *msg = g_strdup_printf("hotblockd: %s\n", err->message);
        report_startup(status_fd, msg);
    }
    hb_pidfile_release(pidfile);
    hb_daemon_options_clear(&opts);
    g_main_loop_unref(loop);
    return 1;
}

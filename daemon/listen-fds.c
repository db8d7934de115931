/* SPDX-License-Identifier: GPL-2.0-or-later */
/* daemon/listen-fds.c — the sd_listen_fds(3) protocol: LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES. */
#include "daemon/listen-fds.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qmp/server.h"
#include "util/error.h"
#include "util/lifecycle.h"

/*
 * The protocol is spoken directly, as for sd_notify (daemon/sd-notify.c):
 * three environment variables, descriptors from 3 on.  The descriptors
 * are noted as inherited like any other (hb_note_inherited_fds()), so
 * those not named "qmp" stay available to an export's addr.type=fd, and
 * those serving QMP are taken off that list here: no export can take a
 * monitor's socket by number.
 */

/* More would not fit in any RLIMIT_NOFILE the daemon runs under. */
#define HB_LISTEN_FDS_MAX 65536

static GArray *qmp_fds;   /* int: claimed, waiting for hb_listen_fds_serve_qmp() */

/* A decimal number from 1 to @max, or 0 when @s is not one. */
static guint64 parse_positive(const char *s, guint64 max)
{
    char *end;
    guint64 v;

    if (!g_ascii_isdigit(s[0])) {
        return 0;
    }
    errno = 0;
    v = g_ascii_strtoull(s, &end, 10);
    return errno || *end || v > max ? 0 : v;
}

int hb_listen_fds_parse(const char *pid, const char *fds, const char *names, pid_t self,
                        char ***out_names, GError **errp)
{
    guint64 n, p;

    *out_names = NULL;
    if (!pid || !fds) {
        return 0;
    }
    p = parse_positive(pid, G_MAXINT32);
    if (!p) {
        hb_error_set(errp, "LISTEN_PID '%s' is not a process id", pid);
        return -1;
    }
    if (p != (guint64)self) {
        return 0;   /* meant for another process */
    }
    if (!strcmp(fds, "0")) {
        return 0;
    }
    n = parse_positive(fds, HB_LISTEN_FDS_MAX);
    if (!n) {
        hb_error_set(errp, "LISTEN_FDS '%s' is not a number of descriptors", fds);
        return -1;
    }
    if (names) {
        g_auto(GStrv) v = g_strsplit(names, ":", -1);
        if (g_strv_length(v) != n) {
            hb_error_set(errp, "LISTEN_FDNAMES '%s' has %u names for %u descriptors "
                         "(LISTEN_FDS)", names, g_strv_length(v), (unsigned)n);
            return -1;
        }
        *out_names = g_steal_pointer(&v);
    } else {
        *out_names = g_new0(char *, n + 1);
        for (guint64 i = 0; i < n; i++) {
            (*out_names)[i] = g_strdup("unknown");
        }
    }
    return (int)n;
}

/* Socket activation hands QMP a listening AF_UNIX stream socket, or says clearly why not. */
static bool check_qmp_socket(int fd, const char *name, GError **errp)
{
    struct stat st;
    int v = 0;
    socklen_t len = sizeof(v);

    if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode)) {
        hb_error_set(errp, "socket activation: fd %d ('%s') is not a socket", fd, name);
        return false;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) < 0 || v != AF_UNIX) {
        hb_error_set(errp, "socket activation: fd %d ('%s') is not a UNIX socket: QMP "
                     "is served on UNIX sockets only (ListenStream=/path)", fd, name);
        return false;
    }
    len = sizeof(v);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) < 0 || v != SOCK_STREAM) {
        hb_error_set(errp, "socket activation: fd %d ('%s') is not a stream socket "
                     "(ListenStream= in the socket unit)", fd, name);
        return false;
    }
    len = sizeof(v);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) < 0 || !v) {
        hb_error_set(errp, "socket activation: fd %d ('%s') is not a listening socket "
                     "(the socket unit needs Accept=no)", fd, name);
        return false;
    }
    return true;
}

/* Unnamed descriptors (no LISTEN_FDNAMES) all serve QMP: the daemon has no other default. */
static bool is_qmp_name(const char *name)
{
    return !strcmp(name, HB_LISTEN_FDS_QMP_NAME) || !strcmp(name, "unknown");
}

bool hb_listen_fds_claim(GError **errp)
{
    g_auto(GStrv) names = NULL;
    int n = hb_listen_fds_parse(getenv("LISTEN_PID"), getenv("LISTEN_FDS"),
                                getenv("LISTEN_FDNAMES"), getpid(), &names, errp);

    /* Whatever they said, no process of ours may take them as its own. */
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    if (n < 0) {
        g_prefix_error(errp, "socket activation: ");
        return false;
    }
    if (!qmp_fds) {
        qmp_fds = g_array_new(FALSE, FALSE, sizeof(int));
    }
    for (int i = 0; i < n; i++) {
        int fd = HB_LISTEN_FDS_START + i;
        int flags = fcntl(fd, F_GETFD);

        if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) {
            hb_error_set(errp, "socket activation: fd %d ('%s') is not open "
                         "(LISTEN_FDS is %d)", fd, names[i], n);
            return false;
        }
        if (!is_qmp_name(names[i])) {
            fprintf(stderr, "hotblockd: socket activation: fd %d ('%s') is left for an "
                    "export (addr.type=fd,addr.str=%d); name it '%s' to serve QMP on it\n",
                    fd, names[i], fd, HB_LISTEN_FDS_QMP_NAME);
            continue;
        }
        if (!check_qmp_socket(fd, names[i], errp)) {
            return false;
        }
        hb_take_inherited_fd(fd);
        g_array_append_val(qmp_fds, fd);
    }
    return true;
}

int hb_listen_fds_serve_qmp(GPtrArray *servers, unsigned max_clients, GError **errp)
{
    int added = 0;

    while (qmp_fds && qmp_fds->len) {
        int fd = g_array_index(qmp_fds, int, 0);
        HbQmpServer *srv;

        g_array_remove_index(qmp_fds, 0);
        srv = hb_qmp_server_adopt(fd, max_clients, errp);
        if (!srv) {
            return -1;
        }
        g_ptr_array_add(servers, srv);
        added++;
    }
    return added;
}

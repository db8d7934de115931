/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util/log.c — one line per event, to stderr, the journal's stderr, a file or syslog. */
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "util/error.h"
#include "util/fd-io.h"

static const char *const level_names[] = {
    [HB_LOG_ERROR] = "error", [HB_LOG_WARNING] = "warning",
    [HB_LOG_INFO] = "info", [HB_LOG_DEBUG] = "debug",
};
static const int syslog_prio[] = {
    [HB_LOG_ERROR] = LOG_ERR, [HB_LOG_WARNING] = LOG_WARNING,
    [HB_LOG_INFO] = LOG_INFO, [HB_LOG_DEBUG] = LOG_DEBUG,
};
G_STATIC_ASSERT(G_N_ELEMENTS(level_names) == HB_LOG_DEBUG + 1);
G_STATIC_ASSERT(G_N_ELEMENTS(syslog_prio) == HB_LOG_DEBUG + 1);

static int max_level = HB_LOG_INFO;   /* atomic */
static GMutex lock;                   /* guards the fields below */
static int file_fd = -1;              /* --log-file */
static char *file_path;
static bool use_syslog;
static int journal = -1;              /* stderr is the journal: -1 not known yet */

bool hb_log_set_level(const char *name, GError **errp)
{
    for (unsigned i = 0; i < G_N_ELEMENTS(level_names); i++) {
        if (g_str_equal(name, level_names[i])) {
            g_atomic_int_set(&max_level, (int)i);
            return true;
        }
    }
    hb_error_set(errp, "Unknown log level '%s' (error, warning, info or debug)", name);
    return false;
}

/* JOURNAL_STREAM is "device:inode" of the stream systemd gave us as stderr. */
static bool stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;

    return js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(2, &st) == 0 &&
           (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static int open_log_file(const char *path)
{
    /* No symlink: a root daemon must not be steered into appending elsewhere. */
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0640);
}

bool hb_log_to_file(const char *path, GError **errp)
{
    int fd = open_log_file(path);

    if (fd < 0) {
        hb_error_set_errno(errp, errno, "Cannot open log file %s", path);
        return false;
    }
    g_mutex_lock(&lock);
    if (file_fd >= 0) {
        close(file_fd);
    }
    file_fd = fd;
    g_free(file_path);
    file_path = g_strdup(path);
    use_syslog = false;
    g_mutex_unlock(&lock);
    return true;
}

void hb_log_to_syslog(void)
{
    /* LOG_NDELAY: connect now, before the sandbox; only AF_UNIX is needed. */
    openlog("hotblockd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    g_mutex_lock(&lock);
    use_syslog = true;
    g_mutex_unlock(&lock);
}

void hb_log_reopen(void)
{
    g_mutex_lock(&lock);
    if (file_fd < 0) {
        g_mutex_unlock(&lock);
        return;
    }
    int fd = open_log_file(file_path);
    int err = errno;
    if (fd >= 0) {
        close(file_fd);
        file_fd = fd;
    }
    g_mutex_unlock(&lock);
    if (fd < 0) {
        hb_log(HB_LOG_ERROR, "cannot reopen log file %s: %s (still writing to the old one)",
               file_path, g_strerror(err));
    } else {
        hb_log(HB_LOG_INFO, "log file reopened");
    }
}

bool hb_log_due(gint64 *last_us, gint64 period_us)
{
    gint64 now = g_get_monotonic_time();

    if (*last_us && now - *last_us < period_us) {
        return false;
    }
    *last_us = now;
    return true;
}

void hb_log(HbLogLevel level, const char *fmt, ...)
{
    char msg[1024], line[1200], stamp[40];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    int n;

    if ((int)level > g_atomic_int_get(&max_level)) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    g_mutex_lock(&lock);
    if (use_syslog) {
        syslog(syslog_prio[level], "%s", msg);
        g_mutex_unlock(&lock);
        return;
    }
    if (file_fd < 0 && journal < 0) {
        journal = stderr_is_journal();
    }
    if (file_fd < 0 && journal) {
        n = snprintf(line, sizeof(line), "<%d>%s\n", syslog_prio[level], msg);
    } else {
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
        n = snprintf(line, sizeof(line), "%s.%03ldZ hotblockd[%d]: %s: %s\n", stamp,
                     ts.tv_nsec / 1000000, (int)getpid(), level_names[level], msg);
    }
    if (n < 0) {
        n = 0;
    } else if ((size_t)n >= sizeof(line)) {
        n = sizeof(line) - 1;           /* cut short: still one whole line */
        line[n - 1] = '\n';
    }
    /* A line that cannot be written is dropped: there is nowhere to say so. */
    (void)hb_write_all(file_fd >= 0 ? file_fd : 2, line, (size_t)n);
    g_mutex_unlock(&lock);
}

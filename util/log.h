/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util/log.h — the daemon's log: levels, and stderr, a file or syslog. */
#ifndef HB_UTIL_LOG_H
#define HB_UTIL_LOG_H

#include <glib.h>
#include <stdbool.h>

/*
 * Theory of operation
 *
 * One line per event an operator wants to see afterwards: QMP clients and
 * commands, front-ends connecting and leaving (and why), refusals, I/O
 * errors.  A line goes to exactly one place:
 *  - stderr by default, with a timestamp and the level; under systemd
 *    (JOURNAL_STREAM names our stderr) as "<N>message", so that the journal
 *    keeps the priority and adds its own timestamp;
 *  - a file (--log-file), appended to and reopened on SIGHUP, for logrotate;
 *  - syslog (--syslog, and the default with --daemonize, whose stderr is
 *    /dev/null).
 * Any thread may log; a line is written with one write(2).  Lines never
 * carry secrets: callers log names and classes, never command arguments.
 */

typedef enum HbLogLevel {
    HB_LOG_ERROR,
    HB_LOG_WARNING,
    HB_LOG_INFO,
    HB_LOG_DEBUG,
} HbLogLevel;

/**
 * hb_log() - log one line at @level (dropped if above the current level).
 * @fmt: printf format; no trailing newline
 */
void hb_log(HbLogLevel level, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/**
 * hb_log_due() - whether a rate-limited line may be logged now.
 * @last_us: when the last one was (g_get_monotonic_time(); 0: never),
 *     updated when the answer is yes; the caller's, one thread at a time
 * @period_us: at most one line per this long
 *
 * For conditions that may last or repeat (a flood of refused clients):
 * the first line always, then one a period.
 */
bool hb_log_due(gint64 *last_us, gint64 period_us);

/**
 * hb_log_set_level() - keep lines up to @name: error, warning, info, debug.
 * Return: false with @errp set for an unknown name.
 */
bool hb_log_set_level(const char *name, GError **errp);

/**
 * hb_log_to_file() - append lines to @path from now on (created 0640).
 * Return: false with @errp set if it cannot be opened.
 */
bool hb_log_to_file(const char *path, GError **errp);

/* Send lines to syslog (facility daemon) from now on. */
void hb_log_to_syslog(void);

/**
 * hb_log_reopen() - reopen the log file (SIGHUP, after logrotate moved it).
 * Nothing to do for stderr and syslog.  A failure is logged to the old file.
 */
void hb_log_reopen(void);

#endif

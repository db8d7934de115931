/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util/slow-job.h — run a slow job (key derivation) without stopping the main loop. */
#ifndef HB_UTIL_SLOW_JOB_H
#define HB_UTIL_SLOW_JOB_H

#include <stdbool.h>

/*
 * Theory of operation
 *
 * Some work a command must finish before it answers takes seconds: PBKDF2
 * over a LUKS keyslot with millions of iterations.  Run on the main thread
 * it would stall every other QMP client for that long.  hb_run_slow() runs
 * such a job on a thread of its own and, while it runs, keeps the main
 * loop turning, so other sessions are served and exports keep running;
 * the caller's own session holds its further requests back until this
 * command has answered (qmp/session.c).  The job itself must not touch
 * the graph or anything else that is main-thread only.
 *
 * Outside the daemon's main loop (startup options, the tools, tests) the
 * job simply runs where it is called.
 */

/* The daemon's main loop is running: from now on slow jobs let it turn. */
void hb_slow_jobs_serve_main_loop(bool on);

/**
 * hb_run_slow() - run @fn(@opaque) to completion (see above).
 * Return: when @fn has returned.
 */
void hb_run_slow(void (*fn)(void *opaque), void *opaque);

#endif

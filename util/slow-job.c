/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util/slow-job.c — run a slow job (key derivation) without stopping the main loop. */
#include "util/slow-job.h"

#include <glib.h>
#include <stdint.h>
#include <string.h>

static bool serve_main_loop;

/*
 * Each slow job that turns the loop nests one level of the main thread's
 * stack (another session's command may start its own slow job meanwhile).
 * Past this depth a job simply runs where it is called: the stack stays
 * bounded whatever the number of clients.
 */
#define SLOW_JOB_MAX_NESTING 4
static unsigned nesting;

typedef struct SlowJob {
    void (*fn)(void *opaque);
    void *opaque;
    gint done;
} SlowJob;

void hb_slow_jobs_serve_main_loop(bool on)
{
    serve_main_loop = on;
}

/*
 * A slow job derives keys: libraries leave copies of them in stack frames
 * they never wipe (nettle's hash and HMAC contexts), and glibc keeps a
 * finished thread's stack for the next thread, untouched.  So the job
 * thread overwrites the stack its job used before it ends.
 */
#define SLOW_JOB_BURN_BYTES (64 * 1024)

static __attribute__((noinline)) void burn_stack(void)
{
    uint8_t area[SLOW_JOB_BURN_BYTES];

    explicit_bzero(area, sizeof(area));
}

static gpointer job_thread(gpointer data)
{
    SlowJob *job = data;

    job->fn(job->opaque);
    burn_stack();
    g_atomic_int_set(&job->done, 1);
    g_main_context_wakeup(NULL);
    return NULL;
}

void hb_run_slow(void (*fn)(void *opaque), void *opaque)
{
    SlowJob job = { .fn = fn, .opaque = opaque };

    /* Only the thread running the daemon's loop may turn it. */
    if (!serve_main_loop || nesting >= SLOW_JOB_MAX_NESTING ||
        !g_main_context_is_owner(g_main_context_default())) {
        fn(opaque);
        return;
    }
    GThread *t = g_thread_try_new("hb-slow-job", job_thread, &job, NULL);
    if (!t) {
        fn(opaque);   /* no thread to be had: slow, but correct */
        return;
    }
    /*
     * Once the daemon is shutting down (hb_slow_jobs_serve_main_loop(false)
     * from the quit path) nothing more is served: the job is waited for,
     * the command answers, and the stack unwinds to the loop, which ends.
     */
    nesting++;
    while (!g_atomic_int_get(&job.done) && serve_main_loop) {
        g_main_context_iteration(NULL, TRUE);
    }
    nesting--;
    g_thread_join(t);
}

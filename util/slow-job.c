/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util/slow-job.c — run a slow job (key derivation) without stopping the main loop. */
#include "util/slow-job.h"

#include <glib.h>

static bool serve_main_loop;

typedef struct SlowJob {
    void (*fn)(void *opaque);
    void *opaque;
    gint done;
} SlowJob;

void hb_slow_jobs_serve_main_loop(bool on)
{
    serve_main_loop = on;
}

static gpointer job_thread(gpointer data)
{
    SlowJob *job = data;

    job->fn(job->opaque);
    g_atomic_int_set(&job->done, 1);
    g_main_context_wakeup(NULL);
    return NULL;
}

void hb_run_slow(void (*fn)(void *opaque), void *opaque)
{
    SlowJob job = { .fn = fn, .opaque = opaque };

    /* Only the thread running the daemon's loop may turn it. */
    if (!serve_main_loop || !g_main_context_is_owner(g_main_context_default())) {
        fn(opaque);
        return;
    }
    GThread *t = g_thread_try_new("hb-slow-job", job_thread, &job, NULL);
    if (!t) {
        fn(opaque);   /* no thread to be had: slow, but correct */
        return;
    }
    while (!g_atomic_int_get(&job.done)) {
        g_main_context_iteration(NULL, TRUE);
    }
    g_thread_join(t);
}

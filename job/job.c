/* SPDX-License-Identifier: GPL-2.0-or-later */
/* job/job.c — background jobs: registry, states, a worker thread each, cancel and pause. */
#include "job/job.h"
#include "job/job-status.h"

#include <errno.h>

#include "qapi-events.h"
#include "util/error.h"
#include "util/id.h"
#include "util/lifecycle.h"
#include "util/log.h"

struct HbJob {
    char *id;
    const HbJobDriver *drv;
    void *opaque;
    QapiJobStatus status;       /* main thread */
    GError *err;                /* why it failed, once concluded; main thread */
    bool completed;             /* the final states are done; main thread */

    GThread *thread;            /* until joined, on the main thread */
    guint idle_id;              /* the completion scheduled on the main loop */
    bool run_ok;                /* run()'s result, written before the idle is added */
    GError *run_err;

    /* Shared with the job's thread. */
    GMutex lock;
    GCond cond;
    bool user_paused;           /* job-pause until job-resume or cancel */
    bool waiting;               /* the thread waits in hb_job_step() */
    bool cancelled;
    uint64_t current, total;
};

static GPtrArray *jobs;         /* oldest first; main thread */

static void job_free(HbJob *job)
{
    /* A pause notice still queued must not outlive the job. */
    while (g_idle_remove_by_data(job)) {
    }
    if (job->drv->free) {
        job->drv->free(job->opaque);
    }
    g_clear_error(&job->err);
    g_clear_error(&job->run_err);
    g_mutex_clear(&job->lock);
    g_cond_clear(&job->cond);
    g_free(job->id);
    g_free(job);
}

/*
 * Every state change: the event clients follow, and the log line an
 * operator reads afterwards (with the error once the job failed; error
 * texts never carry secrets).
 */
static void set_status(HbJob *job, QapiJobStatus to)
{
    g_assert(hb_job_transition_allowed(job->status, to));
    job->status = to;
    qapi_event_send_job_status_change(job->id, to);
    if (job->err && (to == QAPI_JOB_STATUS_ABORTING || to == QAPI_JOB_STATUS_CONCLUDED)) {
        hb_log(HB_LOG_WARNING, "job '%s' (%s): %s: %s", job->id, QapiJobType_str(job->drv->type),
               QapiJobStatus_str(to), job->err->message);
    } else {
        hb_log(HB_LOG_INFO, "job '%s' (%s): %s", job->id, QapiJobType_str(job->drv->type),
               QapiJobStatus_str(to));
    }
}

static bool job_cancelled(HbJob *job)
{
    g_mutex_lock(&job->lock);
    bool c = job->cancelled;
    g_mutex_unlock(&job->lock);
    return c;
}

/* Main thread, once run() is over (or start() failed): the final states. */
static void job_conclude(HbJob *job)
{
    GError *err = g_steal_pointer(&job->run_err);
    bool ok = job->run_ok;

    /* As QEMU: a job cancelled by force fails even if its work got done. */
    if (ok && job_cancelled(job)) {
        ok = false;
        g_set_error_literal(&err, HB_ERROR, HB_ERROR_GENERIC, g_strerror(ECANCELED));
    }
    if (ok) {
        set_status(job, QAPI_JOB_STATUS_WAITING);
        set_status(job, QAPI_JOB_STATUS_PENDING);
        ok = !job->drv->commit || job->drv->commit(job, &err);
    }
    if (!ok) {
        job->err = err ? err : g_error_new_literal(HB_ERROR, HB_ERROR_GENERIC, g_strerror(EIO));
        set_status(job, QAPI_JOB_STATUS_ABORTING);
        if (job->drv->abort) {
            job->drv->abort(job);
        }
    }
    set_status(job, QAPI_JOB_STATUS_CONCLUDED);
    job->completed = true;
}

static gboolean job_done_idle(gpointer data)
{
    HbJob *job = data;

    if (job->thread) {
        /* It has returned, or is about to; joining orders its idle_id write before ours. */
        g_thread_join(job->thread);
        job->thread = NULL;
    }
    job->idle_id = 0;
    job_conclude(job);
    return G_SOURCE_REMOVE;
}

static gpointer job_thread(gpointer data)
{
    HbJob *job = data;
    GError *err = NULL;

    job->run_ok = hb_job_step(job, &err) && job->drv->run(job, &err);
    job->run_err = err;
    job->idle_id = g_idle_add(job_done_idle, job);
    return NULL;
}

#define JOB_THREAD_NAME "hb-job"

static void jobs_at_shutdown(void)
{
    hb_jobs_shutdown();
}

HbJob *hb_job_start(const char *id, const HbJobDriver *drv, void *opaque, GError **errp)
{
    if (!hb_id_wellformed(id) || (jobs && hb_job_find(id, NULL))) {
        hb_error_set(errp, hb_id_wellformed(id) ? "Job ID '%s' already in use"
                                                : "Invalid job ID '%s'", id);
        if (drv->free) {
            drv->free(opaque);
        }
        return NULL;
    }
    if (!jobs) {
        jobs = g_ptr_array_new();
        hb_at_shutdown(jobs_at_shutdown);
    }
    HbJob *job = g_new0(HbJob, 1);
    job->id = g_strdup(id);
    job->drv = drv;
    job->opaque = opaque;
    g_mutex_init(&job->lock);
    g_cond_init(&job->cond);
    g_ptr_array_add(jobs, job);
    set_status(job, QAPI_JOB_STATUS_CREATED);
    set_status(job, QAPI_JOB_STATUS_RUNNING);

    GError *err = NULL;
    if (drv->start && !drv->start(job, &err)) {
        job->run_err = err;
        job->idle_id = g_idle_add(job_done_idle, job);
        return job;
    }
    job->thread = g_thread_try_new(JOB_THREAD_NAME, job_thread, job, &err);
    if (!job->thread) {
        g_prefix_error(&err, "Could not start the job's thread: ");
        job->run_err = err;
        job->idle_id = g_idle_add(job_done_idle, job);
    }
    return job;
}

void *hb_job_opaque(HbJob *job)
{
    return job->opaque;
}

const char *hb_job_id(HbJob *job)
{
    return job->id;
}

void hb_job_set_total(HbJob *job, uint64_t total)
{
    g_mutex_lock(&job->lock);
    job->total = total;
    g_mutex_unlock(&job->lock);
}

void hb_job_progress(HbJob *job, uint64_t done)
{
    g_mutex_lock(&job->lock);
    job->current += done;
    g_mutex_unlock(&job->lock);
}

/* Main thread: the job's thread waits in hb_job_step(); show it paused. */
static gboolean job_paused_idle(gpointer data)
{
    HbJob *job = data;

    g_mutex_lock(&job->lock);
    bool waiting = job->waiting;
    g_mutex_unlock(&job->lock);
    if (waiting && job->status == QAPI_JOB_STATUS_RUNNING) {
        set_status(job, QAPI_JOB_STATUS_PAUSED);
    }
    return G_SOURCE_REMOVE;
}

bool hb_job_step(HbJob *job, GError **errp)
{
    g_mutex_lock(&job->lock);
    if (job->user_paused && !job->cancelled) {
        /*
         * As QEMU, a job shows "paused" only once it actually stopped.
         * The idle may run after job-resume: it then finds nothing waiting.
         * The job stays in the registry (it cannot be dismissed before it
         * concludes), so the idle's pointer stays valid.
         */
        job->waiting = true;
        g_idle_add(job_paused_idle, job);
        while (job->user_paused && !job->cancelled) {
            g_cond_wait(&job->cond, &job->lock);
        }
        job->waiting = false;
    }
    bool cancelled = job->cancelled;
    g_mutex_unlock(&job->lock);
    if (cancelled) {
        g_set_error_literal(errp, HB_ERROR, HB_ERROR_GENERIC, g_strerror(ECANCELED));
        return false;
    }
    return true;
}

HbJob *hb_job_find(const char *id, GError **errp)
{
    for (guint i = 0; jobs && i < jobs->len; i++) {
        HbJob *job = jobs->pdata[i];
        if (g_str_equal(job->id, id)) {
            return job;
        }
    }
    hb_error_set(errp, "Job not found");
    return NULL;
}

bool hb_job_pause(HbJob *job, GError **errp)
{
    if (!hb_job_verb_check(job->id, job->status, QAPI_JOB_VERB_PAUSE, errp)) {
        return false;
    }
    g_mutex_lock(&job->lock);
    bool already = job->user_paused;
    job->user_paused = true;
    g_mutex_unlock(&job->lock);
    if (already) {
        hb_error_set(errp, "Job is already paused");
        return false;
    }
    return true;
}

/* Clear the pause and wake the thread; main thread. */
static void job_unpause(HbJob *job)
{
    g_mutex_lock(&job->lock);
    job->user_paused = false;
    g_cond_broadcast(&job->cond);
    g_mutex_unlock(&job->lock);
    if (job->status == QAPI_JOB_STATUS_PAUSED) {
        set_status(job, QAPI_JOB_STATUS_RUNNING);
    }
}

bool hb_job_resume(HbJob *job, GError **errp)
{
    g_mutex_lock(&job->lock);
    bool paused = job->user_paused;
    g_mutex_unlock(&job->lock);
    /* QEMU looks at the pause before the state. */
    if (!paused) {
        hb_error_set(errp, "Can't resume a job that was not paused");
        return false;
    }
    if (!hb_job_verb_check(job->id, job->status, QAPI_JOB_VERB_RESUME, errp)) {
        return false;
    }
    job_unpause(job);
    return true;
}

bool hb_job_cancel(HbJob *job, GError **errp)
{
    if (!hb_job_verb_check(job->id, job->status, QAPI_JOB_VERB_CANCEL, errp)) {
        return false;
    }
    g_mutex_lock(&job->lock);
    job->cancelled = true;
    g_mutex_unlock(&job->lock);
    job_unpause(job);     /* a paused job wakes to see it, as in QEMU */
    return true;
}

bool hb_job_complete(HbJob *job, GError **errp)
{
    if (!hb_job_verb_check(job->id, job->status, QAPI_JOB_VERB_COMPLETE, errp)) {
        return false;
    }
    /* No job of ours ever gets to "ready". */
    hb_error_set(errp, "The active block job '%s' cannot be completed", job->id);
    return false;
}

bool hb_job_finalize(HbJob *job, GError **errp)
{
    /* Jobs finalize on their own, within the callback that makes them pending. */
    return hb_job_verb_check(job->id, job->status, QAPI_JOB_VERB_FINALIZE, errp);
}

bool hb_job_dismiss(HbJob *job, GError **errp)
{
    if (!hb_job_verb_check(job->id, job->status, QAPI_JOB_VERB_DISMISS, errp)) {
        return false;
    }
    set_status(job, QAPI_JOB_STATUS_NULL);
    g_ptr_array_remove(jobs, job);
    job_free(job);
    return true;
}

QapiJobInfoList *hb_job_query_all(void)
{
    QapiJobInfoList *head = NULL, **tail = &head;

    for (guint i = 0; jobs && i < jobs->len; i++) {
        HbJob *job = jobs->pdata[i];
        QapiJobInfo *info = g_new0(QapiJobInfo, 1);
        info->id = g_strdup(job->id);
        info->type = job->drv->type;
        info->status = job->status;
        g_mutex_lock(&job->lock);
        info->current_progress = (int64_t)job->current;
        info->total_progress = (int64_t)job->total;
        g_mutex_unlock(&job->lock);
        info->error = job->err ? g_strdup(job->err->message) : NULL;
        *tail = g_new0(QapiJobInfoList, 1);
        (*tail)->value = info;
        tail = &(*tail)->next;
    }
    return head;
}

void hb_jobs_shutdown(void)
{
    if (!jobs) {
        return;
    }
    for (guint i = 0; i < jobs->len; i++) {
        HbJob *job = jobs->pdata[i];
        if (job->completed) {
            continue;
        }
        if (job->status != QAPI_JOB_STATUS_CONCLUDED) {
            hb_job_cancel(job, NULL);
        }
        if (job->thread) {
            g_thread_join(job->thread);
            job->thread = NULL;
        }
        if (job->idle_id) {
            g_source_remove(job->idle_id);
            job->idle_id = 0;
        }
        job_conclude(job);
    }
    for (guint i = 0; i < jobs->len; i++) {
        job_free(jobs->pdata[i]);
    }
    g_clear_pointer(&jobs, g_ptr_array_unref);
}

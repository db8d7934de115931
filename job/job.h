/* SPDX-License-Identifier: GPL-2.0-or-later */
/* job/job.h — background jobs: registry, states, a worker thread each, cancel and pause. */
#ifndef HB_JOB_H
#define HB_JOB_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "qapi-types.h"

/*
 * Theory of operation
 *
 * A job is work a QMP command starts and the client follows afterwards:
 * blockdev-create, x-blockdev-amend.  It lives in a registry by id until
 * job-dismiss, and goes through QEMU's states (job/job-status.c) with a
 * JOB_STATUS_CHANGE event and one log line for each:
 *
 *   created -> running -> waiting -> pending -> concluded -> null   (success)
 *   created -> running -> aborting -> concluded -> null            (failure,
 *                                                                    cancel)
 *
 * Every state change, every event and every driver hook other than run()
 * happens on the main thread.  run() happens on a thread of the job's own,
 * so the main loop keeps serving QMP clients and exports meanwhile; it may
 * do I/O on nodes the job took in start() (the synchronous node calls) but
 * must not touch the graph.  Between its steps it calls hb_job_step(),
 * which is where a cancel is honoured and a pause waits.
 *
 * When run() returns, the thread schedules the job's completion on the
 * main loop (commit() or abort(), then the final states).  At shutdown
 * every unfinished job is cancelled and its thread joined before nodes
 * close (hb_jobs_shutdown(), a util/lifecycle.h hook).
 */

typedef struct HbJob HbJob;

typedef struct HbJobDriver {
    QapiJobType type;
    /*
     * Main thread, before the worker starts: look nodes up, attach to
     * them, check what needs the graph.  Failing fails the job (it
     * concludes with the error), as QEMU's job does when its driver's
     * first steps fail.  Optional.
     */
    bool (*start)(HbJob *job, GError **errp);
    /* The work, on the job's thread (see above). */
    bool (*run)(HbJob *job, GError **errp);
    /* Main thread, after run() succeeded: what needs the graph.  Optional. */
    bool (*commit)(HbJob *job, GError **errp);
    /* Main thread, after start(), run() or commit() failed, or a cancel.  Optional. */
    void (*abort)(HbJob *job);
    /* Main thread, when the job goes: release what start() took.  Optional. */
    void (*free)(void *opaque);
} HbJobDriver;

/**
 * hb_job_start() - create and start a job
 * @id: its id: QEMU's identifier rule, unused by any other job
 * @drv: what it does
 * @opaque: the driver's state; owned by the job from here on, even on
 *          failure (freed with @drv->free)
 * @errp: "Invalid job ID 'x'", "Job ID 'x' already in use", or no thread
 *
 * Emits created and running before it returns, as QEMU does.
 * Return: the job (owned by the registry), or NULL and nothing is left.
 */
HbJob *hb_job_start(const char *id, const HbJobDriver *drv, void *opaque, GError **errp);

/** hb_job_opaque() - the driver's state */
void *hb_job_opaque(HbJob *job);
/** hb_job_id() - the job's id */
const char *hb_job_id(HbJob *job);

/* ---- for run(), on the job's thread ---- */

/** hb_job_set_total() - the progress the job expects to make, in its own units */
void hb_job_set_total(HbJob *job, uint64_t total);
/** hb_job_progress() - @done more units are done */
void hb_job_progress(HbJob *job, uint64_t done);
/**
 * hb_job_step() - a step boundary: wait while the job is paused
 * @errp: "Operation canceled" once the job was cancelled
 * Return: false if run() should stop (cancelled).
 */
bool hb_job_step(HbJob *job, GError **errp);

/* ---- QMP verbs (main thread); @errp carries QEMU's texts ---- */

/** hb_job_find() - the job called @id, or NULL with "Job not found" */
HbJob *hb_job_find(const char *id, GError **errp);
bool hb_job_pause(HbJob *job, GError **errp);
bool hb_job_resume(HbJob *job, GError **errp);
bool hb_job_cancel(HbJob *job, GError **errp);
bool hb_job_complete(HbJob *job, GError **errp);
bool hb_job_finalize(HbJob *job, GError **errp);
bool hb_job_dismiss(HbJob *job, GError **errp);
/** hb_job_query_all() - a JobInfo per job, oldest first */
QapiJobInfoList *hb_job_query_all(void);

/**
 * hb_jobs_shutdown() - cancel every unfinished job, wait for its thread,
 * conclude it and free every job (daemon exit; main thread)
 */
void hb_jobs_shutdown(void);

#endif

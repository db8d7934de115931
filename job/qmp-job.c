/* SPDX-License-Identifier: GPL-2.0-or-later */
/* job/qmp-job.c — query-jobs and the job-* verbs. */
#include "job/job.h"
#include "qapi-commands.h"


bool qmp_query_jobs(QapiJobInfoList **ret, GError **errp)
{
    *ret = hb_job_query_all();
    return true;
}

/* Each verb: the job by id ("Job not found"), then the job core's checks. */
#define JOB_VERB_HANDLER(cmd, Args, fn)                        \
    bool qmp_##cmd(Qapi##Args *args, GError **errp)            \
    {                                                          \
        HbJob *job = hb_job_find(args->id, errp);              \
        return job && fn(job, errp);                           \
    }

JOB_VERB_HANDLER(job_pause, JobPauseArgs, hb_job_pause)
JOB_VERB_HANDLER(job_resume, JobResumeArgs, hb_job_resume)
JOB_VERB_HANDLER(job_cancel, JobCancelArgs, hb_job_cancel)
JOB_VERB_HANDLER(job_complete, JobCompleteArgs, hb_job_complete)
JOB_VERB_HANDLER(job_dismiss, JobDismissArgs, hb_job_dismiss)
JOB_VERB_HANDLER(job_finalize, JobFinalizeArgs, hb_job_finalize)

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* job/job-status.c — QEMU's job state machine: which transitions and verbs each state allows. */
#include "job/job-status.h"

#include "util/error.h"

/* Columns, as rows: undefined created running paused ready standby waiting pending aborting concluded null */
static const bool transitions[QAPI_JOB_STATUS__MAX][QAPI_JOB_STATUS__MAX] = {
    [QAPI_JOB_STATUS_UNDEFINED] = { 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
    [QAPI_JOB_STATUS_CREATED]   = { 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1 },
    [QAPI_JOB_STATUS_RUNNING]   = { 0, 0, 0, 1, 1, 0, 1, 0, 1, 0, 0 },
    [QAPI_JOB_STATUS_PAUSED]    = { 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0 },
    [QAPI_JOB_STATUS_READY]     = { 0, 0, 0, 0, 0, 1, 1, 0, 1, 0, 0 },
    [QAPI_JOB_STATUS_STANDBY]   = { 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0 },
    [QAPI_JOB_STATUS_WAITING]   = { 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0 },
    [QAPI_JOB_STATUS_PENDING]   = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0 },
    [QAPI_JOB_STATUS_ABORTING]  = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0 },
    [QAPI_JOB_STATUS_CONCLUDED] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 },
    [QAPI_JOB_STATUS_NULL]      = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
};
G_STATIC_ASSERT(G_N_ELEMENTS(transitions) == QAPI_JOB_STATUS__MAX);

/* Per verb, the states (same columns) that accept it. */
static const bool verbs[QAPI_JOB_VERB__MAX][QAPI_JOB_STATUS__MAX] = {
    [QAPI_JOB_VERB_CANCEL]    = { 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0 },
    [QAPI_JOB_VERB_PAUSE]     = { 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0 },
    [QAPI_JOB_VERB_RESUME]    = { 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0 },
    [QAPI_JOB_VERB_SET_SPEED] = { 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0 },
    [QAPI_JOB_VERB_COMPLETE]  = { 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0 },
    [QAPI_JOB_VERB_DISMISS]   = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0 },
    [QAPI_JOB_VERB_FINALIZE]  = { 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0 },
};
G_STATIC_ASSERT(G_N_ELEMENTS(verbs) == QAPI_JOB_VERB__MAX);

bool hb_job_transition_allowed(QapiJobStatus from, QapiJobStatus to)
{
    return from < QAPI_JOB_STATUS__MAX && to < QAPI_JOB_STATUS__MAX && transitions[from][to];
}

bool hb_job_verb_check(const char *id, QapiJobStatus status, QapiJobVerb verb,
                       GError **errp)
{
    if (status < QAPI_JOB_STATUS__MAX && verb < QAPI_JOB_VERB__MAX && verbs[verb][status]) {
        return true;
    }
    hb_error_set(errp, "Job '%s' in state '%s' cannot accept command verb '%s'",
                 id, QapiJobStatus_str(status), QapiJobVerb_str(verb));
    return false;
}

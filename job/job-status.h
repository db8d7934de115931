/* SPDX-License-Identifier: GPL-2.0-or-later */
/* job/job-status.h — QEMU's job state machine: which transitions and verbs each state allows. */
#ifndef HB_JOB_STATUS_H
#define HB_JOB_STATUS_H

#include <glib.h>
#include <stdbool.h>

#include "qapi-types.h"

/**
 * hb_job_transition_allowed() - whether a job may go from @from to @to
 * (QEMU's JobSTT, so that clients see the same sequences of
 * JOB_STATUS_CHANGE events as from qemu-storage-daemon).
 */
bool hb_job_transition_allowed(QapiJobStatus from, QapiJobStatus to);

/**
 * hb_job_verb_check() - whether a job in @status accepts @verb
 * @id: the job's id, for the error
 * @errp: "Job 'x' in state 'concluded' cannot accept command verb 'cancel'"
 */
bool hb_job_verb_check(const char *id, QapiJobStatus status, QapiJobVerb verb,
                       GError **errp);

#endif

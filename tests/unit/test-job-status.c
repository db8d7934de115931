/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-job-status.c — the job state machine: QEMU's transitions and verb rules. */
#include "job/job-status.h"

#include "util/error.h"

static void test_sequences(void)
{
    /* What clients see from QEMU: success, failure, cancel, pause. */
    static const QapiJobStatus ok[] = {
        QAPI_JOB_STATUS_UNDEFINED, QAPI_JOB_STATUS_CREATED, QAPI_JOB_STATUS_RUNNING,
        QAPI_JOB_STATUS_WAITING, QAPI_JOB_STATUS_PENDING, QAPI_JOB_STATUS_CONCLUDED,
        QAPI_JOB_STATUS_NULL,
    };
    static const QapiJobStatus failed[] = {
        QAPI_JOB_STATUS_RUNNING, QAPI_JOB_STATUS_PAUSED, QAPI_JOB_STATUS_RUNNING,
        QAPI_JOB_STATUS_ABORTING, QAPI_JOB_STATUS_CONCLUDED, QAPI_JOB_STATUS_NULL,
    };
    for (size_t i = 0; i + 1 < G_N_ELEMENTS(ok); i++) {
        g_assert_true(hb_job_transition_allowed(ok[i], ok[i + 1]));
    }
    for (size_t i = 0; i + 1 < G_N_ELEMENTS(failed); i++) {
        g_assert_true(hb_job_transition_allowed(failed[i], failed[i + 1]));
    }
    g_assert_true(hb_job_transition_allowed(QAPI_JOB_STATUS_PENDING, QAPI_JOB_STATUS_ABORTING));
}

static void test_refused_transitions(void)
{
    g_assert_false(hb_job_transition_allowed(QAPI_JOB_STATUS_CONCLUDED, QAPI_JOB_STATUS_RUNNING));
    g_assert_false(hb_job_transition_allowed(QAPI_JOB_STATUS_PAUSED, QAPI_JOB_STATUS_ABORTING));
    g_assert_false(hb_job_transition_allowed(QAPI_JOB_STATUS_RUNNING, QAPI_JOB_STATUS_CONCLUDED));
    g_assert_false(hb_job_transition_allowed(QAPI_JOB_STATUS_NULL, QAPI_JOB_STATUS_CREATED));
    g_assert_false(hb_job_transition_allowed(QAPI_JOB_STATUS__MAX, QAPI_JOB_STATUS_CREATED));
    /* Only aborting may "go" to itself, as in QEMU's table. */
    for (int s = 0; s < QAPI_JOB_STATUS__MAX; s++) {
        g_assert_cmpint(hb_job_transition_allowed(s, s), ==, s == QAPI_JOB_STATUS_ABORTING);
    }
}

static void test_verbs(void)
{
    GError *err = NULL;

    g_assert_true(hb_job_verb_check("j", QAPI_JOB_STATUS_RUNNING, QAPI_JOB_VERB_CANCEL, NULL));
    g_assert_true(hb_job_verb_check("j", QAPI_JOB_STATUS_CONCLUDED, QAPI_JOB_VERB_DISMISS, NULL));
    g_assert_true(hb_job_verb_check("j", QAPI_JOB_STATUS_PENDING, QAPI_JOB_VERB_FINALIZE, NULL));
    g_assert_true(hb_job_verb_check("j", QAPI_JOB_STATUS_READY, QAPI_JOB_VERB_COMPLETE, NULL));
    g_assert_false(hb_job_verb_check("j", QAPI_JOB_STATUS_ABORTING, QAPI_JOB_VERB_PAUSE, NULL));
    g_assert_false(hb_job_verb_check("j", QAPI_JOB_STATUS_RUNNING, QAPI_JOB_VERB_DISMISS, NULL));
    g_assert_false(hb_job_verb_check("x", QAPI_JOB_STATUS_CONCLUDED, QAPI_JOB_VERB_CANCEL, &err));
    g_assert_error(err, HB_ERROR, HB_ERROR_GENERIC);
    g_assert_cmpstr(err->message, ==,
                    "Job 'x' in state 'concluded' cannot accept command verb 'cancel'");
    g_clear_error(&err);
    g_assert_false(hb_job_verb_check("y", QAPI_JOB_STATUS_RUNNING, QAPI_JOB_VERB_COMPLETE, &err));
    g_assert_cmpstr(err->message, ==,
                    "Job 'y' in state 'running' cannot accept command verb 'complete'");
    g_clear_error(&err);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/job-status/sequences", test_sequences);
    g_test_add_func("/job-status/refused-transitions", test_refused_transitions);
    g_test_add_func("/job-status/verbs", test_verbs);
    return g_test_run();
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* job/amend.c — the x-blockdev-amend job: LUKS keyslots of an open luks node. */
#include "job/amend.h"
#include "job/job.h"

#include "block/luks-amend.h"
#include "util/error.h"

/*
 * The secrets are looked up when the job starts (they are main-thread
 * objects, and an object-del meanwhile must not pull them from under the
 * job); the node is held by a user that asks nothing and shares
 * everything, so it cannot be deleted while its header changes but its
 * exports keep running.
 */
typedef struct AmendJob {
    QapiBlockdevAmendOptions *opts;
    bool force;
    bool holding;           /* hb_luks_amend_begin() succeeded */
    HbChild *user;
    HbSecretBuf *new_secret, *old_secret, *secret;
} AmendJob;

/* Main thread: the secrets, and the node held for the change (graph edges). */
static bool amend_start(HbJob *job, GError **errp)
{
    AmendJob *aj = hb_job_opaque(job);
    QapiBlockdevAmendOptionsLUKS *l = aj->opts->u.luks;

    if (!hb_secret_lookup_utf8_opt(l->new_secret, &aj->new_secret, errp) ||
        !hb_secret_lookup_utf8_opt(l->old_secret, &aj->old_secret, errp) ||
        !hb_secret_lookup_utf8_opt(l->secret, &aj->secret, errp)) {
        return false;
    }
    aj->holding = hb_luks_amend_begin(aj->user->node, errp);
    return aj->holding;
}

static bool amend_run(HbJob *job, GError **errp)
{
    AmendJob *aj = hb_job_opaque(job);
    QapiBlockdevAmendOptionsLUKS *l = aj->opts->u.luks;
    HbLuksAmendOpts o = {
        .active = l->state == QAPI_Q_CRYPTO_BLOCK_LUKS_KEYSLOT_STATE_ACTIVE,
        .new_secret = aj->new_secret,
        .old_secret = aj->old_secret,
        .secret = aj->secret,
        .has_keyslot = l->has_keyslot,
        .keyslot = (int)l->keyslot,     /* QEMU's int: -1 reads 4294967295 */
        .has_iter_time = l->has_iter_time,
        .iter_time_ms = l->iter_time,
        .force = aj->force,
    };

    hb_job_set_total(job, 1);
    if (!hb_job_step(job, errp) || !hb_luks_amend_keyslots(aj->user->node, &o, errp)) {
        return false;
    }
    hb_job_progress(job, 1);
    return true;
}

static void amend_free(void *opaque)
{
    AmendJob *aj = opaque;

    if (aj->holding) {
        hb_luks_amend_end(aj->user->node);
    }
    hb_node_detach_user(aj->user);
    hb_secret_buf_free(aj->new_secret);
    hb_secret_buf_free(aj->old_secret);
    hb_secret_buf_free(aj->secret);
    qapi_free_BlockdevAmendOptions(aj->opts);
    g_free(aj);
}

static const HbJobDriver amend_job = {
    .type = QAPI_JOB_TYPE_AMEND,
    .start = amend_start,
    .run = amend_run,
    .free = amend_free,
};

bool hb_amend_job_start(const char *job_id, const char *node_name,
                        QapiBlockdevAmendOptions *opts, bool force, GError **errp)
{
    g_autoptr(QapiBlockdevAmendOptions) owned = opts;
    HbNode *node = hb_node_find(node_name);

    if (!node) {
        hb_error_set(errp, "Cannot find device='' nor node-name='%s'", node_name);
        return false;
    }
    /* In QEMU's order: the driver named must be the node's, then it must amend. */
    if (!g_str_equal(node->drv->name, QapiBlockdevDriver_str(opts->driver))) {
        hb_error_set(errp, "x-blockdev-amend doesn't support changing the block driver");
        return false;
    }
    if (!hb_luks_amend_supported(node, NULL)) {
        hb_error_set(errp, "Driver does not support x-blockdev-amend");
        return false;
    }
    HbChild *user = hb_node_attach_user(node, HB_NODE_ANONYMOUS_USER, 0, HB_PERM_ALL, errp);
    if (!user) {
        return false;
    }
    AmendJob *aj = g_new0(AmendJob, 1);
    aj->opts = g_steal_pointer(&owned);
    aj->force = force;
    aj->user = user;
    return hb_job_start(job_id, &amend_job, aj, errp) != NULL;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* job/amend.h — the x-blockdev-amend job: LUKS keyslots of an open luks node. */
#ifndef HB_JOB_AMEND_H
#define HB_JOB_AMEND_H

#include <glib.h>
#include <stdbool.h>

#include "qapi-types.h"

/**
 * hb_amend_job_start() - start a job that changes @node_name's keyslots
 * @job_id: the job's id
 * @node_name: an open luks node (it may be exported and in use)
 * @opts: taken over (freed with the job, also on failure)
 * @force: QEMU's force (block/luks-amend.h says what it allows here)
 * @errp: what QEMU refuses at once: "Cannot find device='' nor
 *        node-name='x'", "Driver does not support x-blockdev-amend",
 *        "x-blockdev-amend doesn't support changing the block driver",
 *        a bad or used job id
 *
 * The keyslot rules (QEMU's texts) fail the job instead, as in QEMU.
 */
bool hb_amend_job_start(const char *job_id, const char *node_name,
                        QapiBlockdevAmendOptions *opts, bool force, GError **errp);

#endif

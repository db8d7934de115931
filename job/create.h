/* SPDX-License-Identifier: GPL-2.0-or-later */
/* job/create.h — the blockdev-create job: file, qcow2 and luks images. */
#ifndef HB_JOB_CREATE_H
#define HB_JOB_CREATE_H

#include <glib.h>
#include <stdbool.h>

#include "qapi-types.h"

/**
 * hb_create_job_start() - start a job that makes the image @opts describes
 * @job_id: the job's id
 * @opts: taken over (freed with the job, also on failure)
 * @errp: what QEMU refuses at once: a driver without creation ("Driver
 *        does not support blockdev-create"), a bad or used job id
 *
 * Everything else (a missing node, bad sizes, options hotblock does not
 * support, I/O errors) fails the job: it concludes with that error, as in
 * QEMU.  A node the image goes on is held (write and resize, not shared)
 * until the job concludes.
 */
bool hb_create_job_start(const char *job_id, QapiBlockdevCreateOptions *opts, GError **errp);

#endif

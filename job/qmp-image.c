/* SPDX-License-Identifier: GPL-2.0-or-later */
/* job/qmp-image.c — blockdev-create and x-blockdev-amend. */
#include "job/amend.h"
#include "job/create.h"
#include "qapi-commands.h"

bool qmp_blockdev_create(QapiBlockdevCreateArgs *args, GError **errp)
{
    return hb_create_job_start(args->job_id, g_steal_pointer(&args->options), errp);
}

bool qmp_x_blockdev_amend(QapiXBlockdevAmendArgs *args, GError **errp)
{
    return hb_amend_job_start(args->job_id, args->node_name, g_steal_pointer(&args->options),
                              args->has_force && args->force, errp);
}

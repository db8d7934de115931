/* SPDX-License-Identifier: GPL-2.0-or-later */
/* job/qmp-create.c — blockdev-create. */
#include "job/create.h"
#include "qapi-commands.h"

bool qmp_blockdev_create(QapiBlockdevCreateArgs *args, GError **errp)
{
    return hb_create_job_start(args->job_id, g_steal_pointer(&args->options), errp);
}

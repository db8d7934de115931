/* SPDX-License-Identifier: GPL-2.0-or-later */
/* export/qmp-iothread.c — object-add/object-del of qom-type iothread, and query-iothreads. */
#include "export/qmp-iothread.h"

#include "crypto/secret.h"
#include "export/iothread-pool.h"
#include "qapi-commands.h"
#include "qapi-types.h"
#include "util/error.h"
#include "util/id.h"
#include "util/object-types.h"

/* QEMU's default poll time for an iothread. */
#define IOTHREAD_POLL_MAX_NS_DEFAULT 32768

/* Adaptive polling and AIO batches are not implemented: only 0 is honest. */
static bool check_unimplemented(const char *name, bool has, int64_t v, GError **errp)
{
    if (has && v != 0) {
        hb_error_set(errp, "iothread property '%s' is not supported by hotblock "
                     "(only 0, the default)", name);
        return false;
    }
    return true;
}

static bool iothread_add(const char *id, const void *props, GError **errp)
{
    const QapiObjectOptions *args = props;
    const QapiIothreadProperties *p = args->u.iothread;
    int64_t poll = p->has_poll_max_ns ? p->poll_max_ns : IOTHREAD_POLL_MAX_NS_DEFAULT;

    if (!hb_id_wellformed(id)) {
        hb_error_set(errp, "Parameter 'id' expects an identifier");
        return false;
    }
    if (hb_secret_exists(id)) {
        hb_error_set(errp, "attempt to add duplicate property '%s' to object (type 'container')",
                     id);
        return false;
    }
    if (poll < 0) {
        hb_error_set(errp, "poll-max-ns value must be in range [0, %" G_GINT64_FORMAT "]",
                     G_MAXINT64);
        return false;
    }
    if (!check_unimplemented("poll-grow", p->has_poll_grow, p->poll_grow, errp) ||
        !check_unimplemented("poll-shrink", p->has_poll_shrink, p->poll_shrink, errp) ||
        !check_unimplemented("aio-max-batch", p->has_aio_max_batch, p->aio_max_batch, errp)) {
        return false;
    }
    return hb_iothread_obj_add(id, poll, errp);
}

static const HbObjectType iothread_type = {
    .name = "iothread",
    .add = iothread_add,
    .del = hb_iothread_obj_del,
    .exists = hb_iothread_obj_exists,
};

void hb_iothread_register_object_type(void)
{
    hb_object_type_register(&iothread_type);
}

static void add_info(const char *id, HbIoThread *t, void *opaque)
{
    QapiIOThreadInfoList ***tail = opaque;
    QapiIOThreadInfoList *e = g_new0(QapiIOThreadInfoList, 1);

    e->value = g_new0(QapiIOThreadInfo, 1);
    e->value->id = g_strdup(id);
    e->value->thread_id = hb_iothread_tid(t);
    e->value->poll_max_ns = hb_iothread_poll_max_ns(t);
    **tail = e;
    *tail = &e->next;
}

bool qmp_query_iothreads(QapiIOThreadInfoList **ret, GError **errp)
{
    QapiIOThreadInfoList **tail = ret;

    *ret = NULL;
    hb_iothread_obj_foreach(add_info, &tail);
    return true;
}

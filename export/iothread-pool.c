/* SPDX-License-Identifier: GPL-2.0-or-later */
/* export/iothread-pool.c — iothread objects by id, and the default pool of I/O threads. */
#include "export/iothread-pool.h"

#include <string.h>

#include "util/error.h"
#include "util/lifecycle.h"

typedef struct IoThreadObj {
    char *id;
    HbIoThread *thread;
    unsigned users;          /* exports' uses */
} IoThreadObj;

static GPtrArray *objs;      /* IoThreadObj *, creation order */
static HbIoThread **pool;    /* pool_size threads, or NULL before first use */
static unsigned pool_size;
static unsigned pool_next;
static bool hook_added;

static void obj_free(IoThreadObj *o)
{
    hb_iothread_free(o->thread);
    g_free(o->id);
    g_free(o);
}

/* Exit, close phase: every export is gone, so no thread is in use. */
static void stop_all(void)
{
    g_clear_pointer(&objs, g_ptr_array_unref);
    for (unsigned i = 0; pool && i < pool_size; i++) {
        hb_iothread_free(pool[i]);
    }
    g_clear_pointer(&pool, g_free);
    pool_size = 0;
}

static void add_hook(void)
{
    if (!hook_added) {
        hb_at_shutdown_close(stop_all);
        hook_added = true;
    }
}

static IoThreadObj *obj_find(const char *id)
{
    for (guint i = 0; objs && i < objs->len; i++) {
        IoThreadObj *o = objs->pdata[i];
        if (!strcmp(o->id, id)) {
            return o;
        }
    }
    return NULL;
}

bool hb_iothread_obj_add(const char *id, int64_t poll_max_ns, GError **errp)
{
    g_autofree char *name = g_strdup_printf("iothread-%s", id);
    IoThreadObj *o;
    HbIoThread *t;

    if (obj_find(id)) {
        hb_error_set(errp, "attempt to add duplicate property '%s' to object (type 'container')",
                     id);
        return false;
    }
    t = hb_iothread_new(name, poll_max_ns, errp);
    if (!t) {
        return false;
    }
    o = g_new0(IoThreadObj, 1);
    o->id = g_strdup(id);
    o->thread = t;
    if (!objs) {
        objs = g_ptr_array_new_with_free_func((GDestroyNotify)obj_free);
    }
    g_ptr_array_add(objs, o);
    add_hook();
    return true;
}

bool hb_iothread_obj_del(const char *id, GError **errp)
{
    IoThreadObj *o = obj_find(id);

    if (!o) {
        hb_error_set(errp, "object '%s' not found", id);
        return false;
    }
    if (o->users) {
        hb_error_set(errp, "iothread '%s' is in use by %u export%s", id, o->users,
                     o->users == 1 ? "" : "s");
        return false;
    }
    g_ptr_array_remove(objs, o);
    return true;
}

bool hb_iothread_obj_exists(const char *id)
{
    return obj_find(id) != NULL;
}

HbIoThread *hb_iothread_obj_use(const char *id, GError **errp)
{
    IoThreadObj *o = obj_find(id);

    if (!o) {
        hb_error_set(errp, "iothread \"%s\" not found", id);
        return NULL;
    }
    o->users++;
    return o->thread;
}

void hb_iothread_obj_unuse(HbIoThread *t)
{
    for (guint i = 0; objs && i < objs->len; i++) {
        IoThreadObj *o = objs->pdata[i];
        if (o->thread == t) {
            g_assert(o->users > 0);
            o->users--;
            return;
        }
    }
    g_assert_not_reached();
}

void hb_iothread_obj_foreach(void (*fn)(const char *id, HbIoThread *t, void *opaque),
                             void *opaque)
{
    for (guint i = 0; objs && i < objs->len; i++) {
        IoThreadObj *o = objs->pdata[i];
        fn(o->id, o->thread, opaque);
    }
}

unsigned hb_iothread_pool_start(GError **errp)
{
    unsigned n = MAX(g_get_num_processors(), 1);

    if (pool) {
        return pool_size;
    }
    pool = g_new0(HbIoThread *, n);
    for (unsigned i = 0; i < n; i++) {
        g_autofree char *name = g_strdup_printf("io-pool-%u", i);
        /*
         * No poll here: the queue runner polls its own ring after a batch,
         * and an idle pool thread should sleep.
         */
        pool[i] = hb_iothread_new(name, 0, errp);
        if (!pool[i]) {
            for (unsigned j = 0; j < i; j++) {
                hb_iothread_free(pool[j]);
            }
            g_clear_pointer(&pool, g_free);
            return 0;
        }
    }
    pool_size = n;
    add_hook();
    return n;
}

HbIoThread *hb_iothread_pool_get(unsigned i)
{
    g_assert(pool);
    return pool[i % pool_size];
}

unsigned hb_iothread_pool_next_start(void)
{
    return pool_size ? pool_next++ % pool_size : 0;
}

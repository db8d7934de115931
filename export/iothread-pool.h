/* SPDX-License-Identifier: GPL-2.0-or-later */
/* export/iothread-pool.h — iothread objects by id, and the default pool of I/O threads. */
#ifndef HB_EXPORT_IOTHREAD_POOL_H
#define HB_EXPORT_IOTHREAD_POOL_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "export/iothread.h"

/*
 * Two sources of I/O threads for exports (main thread only):
 *
 * - iothread objects, made by object-add/--object, named by an id: an
 *   export naming one takes a use of it, and object-del is refused while
 *   any use is left;
 * - the default pool, one thread per CPU, started on first use and shared
 *   by every export that names no iothread.  Its threads are no objects
 *   (query-iothreads does not list them), as QEMU's main loop is none.
 *
 * Both are stopped at exit in the close phase, after every export went.
 */

/**
 * hb_iothread_obj_add() - create iothread object @id and start its thread.
 * @id: a well-formed object id, unused
 * @poll_max_ns: see hb_iothread_new(); must not be negative
 * @errp: where to put the reason of a failure
 * Return: true on success.
 */
bool hb_iothread_obj_add(const char *id, int64_t poll_max_ns, GError **errp);

/**
 * hb_iothread_obj_del() - stop and remove iothread object @id.
 * @id: an iothread's id
 * @errp: where to put the reason of a failure (unknown, or in use)
 * Return: true on success.
 */
bool hb_iothread_obj_del(const char *id, GError **errp);

/* Whether an iothread object @id exists. */
bool hb_iothread_obj_exists(const char *id);

/**
 * hb_iothread_obj_use() - the thread of iothread object @id, taking a use.
 * @id: the id
 * @errp: QEMU's 'iothread "x" not found' if there is none
 * Return: the thread, or NULL.  Give the use back with hb_iothread_obj_unuse().
 */
HbIoThread *hb_iothread_obj_use(const char *id, GError **errp);

/**
 * hb_iothread_obj_unuse() - give back a use taken by hb_iothread_obj_use().
 * @t: the thread it returned
 */
void hb_iothread_obj_unuse(HbIoThread *t);

/**
 * hb_iothread_obj_foreach() - call @fn for each iothread object, oldest first.
 * @fn: called with the id, the thread and @opaque
 * @opaque: passed on
 */
void hb_iothread_obj_foreach(void (*fn)(const char *id, HbIoThread *t, void *opaque),
                             void *opaque);

/**
 * hb_iothread_pool_start() - start the default pool if it is not running.
 * @errp: where to put the reason of a failure
 * Return: the number of threads in the pool (one per CPU), or 0 on failure.
 */
unsigned hb_iothread_pool_start(GError **errp);

/**
 * hb_iothread_pool_get() - thread @i of the started default pool.
 * @i: any number; taken modulo the pool's size
 */
HbIoThread *hb_iothread_pool_get(unsigned i);

/**
 * hb_iothread_pool_next_start() - where the next export's queues start in
 * the pool: a rotating offset, so that single-queue exports spread.
 */
unsigned hb_iothread_pool_next_start(void);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/rbd.h — what the rbd driver offers beyond I/O: making images (blockdev-create). */
#ifndef HB_BLOCK_RBD_H
#define HB_BLOCK_RBD_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "qapi-types.h"

/* A connection to a pool, for making an image in it. */
typedef struct HbRbdPool HbRbdPool;

/**
 * hb_rbd_pool_connect() - reach the cluster and the pool @loc names
 * @loc: the image's location, as blockdev-add takes it (its @image is
 *       not opened, its @snapshot not looked at: the caller refuses one)
 * @errp: QEMU's texts ("error connecting: ...", "error opening pool ...")
 * Main thread (the key is looked up there; the connection runs off the
 * main loop, bounded by x-connect-timeout).
 * Return: the connection, or NULL with @errp set.
 */
HbRbdPool *hb_rbd_pool_connect(const QapiBlockdevOptionsRbd *loc, GError **errp);

/**
 * hb_rbd_check_object_size() - QEMU's checks of blockdev-create's
 * cluster-size for rbd: a power of two, at least 4096.
 */
bool hb_rbd_check_object_size(uint64_t size, GError **errp);

/**
 * hb_rbd_pool_create_image() - make image @image of @size bytes with objects
 * of @object_size bytes (0: librbd's default, 4 MiB).  Any thread.
 * @errp: "error rbd create: <why>" (an image of that name exists: File exists)
 */
bool hb_rbd_pool_create_image(HbRbdPool *p, const char *image, uint64_t size,
                              uint64_t object_size, GError **errp);

/* Drop the connection (NULL-safe). */
void hb_rbd_pool_free(HbRbdPool *p);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/rbd-int.h — what the rbd driver (rbd.c) and its connection code (rbd-connect.c) share. */
#ifndef HB_BLOCK_RBD_INT_H
#define HB_BLOCK_RBD_INT_H

#include <glib.h>
#include <rados/librados.h>
#include <rbd/librbd.h>
#include <stdbool.h>

#include "qapi-types.h"

/* An open image and the cluster handle it came through. */
typedef struct HbRbdConn {
    rados_t cluster;
    rados_ioctx_t ioctx;
    rbd_image_t image;
} HbRbdConn;

/* x-connect-timeout: its default and its range, in seconds. */
#define HB_RBD_CONNECT_TIMEOUT_DEFAULT 20
#define HB_RBD_CONNECT_TIMEOUT_MAX 300

/**
 * hb_rbd_connect() - reach the cluster and open the image @o names.
 * @c: filled in on success
 * @o: the node's options (already checked by rbd.c)
 * @read_only: open the image read-only (always with a snapshot)
 * @cache_direct: cache.direct: librbd's own cache off (rbd_cache), as QEMU
 * @errp: QEMU's texts: "error reading conf file <f>", "error connecting: <why>",
 *        "error opening pool <p>", "error reading header from <image>"; never
 *        the key
 *
 * Main thread.  The connection itself runs off the main loop (util/slow-job.h)
 * and is bounded by x-connect-timeout.  On failure everything made so far
 * (librados' threads and sockets included) is gone again.
 * Return: true, or false with @errp set.
 */
bool hb_rbd_connect(HbRbdConn *c, const QapiBlockdevOptionsRbd *o,
                    bool read_only, bool cache_direct, GError **errp);

/**
 * hb_rbd_connect_pool() - hb_rbd_connect() up to the pool: @c->image stays
 * NULL (blockdev-create makes the image).  Main thread.
 */
bool hb_rbd_connect_pool(HbRbdConn *c, const QapiBlockdevOptionsRbd *o, GError **errp);

/* Close the image and the cluster handle (joins librados' threads). */
void hb_rbd_disconnect(HbRbdConn *c);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/rbd-create.c — blockdev-create for rbd: a new image in a pool, with QEMU's checks and texts. */
#include "block/rbd.h"
#include "block/rbd-int.h"
#include "util/error.h"

/*
 * The connection is made on the main thread (it looks the key up and runs
 * as a slow job, bounded by x-connect-timeout); the image is made on the
 * create job's thread; the connection goes when the job does.
 */
struct HbRbdPool {
    HbRbdConn conn;
};

HbRbdPool *hb_rbd_pool_connect(const QapiBlockdevOptionsRbd *loc, GError **errp)
{
    HbRbdPool *p = g_new0(HbRbdPool, 1);

    if (!hb_rbd_connect_pool(&p->conn, loc, errp)) {
        g_free(p);
        return NULL;
    }
    return p;
}

bool hb_rbd_check_object_size(uint64_t size, GError **errp)
{
    if ((size - 1) & size) {
        hb_error_set(errp, "obj size needs to be power of 2");
        return false;
    }
    if (size < 4096) {
        hb_error_set(errp, "obj size too small");
        return false;
    }
    return true;
}

bool hb_rbd_pool_create_image(HbRbdPool *p, const char *image, uint64_t size,
                              uint64_t object_size, GError **errp)
{
    int order = object_size ? __builtin_ctzll(object_size) : 0;   /* 0: librbd's default */
    int r = rbd_create(p->conn.ioctx, image, size, &order);

    if (r < 0) {
        hb_error_set_errno(errp, -r, "error rbd create");
        return false;
    }
    return true;
}

void hb_rbd_pool_free(HbRbdPool *p)
{
    if (p) {
        hb_rbd_disconnect(&p->conn);
        g_free(p);
    }
}

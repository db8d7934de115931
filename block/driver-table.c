/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/driver-table.c — every block driver, indexed by the schema's BlockdevDriver. */
#include "block/node.h"

extern const HbDriver hb_driver_file;
extern const HbDriver hb_driver_raw;
extern const HbDriver hb_driver_null;
extern const HbDriver hb_driver_luks;
extern const HbDriver hb_driver_qcow2;
extern const HbDriver hb_driver_throttle;
#ifdef HB_HAVE_RBD
extern const HbDriver hb_driver_rbd;
#endif

static const HbDriver *const drivers[] = {
    [QAPI_BLOCKDEV_DRIVER_FILE] = &hb_driver_file,
    [QAPI_BLOCKDEV_DRIVER_RAW] = &hb_driver_raw,
    [QAPI_BLOCKDEV_DRIVER_NULL_CO] = &hb_driver_null,
    [QAPI_BLOCKDEV_DRIVER_LUKS] = &hb_driver_luks,
    [QAPI_BLOCKDEV_DRIVER_QCOW2] = &hb_driver_qcow2,
    [QAPI_BLOCKDEV_DRIVER_THROTTLE] = &hb_driver_throttle,
#ifdef HB_HAVE_RBD
    [QAPI_BLOCKDEV_DRIVER_RBD] = &hb_driver_rbd,
#else
    [QAPI_BLOCKDEV_DRIVER_RBD] = NULL,   /* built without librbd */
#endif
};
G_STATIC_ASSERT(G_N_ELEMENTS(drivers) == QAPI_BLOCKDEV_DRIVER__MAX);

const HbDriver *hb_driver_for(QapiBlockdevDriver drv)
{
    if ((unsigned)drv >= G_N_ELEMENTS(drivers)) {
        return NULL;
    }
    return drivers[drv];
}

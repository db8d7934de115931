/* SPDX-License-Identifier: GPL-2.0-or-later */
/* export/qmp-iothread.h — the iothread object type for object-add/object-del. */
#ifndef HB_EXPORT_QMP_IOTHREAD_H
#define HB_EXPORT_QMP_IOTHREAD_H

/**
 * hb_iothread_register_object_type() - make qom-type "iothread" known to
 * object-add/object-del (util/object-types.h).  Call once at startup,
 * before --object options run.
 */
void hb_iothread_register_object_type(void);

#endif

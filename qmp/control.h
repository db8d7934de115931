/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qmp/control.h — hooks the daemon gives the control commands. */
#ifndef HB_QMP_CONTROL_H
#define HB_QMP_CONTROL_H

/* Called (from an idle, after the reply went out) when a client runs quit. */
void hb_qmp_set_quit_handler(void (*fn)(void));

#endif

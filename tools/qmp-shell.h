/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/qmp-shell.h — hotblock-qmp's interactive shell: prompt, history, line editing, completion (libedit). */
#ifndef HB_TOOLS_QMP_SHELL_H
#define HB_TOOLS_QMP_SHELL_H

#include <stdbool.h>

#include "tools/qmp-schema.h"

/*
 * libedit's callback interface, so the caller's poll loop stays in charge:
 * it calls hb_qmp_shell_read() when standard input is readable, and the
 * shell hands each finished line (NULL at end of input) to @on_line.
 * Output printed through hb_qmp_shell_print() appears above the prompt,
 * which is then drawn again with what was typed so far, so events can
 * arrive while the operator types.
 */
void hb_qmp_shell_start(void (*on_line)(char *line, void *opaque), void *opaque);
/* Names for tab completion: commands, and each command's members (borrowed). */
void hb_qmp_shell_set_schema(HbQmpSchema *schema);
/* The "... " prompt while a multi-line JSON command is open. */
void hb_qmp_shell_continuation(bool more);
void hb_qmp_shell_read(void);
void hb_qmp_shell_print(const char *text);
/* Restore the terminal and save the history. */
void hb_qmp_shell_stop(void);

#endif

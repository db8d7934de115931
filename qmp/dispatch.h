/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qmp/dispatch.h — the command table and the execution of one QMP request. */
#ifndef HB_QMP_DISPATCH_H
#define HB_QMP_DISPATCH_H

#include <glib.h>
#include <json-glib/json-glib.h>

#include "qapi-runtime.h"

/* Add commands (the generated table); main calls this once at startup. */
void hb_qmp_register_commands(const QapiCommandDef *defs, size_t n);
const QapiCommandDef *hb_qmp_find_command(const char *name);
/* Calls @fn for every registered command name, in registration order. */
void hb_qmp_foreach_command(void (*fn)(const char *name, void *opaque), void *opaque);

/**
 * hb_qmp_run_command() - run a command by name outside any session
 * @name: command name ("object-add", "blockdev-add", ...)
 * @args: the arguments object (borrowed); NULL for none
 * @keyval: @args came from a key=value option
 * @ret: (out, optional) the return value
 *
 * This is how --object/--blockdev/--export run through exactly the code
 * QMP clients reach.
 */
bool hb_qmp_run_command(const char *name, JsonNode *args, bool keyval,
                        JsonNode **ret, GError **errp);

/**
 * struct HbQmpWatcher - sees every command that runs (the --state-file).
 * @check: before it runs: false with @errp set refuses it; may be NULL
 * @done: after it succeeded, with its arguments still intact (a session
 *        wipes object-add's strings only later)
 */
typedef struct HbQmpWatcher {
    bool (*check)(const char *name, JsonNode *args, bool keyval, GError **errp);
    void (*done)(const char *name, JsonNode *args, bool keyval);
} HbQmpWatcher;

/* Install the one watcher (NULL: none). */
void hb_qmp_set_watcher(const HbQmpWatcher *w);

/**
 * hb_qmp_call() - run @def with @args, through the watcher: what sessions
 * and hb_qmp_run_command() both use.
 */
bool hb_qmp_call(const QapiCommandDef *def, JsonNode *args, bool keyval, JsonNode **ret,
                 GError **errp);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/qmp-schema.h — hotblock-qmp's view of query-qmp-schema, for typed short forms. */
#ifndef HB_TOOLS_QMP_SCHEMA_H
#define HB_TOOLS_QMP_SCHEMA_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>

typedef struct HbQmpSchema HbQmpSchema;

/* @list: query-qmp-schema's "return" (copied). */
HbQmpSchema *hb_qmp_schema_new(JsonNode *list);
void hb_qmp_schema_free(HbQmpSchema *s);

/**
 * hb_qmp_schema_type_args() - give key=value arguments their schema types
 * @s: the schema
 * @req: {"execute": ..., "arguments": {...}}, changed in place
 * @keys: NULL-terminated dotted keys that were written key=value (their
 *        values are strings); key:=JSON values are left alone
 * @errp: "argument 'size': 'abc' is not a number ..." when the schema
 *        wants a number or boolean the text is not
 *
 * A member the schema types as integer, number or boolean becomes one
 * ("size=1024", "size=1G", "writable=on"); strings, enums and members the
 * schema does not know stay strings, for the daemon to judge.
 * Return: false with @errp set on a value of the wrong kind.
 */
bool hb_qmp_schema_type_args(HbQmpSchema *s, JsonNode *req, char **keys, GError **errp);

/* Every command's name, sorted (g_strfreev()). */
char **hb_qmp_schema_commands(HbQmpSchema *s);
/*
 * "member=" for each argument of @command, its variants' and (dotted, a few
 * levels deep) its nested objects', sorted (g_strfreev()): tab completion.
 */
char **hb_qmp_schema_members(HbQmpSchema *s, const char *command);

#endif

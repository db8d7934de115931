/* SPDX-License-Identifier: GPL-2.0-or-later */
/* schema/qapi-runtime.h — hand-written support for the generated QAPI code. */
#ifndef QAPI_RUNTIME_H
#define QAPI_RUNTIME_H

/*
 * The generated input functions walk a JSON tree and a schema type side by
 * side.  QapiIn carries the dotted path of the member being read
 * ("file.filename", "slots[2]") so every error names the parameter the way
 * QEMU's QObject input visitor does, and the keyval flag: command-line
 * key=value input where every scalar is a string to be converted.
 */

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum QapiQType {
    QAPI_QTYPE_NONE,
    QAPI_QTYPE_QNULL,
    QAPI_QTYPE_QNUM,
    QAPI_QTYPE_QSTRING,
    QAPI_QTYPE_QDICT,
    QAPI_QTYPE_QLIST,
    QAPI_QTYPE_QBOOL,
} QapiQType;

typedef struct QapiIn {
    bool keyval;
    GString *path;
} QapiIn;

#define QAPI_IN_INIT(kv) { .keyval = (kv), .path = g_string_new("") }
void qapi_in_clear(QapiIn *in);

gsize qapi_in_push(QapiIn *in, const char *name);
gsize qapi_in_push_index(QapiIn *in, guint index);
void qapi_in_pop(QapiIn *in, gsize mark);

JsonObject *qapi_in_object(QapiIn *in, JsonNode *node, GError **errp);
JsonArray *qapi_in_array(QapiIn *in, JsonNode *node, GError **errp);
QapiQType qapi_in_qtype(QapiIn *in, JsonNode *node);

bool qapi_in_str(QapiIn *in, JsonNode *node, char **out, GError **errp);
bool qapi_in_int(QapiIn *in, JsonNode *node, int64_t min, int64_t max,
                 int64_t *out, GError **errp);
bool qapi_in_uint(QapiIn *in, JsonNode *node, uint64_t max, uint64_t *out,
                  GError **errp);
bool qapi_in_size(QapiIn *in, JsonNode *node, uint64_t *out, GError **errp);
bool qapi_in_bool(QapiIn *in, JsonNode *node, bool *out, GError **errp);
bool qapi_in_number(QapiIn *in, JsonNode *node, double *out, GError **errp);
bool qapi_in_any(QapiIn *in, JsonNode *node, JsonNode **out, GError **errp);
bool qapi_in_null(QapiIn *in, JsonNode *node, bool *out, GError **errp);
bool qapi_in_enum(QapiIn *in, JsonNode *node, const char *const *lookup,
                  int max, int *out, GError **errp);

/* Errors: "Parameter '<path>.<name>' is missing" etc.  Always return false. */
bool qapi_in_missing(QapiIn *in, const char *name, GError **errp);
bool qapi_in_type_error(QapiIn *in, const char *expected, GError **errp);
/* Every member of @o must be in @names or @more (NULL-terminated, may be NULL). */
bool qapi_in_check_extra(QapiIn *in, JsonObject *o, const char *const *names,
                         const char *const *more, GError **errp);

JsonNode *qapi_out_str(const char *s);
JsonNode *qapi_out_int(int64_t v);
JsonNode *qapi_out_uint(uint64_t v);
JsonNode *qapi_out_bool(bool v);
JsonNode *qapi_out_number(double v);

/* Commands: the generated table, registered with the dispatcher. */
/* @keyval: @args came from a key=value command-line option (scalars are strings). */
typedef bool (*QapiMarshalFn)(JsonNode *args, bool keyval, JsonNode **ret, GError **errp);
typedef struct QapiCommandDef {
    const char *name;
    QapiMarshalFn fn;
    bool allow_oob;
} QapiCommandDef;

/* Events: the generated emitters hand the data object (ownership moves) here. */
typedef void (*QapiEventEmitFn)(const char *name, JsonObject *data);
void qapi_event_set_emitter(QapiEventEmitFn fn);
void qapi_event_emit(const char *name, JsonObject *data);

/* The query-qmp-schema reply as JSON text (qapi-introspect.c). */
extern const char qapi_introspect_json[];

#endif

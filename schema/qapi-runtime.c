/* SPDX-License-Identifier: GPL-2.0-or-later */
/* schema/qapi-runtime.c — scalar input/output and error texts for generated QAPI code. */
#include "qapi-runtime.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/keyval.h"
#include "util/size.h"

void qapi_in_clear(QapiIn *in)
{
    if (in->path) {
        g_string_free(in->path, TRUE);
        in->path = NULL;
    }
}

gsize qapi_in_push(QapiIn *in, const char *name)
{
    gsize mark = in->path->len;

    if (in->path->len) {
        g_string_append_c(in->path, '.');
    }
    g_string_append(in->path, name);
    return mark;
}

gsize qapi_in_push_index(QapiIn *in, guint index)
{
    gsize mark = in->path->len;

    g_string_append_printf(in->path, "[%u]", index);
    return mark;
}

void qapi_in_pop(QapiIn *in, gsize mark)
{
    g_string_truncate(in->path, mark);
}

static const char *where(QapiIn *in)
{
    return in->path->len ? in->path->str : "null";
}

bool qapi_in_type_error(QapiIn *in, const char *expected, GError **errp)
{
    hb_error_set(errp, "Invalid parameter type for '%s', expected: %s",
                 where(in), expected);
    return false;
}

bool qapi_in_missing(QapiIn *in, const char *name, GError **errp)
{
    if (in->path->len) {
        hb_error_set(errp, "Parameter '%s.%s' is missing", in->path->str, name);
    } else {
        hb_error_set(errp, "Parameter '%s' is missing", name);
    }
    return false;
}

static bool expects(QapiIn *in, const char *what, GError **errp)
{
    hb_error_set(errp, "Parameter '%s' expects %s", where(in), what);
    return false;
}

bool qapi_in_check_extra(QapiIn *in, JsonObject *o, const char *const *names,
                         const char *const *more, GError **errp)
{
    g_autoptr(GList) members = json_object_get_members(o);

    for (GList *l = members; l; l = l->next) {
        const char *key = l->data;
        bool known = false;

        for (const char *const *n = names; n && *n && !known; n++) {
            known = strcmp(*n, key) == 0;
        }
        for (const char *const *n = more; n && *n && !known; n++) {
            known = strcmp(*n, key) == 0;
        }
        if (!known) {
            gsize mark = qapi_in_push(in, key);
            hb_error_set(errp, "Parameter '%s' is unexpected", in->path->str);
            qapi_in_pop(in, mark);
            return false;
        }
    }
    return true;
}

QapiQType qapi_in_qtype(QapiIn *in, JsonNode *node)
{
    (void)in;
    switch (json_node_get_node_type(node)) {
    case JSON_NODE_OBJECT:
        return QAPI_QTYPE_QDICT;
    case JSON_NODE_ARRAY:
        return QAPI_QTYPE_QLIST;
    case JSON_NODE_NULL:
        return QAPI_QTYPE_QNULL;
    case JSON_NODE_VALUE:
        switch (json_node_get_value_type(node)) {
        case G_TYPE_STRING:
            return QAPI_QTYPE_QSTRING;
        case G_TYPE_BOOLEAN:
            return QAPI_QTYPE_QBOOL;
        default:
            return QAPI_QTYPE_QNUM;
        }
    }
    return QAPI_QTYPE_NONE;
}

JsonObject *qapi_in_object(QapiIn *in, JsonNode *node, GError **errp)
{
    if (!JSON_NODE_HOLDS_OBJECT(node)) {
        qapi_in_type_error(in, "object", errp);
        return NULL;
    }
    return json_node_get_object(node);
}

JsonArray *qapi_in_array(QapiIn *in, JsonNode *node, GError **errp)
{
    if (!JSON_NODE_HOLDS_ARRAY(node)) {
        qapi_in_type_error(in, "array", errp);
        return NULL;
    }
    return json_node_get_array(node);
}

static const char *keyval_string(QapiIn *in, JsonNode *node)
{
    if (in->keyval && qapi_in_qtype(in, node) == QAPI_QTYPE_QSTRING) {
        return json_node_get_string(node);
    }
    return NULL;
}

bool qapi_in_str(QapiIn *in, JsonNode *node, char **out, GError **errp)
{
    if (qapi_in_qtype(in, node) != QAPI_QTYPE_QSTRING) {
        return qapi_in_type_error(in, "string", errp);
    }
    *out = g_strdup(json_node_get_string(node));
    return true;
}

bool qapi_in_int(QapiIn *in, JsonNode *node, int64_t min, int64_t max,
                 int64_t *out, GError **errp)
{
    const char *s = keyval_string(in, node);
    int64_t v;

    if (s) {
        char *end;
        errno = 0;
        v = g_ascii_strtoll(s, &end, 0);
        if (!*s || *end || errno) {
            return expects(in, "integer", errp);
        }
    } else if (JSON_NODE_HOLDS_VALUE(node) &&
               json_node_get_value_type(node) == G_TYPE_INT64) {
        v = json_node_get_int(node);
    } else {
        return qapi_in_type_error(in, "integer", errp);
    }
    if (v < min || v > max) {
        hb_error_set(errp, "Parameter '%s' expects %s", where(in),
                     min < 0 ? "an int in range" : "a non-negative int in range");
        return false;
    }
    *out = v;
    return true;
}

bool qapi_in_uint(QapiIn *in, JsonNode *node, uint64_t max, uint64_t *out,
                  GError **errp)
{
    const char *s = keyval_string(in, node);
    uint64_t v;

    if (s) {
        char *end;
        errno = 0;
        if (*s == '-') {
            return expects(in, "uint64", errp);
        }
        v = g_ascii_strtoull(s, &end, 0);
        if (!*s || *end || errno) {
            return expects(in, "uint64", errp);
        }
    } else if (JSON_NODE_HOLDS_VALUE(node) &&
               json_node_get_value_type(node) == G_TYPE_INT64) {
        int64_t i = json_node_get_int(node);
        if (i < 0) {
            return expects(in, "uint64", errp);
        }
        v = (uint64_t)i;
    } else {
        return qapi_in_type_error(in, "integer", errp);
    }
    if (v > max) {
        return expects(in, "an integer in range", errp);
    }
    *out = v;
    return true;
}

bool qapi_in_size(QapiIn *in, JsonNode *node, uint64_t *out, GError **errp)
{
    const char *s = keyval_string(in, node);

    if (s) {
        if (!hb_parse_size(s, out)) {
            return expects(in, "a size value", errp);
        }
        return true;
    }
    return qapi_in_uint(in, node, UINT64_MAX, out, errp);
}

bool qapi_in_bool(QapiIn *in, JsonNode *node, bool *out, GError **errp)
{
    const char *s = keyval_string(in, node);

    if (s) {
        if (!hb_parse_bool(s, out)) {
            return expects(in, "'on' or 'off'", errp);
        }
        return true;
    }
    if (qapi_in_qtype(in, node) != QAPI_QTYPE_QBOOL) {
        return qapi_in_type_error(in, "boolean", errp);
    }
    *out = json_node_get_boolean(node);
    return true;
}

bool qapi_in_number(QapiIn *in, JsonNode *node, double *out, GError **errp)
{
    const char *s = keyval_string(in, node);

    if (s) {
        char *end;
        errno = 0;
        *out = g_ascii_strtod(s, &end);
        if (!*s || *end || errno || !isfinite(*out)) {
            return expects(in, "number", errp);
        }
        return true;
    }
    if (qapi_in_qtype(in, node) != QAPI_QTYPE_QNUM) {
        return qapi_in_type_error(in, "number", errp);
    }
    *out = json_node_get_double(node);
    return true;
}

bool qapi_in_any(QapiIn *in, JsonNode *node, JsonNode **out, GError **errp)
{
    (void)in;
    (void)errp;
    *out = json_node_copy(node);
    return true;
}

bool qapi_in_null(QapiIn *in, JsonNode *node, bool *out, GError **errp)
{
    if (!JSON_NODE_HOLDS_NULL(node)) {
        return qapi_in_type_error(in, "null", errp);
    }
    *out = true;
    return true;
}

bool qapi_in_enum(QapiIn *in, JsonNode *node, const char *const *lookup,
                  int max, int *out, GError **errp)
{
    const char *s;

    if (qapi_in_qtype(in, node) != QAPI_QTYPE_QSTRING) {
        return qapi_in_type_error(in, "string", errp);
    }
    s = json_node_get_string(node);
    for (int i = 0; i < max; i++) {
        if (strcmp(lookup[i], s) == 0) {
            *out = i;
            return true;
        }
    }
    hb_error_set(errp, "Parameter '%s' does not accept value '%s'", where(in), s);
    return false;
}

JsonNode *qapi_out_str(const char *s)
{
    JsonNode *n = json_node_new(JSON_NODE_VALUE);
    json_node_set_string(n, s ? s : "");
    return n;
}

JsonNode *qapi_out_int(int64_t v)
{
    JsonNode *n = json_node_new(JSON_NODE_VALUE);
    json_node_set_int(n, v);
    return n;
}

JsonNode *qapi_out_uint(uint64_t v)
{
    /* JSON-GLib holds integers as int64; values past INT64_MAX do not occur here. */
    JsonNode *n = json_node_new(JSON_NODE_VALUE);
    json_node_set_int(n, (int64_t)v);
    return n;
}

JsonNode *qapi_out_bool(bool v)
{
    JsonNode *n = json_node_new(JSON_NODE_VALUE);
    json_node_set_boolean(n, v);
    return n;
}

JsonNode *qapi_out_number(double v)
{
    JsonNode *n = json_node_new(JSON_NODE_VALUE);
    json_node_set_double(n, v);
    return n;
}

static QapiEventEmitFn event_emitter;

void qapi_event_set_emitter(QapiEventEmitFn fn)
{
    g_atomic_pointer_set(&event_emitter, fn);
}

void qapi_event_emit(const char *name, JsonObject *data)
{
    QapiEventEmitFn fn = g_atomic_pointer_get(&event_emitter);

    if (fn) {
        fn(name, data);
    } else {
        json_object_unref(data);
    }
}

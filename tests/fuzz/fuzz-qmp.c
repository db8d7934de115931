/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/fuzz/fuzz-qmp.c — libFuzzer target: the QMP input path (stream splitter, JSON, generated argument checks, keyval). */

/*
 * What a QMP client sends goes through the stream splitter, json-glib and
 * then the generated qapi_from_json_*() of the command's argument type;
 * what an operator writes on the command line goes through
 * hb_keyval_parse() and then the same generated code with keyval=true.
 * The input is fed to both, with no socket in between.  Every value the
 * generated code accepts must serialise back (qapi_to_json_*) into JSON
 * that it accepts again, and clone and free cleanly.
 */

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qapi-json.h"
#include "qapi-types.h"
#include "qmp/json-stream.h"
#include "util/json.h"
#include "util/keyval.h"

/*
 * One schema type: parse @node, and if that worked, serialise, parse the
 * serialisation strictly (JSON, not keyval: to_json emits typed scalars),
 * clone and free both.  A value accepted once and refused after its own
 * round trip is a generator bug.
 */
#define TRY_TYPE(T, node, keyval)                                              \
    do {                                                                       \
        Qapi##T *obj_ = NULL;                                                  \
        GError *err_ = NULL;                                                   \
        if (qapi_from_json_##T((node), (keyval), &obj_, &err_)) {              \
            g_assert(obj_ != NULL);                                            \
            if (getenv("FUZZ_VERBOSE")) {                                      \
                fprintf(stderr, "accepted as %s\n", #T);                      \
            }                                                                  \
            JsonNode *out_ = qapi_to_json_##T(obj_);                           \
            Qapi##T *again_ = NULL;                                            \
            if (!qapi_from_json_##T(out_, false, &again_, &err_)) {            \
                g_autofree char *txt_ = json_to_string(out_, FALSE);           \
                fprintf(stderr, "%s: round trip refused %s: %s\n", #T, txt_,   \
                        err_->message);                                        \
                abort();                                                       \
            }                                                                  \
            Qapi##T *copy_ = qapi_clone_##T(again_);                           \
            qapi_free_##T(copy_);                                              \
            qapi_free_##T(again_);                                             \
            json_node_unref(out_);                                             \
            qapi_free_##T(obj_);                                               \
        } else {                                                               \
            g_assert(err_ != NULL);                                            \
            g_error_free(err_);                                                \
        }                                                                      \
    } while (0)

/* Values seen in this input: reset per input so that a crash reproduces. */
static unsigned counter;

static void try_schema(JsonNode *node, bool keyval)
{
    TRY_TYPE(BlockdevOptions, node, keyval);
    TRY_TYPE(BlockExportOptions, node, keyval);
    TRY_TYPE(ObjectOptions, node, keyval);
    TRY_TYPE(DeviceAddArgs, node, keyval);
    TRY_TYPE(BlockdevRefOrNull, node, keyval);
    TRY_TYPE(ImageInfo, node, keyval);
}

/*
 * The reply oracle: whatever a client sent, what the daemon writes back
 * (the echoed id, the value, an error text quoting the input) must be
 * valid UTF-8 and parse as JSON again, to the same shape.
 */
static void check_reply(JsonNode *n)
{
    g_autofree char *out = hb_json_to_string(n);

    if (!g_utf8_validate(out, -1, NULL)) {
        abort();
    }
    g_autoptr(JsonNode) back = json_from_string(out, NULL);
    if (!back || JSON_NODE_TYPE(back) != JSON_NODE_TYPE(n)) {
        abort();
    }
}

/* An error reply whose text quotes @len raw bytes of input. */
static void check_error_reply(const char *text, gsize len)
{
    g_autoptr(JsonObject) err = json_object_new();
    g_autofree char *quoted = g_strndup(text, len);

    json_object_set_string_member(err, "class", "GenericError");
    json_object_set_string_member(err, "desc", quoted);
    g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), err);
    check_reply(n);
}

/* Each complete value, as the QMP session does: parse, then validate. */
static void on_event(void *opaque, HbJsonStreamEvent ev, const char *text, gsize len)
{
    GError *err = NULL;

    if (ev != HB_JSON_STREAM_VALUE) {
        return;
    }
    g_assert(text != NULL);
    check_error_reply(text, len);
    g_autoptr(JsonNode) root = hb_json_parse(text, len, &err);
    if (!root) {
        check_error_reply(err->message, strlen(err->message));
        g_error_free(err);
        return;
    }
    check_reply(root);
    /* Alternate so that both the JSON and the keyval conversions run. */
    try_schema(root, (counter++ & 1) != 0);
    /* QMP carries arguments under "arguments" of a command object. */
    if (JSON_NODE_HOLDS_OBJECT(root)) {
        JsonObject *o = json_node_get_object(root);
        JsonNode *args = json_object_get_member(o, "arguments");
        if (args) {
            try_schema(args, false);
        }
    }
}

static void fuzz_stream(const uint8_t *data, size_t size)
{
    HbJsonStream s;
    size_t pos = 0;
    size_t step = 1;

    /* Feed in growing pieces, so values split across reads are seen too. */
    counter = 0;
    hb_json_stream_init(&s, 64 * 1024, 1024, on_event, NULL);
    while (pos < size) {
        size_t n = MIN(step, size - pos);
        hb_json_stream_feed(&s, (const char *)data + pos, n);
        pos += n;
        step = step * 2 + 1;
    }
    hb_json_stream_clear(&s);
}

static void fuzz_keyval(const char *str, const char *implied)
{
    GError *err = NULL;
    bool is_keyval = false;
    JsonNode *node = hb_keyval_parse(str, implied, &is_keyval, &err);

    if (!node) {
        g_assert(err != NULL);
        g_error_free(err);
        return;
    }
    g_assert(JSON_NODE_HOLDS_OBJECT(node));
    if (g_str_equal(implied, "driver")) {
        TRY_TYPE(BlockdevOptions, node, is_keyval);
    } else if (g_str_equal(implied, "type")) {
        TRY_TYPE(BlockExportOptions, node, is_keyval);
    } else {
        TRY_TYPE(ObjectOptions, node, is_keyval);
    }
    json_node_unref(node);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const implied[] = { "driver", "type", "qom-type" };
    g_autofree char *str = NULL;

    if (size > 64 * 1024) {
        return 0;
    }
    fuzz_stream(data, size);
    /* The command line is a C string: up to the first NUL. */
    str = g_strndup((const char *)data, size);
    fuzz_keyval(str, implied[size % G_N_ELEMENTS(implied)]);
    return 0;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-json-stream.c — the QMP input splitter and its limits. */
#include <string.h>

#include "qmp/json-stream.h"

typedef struct {
    GPtrArray *events;   /* "V:<text>", "LONG", "DEEP", "BAD" */
} Capture;

static void on_event(void *opaque, HbJsonStreamEvent ev, const char *text, gsize len)
{
    Capture *c = opaque;

    switch (ev) {
    case HB_JSON_STREAM_VALUE:
        g_ptr_array_add(c->events, g_strdup_printf("V:%.*s", (int)len, text));
        break;
    case HB_JSON_STREAM_TOO_LONG:
        g_ptr_array_add(c->events, g_strdup("LONG"));
        break;
    case HB_JSON_STREAM_TOO_DEEP:
        g_ptr_array_add(c->events, g_strdup("DEEP"));
        break;
    case HB_JSON_STREAM_BAD_CHAR:
        g_ptr_array_add(c->events, g_strdup("BAD"));
        break;
    }
}

static char *run(const char *const *chunks, gsize max_len, unsigned depth)
{
    Capture c = { g_ptr_array_new_with_free_func(g_free) };
    HbJsonStream s;
    GString *out = g_string_new(NULL);

    hb_json_stream_init(&s, max_len, depth, on_event, &c);
    for (; *chunks; chunks++) {
        hb_json_stream_feed(&s, *chunks, strlen(*chunks));
    }
    hb_json_stream_clear(&s);
    for (guint i = 0; i < c.events->len; i++) {
        g_string_append_printf(out, "%s|", (char *)c.events->pdata[i]);
    }
    g_ptr_array_unref(c.events);
    return g_string_free(out, FALSE);
}

#define CHUNKS(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void test_split(void)
{
    g_autofree char *a = run(CHUNKS("{\"a\":1}{\"b\":[2]}\n  {\"c\":\"}\"}"), 1000, 10);
    g_autofree char *b = run(CHUNKS("{\"a\"", ":", " \"x\\\"}\"", "}"), 1000, 10);
    g_autofree char *c = run(CHUNKS("42 \"str\" true\n[1]"), 1000, 10);
    g_autofree char *d = run(CHUNKS("}{\"ok\":1}"), 1000, 10);

    g_assert_cmpstr(a, ==, "V:{\"a\":1}|V:{\"b\":[2]}|V:{\"c\":\"}\"}|");
    g_assert_cmpstr(b, ==, "V:{\"a\": \"x\\\"}\"}|");
    g_assert_cmpstr(c, ==, "V:42|V:\"str\"|V:true|V:[1]|");
    g_assert_cmpstr(d, ==, "BAD|V:{\"ok\":1}|");
}

static void test_limits(void)
{
    g_autofree char *a = run(CHUNKS("{\"a\":\"0123456789\"}{\"b\":1}"), 12, 10);
    g_autofree char *b = run(CHUNKS("[[[[1]]]]", "{\"ok\":2}"), 1000, 3);
    g_autofree char *c = run(CHUNKS("{\"x\":\"", "aaaaaaaaaaaaaaaaaaaaaaaa", "\"}", "{}"), 8, 10);

    /* an over-limit value is reported once and skipped whole */
    g_assert_cmpstr(a, ==, "LONG|V:{\"b\":1}|");
    g_assert_cmpstr(b, ==, "DEEP|V:{\"ok\":2}|");
    g_assert_cmpstr(c, ==, "LONG|V:{}|");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/json-stream/split", test_split);
    g_test_add_func("/json-stream/limits", test_limits);
    return g_test_run();
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qmp/json-stream.c — top-level JSON value splitter with length and depth limits. */
#include "qmp/json-stream.h"

void hb_json_stream_init(HbJsonStream *s, gsize max_len, unsigned max_depth,
                         HbJsonStreamFn fn, void *opaque)
{
    *s = (HbJsonStream){
        .buf = g_string_new(NULL),
        .max_len = max_len,
        .max_depth = max_depth,
        .fn = fn,
        .opaque = opaque,
    };
}

void hb_json_stream_clear(HbJsonStream *s)
{
    if (s->buf) {
        g_string_free(s->buf, TRUE);
        s->buf = NULL;
    }
}

static void reset(HbJsonStream *s)
{
    g_string_truncate(s->buf, 0);
    s->depth = 0;
    s->in_string = s->escape = s->in_scalar = s->skipping = false;
}

static void emit_value(HbJsonStream *s)
{
    bool skipped = s->skipping;
    g_autofree char *text = NULL;
    gsize len = s->buf->len;

    text = g_strndup(s->buf->str, len);
    reset(s);
    if (!skipped) {
        s->fn(s->opaque, HB_JSON_STREAM_VALUE, text, len);
    }
}

static void fail(HbJsonStream *s, HbJsonStreamEvent ev)
{
    /* Report once, then drop bytes until the value ends. */
    g_string_truncate(s->buf, 0);
    if (!s->skipping) {
        s->skipping = true;
        s->fn(s->opaque, ev, NULL, 0);
    }
}

void hb_json_stream_feed(HbJsonStream *s, const char *data, gsize len)
{
    for (gsize i = 0; i < len; i++) {
        char c = data[i];

        if (s->in_scalar) {
            if (g_ascii_isspace(c) || c == '{' || c == '[' || c == '}' ||
                c == ']' || c == '"') {
                emit_value(s);      /* a bare token ends here */
            } else {
                if (!s->skipping) {
                    g_string_append_c(s->buf, c);
                    if (s->buf->len > s->max_len) {
                        fail(s, HB_JSON_STREAM_TOO_LONG);
                    }
                }
                continue;
            }
        }
        if (!s->skipping) {
            g_string_append_c(s->buf, c);
            if (s->buf->len > s->max_len) {
                fail(s, HB_JSON_STREAM_TOO_LONG);
            }
        }
        if (s->in_string) {
            if (s->escape) {
                s->escape = false;
            } else if (c == '\\') {
                s->escape = true;
            } else if (c == '"') {
                s->in_string = false;
                if (s->depth == 0) {
                    emit_value(s);  /* a top-level string */
                }
            }
            continue;
        }
        switch (c) {
        case '"':
            s->in_string = true;
            break;
        case '{':
        case '[':
            if (++s->depth > s->max_depth) {
                fail(s, HB_JSON_STREAM_TOO_DEEP);
            }
            break;
        case '}':
        case ']':
            if (s->depth == 0) {
                reset(s);
                s->fn(s->opaque, HB_JSON_STREAM_BAD_CHAR, NULL, 0);
                break;
            }
            if (--s->depth == 0) {
                emit_value(s);
            }
            break;
        default:
            if (s->depth == 0) {
                if (g_ascii_isspace(c)) {
                    g_string_truncate(s->buf, 0);
                } else {
                    s->in_scalar = true;
                }
            }
            break;
        }
    }
}

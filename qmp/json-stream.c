/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qmp/json-stream.c — top-level JSON value splitter with length and depth limits. */
#include "qmp/json-stream.h"

#include <string.h>

#define INITIAL_CAP 256

void hb_json_stream_init(HbJsonStream *s, gsize max_len, unsigned max_depth,
                         HbJsonStreamFn fn, void *opaque)
{
    *s = (HbJsonStream){
        .max_len = max_len,
        .max_depth = max_depth,
        .fn = fn,
        .opaque = opaque,
    };
}

/* Forget the value so far, leaving none of its bytes in memory. */
static void drop_bytes(HbJsonStream *s)
{
    if (s->len) {
        explicit_bzero(s->buf, s->len);
        s->len = 0;
    }
}

void hb_json_stream_clear(HbJsonStream *s)
{
    drop_bytes(s);
    g_free(s->buf);
    s->buf = NULL;
    s->cap = 0;
}

/* Append one byte; growing copies, then wipes the old buffer (no realloc). */
static void put_byte(HbJsonStream *s, char c)
{
    if (s->len == s->cap) {
        gsize cap = s->cap ? s->cap * 2 : INITIAL_CAP;
        char *grown = g_malloc(cap);

        if (s->len) {
            memcpy(grown, s->buf, s->len);
            explicit_bzero(s->buf, s->len);
        }
        g_free(s->buf);
        s->buf = grown;
        s->cap = cap;
    }
    s->buf[s->len++] = c;
}

static void reset(HbJsonStream *s)
{
    drop_bytes(s);
    s->depth = 0;
    s->in_string = s->escape = s->in_scalar = s->skipping = false;
}

static void emit_value(HbJsonStream *s)
{
    bool skipped = s->skipping;
    gsize len = s->len;
    /* The callback gets a copy: the stream is reset before it runs. */
    char *text = g_strndup(s->buf ? s->buf : "", len);

    reset(s);
    if (!skipped) {
        s->fn(s->opaque, HB_JSON_STREAM_VALUE, text, len);
    }
    explicit_bzero(text, len);
    g_free(text);
}

static void fail(HbJsonStream *s, HbJsonStreamEvent ev)
{
    /* Report once, then drop bytes until the value ends. */
    drop_bytes(s);
    if (!s->skipping) {
        s->skipping = true;
        s->fn(s->opaque, ev, NULL, 0);
    }
}

/* Keep @c of the current value, unless it is being skipped. */
static void keep(HbJsonStream *s, char c)
{
    if (!s->skipping) {
        put_byte(s, c);
        if (s->len > s->max_len) {
            fail(s, HB_JSON_STREAM_TOO_LONG);
        }
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
                keep(s, c);
                continue;
            }
        }
        keep(s, c);
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
                    drop_bytes(s);
                } else {
                    s->in_scalar = true;
                }
            }
            break;
        }
    }
}

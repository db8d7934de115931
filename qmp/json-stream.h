/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qmp/json-stream.h — split a byte stream into top-level JSON values. */
#ifndef HB_QMP_JSON_STREAM_H
#define HB_QMP_JSON_STREAM_H

/*
 * QMP is a stream of JSON texts, not of lines: a client may send several
 * commands in one write, or one command over many writes and lines.  The
 * splitter tracks only what decides where a value ends (strings, escapes,
 * brace and bracket depth) and hands each complete value to the caller,
 * which parses it.  It enforces the per-client limits: a value longer than
 * max_len or nested deeper than max_depth is reported as an error and the
 * rest of that value is skipped, so the stream stays in sync.
 *
 * A value may carry a secret (object-add's "data"), so no byte of it is
 * left behind: the buffer is wiped whenever a value ends or is dropped,
 * grows by copy-and-wipe rather than realloc(), and the text handed to the
 * callback is wiped once the callback returns.
 */

#include <glib.h>
#include <stdbool.h>

typedef enum {
    HB_JSON_STREAM_VALUE,     /* text = one complete value */
    HB_JSON_STREAM_TOO_LONG,  /* a value was longer than max_len */
    HB_JSON_STREAM_TOO_DEEP,  /* a value was nested deeper than max_depth */
    HB_JSON_STREAM_BAD_CHAR,  /* a stray '}' or ']' outside any value */
} HbJsonStreamEvent;

typedef void (*HbJsonStreamFn)(void *opaque, HbJsonStreamEvent ev,
                               const char *text, gsize len);

typedef struct HbJsonStream {
    char *buf;        /* the value so far (not NUL-terminated) */
    gsize len;
    gsize cap;
    gsize max_len;
    unsigned max_depth;
    unsigned depth;
    bool in_string;
    bool escape;
    bool in_scalar;   /* a top-level bare token (number, true, ...) */
    bool skipping;    /* dropping the rest of an over-limit value */
    HbJsonStreamFn fn;
    void *opaque;
} HbJsonStream;

/**
 * hb_json_stream_init() - an empty splitter
 * @s: the splitter
 * @max_len: longest value accepted, in bytes
 * @max_depth: deepest nesting accepted
 * @fn: called for each value or error; the text it gets is wiped after it returns
 * @opaque: passed to @fn
 */
void hb_json_stream_init(HbJsonStream *s, gsize max_len, unsigned max_depth,
                         HbJsonStreamFn fn, void *opaque);
/** hb_json_stream_clear() - wipe and free what @s holds; it may be cleared twice */
void hb_json_stream_clear(HbJsonStream *s);
/** hb_json_stream_feed() - feed @len bytes; calls fn for each event, in order */
void hb_json_stream_feed(HbJsonStream *s, const char *data, gsize len);

#endif

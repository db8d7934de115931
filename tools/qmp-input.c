/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/qmp-input.c — hotblock-qmp's input: lines into commands, multi-line JSON included. */
#include "tools/qmp-input.h"

#include <string.h>

void hb_qmp_input_init(HbQmpInput *in)
{
    memset(in, 0, sizeof(*in));
    g_queue_init(&in->items);
    in->partial = g_string_new(NULL);
}

void hb_qmp_input_item_free(HbQmpInputItem *it)
{
    if (it) {
        g_free(it->text);
        g_free(it);
    }
}

void hb_qmp_input_clear(HbQmpInput *in)
{
    g_queue_clear_full(&in->items, (GDestroyNotify)hb_qmp_input_item_free);
    g_string_free(in->partial, TRUE);
    in->partial = NULL;
}

void hb_qmp_input_push(HbQmpInput *in, unsigned line, char *text)
{
    HbQmpInputItem *it = g_new(HbQmpInputItem, 1);

    it->line = line;
    it->text = text;
    g_queue_push_tail(&in->items, it);
}

/* Track braces and brackets of @text outside JSON strings. */
static void scan_depth(HbQmpInput *in, const char *text)
{
    for (const char *c = text; *c; c++) {
        if (in->in_string) {
            if (in->escaped) {
                in->escaped = false;
            } else if (*c == '\\') {
                in->escaped = true;
            } else if (*c == '"') {
                in->in_string = false;
            }
        } else if (*c == '"') {
            in->in_string = true;
        } else if (*c == '{' || *c == '[') {
            in->depth++;
        } else if (*c == '}' || *c == ']') {
            in->depth--;
        }
    }
}

void hb_qmp_input_line(HbQmpInput *in, char *line)
{
    in->line_no++;
    if (!in->partial->len) {
        const char *t = line + strspn(line, " \t\r");
        if (*t != '{') {
            hb_qmp_input_push(in, in->line_no, line);
            return;
        }
        in->partial_line = in->line_no;
        in->depth = 0;
        in->in_string = in->escaped = false;
    }
    scan_depth(in, line);
    g_string_append(in->partial, line);
    g_string_append_c(in->partial, '\n');
    g_free(line);
    if (in->depth <= 0) {
        hb_qmp_input_push(in, in->partial_line, g_strdup(in->partial->str));
        g_string_truncate(in->partial, 0);
    }
}

void hb_qmp_input_eof(HbQmpInput *in)
{
    if (in->partial->len) {
        hb_qmp_input_push(in, in->partial_line, NULL);
        g_string_truncate(in->partial, 0);
    }
}

HbQmpInputItem *hb_qmp_input_pop(HbQmpInput *in)
{
    return g_queue_pop_head(&in->items);
}

bool hb_qmp_input_empty(HbQmpInput *in)
{
    return g_queue_is_empty(&in->items);
}

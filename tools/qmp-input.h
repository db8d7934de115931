/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/qmp-input.h — hotblock-qmp's input: lines into commands (multi-line JSON included), commands into requests. */
#ifndef HB_TOOLS_QMP_INPUT_H
#define HB_TOOLS_QMP_INPUT_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>

/*
 * One command of input: a line, or the lines of a JSON object spread over
 * several (balanced braces end it), with the line it starts on.  @text is
 * NULL for input that ended inside an object.
 */
typedef struct HbQmpInputItem {
    unsigned line;
    char *text;
} HbQmpInputItem;

typedef struct HbQmpInput {
    GQueue items;            /* HbQmpInputItem *: commands not yet taken */
    GString *partial;        /* a JSON command still missing its closing brace */
    unsigned partial_line;   /* where it started */
    int depth;               /* open braces and brackets in @partial */
    bool in_string, escaped; /* the scan of @partial is inside a string */
    unsigned line_no;        /* lines read */
} HbQmpInput;

void hb_qmp_input_init(HbQmpInput *in);
void hb_qmp_input_clear(HbQmpInput *in);
/* Queue a whole command (@text owned) as starting on @line. */
void hb_qmp_input_push(HbQmpInput *in, unsigned line, char *text);
/**
 * hb_qmp_input_line() - one line of input (@line owned, without its newline)
 *
 * A line starting with '{' opens a JSON command that goes on until its
 * braces and brackets balance (outside strings), so indented examples
 * paste as they are; any other line is a command by itself.
 */
void hb_qmp_input_line(HbQmpInput *in, char *line);
/* End of input: an object still open becomes an item with NULL text. */
void hb_qmp_input_eof(HbQmpInput *in);
/* The next command, or NULL; free with hb_qmp_input_item_free(). */
HbQmpInputItem *hb_qmp_input_pop(HbQmpInput *in);
bool hb_qmp_input_empty(HbQmpInput *in);
void hb_qmp_input_item_free(HbQmpInputItem *it);

/* A JSON command: the object, or NULL ("invalid JSON: ...", "a command must be a JSON object"). */
JsonNode *hb_qmp_build_json(const char *text, GError **errp);
/**
 * hb_qmp_build_shorthand() - "name key=value key:=json ..." as a request
 * @tokens: the words, NULL-terminated
 * @typed: receives the keys written key=value, whose string values
 *         hb_qmp_schema_type_args() may type
 * Return: {"execute": name, "arguments": {...}}, or NULL with @errp set.
 */
JsonNode *hb_qmp_build_shorthand(char **tokens, GPtrArray *typed, GError **errp);
/* A line in either form (JSON if it starts with '{'), as the two above. */
JsonNode *hb_qmp_build_line(const char *line, GPtrArray *typed, GError **errp);

#endif

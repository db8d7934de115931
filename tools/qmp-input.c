/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/qmp-input.c — hotblock-qmp's input: lines into commands (multi-line JSON included), commands into requests. */
#include "tools/qmp-input.h"

#include <string.h>

#include <json-glib/json-glib.h>

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

/* ---- building a command ---- */

/* Put @value at the dotted @key under @obj, creating objects on the way. */
static bool put_dotted(JsonObject *obj, const char *key, JsonNode *value,
                       GError **errp)
{
    g_auto(GStrv) parts = g_strsplit(key, ".", -1);
    guint i;

    for (i = 0; parts[i + 1]; i++) {
        JsonNode *n = json_object_get_member(obj, parts[i]);

        if (!*parts[i]) {
            goto bad_key;
        }
        if (!n) {
            json_object_set_object_member(obj, parts[i], json_object_new());
            n = json_object_get_member(obj, parts[i]);
        } else if (!JSON_NODE_HOLDS_OBJECT(n)) {
            g_set_error(errp, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                        "argument '%s' conflicts with an earlier one", key);
            json_node_unref(value);
            return false;
        }
        obj = json_node_get_object(n);
    }
    if (!*parts[i]) {
        goto bad_key;
    }
    if (json_object_has_member(obj, parts[i])) {
        g_set_error(errp, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "argument '%s' is given more than once", key);
        json_node_unref(value);
        return false;
    }
    json_object_set_member(obj, parts[i], value);
    return true;

bad_key:
    g_set_error(errp, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "invalid argument name '%s'", key);
    json_node_unref(value);
    return false;
}

/* QAPI names: letters, digits, '-', '_' (and '.' in downstream prefixes). */
static bool is_command_name(const char *s)
{
    if (!g_ascii_isalpha(*s) && *s != '_') {
        return false;
    }
    for (; *s; s++) {
        if (!g_ascii_isalnum(*s) && !strchr("-_.", *s)) {
            return false;
        }
    }
    return true;
}

/*
 * "name key=value key:=json ..." → {"execute":name,"arguments":{...}}.
 * The keys written key=value go to @typed (their strings get the schema's
 * types before sending).
 */
JsonNode *hb_qmp_build_shorthand(char **tokens, GPtrArray *typed, GError **errp)
{
    g_autoptr(JsonNode) root = json_node_new(JSON_NODE_OBJECT);
    JsonObject *cmd = json_object_new();
    JsonObject *args = json_object_new();
    guint i;

    json_node_take_object(root, cmd);
    if (!tokens[0] || !is_command_name(tokens[0])) {
        g_set_error(errp, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "'%s' is neither a JSON object nor a command name",
                    tokens[0] ? tokens[0] : "");
        json_object_unref(args);
        return NULL;
    }
    json_object_set_string_member(cmd, "execute", tokens[0]);
    for (i = 1; tokens[i]; i++) {
        const char *eq = strchr(tokens[i], '=');
        g_autofree char *key = NULL;
        JsonNode *value;

        if (!eq || eq == tokens[i]) {
            g_set_error(errp, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                        "argument '%s' is not key=value or key:=JSON",
                        tokens[i]);
            json_object_unref(args);
            return NULL;
        }
        if (eq[-1] == ':') {
            g_autoptr(JsonParser) p = json_parser_new_immutable();
            g_autoptr(GError) err = NULL;

            key = g_strndup(tokens[i], eq - 1 - tokens[i]);
            if (!json_parser_load_from_data(p, eq + 1, -1, &err) ||
                !json_parser_get_root(p)) {
                g_set_error(errp, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            "argument '%s': invalid JSON: %s", key,
                            err ? err->message : "empty");
                json_object_unref(args);
                return NULL;
            }
            value = json_node_copy(json_parser_get_root(p));
        } else {
            key = g_strndup(tokens[i], eq - tokens[i]);
            value = json_node_new(JSON_NODE_VALUE);
            json_node_set_string(value, eq + 1);
            g_ptr_array_add(typed, g_strdup(key));
        }
        if (!put_dotted(args, key, value, errp)) {
            json_object_unref(args);
            return NULL;
        }
    }
    if (json_object_get_size(args)) {
        json_object_set_object_member(cmd, "arguments", args);
    } else {
        json_object_unref(args);
    }
    return g_steal_pointer(&root);
}

JsonNode *hb_qmp_build_json(const char *text, GError **errp)
{
    g_autoptr(JsonParser) p = json_parser_new_immutable();
    JsonNode *root;

    if (!json_parser_load_from_data(p, text, -1, errp)) {
        g_prefix_error(errp, "invalid JSON: ");
        return NULL;
    }
    root = json_parser_get_root(p);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(errp, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "a command must be a JSON object");
        return NULL;
    }
    return json_node_copy(root);
}

/* A stdin line or the command-line words → the request to send. */
JsonNode *hb_qmp_build_line(const char *line, GPtrArray *typed, GError **errp)
{
    g_auto(GStrv) tokens = NULL;

    if (line[0] == '{') {
        return hb_qmp_build_json(line, errp);
    }
    if (!g_shell_parse_argv(line, NULL, &tokens, errp)) {
        return NULL;
    }
    return hb_qmp_build_shorthand(tokens, typed, errp);
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util/keyval.h — QEMU's key=value option syntax (and JSON objects) parsed into a JSON tree. */
#ifndef HB_UTIL_KEYVAL_H
#define HB_UTIL_KEYVAL_H

#include <stdbool.h>
#include <glib.h>
#include <json-glib/json-glib.h>

/**
 * hb_keyval_parse() - parse a command-line option value into a JSON object
 * @str: "secret,id=sec0,data=abc123" (QEMU's KEY=VALUE,... syntax) or a
 *       JSON object text (when it starts with '{')
 * @implied_key: the key a leading element without '=' is the value of
 *       ("qom-type" for --object, "driver" for --blockdev, "type" for
 *       --export); NULL when there is none
 * @is_keyval: set to true when @str was key=value, false when JSON; may be
 *       NULL
 * @errp: error
 *
 * Keyval semantics follow QEMU's util/keyval.c: dotted keys nest
 * ("file.filename=x" gives {"file":{"filename":"x"}}), ",," is a literal
 * comma inside a value, numeric key fragments make arrays ("a.0=x,a.1=y"
 * gives {"a":["x","y"]}) whose indexes must have no gaps, and a trailing
 * comma is allowed.  Unlike QEMU, a key given twice is an error rather than
 * "last one wins": on a daemon command line a repeated key is almost always
 * a typo.  Every keyval scalar is a string; the schema layer converts.
 *
 * Return: a new JSON object node, or NULL with @errp set.
 */
JsonNode *hb_keyval_parse(const char *str, const char *implied_key,
                          bool *is_keyval, GError **errp);

/**
 * hb_parse_bool() - a boolean as QEMU's option parsers take it
 * (qapi_bool_parse): "on", "yes", "true", "y" or "off", "no", "false", "n".
 * @out: untouched on failure
 *
 * Return: whether @s was one of them.
 */
bool hb_parse_bool(const char *s, bool *out);

#endif

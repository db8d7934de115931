/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util/json.h — JSON input as QEMU reads it: json-glib, but duplicate keys refused. */
#ifndef HB_UTIL_JSON_H
#define HB_UTIL_JSON_H

#include <json-glib/json-glib.h>

/*
 * Every JSON text a client sends (QMP requests, --object/--blockdev/
 * --export in JSON form) goes through here.  Errors read "JSON parse
 * error, ...", as QEMU's do.
 */
JsonNode *hb_json_parse(const char *text, gssize len, GError **errp);

/**
 * hb_json_to_string() - @node as compact JSON that is always valid JSON in
 * plain ASCII, whatever its strings hold: control characters and
 * non-ASCII escaped as \uXXXX, invalid UTF-8 replaced by U+FFFD.  Every
 * reply and event goes out through here.
 *
 * Return: a new string.
 */
char *hb_json_to_string(JsonNode *node);

#endif

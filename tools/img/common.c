/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/img/common.c — error reporting, --object, -o and sizes: what every subcommand shares. */

#include <math.h>
#include <unistd.h>

#include "tools/img/img.h"

#include "crypto/secret.h"
#include "util/keyval.h"

#include "util/error.h"
#include "util/size.h"

int hb_img_fail(GError *err, const char *context)
{
    if (context) {
        fprintf(stderr, "%s: %s: %s\n", hb_img_prog, context, err->message);
    } else {
        fprintf(stderr, "%s: %s\n", hb_img_prog, err->message);
    }
    g_error_free(err);
    return 1;
}

int hb_img_usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", hb_img_prog);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry '%s --help' for more information.\n", hb_img_prog);
    return 1;
}

/*
 * info and check: --output must be human or json, and exactly one image
 * name must follow the options.  Returns it, or NULL after a usage error.
 */
const char *hb_img_output_and_one_image(int argc, char **argv, const char *output)
{
    if (strcmp(output, "human") && strcmp(output, "json")) {
        hb_img_usage_error("--output must be used with human or json as argument.%s", "");
        return NULL;
    }
    return hb_img_one_image(argc, argv);
}

bool hb_img_object_option(const char *text)
{
    GError *err = NULL;

    return hb_img_add_object(text, &err) || (hb_img_fail(err, NULL), false);
}

const char *hb_img_one_image(int argc, char **argv)
{
    if (optind != argc - 1) {
        hb_img_usage_error("%s", "Expecting one image file name");
        return NULL;
    }
    return argv[optind];
}

/* --object secret,id=..,data=..: register it with the crypto module. */
bool hb_img_add_object(const char *text, GError **errp)
{
    g_autoptr(JsonNode) j = hb_keyval_parse(text, "qom-type", NULL, errp);

    if (!j) {
        return false;
    }
    JsonObject *o = json_node_get_object(j);
    const char *type = json_object_get_string_member_with_default(o, "qom-type", NULL);
    if (!type || !g_str_equal(type, "secret")) {
        hb_error_set(errp, "Invalid object type '%s'", type ? type : "");
        return false;
    }
    const char *format = json_object_get_string_member_with_default(o, "format", "raw");
    HbSecretOptions so = {
        .id = json_object_get_string_member_with_default(o, "id", NULL),
        .data = json_object_get_string_member_with_default(o, "data", NULL),
        .file = json_object_get_string_member_with_default(o, "file", NULL),
        .keyid = json_object_get_string_member_with_default(o, "keyid", NULL),
        .iv = json_object_get_string_member_with_default(o, "iv", NULL),
        .format = g_str_equal(format, "base64") ? HB_SECRET_FORMAT_BASE64
                                                : HB_SECRET_FORMAT_RAW,
    };
    if (!so.id) {
        hb_error_set(errp, "Parameter 'id' is missing");
        return false;
    }
    return hb_secret_add(&so, errp);
}

/* "200G" -> bytes (1024-based suffixes, like qemu-img); at most INT64_MAX. */
void hb_img_progress(bool on, uint64_t done, uint64_t total)
{
    if (on) {
        printf("    (%.2f/100%%)\r", total ? 100.0 * (double)done / (double)total : 100.0);
        fflush(stdout);
    }
}

int hb_img_bad_size(const char *what)
{
    fprintf(stderr, "%s: Invalid %s specified. You may use k, M, G, T, P or E suffixes for\n"
            "%s: kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.\n",
            hb_img_prog, what, hb_img_prog);
    return 1;
}

bool hb_img_parse_size(const char *s, int64_t *out)
{
    uint64_t v;

    if (!hb_parse_size(s, &v) || v > INT64_MAX) {
        return false;
    }
    *out = (int64_t)v;
    return true;
}

/* -o a=b,c=d (repeatable) into @opts; ",," is a literal comma. */
bool hb_img_parse_create_opts(const char *text, GHashTable *opts, GError **errp)
{
    /* "-o help" / "-o ?": the caller lists the format's options. */
    if (g_str_equal(text, "help") || g_str_equal(text, "?")) {
        g_hash_table_insert(opts, g_strdup("help"), g_strdup(""));
        return true;
    }
    g_autoptr(JsonNode) j = hb_keyval_parse(text, NULL, NULL, errp);

    if (!j) {
        return false;
    }
    JsonObject *o = json_node_get_object(j);
    g_autoptr(GList) members = json_object_get_members(o);
    for (GList *l = members; l; l = l->next) {
        JsonNode *v = json_object_get_member(o, l->data);
        /* Dotted names (encrypt.format=...) come back as one level of
         * nesting: keep them dotted, as the options' tables name them. */
        if (JSON_NODE_HOLDS_OBJECT(v)) {
            JsonObject *sub = json_node_get_object(v);
            g_autoptr(GList) inner = json_object_get_members(sub);
            for (GList *m = inner; m; m = m->next) {
                JsonNode *iv = json_object_get_member(sub, m->data);
                if (!JSON_NODE_HOLDS_VALUE(iv)) {
                    hb_error_set(errp, "Invalid parameter '%s.%s'", (char *)l->data,
                                 (char *)m->data);
                    return false;
                }
                g_hash_table_insert(opts, g_strdup_printf("%s.%s", (char *)l->data,
                                                          (char *)m->data),
                                    g_strdup(json_node_get_string(iv)));
            }
            continue;
        }
        if (!JSON_NODE_HOLDS_VALUE(v)) {
            hb_error_set(errp, "Invalid parameter '%s'", (char *)l->data);
            return false;
        }
        g_hash_table_insert(opts, g_strdup(l->data),
                            g_strdup(json_node_get_string(v)));
    }
    return true;
}

const HbDriver *hb_img_driver_by_name(const char *fmt, GError **errp)
{
    QapiBlockdevDriver v;

    if (!QapiBlockdevDriver_parse(fmt, &v) || !hb_driver_for(v)) {
        hb_error_set(errp, "Unknown file format '%s'", fmt);
        return NULL;
    }
    return hb_driver_for(v);
}

bool hb_img_create_image(const char *fmt, const char *filename, int64_t size,
                         GHashTable *opts, GError **errp)
{
    const HbDriver *drv = hb_img_driver_by_name(fmt, errp);

    if (!drv) {
        return false;
    }
    if (!drv->create) {
        hb_error_set(errp, "Format driver '%s' does not support image creation",
                     fmt);
        return false;
    }
    if (!drv->create(filename, size, opts, errp)) {
        return false;
    }
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init(&it, opts);
    if (g_hash_table_iter_next(&it, &key, NULL)) {
        hb_error_set(errp, "Invalid parameter '%s'", (char *)key);
        unlink(filename);
        return false;
    }
    return true;
}

/* -o (@opts) and --object, which create and convert take alike. */
bool hb_img_create_option(int c, const char *arg, GHashTable *opts, GError **errp)
{
    return c == 'o' ? hb_img_parse_create_opts(arg, opts, errp) : hb_img_add_object(arg, errp);
}

/* qemu-img's sizes: three significant digits, binary units. */
char *hb_img_size_to_str(uint64_t val)
{
    static const char *const suffixes[] = { "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei" };
    int e;

    /* Switch to the next unit once the value would print as >= 1000. */
    frexp((double)val / (1000.0 / 1024.0), &e);
    int i = (e - 1) / 10;
    if (i < 0) {
        i = 0;
    }
    double div = (double)(1ULL << (i * 10));
    return g_strdup_printf("%0.3g %sB", (double)val / div, suffixes[i]);
}

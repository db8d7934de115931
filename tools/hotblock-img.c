/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/hotblock-img.c — create, info, check and convert images, in qemu-img's syntax. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "block/info.h"
#include "block/node.h"
#include "block/qcow2/qcow2.h"
#include "crypto/secret.h"
#include "util/keyval.h"
#include "qapi-json.h"
#include "util/error.h"
#include "util/size.h"

/*
 * Every format-specific action goes through the driver table: create is
 * HbDriver.create, info is the node's query structures, convert is plain
 * node I/O.  A new format (qcow2) needs no code here beyond its table
 * entry.  Images are opened as block graphs exactly as the daemon opens
 * them, so "json:{...}" filenames describe whole graphs (a luks node with
 * a detached header, say).
 */

#define COPY_CHUNK (1024 * 1024)

static const char *prog = "hotblock-img";

static void usage(FILE *f)
{
    fprintf(f,
"usage: hotblock-img [--help] COMMAND [ARGS]\n"
"\n"
"  create [--object OBJ]... -f FMT [-o OPTS]... FILENAME [SIZE]\n"
"  info [--object OBJ]... [-f FMT] [--image-opts] [-U] [--output=human|json]\n"
"       [--backing-chain] FILENAME\n"
"  check [-f FMT] [-U] [--output=human|json] FILENAME\n"
"  convert [--object OBJ]... [-p] [-n] [-f FMT] [--image-opts] [--target-image-opts]\n"
"          -O FMT [-o OPTS]... SRC DST\n"
"\n"
"FMT is raw, luks or qcow2.  check supports qcow2 only (exit status as\n"
"qemu-img check: 0 clean, 1 check failed, 2 corruptions, 3 leaks only,\n"
"63 format without checks).\n"
"FILENAME may be json:{...} describing a whole block graph, or with\n"
"--image-opts a key=value list (driver=luks,file.filename=x,...).\n"
"OBJ is a secret: secret,id=ID,data=TEXT | file=PATH [,format=base64].\n"
"SIZE takes k, M, G, T suffixes (powers of 1024).\n");
}

static int fail(GError *err, const char *context)
{
    if (context) {
        fprintf(stderr, "%s: %s: %s\n", prog, context, err->message);
    } else {
        fprintf(stderr, "%s: %s\n", prog, err->message);
    }
    g_error_free(err);
    return 1;
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry '%s --help' for more information.\n", prog);
    return 1;
}

/*
 * info and check: --output must be human or json, and exactly one image
 * name must follow the options.  Returns it, or NULL after a usage error.
 */
static const char *output_and_one_image(int argc, char **argv, const char *output)
{
    if (strcmp(output, "human") && strcmp(output, "json")) {
        usage_error("--output must be used with human or json as argument.%s", "");
        return NULL;
    }
    if (optind != argc - 1) {
        usage_error("%s", "Expecting one image file name");
        return NULL;
    }
    return argv[optind];
}

/* --object secret,id=..,data=..: register it with the crypto module. */
static bool add_object(const char *text, GError **errp)
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
static bool parse_size(const char *s, int64_t *out)
{
    uint64_t v;

    if (!hb_parse_size(s, &v) || v > INT64_MAX) {
        return false;
    }
    *out = (int64_t)v;
    return true;
}

/* -o a=b,c=d (repeatable) into @opts; ",," is a literal comma. */
static bool parse_create_opts(const char *text, GHashTable *opts, GError **errp)
{
    g_autoptr(JsonNode) j = hb_keyval_parse(text, NULL, NULL, errp);

    if (!j) {
        return false;
    }
    JsonObject *o = json_node_get_object(j);
    g_autoptr(GList) members = json_object_get_members(o);
    for (GList *l = members; l; l = l->next) {
        JsonNode *v = json_object_get_member(o, l->data);
        if (!JSON_NODE_HOLDS_VALUE(v)) {
            hb_error_set(errp, "Invalid parameter '%s'", (char *)l->data);
            return false;
        }
        g_hash_table_insert(opts, g_strdup(l->data),
                            g_strdup(json_node_get_string(v)));
    }
    return true;
}

static const HbDriver *driver_by_name(const char *fmt, GError **errp)
{
    QapiBlockdevDriver v;

    if (!QapiBlockdevDriver_parse(fmt, &v) || !hb_driver_for(v)) {
        hb_error_set(errp, "Unknown file format '%s'", fmt);
        return NULL;
    }
    return hb_driver_for(v);
}

static bool create_image(const char *fmt, const char *filename, int64_t size,
                         GHashTable *opts, GError **errp)
{
    const HbDriver *drv = driver_by_name(fmt, errp);

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

/* ---- opening images as graphs ---- */

static const char *probe_format(const char *filename)
{
    unsigned char magic[6] = { 0 };
    int fd = open(filename, O_RDONLY | O_CLOEXEC);

    if (fd >= 0) {
        if (read(fd, magic, sizeof(magic)) < 0) {
            memset(magic, 0, sizeof(magic));
        }
        close(fd);
    }
    if (!memcmp(magic, "LUKS\xba\xbe", 6)) {
        return "luks";
    }
    if (!memcmp(magic, "QFI\xfb", 4)) {
        return "qcow2";
    }
    return "raw";
}

/*
 * In a json: filename a child given only by "filename" is a file, as
 * QEMU reads {"file":{"filename":"x"}}.
 */
static void default_file_driver(JsonObject *o)
{
    if (!json_object_has_member(o, "driver") &&
        json_object_has_member(o, "filename")) {
        json_object_set_string_member(o, "driver", "file");
    }
    g_autoptr(GList) members = json_object_get_members(o);
    for (GList *l = members; l; l = l->next) {
        JsonNode *v = json_object_get_member(o, l->data);
        if (JSON_NODE_HOLDS_OBJECT(v)) {
            default_file_driver(json_node_get_object(v));
        }
    }
}

/* Set @key on every node definition in the tree (inline children too). */
static void set_everywhere(JsonObject *o, const char *key, bool keyval)
{
    if (json_object_has_member(o, "driver")) {
        if (keyval) {
            json_object_set_string_member(o, key, "on");
        } else {
            json_object_set_boolean_member(o, key, true);
        }
    }
    g_autoptr(GList) members = json_object_get_members(o);
    for (GList *l = members; l; l = l->next) {
        JsonNode *v = json_object_get_member(o, l->data);
        if (JSON_NODE_HOLDS_OBJECT(v)) {
            set_everywhere(json_node_get_object(v), key, keyval);
        }
    }
}

typedef struct OpenSpec {
    const char *fmt;       /* -f, or NULL to probe */
    bool image_opts;       /* @name is key=value options */
    bool read_only;
    bool force_share;
    const char *key_secret;/* added to a luks root without one */
    bool no_backing;       /* a qcow2 root from a file name: "backing": null */
} OpenSpec;

static HbNode *open_image(const char *name, const OpenSpec *spec, GError **errp)
{
    g_autoptr(JsonNode) j = NULL;
    bool keyval = false;

    if (spec->image_opts) {
        j = hb_keyval_parse(name, NULL, NULL, errp);
        keyval = true;
    } else if (g_str_has_prefix(name, "json:")) {
        j = json_from_string(name + 5, errp);
        if (j && !JSON_NODE_HOLDS_OBJECT(j)) {
            hb_error_set(errp, "Could not parse the JSON options");
            return NULL;
        }
    } else {
        const char *fmt = spec->fmt ? spec->fmt : probe_format(name);
        JsonObject *o = json_object_new();
        j = json_node_init_object(json_node_alloc(), o);
        json_object_set_string_member(o, "driver", fmt);
        if (spec->no_backing && g_str_equal(fmt, "qcow2")) {
            json_object_set_null_member(o, "backing");
        }
        if (!g_str_equal(fmt, "file")) {
            JsonObject *f = json_object_new();
            json_object_set_string_member(f, "driver", "file");
            json_object_set_string_member(f, "filename", name);
            json_object_set_object_member(o, "file", f);
        } else {
            json_object_set_string_member(o, "filename", name);
        }
        json_object_unref(o);
    }
    if (!j) {
        return NULL;
    }
    JsonObject *root = json_node_get_object(j);
    default_file_driver(root);
    if (spec->read_only) {
        set_everywhere(root, "read-only", keyval);
    }
    if (spec->force_share) {
        set_everywhere(root, "force-share", keyval);
    }
    if (spec->key_secret && !json_object_has_member(root, "key-secret") &&
        g_strcmp0(json_object_get_string_member_with_default(root, "driver", ""),
                  "luks") == 0) {
        json_object_set_string_member(root, "key-secret", spec->key_secret);
    }
    g_autoptr(QapiBlockdevOptions) opts = NULL;
    if (!qapi_from_json_BlockdevOptions(j, keyval, &opts, errp)) {
        return NULL;
    }
    return hb_node_open(opts, errp);
}

/* ---- info ---- */

/* qemu-img's sizes: three significant digits, binary units. */
static char *size_to_str(uint64_t val)
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

static void dump_human(JsonNode *n, int indent);

static void dump_member(const char *key, JsonNode *v, int indent)
{
    g_autofree char *k = g_strdup(key);

    g_strdelimit(k, "-", ' ');
    if (JSON_NODE_HOLDS_VALUE(v)) {
        g_autofree char *s = NULL;
        GType t = json_node_get_value_type(v);
        if (t == G_TYPE_BOOLEAN) {
            s = g_strdup(json_node_get_boolean(v) ? "true" : "false");
        } else if (t == G_TYPE_INT64) {
            s = g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(v));
        } else if (t == G_TYPE_DOUBLE) {
            s = g_strdup_printf("%g", json_node_get_double(v));
        } else {
            s = g_strdup(json_node_get_string(v));
        }
        printf("%*s%s: %s\n", indent, "", k, s);
    } else {
        printf("%*s%s:\n", indent, "", k);
        dump_human(v, indent + 4);
    }
}

static void dump_human(JsonNode *n, int indent)
{
    if (JSON_NODE_HOLDS_OBJECT(n)) {
        JsonObject *o = json_node_get_object(n);
        g_autoptr(GList) members = json_object_get_members(o);
        for (GList *l = members; l; l = l->next) {
            dump_member(l->data, json_object_get_member(o, l->data), indent);
        }
    } else if (JSON_NODE_HOLDS_ARRAY(n)) {
        JsonArray *a = json_node_get_array(n);
        for (guint i = 0; i < json_array_get_length(a); i++) {
            g_autofree char *k = g_strdup_printf("[%u]", i);
            dump_member(k, json_array_get_element(a, i), indent);
        }
    }
}

static void print_info_human(QapiImageInfo *info)
{
    g_autofree char *vs = size_to_str((uint64_t)info->virtual_size);

    printf("image: %s\n", info->filename);
    printf("file format: %s\n", info->format);
    printf("virtual size: %s (%" G_GINT64_FORMAT " bytes)\n", vs,
           info->virtual_size);
    if (info->has_actual_size) {
        g_autofree char *ds = size_to_str((uint64_t)info->actual_size);
        printf("disk size: %s\n", ds);
    } else {
        printf("disk size: unavailable\n");
    }
    if (info->has_cluster_size) {
        printf("cluster_size: %" G_GINT64_FORMAT "\n", info->cluster_size);
    }
    if (info->has_encrypted && info->encrypted) {
        printf("encrypted: yes\n");
    }
    if (info->backing_filename) {
        printf("backing file: %s", info->backing_filename);
        if (!info->full_backing_filename) {
            printf(" (cannot determine actual path)");
        } else if (strcmp(info->backing_filename, info->full_backing_filename)) {
            printf(" (actual path: %s)", info->full_backing_filename);
        }
        printf("\n");
    }
    if (info->backing_filename_format) {
        printf("backing file format: %s\n", info->backing_filename_format);
    }
    if (info->format_specific) {
        g_autoptr(JsonNode) j = qapi_to_json_ImageInfoSpecific(info->format_specific);
        JsonNode *data = json_object_get_member(json_node_get_object(j), "data");
        printf("Format specific information:\n");
        if (data) {
            dump_human(data, 4);
        }
    }
}

/* --backing-chain: a list of the chain's images, each without the rest. */
static void print_info_chain(QapiImageInfo *top, bool json)
{
    g_autoptr(JsonArray) a = json_array_new();

    for (QapiImageInfo *i = top; i; i = i->backing_image) {
        QapiImageInfo *below = g_steal_pointer(&i->backing_image);
        if (json) {
            json_array_add_element(a, qapi_to_json_ImageInfo(i));
        } else {
            if (i != top) {
                printf("\n");
            }
            print_info_human(i);
        }
        i->backing_image = below;
    }
    if (json) {
        g_autoptr(JsonNode) j = json_node_init_array(json_node_alloc(), a);
        g_autofree char *text = json_to_string(j, true);
        printf("%s\n", text);
    }
}

static int cmd_info(int argc, char **argv)
{
    static const struct option lopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, 'j' },
        { "output", required_argument, NULL, 'u' },
        { "image-opts", no_argument, NULL, 'i' },
        { "force-share", no_argument, NULL, 'U' },
        { "backing-chain", no_argument, NULL, 'b' },
        { NULL, 0, NULL, 0 },
    };
    OpenSpec spec = { .read_only = true };
    const char *output = "human";
    bool chain = false;
    GError *err = NULL;
    int c;

    while ((c = getopt_long(argc, argv, "hf:U", lopts, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); return 0;
        case 'f': spec.fmt = optarg; break;
        case 'U': spec.force_share = true; break;
        case 'i': spec.image_opts = true; break;
        case 'u': output = optarg; break;
        case 'b': chain = true; break;
        case 'j':
            if (!add_object(optarg, &err)) {
                return fail(err, NULL);
            }
            break;
        default: return usage_error("%s", "invalid option");
        }
    }
    const char *name = output_and_one_image(argc, argv, output);
    if (!name) {
        return 1;
    }
    /* Like qemu-img, look at the backing file only when asked to. */
    spec.no_backing = !chain;
    g_autoptr(HbNode) node = open_image(name, &spec, &err);
    if (!node) {
        return fail(err, spec.image_opts ? NULL : name);
    }
    g_autoptr(QapiImageInfo) info = hb_node_image_info_chain(node);
    if (!g_str_has_prefix(name, "json:") && !spec.image_opts) {
        g_free(info->filename);
        info->filename = g_strdup(name);
    }
    if (chain) {
        print_info_chain(info, g_str_equal(output, "json"));
    } else if (g_str_equal(output, "json")) {
        g_autoptr(JsonNode) j = qapi_to_json_ImageInfo(info);
        g_autofree char *text = json_to_string(j, true);
        printf("%s\n", text);
    } else {
        print_info_human(info);
    }
    return 0;
}

/* ---- check ---- */

/* qemu-img check's exit statuses. */
enum {
    CHECK_CLEAN = 0,
    CHECK_FAILED = 1,
    CHECK_CORRUPT = 2,
    CHECK_LEAKS = 3,
    CHECK_UNSUPPORTED = 63,
};

/* An ImageCheck counter: present only when not zero, as qemu-img prints it. */
static void add_nonzero(JsonBuilder *b, const char *name, uint64_t v)
{
    if (v) {
        json_builder_set_member_name(b, name);
        json_builder_add_int_value(b, (gint64)v);
    }
}

static void print_check_json(const char *filename, const HbQcow2CheckResult *r)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    /* ImageCheck's members; counters that are zero are left out, as QEMU does. */
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "filename");
    json_builder_add_string_value(b, filename);
    json_builder_set_member_name(b, "format");
    json_builder_add_string_value(b, "qcow2");
    json_builder_set_member_name(b, "check-errors");
    json_builder_add_int_value(b, (gint64)r->check_errors);
    add_nonzero(b, "image-end-offset", r->image_end_offset);
    add_nonzero(b, "corruptions", r->corruptions);
    add_nonzero(b, "leaks", r->leaks);
    add_nonzero(b, "total-clusters", r->total_clusters);
    add_nonzero(b, "allocated-clusters", r->allocated_clusters);
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autofree char *text = json_to_string(root, true);
    printf("%s\n", text);
}

static void print_check_human(const HbQcow2CheckResult *r)
{
    if (r->corruptions) {
        printf("\n%" G_GUINT64_FORMAT " errors were found on the image.\n"
               "Data may be corrupted, or further writes to the image may "
               "corrupt it.\n", r->corruptions);
    }
    if (r->leaks) {
        printf("\n%" G_GUINT64_FORMAT " leaked clusters were found on the image.\n"
               "This means waste of disk space, but no harm to data.\n",
               r->leaks);
    }
    if (r->check_errors) {
        printf("\n%" G_GUINT64_FORMAT " internal errors have occurred during "
               "the check.\n", r->check_errors);
    }
    if (!r->corruptions && !r->leaks && !r->check_errors) {
        printf("No errors were found on the image.\n");
    }
    /*
     * qemu-img goes on with "F% fragmented, C% compressed clusters";
     * the check result does not count those, so the line stops at what
     * is known rather than printing made-up zeroes.
     */
    if (r->total_clusters && r->allocated_clusters) {
        printf("%" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT " = %0.2f%% allocated\n",
               r->allocated_clusters, r->total_clusters,
               100.0 * (double)r->allocated_clusters / (double)r->total_clusters);
    }
    if (r->image_end_offset) {
        printf("Image end offset: %" G_GUINT64_FORMAT "\n", r->image_end_offset);
    }
}

static int cmd_check(int argc, char **argv)
{
    static const struct option lopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "output", required_argument, NULL, 'u' },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 },
    };
    const char *output = "human";
    const char *fmt = NULL;
    GError *err = NULL;
    int c;

    /* -U is accepted for qemu-img compatibility: the check only reads. */
    while ((c = getopt_long(argc, argv, "hf:qU", lopts, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); return 0;
        case 'f': fmt = optarg; break;
        case 'q': break;
        case 'U': break;
        case 'u': output = optarg; break;
        default: return usage_error("%s", "invalid option");
        }
    }
    const char *name = output_and_one_image(argc, argv, output);
    if (!name) {
        return 1;
    }
    if (fmt && !driver_by_name(fmt, &err)) {
        return fail(err, NULL);
    }
    if (g_str_has_prefix(name, "json:")) {
        fprintf(stderr, "%s: check takes a plain image file name\n", prog);
        return CHECK_FAILED;
    }
    if (!fmt) {
        if (access(name, R_OK) < 0) {
            fprintf(stderr, "%s: Could not open '%s': %s\n", prog, name,
                    g_strerror(errno));
            return CHECK_FAILED;
        }
        fmt = probe_format(name);
    }
    if (!g_str_equal(fmt, "qcow2")) {
        fprintf(stderr, "%s: This image format does not support checks\n", prog);
        return CHECK_UNSUPPORTED;
    }

    HbQcow2CheckResult res;
    g_autoptr(GString) report = g_string_new(NULL);
    bool ok = hb_qcow2_check(name, &res, report, &err);
    /* Per-cluster findings go to stderr, as qemu-img prints them. */
    fputs(report->str, stderr);
    if (!ok) {
        fprintf(stderr, "%s: Check failed: %s\n", prog, err->message);
        g_error_free(err);
        return CHECK_FAILED;
    }
    if (g_str_equal(output, "json")) {
        print_check_json(name, &res);
    } else {
        print_check_human(&res);
    }
    if (res.check_errors) {
        return CHECK_FAILED;
    }
    if (res.corruptions) {
        return CHECK_CORRUPT;
    }
    return res.leaks ? CHECK_LEAKS : CHECK_CLEAN;
}

/* ---- create ---- */

/* -o (@opts) and --object, which create and convert take alike. */
static bool create_option(int c, const char *arg, GHashTable *opts, GError **errp)
{
    return c == 'o' ? parse_create_opts(arg, opts, errp) : add_object(arg, errp);
}

static int cmd_create(int argc, char **argv)
{
    static const struct option lopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, 'j' },
        { NULL, 0, NULL, 0 },
    };
    g_autoptr(GHashTable) opts = g_hash_table_new_full(g_str_hash, g_str_equal,
                                                       g_free, g_free);
    const char *fmt = "raw";
    GError *err = NULL;
    int64_t size = -1;
    int c;

    while ((c = getopt_long(argc, argv, "hf:o:q", lopts, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); return 0;
        case 'f': fmt = optarg; break;
        case 'q': break;
        case 'o':
        case 'j':
            if (!create_option(c, optarg, opts, &err)) {
                return fail(err, NULL);
            }
            break;
        default: return usage_error("%s", "invalid option");
        }
    }
    if (optind >= argc) {
        return usage_error("%s", "Expecting image file name");
    }
    const char *filename = argv[optind++];
    if (optind < argc) {
        if (!parse_size(argv[optind], &size)) {
            return usage_error("Invalid image size specified: '%s'", argv[optind]);
        }
        optind++;
    }
    if (optind != argc) {
        return usage_error("Unexpected argument: %s", argv[optind]);
    }
    if (!create_image(fmt, filename, size, opts, &err)) {
        return fail(err, filename);
    }
    if (size >= 0) {
        printf("Formatting '%s', fmt=%s size=%" G_GINT64_FORMAT "\n", filename,
               fmt, size);
    } else {
        printf("Formatting '%s', fmt=%s\n", filename, fmt);
    }
    return 0;
}

/* ---- convert ---- */

static bool is_zero(const uint8_t *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

static void progress(bool on, uint64_t done, uint64_t total)
{
    if (on) {
        printf("    (%.2f/100%%)\r", total ? 100.0 * done / total : 100.0);
        fflush(stdout);
    }
}

static int cmd_convert(int argc, char **argv)
{
    static const struct option lopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, 'j' },
        { "image-opts", no_argument, NULL, 'i' },
        { "force-share", no_argument, NULL, 'U' },
        { "target-image-opts", no_argument, NULL, 't' },
        { NULL, 0, NULL, 0 },
    };
    g_autoptr(GHashTable) opts = g_hash_table_new_full(g_str_hash, g_str_equal,
                                                       g_free, g_free);
    OpenSpec src_spec = { .read_only = true };
    const char *out_fmt = "raw";
    bool show_progress = false;
    bool no_create = false;
    bool target_opts = false;
    GError *err = NULL;
    int c;

    while ((c = getopt_long(argc, argv, "hf:O:o:pqUn", lopts, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); return 0;
        case 'f': src_spec.fmt = optarg; break;
        case 'O': out_fmt = optarg; break;
        case 'p': show_progress = true; break;
        case 'n': no_create = true; break;
        case 't': target_opts = true; break;
        case 'q': show_progress = false; break;
        case 'U': src_spec.force_share = true; break;
        case 'i': src_spec.image_opts = true; break;
        case 'o':
        case 'j':
            if (!create_option(c, optarg, opts, &err)) {
                return fail(err, NULL);
            }
            break;
        default: return usage_error("%s", "invalid option");
        }
    }
    if (argc - optind != 2) {
        return usage_error("%s", "Expecting a source and a destination image");
    }
    const char *src_name = argv[optind];
    const char *dst_name = argv[optind + 1];

    g_autoptr(HbNode) src = open_image(src_name, &src_spec, &err);
    if (!src) {
        return fail(err, src_spec.image_opts ? NULL : src_name);
    }
    int64_t len = hb_node_get_length(src);
    if (len < 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, src_name, g_strerror((int)-len));
        return 1;
    }
    if (target_opts && !no_create) {
        return usage_error("%s", "--target-image-opts requires -n");
    }
    g_autofree char *key_secret = g_strdup(g_hash_table_lookup(opts, "key-secret"));
    if (!no_create && !create_image(out_fmt, dst_name, len, opts, &err)) {
        return fail(err, dst_name);
    }
    OpenSpec dst_spec = { .fmt = out_fmt, .key_secret = key_secret,
                          .image_opts = target_opts };
    g_autoptr(HbNode) dst = open_image(dst_name, &dst_spec, &err);
    if (!dst) {
        if (!no_create) {
            unlink(dst_name);
        }
        return fail(err, target_opts ? NULL : dst_name);
    }
    if (no_create && hb_node_get_length(dst) < len) {
        fprintf(stderr, "%s: the destination is smaller than the source\n", prog);
        return 1;
    }
    /* A freshly created raw file is sparse zeroes already. */
    bool skip_zero = !no_create && g_str_equal(out_fmt, "raw");
    g_autofree uint8_t *buf = g_malloc(COPY_CHUNK);
    int ret = 0;
    progress(show_progress, 0, (uint64_t)len);
    for (uint64_t off = 0; off < (uint64_t)len && ret == 0; off += COPY_CHUNK) {
        uint64_t n = MIN((uint64_t)COPY_CHUNK, (uint64_t)len - off);
        ret = hb_node_pread(src, off, buf, n);
        if (ret == 0 && !(skip_zero && is_zero(buf, n))) {
            ret = hb_node_pwrite(dst, off, buf, n, 0);
        }
        progress(show_progress, off + n, (uint64_t)len);
    }
    if (ret == 0) {
        ret = hb_node_flush(dst);
    }
    if (show_progress) {
        printf("\n");
    }
    g_clear_pointer(&dst, hb_node_unref);
    if (ret < 0) {
        fprintf(stderr, "%s: error while converting: %s\n", prog,
                g_strerror(-ret));
        if (!no_create) {
            unlink(dst_name);
        }
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int ret;

    if (argc < 2) {
        usage(stderr);
        return 1;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("hotblock-img version %s\n", HB_VERSION);
        return 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "create")) {
        ret = cmd_create(argc - 1, argv + 1);
    } else if (!strcmp(cmd, "info")) {
        ret = cmd_info(argc - 1, argv + 1);
    } else if (!strcmp(cmd, "check")) {
        ret = cmd_check(argc - 1, argv + 1);
    } else if (!strcmp(cmd, "convert")) {
        ret = cmd_convert(argc - 1, argv + 1);
    } else {
        return usage_error("Command not found: %s", cmd);
    }
    hb_secret_clear_all();
    return ret;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/img/info.c — the info subcommand, human and json output as qemu-img prints them. */

#include <getopt.h>

#include "tools/img/img.h"
#include "block/info.h"

#include "qapi-json.h"

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
    g_autofree char *vs = hb_img_size_to_str((uint64_t)info->virtual_size);

    printf("image: %s\n", info->filename);
    printf("file format: %s\n", info->format);
    printf("virtual size: %s (%" G_GINT64_FORMAT " bytes)\n", vs,
           info->virtual_size);
    if (info->has_actual_size) {
        g_autofree char *ds = hb_img_size_to_str((uint64_t)info->actual_size);
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

int hb_img_cmd_info(int argc, char **argv)
{
    static const struct option lopts[] = {
        HB_IMG_LOPTS_READER,
        { "output", required_argument, NULL, 'u' },
        { "backing-chain", no_argument, NULL, 'b' },
        { NULL, 0, NULL, 0 },
    };
    HbImgOpenSpec spec = { .read_only = true };
    const char *output = "human";
    bool chain = false;
    GError *err = NULL;
    int c;

    while ((c = getopt_long(argc, argv, "hf:U", lopts, NULL)) != -1) {
        switch (c) {
        case 'h': hb_img_cmd_help(argv[0]); return 0;
        case 'f': spec.fmt = optarg; break;
        case 'U': spec.force_share = true; break;
        case 'i': spec.image_opts = true; break;
        case 'u': output = optarg; break;
        case 'b': chain = true; break;
        case 'j':
            if (!hb_img_add_object(optarg, &err)) {
                return hb_img_fail(err, NULL);
            }
            break;
        default: return hb_img_usage_error("%s", "invalid option");
        }
    }
    const char *name = hb_img_output_and_one_image(argc, argv, output);
    if (!name) {
        return 1;
    }
    /* Like qemu-img, look at the backing file only when asked to, and show
     * a LUKS header without its key. */
    spec.no_backing = !chain;
    hb_luks_allow_metadata_only();
    g_autoptr(HbNode) node = hb_img_open_image(name, &spec, &err);
    if (!node) {
        return hb_img_open_fail(err, name);
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

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/img/dd.c — the dd subcommand: qemu-img dd's operands, sizes and texts. */

#include <getopt.h>
#include <unistd.h>

#include "tools/img/img.h"

typedef struct DdArgs {
    HbImgOpenSpec in_spec;
    const char *out_fmt;
    const char *in, *out;
    int64_t bs, count, skip;
    bool has_count, has_skip;
    bool progress;              /* -p, beyond qemu-img dd */
} DdArgs;

/* One "key=value" operand into @a: 0, or the exit status. */
static int parse_operand(const char *arg, DdArgs *a)
{
    const char *eq = strchr(arg, '=');
    g_autofree char *key = eq ? g_strndup(arg, (gsize)(eq - arg)) : g_strdup(arg);
    const char *v = eq ? eq + 1 : "";

    if (g_str_equal(key, "if")) {
        a->in = v;
    } else if (g_str_equal(key, "of")) {
        a->out = v;
    } else if (g_str_equal(key, "bs")) {
        if (!hb_img_parse_size(v, &a->bs)) {
            return hb_img_bad_size("bs");
        }
        if (a->bs < 1 || a->bs > G_MAXINT32) {
            fprintf(stderr, "%s: Invalid bs specified. Must be between 1 and %d.\n",
                    hb_img_prog, G_MAXINT32);
            return 1;
        }
    } else if (g_str_equal(key, "count")) {
        if (!hb_img_parse_size(v, &a->count)) {
            return hb_img_bad_size("count");
        }
        a->has_count = true;
    } else if (g_str_equal(key, "skip")) {
        if (!hb_img_parse_size(v, &a->skip)) {
            return hb_img_bad_size("skip");
        }
        a->has_skip = true;
    } else {
        fprintf(stderr, "%s: unrecognized operand %s\n", hb_img_prog, key);
        return 1;
    }
    return 0;
}

/* Return -1 to go on, or the exit status. */
static int parse_args(int argc, char **argv, DdArgs *a)
{
    static const struct option lopts[] = {
        HB_IMG_LOPTS_READER,
        { NULL, 0, NULL, 0 },
    };
    GError *err = NULL;
    int c;

    while ((c = getopt_long(argc, argv, "hf:O:pU", lopts, NULL)) != -1) {
        switch (c) {
        case 'h': hb_img_cmd_help(argv[0]); return 0;
        case 'p': a->progress = true; break;
        case 'f': a->in_spec.fmt = optarg; break;
        case 'O': a->out_fmt = optarg; break;
        case 'U': a->in_spec.force_share = true; break;
        case 'i': a->in_spec.image_opts = true; break;
        case 'j':
            if (!hb_img_add_object(optarg, &err)) {
                return hb_img_fail(err, NULL);
            }
            break;
        default: return hb_img_usage_error("%s", "invalid option");
        }
    }
    for (int i = optind; i < argc; i++) {
        int status = parse_operand(argv[i], a);
        if (status) {
            return status;
        }
    }
    if (!a->in || !a->out) {
        fprintf(stderr, "%s: Must specify both input and output files\n", hb_img_prog);
        return 1;
    }
    return -1;
}

int hb_img_cmd_dd(int argc, char **argv)
{
    DdArgs a = { .in_spec = { .read_only = true }, .out_fmt = "raw", .bs = 512 };
    g_autoptr(GHashTable) opts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    GError *err = NULL;
    int status = parse_args(argc, argv, &a);

    if (status >= 0) {
        return status;
    }
    g_autoptr(HbNode) in = hb_img_open_image(a.in, &a.in_spec, &err);
    if (!in) {
        return hb_img_open_fail(err, a.in);
    }
    int64_t size = hb_node_get_length(in);
    if (size < 0) {
        fprintf(stderr, "%s: %s: %s\n", hb_img_prog, a.in, g_strerror((int)-size));
        return 1;
    }
    /* As qemu-img: count= counts from the start, skipped blocks included. */
    if (a.has_count && a.count <= size / a.bs) {
        size = a.count * a.bs;
    }
    int64_t pos = a.skip * a.bs;
    if (a.has_skip && (a.skip > G_MAXINT64 / a.bs || size < pos)) {
        fprintf(stderr, "%s: %s: cannot skip to specified offset\n", hb_img_prog, a.in);
        pos = size;     /* qemu-img goes on and makes an empty image */
    }
    if (!hb_img_create_image(a.out_fmt, a.out, (size - pos + 511) & ~(int64_t)511, opts, &err)) {
        return hb_img_fail(err, a.out);
    }
    HbImgOpenSpec out_spec = { .fmt = a.out_fmt, .no_backing = true };
    g_autoptr(HbNode) out = hb_img_open_image(a.out, &out_spec, &err);
    if (!out) {
        unlink(a.out);
        return hb_img_open_fail(err, a.out);
    }
    g_autofree uint8_t *buf = g_malloc((gsize)a.bs);
    int ret = 0;
    hb_img_progress(a.progress, 0, (uint64_t)MAX(size - pos, 0));
    for (int64_t off = pos; off < size && ret == 0; off += a.bs) {
        uint64_t n = (uint64_t)MIN(a.bs, size - off);
        ret = hb_node_pread(in, (uint64_t)off, buf, n);
        if (ret == 0) {
            ret = hb_node_pwrite(out, (uint64_t)(off - pos), buf, n, 0);
        }
        if (ret == 0) {
            hb_img_progress(a.progress, (uint64_t)(off - pos) + n, (uint64_t)(size - pos));
        }
    }
    if (ret == 0) {
        ret = hb_node_flush(out);
    }
    if (a.progress) {
        printf("\n");
    }
    if (ret < 0) {
        fprintf(stderr, "%s: %s: error while copying: %s\n", hb_img_prog, a.out,
                g_strerror(-ret));
        return 1;
    }
    return 0;
}

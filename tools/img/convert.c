/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/img/convert.c — the convert subcommand: copy one graph's data into a new or existing image. */

#include <getopt.h>
#include <unistd.h>

#include "tools/img/img.h"

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

/* What the command line asked for. */
typedef struct ConvertArgs {
    HbImgOpenSpec src_spec;
    GHashTable *opts;       /* -o for the new image */
    const char *out_fmt;
    const char *src_name;
    const char *dst_name;
    bool show_progress;
    bool quiet;             /* -q wins over -p, in either order */
    bool no_create;         /* -n: the destination exists */
    bool target_opts;       /* --target-image-opts */
} ConvertArgs;

/* Return -1 to go on, or the exit status (help, usage error). */
static int parse_args(int argc, char **argv, ConvertArgs *a)
{
    static const struct option lopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, 'j' },
        { "image-opts", no_argument, NULL, 'i' },
        { "force-share", no_argument, NULL, 'U' },
        { "target-image-opts", no_argument, NULL, 't' },
        { NULL, 0, NULL, 0 },
    };
    GError *err = NULL;
    int c;

    while ((c = getopt_long(argc, argv, "hf:O:o:pqUn", lopts, NULL)) != -1) {
        switch (c) {
        case 'h': hb_img_cmd_help(argv[0]); return 0;
        case 'f': a->src_spec.fmt = optarg; break;
        case 'O': a->out_fmt = optarg; break;
        case 'p': a->show_progress = true; break;
        case 'n': a->no_create = true; break;
        case 't': a->target_opts = true; break;
        case 'q': a->quiet = true; break;
        case 'U': a->src_spec.force_share = true; break;
        case 'i': a->src_spec.image_opts = true; break;
        case 'o':
        case 'j':
            if (!hb_img_create_option(c, optarg, a->opts, &err)) {
                return hb_img_fail(err, NULL);
            }
            break;
        default: return hb_img_usage_error("%s", "invalid option");
        }
    }
    if (argc - optind != 2) {
        return hb_img_usage_error("%s", "Expecting a source and a destination image");
    }
    if (a->target_opts && !a->no_create) {
        return hb_img_usage_error("%s", "--target-image-opts requires -n");
    }
    a->show_progress &= !a->quiet;
    a->src_name = argv[optind];
    a->dst_name = argv[optind + 1];
    return -1;
}

/* Copy @len bytes of @src into @dst and flush it: 0 or -errno. */
static int copy_data(HbNode *src, HbNode *dst, int64_t len, bool skip_zero, bool show)
{
    g_autofree uint8_t *buf = g_malloc(HB_IMG_COPY_CHUNK);
    int ret = 0;

    progress(show, 0, (uint64_t)len);
    for (uint64_t off = 0; off < (uint64_t)len && ret == 0; off += HB_IMG_COPY_CHUNK) {
        uint64_t n = MIN((uint64_t)HB_IMG_COPY_CHUNK, (uint64_t)len - off);
        ret = hb_node_pread(src, off, buf, n);
        if (ret == 0 && !(skip_zero && is_zero(buf, n))) {
            ret = hb_node_pwrite(dst, off, buf, n, 0);
        }
        progress(show, off + n, (uint64_t)len);
    }
    if (ret == 0) {
        ret = hb_node_flush(dst);
    }
    if (show) {
        printf("\n");
    }
    return ret;
}

int hb_img_cmd_convert(int argc, char **argv)
{
    g_autoptr(GHashTable) opts = g_hash_table_new_full(g_str_hash, g_str_equal,
                                                       g_free, g_free);
    ConvertArgs a = { .src_spec = { .read_only = true }, .opts = opts, .out_fmt = "raw" };
    GError *err = NULL;
    int status = parse_args(argc, argv, &a);

    if (status >= 0) {
        return status;
    }
    g_autoptr(HbNode) src = hb_img_open_image(a.src_name, &a.src_spec, &err);
    if (!src) {
        return hb_img_open_fail(err, a.src_name);
    }
    int64_t len = hb_node_get_length(src);
    if (len < 0) {
        fprintf(stderr, "%s: %s: %s\n", hb_img_prog, a.src_name, g_strerror((int)-len));
        return 1;
    }
    g_autofree char *key_secret = g_strdup(g_hash_table_lookup(opts, "key-secret"));
    if (!a.no_create && !hb_img_create_image(a.out_fmt, a.dst_name, len, opts, &err)) {
        return hb_img_fail(err, a.dst_name);
    }
    HbImgOpenSpec dst_spec = { .fmt = a.out_fmt, .key_secret = key_secret,
                               .image_opts = a.target_opts };
    g_autoptr(HbNode) dst = hb_img_open_image(a.dst_name, &dst_spec, &err);
    if (!dst) {
        if (!a.no_create) {
            unlink(a.dst_name);
        }
        return hb_img_open_fail(err, a.dst_name);
    }
    if (a.no_create && hb_node_get_length(dst) < len) {
        fprintf(stderr, "%s: the destination is smaller than the source\n", hb_img_prog);
        return 1;
    }
    /* A freshly created raw file is sparse zeroes already. */
    bool skip_zero = !a.no_create && g_str_equal(a.out_fmt, "raw");
    int ret = copy_data(src, dst, len, skip_zero, a.show_progress);
    g_clear_pointer(&dst, hb_node_unref);
    if (ret < 0) {
        fprintf(stderr, "%s: error while converting: %s\n", hb_img_prog, g_strerror(-ret));
        if (!a.no_create) {
            unlink(a.dst_name);
        }
        return 1;
    }
    return 0;
}

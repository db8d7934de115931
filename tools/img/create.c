/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/img/create.c — the create subcommand. */

#include <getopt.h>

#include "tools/img/img.h"

int hb_img_cmd_create(int argc, char **argv)
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
        case 'h': hb_img_usage(stdout); return 0;
        case 'f': fmt = optarg; break;
        case 'q': break;
        case 'o':
        case 'j':
            if (!hb_img_create_option(c, optarg, opts, &err)) {
                return hb_img_fail(err, NULL);
            }
            break;
        default: return hb_img_usage_error("%s", "invalid option");
        }
    }
    if (optind >= argc) {
        return hb_img_usage_error("%s", "Expecting image file name");
    }
    const char *filename = argv[optind++];
    if (optind < argc) {
        if (!hb_img_parse_size(argv[optind], &size)) {
            return hb_img_usage_error("Invalid image size specified: '%s'", argv[optind]);
        }
        optind++;
    }
    if (optind != argc) {
        return hb_img_usage_error("Unexpected argument: %s", argv[optind]);
    }
    if (!hb_img_create_image(fmt, filename, size, opts, &err)) {
        return hb_img_fail(err, filename);
    }
    if (size >= 0) {
        printf("Formatting '%s', fmt=%s size=%" G_GINT64_FORMAT "\n", filename,
               fmt, size);
    } else {
        printf("Formatting '%s', fmt=%s\n", filename, fmt);
    }
    return 0;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/img/resize.c — the resize subcommand: qemu-img resize's syntax, --shrink and --preallocation rules and texts. */

#include <getopt.h>

#include "tools/img/img.h"

#include "util/error.h"

/* "+1M", "-1M" or "1M": the new size from @cur; false for a bad size. */
static bool parse_new_size(const char *arg, int64_t cur, int64_t *out)
{
    int64_t n;

    if (arg[0] == '+' || arg[0] == '-') {
        if (!hb_img_parse_size(arg + 1, &n)) {
            return false;
        }
        *out = arg[0] == '+' ? cur + n : cur - n;
        return true;
    }
    return hb_img_parse_size(arg, out);
}

int hb_img_cmd_resize(int argc, char **argv)
{
    static const struct option lopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, 'j' },
        { "image-opts", no_argument, NULL, 'i' },
        { "shrink", no_argument, NULL, 's' },
        { "preallocation", required_argument, NULL, 'p' },
        { NULL, 0, NULL, 0 },
    };
    /*
     * With the backing file, as qemu-img: growing over a longer backing
     * file zeroes the new area, and preallocation must not hide backing
     * data in the old last cluster.
     */
    HbImgOpenSpec spec = { 0 };
    QapiPreallocMode prealloc = QAPI_PREALLOC_MODE_OFF;
    bool quiet = false, shrink = false;
    GError *err = NULL;
    int c;

    /* "resize IMG -1M": a leading '-' in the size is not an option. */
    if (argc >= 3 && argv[argc - 1][0] == '-' && g_ascii_isdigit(argv[argc - 1][1])) {
        argv[argc - 1][0] = '~';
    }
    while ((c = getopt_long(argc, argv, "hf:q", lopts, NULL)) != -1) {
        switch (c) {
        case 'h': hb_img_cmd_help(argv[0]); return 0;
        case 'f': spec.fmt = optarg; break;
        case 'q': quiet = true; break;
        case 'i': spec.image_opts = true; break;
        case 's': shrink = true; break;
        case 'p':
            /* Checked before the image is opened, as qemu-img does. */
            if (!QapiPreallocMode_parse(optarg, &prealloc)) {
                fprintf(stderr, "%s: Invalid preallocation mode '%s'\n", hb_img_prog, optarg);
                return 1;
            }
            break;
        case 'j':
            if (!hb_img_add_object(optarg, &err)) {
                return hb_img_fail(err, NULL);
            }
            break;
        default: return hb_img_usage_error("%s", "invalid option");
        }
    }
    if (argc - optind != 2) {
        return hb_img_usage_error("%s", "Expecting an image file name and a size");
    }
    const char *name = argv[optind];
    char *size_arg = argv[optind + 1];
    if (size_arg[0] == '~') {
        size_arg[0] = '-';
    }
    g_autoptr(HbNode) node = hb_img_open_image(name, &spec, &err);
    if (!node) {
        return hb_img_open_fail(err, name);
    }
    int64_t cur = hb_node_get_length(node), size;
    if (cur < 0) {
        fprintf(stderr, "%s: %s: %s\n", hb_img_prog, name, g_strerror((int)-cur));
        return 1;
    }
    if (!parse_new_size(size_arg, cur, &size)) {
        fprintf(stderr, "%s: %s: Invalid image size specified: '%s'\n", hb_img_prog,
                name, size_arg);
        return 1;
    }
    if (size <= 0) {
        fprintf(stderr, "%s: %s: New image size must be positive\n", hb_img_prog, name);
        return 1;
    }
    if (size <= cur && prealloc != QAPI_PREALLOC_MODE_OFF) {
        /* qemu-img's rule and text (with the file named), before the --shrink rule. */
        fprintf(stderr, "%s: %s: Preallocation can only be used for growing images\n",
                hb_img_prog, name);
        return 1;
    }
    if (size < cur && !shrink) {
        /* qemu-img's texts, the file named: the rule and why it exists. */
        fprintf(stderr, "%s: %s: Use the --shrink option to perform a shrink operation.\n"
                "%s: warning: Shrinking an image will delete all data beyond the "
                "shrunken image's end. Before performing such an operation, make sure "
                "there is no important data there.\n", hb_img_prog, name, hb_img_prog);
        return 1;
    }
    /* As qemu-img: a user asking RESIZE, sharing everything but what the format needs. */
    HbChild *user = hb_node_attach_user(node, HB_NODE_ANONYMOUS_USER, HB_PERM_RESIZE,
                                        HB_PERM_ALL, &err);
    if (!user) {
        return hb_img_fail(err, name);
    }
    int ret = hb_node_truncate_prealloc(node, (uint64_t)size, prealloc, &err);
    hb_node_detach_user(user);
    if (ret == 0) {
        ret = hb_node_flush(node);
        if (ret < 0) {
            hb_error_set_errno(&err, ret, "Could not flush");
        }
    }
    if (ret < 0) {
        /*
         * A driver's refusal of the mode ("Unsupported preallocation mode:
         * metadata") or the file's failure to hold it: qemu-img's text,
         * with the file named (qemu-img names none).
         */
        return hb_img_fail(err, name);
    }
    if (!quiet) {
        printf("Image resized.\n");
    }
    return 0;
}

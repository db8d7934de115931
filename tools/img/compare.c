/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/img/compare.c — the compare subcommand: qemu-img compare's texts and exit statuses. */

#include <getopt.h>

#include "tools/img/img.h"

/* qemu-img compare's exit statuses. */
enum { CMP_SAME = 0, CMP_DIFFERENT = 1, CMP_ERROR = 2 };

/* qemu-img reports a mismatch at the 512-byte sector it falls in. */
#define CMP_SECTOR 512

/* Offset of the first byte where @a and @b differ in @n bytes, or @n. */
static uint64_t first_difference(const uint8_t *a, const uint8_t *b, uint64_t n)
{
    uint64_t i = 0;

    while (i < n && a[i] == b[i]) {
        i++;
    }
    return i;
}

static uint64_t first_nonzero(const uint8_t *a, uint64_t n)
{
    uint64_t i = 0;

    while (i < n && a[i] == 0) {
        i++;
    }
    return i;
}

/*
 * Compare both images up to the shorter one's end, then the longer one's
 * rest against zeroes.  Returns CMP_*; *@where is the mismatch's sector.
 */
static int compare_data(HbNode *n1, HbNode *n2, int64_t len1, int64_t len2,
                        bool quiet, uint64_t *where, int *err)
{
    g_autofree uint8_t *b1 = g_malloc(HB_IMG_COPY_CHUNK);
    g_autofree uint8_t *b2 = g_malloc(HB_IMG_COPY_CHUNK);
    uint64_t common = (uint64_t)MIN(len1, len2), total = (uint64_t)MAX(len1, len2);
    HbNode *longer = len1 > len2 ? n1 : n2;

    uint64_t n;

    for (uint64_t off = 0; off < total; off += n) {
        uint64_t d;
        n = MIN((uint64_t)HB_IMG_COPY_CHUNK, total - off);
        if (off < common) {
            n = MIN(n, common - off);
            if ((*err = hb_node_pread(n1, off, b1, n)) < 0 ||
                (*err = hb_node_pread(n2, off, b2, n)) < 0) {
                return CMP_ERROR;
            }
            d = first_difference(b1, b2, n);
        } else {
            /* Printed once the common part matched, where qemu-img prints it. */
            if (off == common && !quiet) {
                printf("Warning: Image size mismatch!\n");
            }
            if ((*err = hb_node_pread(longer, off, b1, n)) < 0) {
                return CMP_ERROR;
            }
            d = first_nonzero(b1, n);
        }
        if (d < n) {
            *where = (off + d) / CMP_SECTOR * CMP_SECTOR;
            return CMP_DIFFERENT;
        }
    }
    return CMP_SAME;
}

int hb_img_cmd_compare(int argc, char **argv)
{
    static const struct option lopts[] = {
        HB_IMG_LOPTS_READER,
        { NULL, 0, NULL, 0 },
    };
    HbImgOpenSpec spec1 = { .read_only = true }, spec2 = { .read_only = true };
    bool quiet = false, strict = false;
    GError *err = NULL;
    int c;

    while ((c = getopt_long(argc, argv, "hf:F:qsUp", lopts, NULL)) != -1) {
        switch (c) {
        case 'h': hb_img_cmd_help(argv[0]); return 0;
        case 'f': spec1.fmt = optarg; break;
        case 'F': spec2.fmt = optarg; break;
        case 'q': quiet = true; break;
        case 's': strict = true; break;
        case 'p': break;    /* compare is quick enough without a progress line */
        case 'U': spec1.force_share = spec2.force_share = true; break;
        case 'i': spec1.image_opts = spec2.image_opts = true; break;
        case 'j':
            if (!hb_img_add_object(optarg, &err)) {
                hb_img_fail(err, NULL);
                return CMP_ERROR;
            }
            break;
        default: hb_img_usage_error("%s", "invalid option"); return CMP_ERROR;
        }
    }
    if (argc - optind != 2) {
        hb_img_usage_error("%s", "Expecting two image file names");
        return CMP_ERROR;
    }
    const char *name1 = argv[optind], *name2 = argv[optind + 1];
    if (!spec2.fmt) {
        spec2.fmt = spec1.fmt;   /* as qemu-img: -f alone names both formats */
    }
    g_autoptr(HbNode) n1 = hb_img_open_image(name1, &spec1, &err);
    if (!n1) {
        hb_img_open_fail(err, name1);
        return CMP_ERROR;
    }
    g_autoptr(HbNode) n2 = hb_img_open_image(name2, &spec2, &err);
    if (!n2) {
        hb_img_open_fail(err, name2);
        return CMP_ERROR;
    }
    int64_t len1 = hb_node_get_length(n1), len2 = hb_node_get_length(n2);
    if (len1 < 0 || len2 < 0) {
        fprintf(stderr, "%s: %s: %s\n", hb_img_prog, len1 < 0 ? name1 : name2,
                g_strerror((int)-(len1 < 0 ? len1 : len2)));
        return CMP_ERROR;
    }
    if (len1 != len2 && strict) {
        if (!quiet) {
            printf("Strict mode: Image size mismatch!\n");
        }
        return CMP_DIFFERENT;
    }
    uint64_t where = 0;
    int ioerr = 0;
    int ret = compare_data(n1, n2, len1, len2, quiet, &where, &ioerr);
    if (ret == CMP_ERROR) {
        fprintf(stderr, "%s: Error while reading: %s\n", hb_img_prog, g_strerror(-ioerr));
    } else if (quiet) {
        /* the exit status says it */
    } else if (ret == CMP_DIFFERENT) {
        printf("Content mismatch at offset %" G_GUINT64_FORMAT "!\n", where);
    } else {
        printf("Images are identical.\n");
    }
    return ret;
}

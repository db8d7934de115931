/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/img/rebase.c — the rebase subcommand: give a qcow2 image another backing file, keeping (or with -u assuming) its contents. */

#include <getopt.h>

#include "tools/img/img.h"

#include "block/qcow2/qcow2.h"

/*
 * Safe mode, as qemu-img's: wherever the image leaves its bytes to its
 * backing file (block status: not allocated), the old backing chain's
 * bytes and the new one's are compared, 512 bytes at a time, and the old
 * ones are written into the image where they differ; then the header
 * names the new backing file.  The guest sees the same disk before and
 * after.  -b "" makes the image stand alone (everything the old chain
 * supplied is copied in).  -u only changes the header.
 *
 * Unlike qemu-img 7.2, which copies the data and only then finds that the
 * new backing file has no format (-F) or that the image cannot name one,
 * everything that would refuse the header change is refused first, so a
 * refused rebase leaves the image as it was.
 */

#define REBASE_CHUNK (1024 * 1024)
#define REBASE_SECTOR 512

typedef struct RebaseArgs {
    HbImgOpenSpec spec;         /* the image */
    const char *backing;        /* -b: NULL not given, "" none */
    const char *backing_fmt;    /* -F */
    const char *src_cache;      /* -T: for the new backing file */
    bool unsafe, progress, quiet, force_share;
    const char *name;
} RebaseArgs;

static int parse_args(int argc, char **argv, RebaseArgs *a)
{
    static const struct option lopts[] = {
        HB_IMG_LOPTS_READER,
        { NULL, 0, NULL, 0 },
    };
    GError *err = NULL;
    int c;

    while ((c = getopt_long(argc, argv, "hf:F:b:upt:T:qU", lopts, NULL)) != -1) {
        switch (c) {
        case 'h': hb_img_cmd_help(argv[0]); return 0;
        case 'f': a->spec.fmt = optarg; break;
        case 'F': a->backing_fmt = optarg; break;
        case 'b': a->backing = optarg; break;
        case 'u': a->unsafe = true; break;
        case 'p': a->progress = true; break;
        case 'q': a->quiet = true; break;
        case 'U': a->force_share = true; break;
        case 'i': a->spec.image_opts = true; break;
        case 't': a->spec.cache = optarg; break;
        case 'T': a->src_cache = optarg; break;
        case 'j':
            if (!hb_img_object_option(optarg)) {
                return 1;
            }
            break;
        default: return hb_img_usage_error("%s", "invalid option");
        }
    }
    a->name = hb_img_one_image(argc, argv);
    if (!a->name) {
        return 1;
    }
    if (!a->backing) {
        return hb_img_usage_error("%s", "Must specify backing file (-b) or use unsafe mode (-u)");
    }
    if ((a->spec.cache && !hb_img_cache_mode_valid(a->spec.cache, &err)) ||
        (a->src_cache && !hb_img_cache_mode_valid(a->src_cache, &err))) {
        return hb_img_fail(err, NULL);
    }
    a->progress &= !a->quiet;
    return -1;
}

/* @len bytes of @node at @off into @buf, zeroes past its end or without a node. */
static int read_or_zero(HbNode *node, uint64_t off, uint8_t *buf, uint64_t len)
{
    int64_t end = node ? hb_node_get_length(node) : 0;

    if (end < 0) {
        return (int)end;
    }
    uint64_t have = off < (uint64_t)end ? MIN(len, (uint64_t)end - off) : 0;
    memset(buf + have, 0, len - have);
    return have ? hb_node_pread(node, off, buf, have) : 0;
}

/* Write the sectors of [@off, +@len) where @old and @new differ into @top, from @old. */
static int write_differences(HbNode *top, uint64_t off, const uint8_t *old,
                             const uint8_t *new, uint64_t len)
{
    uint64_t pos = 0;

    while (pos < len) {
        uint64_t n = MIN(REBASE_SECTOR, len - pos);
        if (!memcmp(old + pos, new + pos, n)) {
            pos += n;
            continue;
        }
        uint64_t run = pos;
        while (pos < len && memcmp(old + pos, new + pos, MIN(REBASE_SECTOR, len - pos))) {
            pos += MIN(REBASE_SECTOR, len - pos);
        }
        int ret = hb_node_pwrite(top, off + run, old + run, pos - run, 0);
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

/* Keep @top's contents over @new instead of its current backing chain. */
static int copy_differences(HbNode *top, HbNode *new, const RebaseArgs *a)
{
    HbChild *b = hb_node_child(top, "backing");
    HbNode *old = b ? b->node : NULL;
    int64_t len = hb_node_get_length(top);
    g_autofree uint8_t *obuf = g_malloc(REBASE_CHUNK);
    g_autofree uint8_t *nbuf = g_malloc(REBASE_CHUNK);
    uint64_t off = 0;

    if (len < 0) {
        return (int)len;
    }
    hb_img_progress(a->progress, 0, (uint64_t)len);
    while (off < (uint64_t)len) {
        uint64_t n, map;
        HbNode *file;
        int st = hb_node_block_status(top, off, MIN(REBASE_CHUNK, (uint64_t)len - off),
                                      &n, &map, &file);
        if (st < 0) {
            return st;
        }
        if (!(st & HB_BS_ALLOCATED)) {
            int ret = read_or_zero(old, off, obuf, n);
            if (ret == 0) {
                ret = read_or_zero(new, off, nbuf, n);
            }
            if (ret == 0) {
                ret = write_differences(top, off, obuf, nbuf, n);
            }
            if (ret < 0) {
                return ret;
            }
        }
        off += n;
        hb_img_progress(a->progress, off, (uint64_t)len);
    }
    return hb_node_flush(top);
}

/* The path of @top's file: where the header is rewritten, and what -b is relative to. */
static char *image_path(HbNode *top)
{
    HbChild *f = hb_node_child(top, "file");

    return f ? hb_node_filename(f->node) : NULL;
}

/* -b as qemu-img opens it: relative to the image's directory. */
static char *backing_path(const char *image, const char *backing)
{
    if (g_path_is_absolute(backing)) {
        return g_strdup(backing);
    }
    g_autofree char *dir = g_path_get_dirname(image);
    return g_str_equal(dir, ".") ? g_strdup(backing) : g_build_filename(dir, backing, NULL);
}

static int rebase(RebaseArgs *a)
{
    GError *err = NULL;
    const char *fmt = a->spec.fmt ? a->spec.fmt
                      : (a->spec.image_opts || g_str_has_prefix(a->name, "json:"))
                      ? NULL : hb_img_probe_format(a->name);
    const char *to = a->backing;

    if (*to && !a->backing_fmt) {
        fprintf(stderr, "%s: Could not change the backing file to '%s': backing format "
                "must be specified\n", hb_img_prog, to);
        return 1;
    }
    a->spec.no_backing = a->unsafe;
    g_autoptr(HbNode) top = hb_img_open_image(a->name, &a->spec, &err);
    if (!top) {
        return hb_img_open_fail(err, a->name);
    }
    g_autofree char *path = image_path(top);
    if (!path || (fmt && !g_str_equal(fmt, "qcow2")) || g_strcmp0(top->drv->name, "qcow2")) {
        fprintf(stderr, "%s: Could not change the backing file to '%s': Operation not "
                "supported\n", hb_img_prog, to);
        return 1;
    }
    if (!a->unsafe) {
        g_autoptr(HbNode) new = NULL;
        if (*to) {
            g_autofree char *bpath = backing_path(path, to);
            HbImgOpenSpec bs = { .fmt = a->backing_fmt, .read_only = true,
                                 .force_share = a->force_share, .cache = a->src_cache };
            new = hb_img_open_image(bpath, &bs, &err);
            if (!new) {
                fprintf(stderr, "%s: Could not open new backing file '%s': %s\n",
                        hb_img_prog, to, err->message);
                g_error_free(err);
                return 1;
            }
        }
        int ret = copy_differences(top, new, a);
        if (a->progress) {
            printf("\n");
        }
        if (ret < 0) {
            fprintf(stderr, "%s: %s: Error while rebasing: %s\n", hb_img_prog, a->name,
                    g_strerror(-ret));
            return 1;
        }
    }
    if (!hb_qcow2_change_backing(path, *to ? to : NULL, *to ? a->backing_fmt : NULL, &err)) {
        fprintf(stderr, "%s: Could not change the backing file to '%s': %s\n", hb_img_prog,
                to, err->message);
        g_error_free(err);
        return 1;
    }
    return 0;
}

int hb_img_cmd_rebase(int argc, char **argv)
{
    RebaseArgs a = { .spec = { .read_only = false } };
    int ret = parse_args(argc, argv, &a);

    return ret >= 0 ? ret : rebase(&a);
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/img/commit.c — the commit subcommand: write an overlay's data down into a backing file of its chain. */

#include <getopt.h>
#include <sys/stat.h>
#include <time.h>

#include "tools/img/img.h"

#include "util/error.h"

/*
 * As qemu-img commit: every range that a layer above the base decides
 * (block status down the chain: data or zeroes at a depth above the
 * base's) is read through the top and written into the base, zeroes as
 * zeroes.  A base shorter than the top grows first.  Then, unless -d or
 * -b, the top is emptied so that it reads as its backing file again.
 * The chain is opened twice: once as the image names it (read-only
 * backing files) to find the base, then as a json: graph spelling out
 * every layer down to the base, with the top and the base read-write, so
 * that the base is written through the very node the chain reads (one
 * cache, one holder of its write lock), as QEMU reopens it for a commit.
 */

#define COMMIT_CHUNK (1024 * 1024)

typedef struct CommitArgs {
    HbImgOpenSpec spec;
    const char *base;        /* -b, or NULL: the top's backing file */
    int64_t rate;            /* -r bytes per second, 0: unlimited */
    bool keep_top, progress, quiet;
    const char *name;
} CommitArgs;

static int parse_args(int argc, char **argv, CommitArgs *a)
{
    static const struct option lopts[] = {
        HB_IMG_LOPTS_READER,
        { NULL, 0, NULL, 0 },
    };
    GError *err = NULL;
    int c;

    while ((c = getopt_long(argc, argv, "hf:t:b:dpqr:", lopts, NULL)) != -1) {
        switch (c) {
        case 'h': hb_img_cmd_help(argv[0]); return 0;
        case 'f': a->spec.fmt = optarg; break;
        case 't': a->spec.cache = optarg; break;
        case 'b': a->base = optarg; break;
        case 'd': a->keep_top = true; break;
        case 'p': a->progress = true; break;
        case 'q': a->quiet = true; break;
        case 'i': a->spec.image_opts = true; break;
        case 'r':
            if (!hb_img_parse_size(optarg, &a->rate)) {
                return hb_img_bad_size("rate limit");
            }
            break;
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
    if (a->spec.cache && !hb_img_cache_mode_valid(a->spec.cache, &err)) {
        return hb_img_fail(err, NULL);
    }
    /* -b: the layers between stay as they are, so the top must too. */
    a->keep_top |= a->base != NULL;
    a->progress &= !a->quiet;
    return -1;
}

static char *file_of(HbNode *layer)
{
    HbChild *f = hb_node_child(layer, "file");

    return f ? hb_node_filename(f->node) : NULL;
}

static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;

    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* The layer of @top's chain that -b names (by name, or as the same file), and its depth. */
static HbNode *find_base(HbNode *top, const char *want, unsigned *depth)
{
    g_autofree char *top_path = file_of(top);
    g_autofree char *dir = g_path_get_dirname(top_path ? top_path : ".");
    g_autofree char *rel = want ? g_build_filename(dir, want, NULL) : NULL;
    HbNode *layer = top;

    *depth = 0;
    for (HbChild *b; (b = hb_node_child(layer, "backing"));) {
        layer = b->node;
        (*depth)++;
        g_autofree char *path = file_of(layer);
        if (!want || (path && (g_str_equal(path, want) || same_file(path, want) ||
                               same_file(path, rel)))) {
            return layer;
        }
    }
    return NULL;
}

/* -r: sleep until @done bytes are due at @rate bytes a second since @t0. */
static void throttle(int64_t rate, uint64_t done, gint64 t0)
{
    if (rate > 0) {
        gint64 due = t0 + (gint64)((double)done / (double)rate * G_USEC_PER_SEC);
        gint64 now = g_get_monotonic_time();
        if (due > now) {
            g_usleep((gulong)(due - now));
        }
    }
}

/* Copy what the layers above depth @base_depth decide from @top into @base. */
static int copy_down(HbNode *top, HbNode *base, unsigned base_depth, const CommitArgs *a)
{
    int64_t len = hb_node_get_length(top);
    g_autofree uint8_t *buf = g_malloc(COMMIT_CHUNK);
    gint64 t0 = g_get_monotonic_time();
    uint64_t off = 0, copied = 0;

    if (len < 0) {
        return (int)len;
    }
    hb_img_progress(a->progress, 0, (uint64_t)len);
    while (off < (uint64_t)len) {
        HbBlockExtent e;
        int ret = hb_node_block_status_chain(top, off, MIN(COMMIT_CHUNK, (uint64_t)len - off),
                                             &e);
        if (ret < 0) {
            return ret;
        }
        if (e.depth < base_depth && (e.flags & (HB_BS_DATA | HB_BS_ZERO))) {
            if (e.flags & HB_BS_ZERO) {
                ret = hb_node_pwrite_zeroes(base, off, e.bytes, HB_REQ_MAY_UNMAP);
            } else {
                ret = hb_node_pread(top, off, buf, e.bytes);
                if (ret == 0) {
                    ret = hb_node_pwrite(base, off, buf, e.bytes, 0);
                }
            }
            if (ret < 0) {
                return ret;
            }
            copied += e.bytes;
            throttle(a->rate, copied, t0);
        }
        off += e.bytes;
        hb_img_progress(a->progress, off, (uint64_t)len);
    }
    return hb_node_flush(base);
}

/* The base as long as the top, as qemu-img commit grows it. */
static bool grow_base(HbNode *base, int64_t len, GError **errp)
{
    int64_t cur = hb_node_get_length(base);

    if (cur < 0) {
        hb_error_set_errno(errp, (int)-cur, "Could not get the size");
        return false;
    }
    if (cur >= len) {
        return true;
    }
    HbChild *user = hb_node_attach_user(base, HB_NODE_ANONYMOUS_USER, HB_PERM_RESIZE,
                                        HB_PERM_ALL, errp);
    if (!user) {
        return false;
    }
    int ret = hb_node_truncate(base, (uint64_t)len, errp);
    hb_node_detach_user(user);
    return ret == 0;
}

/*
 * The chain from @top down to @base as a json: filename: every layer's
 * format and file, the top and the base writable, the layers between
 * read-only; below the base, whatever its header names.
 */
static char *chain_json(HbNode *top, HbNode *base)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    unsigned open_objects = 0;

    for (HbNode *layer = top;; layer = hb_node_child(layer, "backing")->node) {
        g_autofree char *path = file_of(layer);
        if (layer != top) {
            json_builder_set_member_name(b, "backing");
        }
        json_builder_begin_object(b);
        open_objects++;
        json_builder_set_member_name(b, "driver");
        json_builder_add_string_value(b, layer->drv->name);
        json_builder_set_member_name(b, "read-only");
        json_builder_add_boolean_value(b, layer != top && layer != base);
        /* As qemu-img opens them (BDRV_O_UNMAP): zeroes free their clusters. */
        json_builder_set_member_name(b, "discard");
        json_builder_add_string_value(b, "unmap");
        json_builder_set_member_name(b, "file");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "driver");
        json_builder_add_string_value(b, "file");
        json_builder_set_member_name(b, "filename");
        json_builder_add_string_value(b, path);
        json_builder_end_object(b);
        if (layer == base) {
            break;
        }
    }
    while (open_objects--) {
        json_builder_end_object(b);
    }
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autofree char *text = json_to_string(root, false);
    return g_strconcat("json:", text, NULL);
}

/* The layer @depth below @top. */
static HbNode *layer_at(HbNode *top, unsigned depth)
{
    while (depth--) {
        top = hb_node_child(top, "backing")->node;
    }
    return top;
}

/* Find the base in the chain as the image names it; its json: graph in *@graph. */
static int plan(CommitArgs *a, char **graph, unsigned *depth)
{
    HbImgOpenSpec ro = a->spec;
    GError *err = NULL;

    ro.read_only = true;
    g_autoptr(HbNode) top = hb_img_open_image(a->name, &ro, &err);
    if (!top) {
        return hb_img_open_fail(err, a->name);
    }
    if (!hb_node_child(top, "backing")) {
        fprintf(stderr, "%s: Image does not have a backing file\n", hb_img_prog);
        return 1;
    }
    HbNode *base = find_base(top, a->base, depth);
    if (!base) {
        fprintf(stderr, "%s: Did not find '%s' in the backing chain of '%s'\n", hb_img_prog,
                a->base, a->name);
        return 1;
    }
    for (HbNode *l = top;; l = hb_node_child(l, "backing")->node) {
        g_autofree char *path = file_of(l);
        if (!path) {
            fprintf(stderr, "%s: %s: Cannot commit: a layer of the chain is not an image "
                    "file\n", hb_img_prog, a->name);
            return 1;
        }
        if (l == base) {
            break;
        }
    }
    *graph = chain_json(top, base);
    return -1;
}

static int commit(CommitArgs *a)
{
    g_autofree char *graph = NULL;
    GError *err = NULL;
    unsigned depth = 0;
    int ret = plan(a, &graph, &depth);

    if (ret >= 0) {
        return ret;
    }
    HbImgOpenSpec rw = { .cache = a->spec.cache };
    g_autoptr(HbNode) top = hb_img_open_image(graph, &rw, &err);
    if (!top) {
        return hb_img_open_fail(err, a->name);
    }
    HbNode *base = layer_at(top, depth);
    if (!grow_base(base, hb_node_get_length(top), &err)) {
        g_autofree char *path = file_of(base);
        return hb_img_fail(err, path);
    }
    ret = copy_down(top, base, depth, a);
    if (ret == 0 && !a->keep_top) {
        ret = hb_node_make_empty(top);
        if (ret == 0) {
            ret = hb_node_flush(top);
        }
    }
    if (a->progress) {
        printf("\n");
    }
    if (ret < 0) {
        fprintf(stderr, "%s: %s: Error while committing: %s\n", hb_img_prog, a->name,
                g_strerror(-ret));
        return 1;
    }
    if (!a->quiet) {
        printf("Image committed.\n");
    }
    return 0;
}

int hb_img_cmd_commit(int argc, char **argv)
{
    CommitArgs a = { .spec = { .read_only = false } };
    int ret = parse_args(argc, argv, &a);

    return ret >= 0 ? ret : commit(&a);
}

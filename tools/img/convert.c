/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/img/convert.c — the convert subcommand: copy one graph's data into a new or existing image. */

#include <getopt.h>
#include <unistd.h>

#include "tools/img/img.h"

static bool is_zero(const uint8_t *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
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
    const char *dst_cache;  /* -t */
    int64_t sparse;         /* -S: zero runs of this many bytes are skipped; 0 never */
    const char *backing;    /* -B: the new image's backing file */
    const char *backing_fmt;/* -F */
    int parallel;           /* -m: chunks copied at once */
    bool out_of_order;      /* -W: a chunk is written as soon as it is read */
} ConvertArgs;

/* qemu-img's limits for -S and -m. */
#define CONVERT_SPARSE_MAX (16 * 1024 * 1024)
#define CONVERT_COROUTINES_MAX 16

/* -S, -m, -t/-T and -c: 0 to go on, or the exit status. */
static int parse_tuning(int c, const char *arg, ConvertArgs *a)
{
    GError *err = NULL;
    int64_t n;

    switch (c) {
    case 'S':
        if (!hb_img_parse_size(arg, &n) || n % 512 || n > CONVERT_SPARSE_MAX) {
            fprintf(stderr, "%s: Invalid buffer size for sparse output specified. Valid "
                    "sizes are multiples of 512 up to %d. Select 0 to disable sparse "
                    "detection (fully allocates output).\n", hb_img_prog, CONVERT_SPARSE_MAX);
            return 1;
        }
        a->sparse = n;
        return 0;
    case 'm':
        /* qemu-img's coroutines are threads here: each copies a chunk at a time. */
        n = atoi(arg);
        if (n < 1 || n > CONVERT_COROUTINES_MAX) {
            fprintf(stderr, "%s: Invalid number of coroutines. Allowed number of "
                    "coroutines is between 1 and %d\n", hb_img_prog, CONVERT_COROUTINES_MAX);
            return 1;
        }
        a->parallel = (int)n;
        return 0;
    case 'c':
        fprintf(stderr, "%s: convert -c: compressed output is not supported by hotblock-img "
                "(hotblock reads compressed clusters but does not write them)\n", hb_img_prog);
        return 1;
    default: /* 't', 'T' */
        if (!hb_img_cache_mode_valid(arg, &err)) {
            g_error_free(err);
            fprintf(stderr, "%s: Invalid %scache option: %s\n", hb_img_prog,
                    c == 'T' ? "source " : "", arg);
            return 1;
        }
        if (c == 't') {
            a->dst_cache = arg;
        } else {
            a->src_spec.cache = arg;
        }
        return 0;
    }
}

/* Return -1 to go on, or the exit status (help, usage error). */
static int parse_args(int argc, char **argv, ConvertArgs *a)
{
    static const struct option lopts[] = {
        HB_IMG_LOPTS_READER,
        { "target-image-opts", no_argument, NULL, 'G' },
        { NULL, 0, NULL, 0 },
    };
    GError *err = NULL;
    int c;

    while ((c = getopt_long(argc, argv, "hf:O:o:pqUnS:m:Wt:T:cB:F:", lopts, NULL)) != -1) {
        switch (c) {
        case 'h': hb_img_cmd_help(argv[0]); return 0;
        case 'f': a->src_spec.fmt = optarg; break;
        case 'O': a->out_fmt = optarg; break;
        case 'p': a->show_progress = true; break;
        case 'n': a->no_create = true; break;
        case 'G': a->target_opts = true; break;
        case 'q': a->quiet = true; break;
        case 'U': a->src_spec.force_share = true; break;
        case 'i': a->src_spec.image_opts = true; break;
        case 'W': a->out_of_order = true; break;
        case 'B': a->backing = optarg; break;
        case 'F': a->backing_fmt = optarg; break;
        case 'S': case 'm': case 't': case 'T': case 'c': {
            int status = parse_tuning(c, optarg ? optarg : "", a);
            if (status) {
                return status;
            }
            break;
        }
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
    if (a->backing && a->no_create) {
        return hb_img_usage_error("%s", "-B makes no sense when concatenating multiple "
                                  "input images");
    }
    a->show_progress &= !a->quiet;
    a->src_name = argv[optind];
    a->dst_name = argv[optind + 1];
    return -1;
}

/*
 * Write @buf (@n bytes at @off) to @dst but for the runs of @sparse bytes
 * the target already reads back: zeroes in a new image, or with -B what
 * its backing file holds (@cur, read from @dst).  0 or -errno.
 */
static int write_changed(HbNode *dst, uint64_t off, const uint8_t *buf, uint64_t n,
                         uint64_t sparse, const uint8_t *cur)
{
    for (uint64_t i = 0; i < n;) {
        uint64_t run = sparse ? MIN(sparse, n - i) : n - i;
        bool same = sparse && (cur ? !memcmp(buf + i, cur + i, run) : is_zero(buf + i, run));
        if (!same) {
            int ret = hb_node_pwrite(dst, off + i, buf + i, run, 0);
            if (ret < 0) {
                return ret;
            }
        }
        i += run;
    }
    return 0;
}

/*
 * The copy, as qemu-img's: chunks of HB_IMG_COPY_CHUNK bytes, taken in
 * order by -m copiers at once (threads here, coroutines there), each
 * reading its chunk and writing it.  Without -W a chunk is written only
 * after every chunk before it, so the target fills from the front as with
 * one copier; with -W it is written as soon as it is read.  The node
 * calls are safe from any thread.
 */
typedef struct Copy {
    HbNode *src, *dst;
    uint64_t len, sparse;
    bool compare, show, in_order;
    GMutex lock;
    GCond turn;
    uint64_t next_chunk;    /* the next chunk a copier takes */
    uint64_t next_write;    /* in order: the chunk whose turn it is to be written */
    uint64_t done;          /* bytes copied, for -p */
    int ret;                /* the first error */
} Copy;

/* One chunk: read it (and, comparing, the target), then write what changed. */
static int copy_chunk(Copy *c, uint64_t idx, uint8_t *buf, uint8_t *cur)
{
    uint64_t off = idx * HB_IMG_COPY_CHUNK;
    uint64_t n = MIN((uint64_t)HB_IMG_COPY_CHUNK, c->len - off);
    int ret = hb_node_pread(c->src, off, buf, n);

    if (ret == 0 && cur) {
        ret = hb_node_pread(c->dst, off, cur, n);
    }
    if (ret == 0 && c->in_order) {
        g_mutex_lock(&c->lock);
        while (c->next_write != idx && c->ret == 0) {
            g_cond_wait(&c->turn, &c->lock);
        }
        ret = c->ret;
        g_mutex_unlock(&c->lock);
    }
    if (ret == 0) {
        ret = write_changed(c->dst, off, buf, n, c->sparse, cur);
    }
    g_mutex_lock(&c->lock);
    if (ret < 0 && c->ret == 0) {
        c->ret = ret;
    }
    c->next_write++;
    c->done += n;
    hb_img_progress(c->show, c->done, c->len);
    g_cond_broadcast(&c->turn);
    g_mutex_unlock(&c->lock);
    return ret;
}

static gpointer copier(gpointer opaque)
{
    Copy *c = opaque;
    g_autofree uint8_t *buf = g_malloc(HB_IMG_COPY_CHUNK);
    g_autofree uint8_t *cur = c->compare ? g_malloc(HB_IMG_COPY_CHUNK) : NULL;
    uint64_t chunks = (c->len + HB_IMG_COPY_CHUNK - 1) / HB_IMG_COPY_CHUNK;

    for (;;) {
        g_mutex_lock(&c->lock);
        uint64_t idx = c->next_chunk++;
        bool stop = idx >= chunks || c->ret < 0;
        g_mutex_unlock(&c->lock);
        if (stop || copy_chunk(c, idx, buf, cur) < 0) {
            return NULL;
        }
    }
}

/*
 * Copy @len bytes of @src into @dst with @parallel copiers and flush it:
 * 0 or -errno.  @sparse 0 writes everything; @compare reads @dst first (a
 * backing file under it).
 */
static int copy_data(HbNode *src, HbNode *dst, int64_t len, uint64_t sparse,
                     bool compare, bool show, int parallel, bool in_order)
{
    Copy c = { .src = src, .dst = dst, .len = (uint64_t)len, .sparse = sparse,
               .compare = compare, .show = show, .in_order = in_order };
    GThread *t[CONVERT_COROUTINES_MAX];
    int ret;

    g_mutex_init(&c.lock);
    g_cond_init(&c.turn);
    hb_img_progress(show, 0, (uint64_t)len);
    for (int i = 0; i < parallel; i++) {
        t[i] = g_thread_new("convert", copier, &c);
    }
    for (int i = 0; i < parallel; i++) {
        g_thread_join(t[i]);
    }
    ret = c.ret;
    if (ret == 0) {
        ret = hb_node_flush(dst);
    }
    if (show) {
        printf("\n");
    }
    g_cond_clear(&c.turn);
    g_mutex_clear(&c.lock);
    return ret;
}

int hb_img_cmd_convert(int argc, char **argv)
{
    g_autoptr(GHashTable) opts = g_hash_table_new_full(g_str_hash, g_str_equal,
                                                       g_free, g_free);
    ConvertArgs a = { .src_spec = { .read_only = true }, .opts = opts, .out_fmt = "raw",
                      .sparse = 4096, .parallel = 8 };
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
    if (a.backing) {
        /* As qemu-img: the new image's backing file, checked as create checks it. */
        if (!a.backing_fmt) {
            fprintf(stderr, "%s: Use of backing file requires explicit backing format\n",
                    hb_img_prog);
            return 1;
        }
        g_hash_table_insert(opts, g_strdup("backing_file"), g_strdup(a.backing));
        g_hash_table_insert(opts, g_strdup("backing_fmt"), g_strdup(a.backing_fmt));
    }
    if (!a.no_create && !hb_img_create_image(a.out_fmt, a.dst_name, len, opts, &err)) {
        return hb_img_fail(err, a.dst_name);
    }
    HbImgOpenSpec dst_spec = { .fmt = a.out_fmt, .key_secret = key_secret,
                               .image_opts = a.target_opts, .cache = a.dst_cache,
                               .no_backing = !a.backing };
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
    /*
     * A new raw or qcow2 image reads zeroes (or with -B its backing file)
     * already: runs of -S bytes that match are not written, as qemu-img
     * leaves them out.  A luks payload reads as noise; -n targets hold
     * anything: everything is written there.
     */
    bool sparse_ok = !a.no_create && (g_str_equal(a.out_fmt, "raw") ||
                                      g_str_equal(a.out_fmt, "qcow2"));
    int ret = copy_data(src, dst, len, sparse_ok ? (uint64_t)a.sparse : 0,
                        sparse_ok && a.backing, a.show_progress, a.parallel, !a.out_of_order);
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

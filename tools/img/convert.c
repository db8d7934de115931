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
    bool compress;          /* -c: clusters written compressed (qcow2) */
} ConvertArgs;

/* qemu-img's limits for -S and -m. */
#define CONVERT_SPARSE_MAX (16 * 1024 * 1024)
#define CONVERT_COROUTINES_MAX 16

/* -S, -m and -t/-T: 0 to go on, or the exit status. */
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
        case 'c': a->compress = true; break;
        case 'S': case 'm': case 't': case 'T': {
            int status = parse_tuning(c, optarg, a);
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
    if (g_hash_table_contains(a->opts, "help") || g_hash_table_contains(a->opts, "?")) {
        return hb_img_create_opts_help(a->out_fmt);
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
 * The copy, as qemu-img's: chunks of HB_IMG_COPY_CHUNK bytes (with -c,
 * one cluster when clusters are larger), taken in order by -m copiers at
 * once (threads here, coroutines there), each reading its chunk and
 * writing it.  Without -W a chunk is written only
 * after every chunk before it, so the target fills from the front as with
 * one copier; with -W it is written as soon as it is read.  The node
 * calls are safe from any thread.
 */
typedef struct Copy {
    HbNode *src, *dst;
    uint64_t len, sparse;
    bool compare, show, in_order;
    uint64_t chunk;         /* bytes a copier takes at once: whole clusters with -c */
    uint64_t cluster;       /* -c: the target's cluster size, else 0 */
    uint64_t end;           /* -c: where the last cluster written ends (below) */
    GMutex lock;
    GCond turn;
    uint64_t next_chunk;    /* the next chunk a copier takes */
    uint64_t next_write;    /* in order: the chunk whose turn it is to be written */
    uint64_t done;          /* bytes copied, for -p */
    int ret;                /* the first error */
} Copy;

/*
 * -c: one cluster, compressed.  As qemu-img, zeroes that must be written
 * (over a backing file) are written as zeroes, which qcow2 v3 records
 * with no data; with -S 0 (or -n) everything is data.
 */
static int write_cluster(Copy *c, uint64_t off, const uint8_t *buf, uint64_t n)
{
    if (c->sparse && is_zero(buf, n)) {
        return hb_node_pwrite_zeroes(c->dst, off, n, 0);
    }
    return hb_node_pwrite_compressed(c->dst, off, buf, n);
}

/*
 * Write @buf (@n bytes at @off) to the target but for the runs of
 * c->sparse bytes it already reads back: zeroes in a new image, or with
 * -B what its backing file holds (@cur, read from the target).  With -c
 * the runs are its clusters, as write_cluster() writes them: a compressed
 * cluster is written whole or not at all.  0 or -errno.
 */
static int write_changed(Copy *c, uint64_t off, const uint8_t *buf, uint64_t n,
                         const uint8_t *cur)
{
    uint64_t unit = c->cluster ? c->cluster : c->sparse ? c->sparse : n;

    for (uint64_t i = 0; i < n; i += unit) {
        uint64_t run = MIN(unit, n - i);
        bool same = c->sparse && (cur ? !memcmp(buf + i, cur + i, run) : is_zero(buf + i, run));
        int ret = same ? 0 : c->cluster ? write_cluster(c, off + i, buf + i, run)
                                        : hb_node_pwrite(c->dst, off + i, buf + i, run, 0);
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

/* One chunk: read it (and, comparing, the target), then write what changed. */
static int copy_chunk(Copy *c, uint64_t idx, uint8_t *buf, uint8_t *cur)
{
    uint64_t off = idx * c->chunk;
    uint64_t n = MIN(c->chunk, c->len - off);
    /* -c: the last cluster, padded with zeroes to c->end. */
    uint64_t w = c->cluster && off + n == c->len ? c->end - off : n;
    int ret = hb_node_pread(c->src, off, buf, n);

    memset(buf + n, 0, w - n);
    if (ret == 0 && cur) {
        ret = hb_node_pread(c->dst, off, cur, w);
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
        ret = write_changed(c, off, buf, w, cur);
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
    g_autofree uint8_t *buf = g_malloc(c->chunk);
    g_autofree uint8_t *cur = c->compare ? g_malloc(c->chunk) : NULL;
    uint64_t chunks = (c->len + c->chunk - 1) / c->chunk;

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
 * backing file under it); @cluster non-zero writes clusters of that size
 * compressed: the last one, if partial, up to @dst's end when that is in
 * the same 512-byte sector (a new qcow2 image's size is rounded up to
 * one), as a compressed write must end there.
 */
static int copy_data(HbNode *src, HbNode *dst, int64_t len, uint64_t sparse,
                     bool compare, bool show, int parallel, bool in_order, uint64_t cluster)
{
    Copy c = { .src = src, .dst = dst, .len = (uint64_t)len, .sparse = sparse,
               .compare = compare, .show = show, .in_order = in_order,
               .chunk = MAX((uint64_t)HB_IMG_COPY_CHUNK, cluster), .cluster = cluster,
               .end = MIN((uint64_t)hb_node_get_length(dst), ((uint64_t)len + 511) & ~511ull) };
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

#define NO_COMPRESSION "Compression not supported for this file format"

/*
 * -c, before the new image is made: qemu-img's refusals, in its words.
 * An unknown format is left to create to name.  Return 0 or the exit status.
 */
static int compress_refused(const ConvertArgs *a)
{
    const HbDriver *drv = hb_img_driver_by_name(a->out_fmt, NULL);
    const char *prealloc = g_hash_table_lookup(a->opts, "preallocation");
    const char *why = NULL;

    if (drv && !drv->pwrite_compressed) {
        why = NO_COMPRESSION;
    } else if (g_hash_table_contains(a->opts, "encryption") ||
               g_hash_table_contains(a->opts, "encrypt.format")) {
        why = "Compression and encryption not supported at the same time";
    } else if (prealloc && strcmp(prealloc, "off")) {
        why = "Compression and preallocation not supported at the same time";
    }
    if (why) {
        fprintf(stderr, "%s: %s\n", hb_img_prog, why);
        return 1;
    }
    return 0;
}

/* -c: the target's cluster size (compressed writes are whole clusters), or 0 having said why not. */
static uint64_t compress_cluster_size(HbNode *dst)
{
    HbDriverInfo bdi = { 0 };

    if (!dst->drv->pwrite_compressed) {
        fprintf(stderr, "%s: %s\n", hb_img_prog, NO_COMPRESSION);
        return 0;
    }
    if (!dst->drv->get_info || !dst->drv->get_info(dst, &bdi) || bdi.cluster_size == 0) {
        fprintf(stderr, "%s: could not get block driver info\n", hb_img_prog);
        return 0;
    }
    return (uint64_t)bdi.cluster_size;
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
    if (a.compress && !a.no_create && (status = compress_refused(&a)) != 0) {
        return status;
    }
    /*
     * qemu-img's sizes are whole 512-byte sectors, and QEMU reads a qcow2
     * size as such (rounded down): a new qcow2 image is rounded up, as
     * qemu-img makes it, and its tail reads as zeroes.
     */
    int64_t size = g_str_equal(a.out_fmt, "qcow2") ? (len + 511) & ~511ll : len;
    if (!a.no_create && !hb_img_create_image(a.out_fmt, a.dst_name, size, opts, &err)) {
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
    uint64_t cluster = a.compress ? compress_cluster_size(dst) : 0;
    if (a.compress && !cluster) {
        g_clear_pointer(&dst, hb_node_unref);
        if (!a.no_create) {
            unlink(a.dst_name);
        }
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
                        sparse_ok && a.backing, a.show_progress, a.parallel, !a.out_of_order,
                        cluster);
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

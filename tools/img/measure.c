/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/img/measure.c — the measure subcommand: the size a new raw or qcow2 image needs, in qemu-img's numbers. */

#include <fcntl.h>
#include <getopt.h>
#include <unistd.h>

#include "tools/img/img.h"

#include "util/error.h"
#include "util/fd-io.h"
#include "util/size.h"

#define MEASURE_SECTOR 512

/* The qcow2 layout -o asks for; defaults as hotblock-img create makes them. */
typedef struct QcowShape {
    uint64_t cs;            /* cluster size */
    uint64_t refcount_bits;
    bool v2;                /* compat=0.10: no bitmaps */
    bool prealloc_data;     /* preallocation=falloc|full: data counts as required */
} QcowShape;

static uint64_t div_up(uint64_t a, uint64_t b)
{
    return (a + b - 1) / b;
}

static uint64_t round_up(uint64_t a, uint64_t b)
{
    return div_up(a, b) * b;
}

/*
 * Refcount table and blocks for @clusters clusters of data and metadata:
 * blocks and table count themselves, so grow them until they cover it all.
 */
static uint64_t refcount_bytes(uint64_t clusters, const QcowShape *q)
{
    uint64_t per_block = q->cs * 8 / q->refcount_bits;
    uint64_t blocks = 0, table = 0, prev;

    do {
        prev = blocks + table;
        blocks = div_up(clusters + blocks + table, per_block);
        table = div_up(blocks, q->cs / 8);
    } while (blocks + table != prev);
    return (blocks + table) * q->cs;
}

/*
 * A fully allocated image of @size: the header cluster, L2 tables for every
 * cluster (whole tables), the L1 table (whole clusters of it), refcounts for
 * all of that, and the data.  qemu-img counts the same parts.
 */
static uint64_t qcow2_full_size(uint64_t size, const QcowShape *q)
{
    uint64_t data = round_up(size, q->cs);
    uint64_t l2_entries = round_up(data / q->cs, q->cs / 8);
    uint64_t l1_entries = round_up(l2_entries * 8 / q->cs, q->cs / 8);
    uint64_t meta = q->cs + l2_entries * 8 + l1_entries * 8;

    meta += refcount_bytes((meta + data) / q->cs, q);
    return meta + data;
}

static bool parse_shape(GHashTable *opts, QcowShape *q, GError **errp)
{
    const char *v;

    q->cs = 65536;
    q->refcount_bits = 16;
    if ((v = g_hash_table_lookup(opts, "cluster_size")) &&
        (!hb_parse_size(v, &q->cs) || q->cs < 512 || q->cs > (2u << 20) ||
         (q->cs & (q->cs - 1)))) {
        hb_error_set(errp, "Cluster size must be a power of two between 512 and 2048k");
        return false;
    }
    if ((v = g_hash_table_lookup(opts, "refcount_bits")) &&
        (!hb_parse_size(v, &q->refcount_bits) || !q->refcount_bits ||
         q->refcount_bits > 64 || (q->refcount_bits & (q->refcount_bits - 1)))) {
        hb_error_set(errp, "Refcount width must be a power of two and may not exceed 64 bits");
        return false;
    }
    v = g_hash_table_lookup(opts, "compat");
    q->v2 = v && (g_str_equal(v, "0.10") || g_str_equal(v, "v2"));
    v = g_hash_table_lookup(opts, "preallocation");
    if (v && !g_str_equal(v, "off") && !g_str_equal(v, "metadata") &&
        !g_str_equal(v, "falloc") && !g_str_equal(v, "full")) {
        hb_error_set(errp, "Invalid parameter '%s'", v);
        return false;
    }
    q->prealloc_data = v && (g_str_equal(v, "falloc") || g_str_equal(v, "full"));
    v = g_hash_table_lookup(opts, "extended_l2");
    if (v && strcmp(v, "off") && strcmp(v, "false")) {
        hb_error_set(errp, "Extended L2 entries are not supported");
        return false;
    }
    return true;
}

/*
 * Bytes of the source's data in whole @cs clusters.  A plain raw file
 * answers from its extents (SEEK_DATA/SEEK_HOLE), as qemu-img's block
 * status does; any other image is read, and a cluster counts when it holds
 * a non-zero byte (qemu-img counts allocated clusters: the same unless a
 * qcow2 source has clusters allocated holding zeroes).
 */
static int64_t data_bytes(HbNode *src, const char *raw_path, uint64_t len, uint64_t cs)
{
    uint64_t total = 0;

    if (raw_path) {
        HB_AUTOFD int fd = open(raw_path, O_RDONLY | O_CLOEXEC);
        off_t data, hole = 0, counted_to = 0;
        if (fd < 0) {
            return -errno;
        }
        while ((uint64_t)hole < len && (data = lseek(fd, hole, SEEK_DATA)) >= 0 &&
               (uint64_t)data < len) {
            hole = lseek(fd, data, SEEK_HOLE);
            uint64_t start = MAX((uint64_t)data / cs * cs, (uint64_t)counted_to);
            uint64_t end = MIN(round_up((uint64_t)hole, cs), round_up(len, cs));
            if (end > start) {
                total += end - start;
                counted_to = (off_t)end;
            }
        }
        return (int64_t)total;
    }
    g_autofree uint8_t *buf = g_malloc(cs);
    for (uint64_t off = 0; off < len; off += cs) {
        uint64_t n = MIN(cs, len - off);
        int ret = hb_node_pread(src, off, buf, n);
        if (ret < 0) {
            return ret;
        }
        if (buf[0] || memcmp(buf, buf + 1, n - 1)) {
            total += cs;
        }
    }
    return (int64_t)total;
}

static void print_result(bool json, uint64_t required, uint64_t full, bool bitmaps)
{
    if (json) {
        printf("{\n");
        if (bitmaps) {
            printf("    \"bitmaps\": 0,\n");
        }
        printf("    \"required\": %" G_GUINT64_FORMAT ",\n"
               "    \"fully-allocated\": %" G_GUINT64_FORMAT "\n}\n", required, full);
        return;
    }
    printf("required size: %" G_GUINT64_FORMAT "\nfully allocated size: %" G_GUINT64_FORMAT "\n",
           required, full);
    if (bitmaps) {
        printf("bitmaps size: 0\n");
    }
}

typedef struct MeasureArgs {
    HbImgOpenSpec spec;
    GHashTable *opts;
    const char *out_fmt;
    const char *output;
    const char *size_arg;
    const char *name;
} MeasureArgs;

/* Return -1 to go on, or the exit status. */
static int parse_args(int argc, char **argv, MeasureArgs *a)
{
    static const struct option lopts[] = {
        HB_IMG_LOPTS_READER,
        { "output", required_argument, NULL, 'u' },
        { "size", required_argument, NULL, 's' },
        { NULL, 0, NULL, 0 },
    };
    GError *err = NULL;
    int c;

    while ((c = getopt_long(argc, argv, "hf:O:o:U", lopts, NULL)) != -1) {
        switch (c) {
        case 'h': hb_img_cmd_help(argv[0]); return 0;
        case 'f': a->spec.fmt = optarg; break;
        case 'O': a->out_fmt = optarg; break;
        case 'U': a->spec.force_share = true; break;
        case 'i': a->spec.image_opts = true; break;
        case 'u': a->output = optarg; break;
        case 's': a->size_arg = optarg; break;
        case 'o':
        case 'j':
            if (!hb_img_create_option(c, optarg, a->opts, &err)) {
                return hb_img_fail(err, NULL);
            }
            break;
        default: return hb_img_usage_error("%s", "invalid option");
        }
    }
    if (strcmp(a->output, "human") && strcmp(a->output, "json")) {
        return hb_img_usage_error("--output must be used with human or json as argument.%s", "");
    }
    if (a->size_arg && optind < argc) {
        fprintf(stderr, "%s: --size N cannot be used together with a filename.\n", hb_img_prog);
        return 1;
    }
    if (!a->size_arg && optind != argc - 1) {
        fprintf(stderr, "%s: Either --size N or one filename must be specified.\n", hb_img_prog);
        return 1;
    }
    a->name = a->size_arg ? NULL : argv[optind];
    return -1;
}

int hb_img_cmd_measure(int argc, char **argv)
{
    g_autoptr(GHashTable) opts = g_hash_table_new_full(g_str_hash, g_str_equal,
                                                       g_free, g_free);
    MeasureArgs a = { .spec = { .read_only = true }, .opts = opts, .out_fmt = "raw",
                      .output = "human" };
    GError *err = NULL;
    QcowShape q = { 0 };
    int status = parse_args(argc, argv, &a);

    if (status >= 0) {
        return status;
    }
    bool qcow2 = g_str_equal(a.out_fmt, "qcow2");
    if (!qcow2 && !g_str_equal(a.out_fmt, "raw")) {
        fprintf(stderr, "%s: Block driver '%s' does not support size measurement\n",
                hb_img_prog, a.out_fmt);
        return 1;
    }
    if (qcow2 && !parse_shape(opts, &q, &err)) {
        return hb_img_fail(err, NULL);
    }
    int64_t size;
    g_autoptr(HbNode) src = NULL;
    const char *src_fmt = NULL;
    if (a.size_arg) {
        if (!hb_img_parse_size(a.size_arg, &size)) {
            fprintf(stderr, "%s: Invalid image size specified: '%s'\n", hb_img_prog, a.size_arg);
            return 1;
        }
    } else {
        src = hb_img_open_image(a.name, &a.spec, &err);
        if (!src) {
            return hb_img_open_fail(err, a.name);
        }
        size = hb_node_get_length(src);
        if (size < 0) {
            fprintf(stderr, "%s: %s: %s\n", hb_img_prog, a.name, g_strerror((int)-size));
            return 1;
        }
        if (!a.spec.image_opts && !g_str_has_prefix(a.name, "json:")) {
            src_fmt = a.spec.fmt ? a.spec.fmt : hb_img_probe_format(a.name);
        }
    }
    uint64_t vsize = round_up((uint64_t)size, MEASURE_SECTOR);
    if (!qcow2) {
        /* A raw image needs its whole size, allocated or not. */
        print_result(g_str_equal(a.output, "json"), vsize, vsize, false);
        return 0;
    }
    uint64_t full = qcow2_full_size(vsize, &q), data = 0;
    if (q.prealloc_data) {
        data = round_up(vsize, q.cs);
    } else if (src) {
        bool raw_file = g_strcmp0(src_fmt, "raw") == 0;
        int64_t d = data_bytes(src, raw_file ? a.name : NULL, vsize, q.cs);
        if (d < 0) {
            fprintf(stderr, "%s: %s: Unable to get block status: %s\n", hb_img_prog,
                    a.name, g_strerror((int)-d));
            return 1;
        }
        data = (uint64_t)d;
    }
    /* Metadata as for the fully allocated image: qemu-img overestimates alike. */
    uint64_t required = full - round_up(vsize, q.cs) + data;
    bool bitmaps = !q.v2 && g_strcmp0(src_fmt, "qcow2") == 0;
    print_result(g_str_equal(a.output, "json"), required, full, bitmaps);
    return 0;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/img/bench.c — the bench subcommand: qemu-img bench's I/O load on an image opened directly, no daemon. */

#include <errno.h>
#include <getopt.h>
#include <limits.h>

#include "tools/img/img.h"

#include "block/aio.h"

/*
 * Theory of operation
 *
 * The image is opened as the daemon opens it, and driven the way an
 * export's I/O thread drives it: this thread owns a completion context
 * (io_uring unless -i threads) and keeps -d requests in flight with
 * hb_node_submit(), submitting the next as each completes.  Requests go
 * to -o, then step by -S, wrapping around at the image's end (as
 * qemu-img's offset %= image size).  With --flush-interval, every that
 * many completed requests a flush follows; it first waits for every
 * request in flight (a drain) unless --no-drain.  The run's wall-clock
 * time is printed as qemu-img prints it.
 */

typedef struct Bench {
    HbNode *node;
    HbAioCtx *ctx;
    uint64_t image_size;
    uint64_t count, depth, bufsize, step, offset, flush_interval;
    bool write, drain;
    int pattern;
    uint64_t issued, done, in_flight;
    uint64_t flushes_due;   /* flushes the interval asked for, not yet sent */
    bool flush_in_flight;
    int error;
} Bench;

typedef struct BenchReq {
    HbIoReq io;         /* first: the callbacks find the request from its cb */
    struct iovec iov;
    Bench *b;
    bool busy;
} BenchReq;

static void note_error(Bench *b, int ret)
{
    if (ret < 0 && !b->error) {
        b->error = ret;
    }
}

static void flush_done(HbAioCb *cb, int ret)
{
    BenchReq *r = (BenchReq *)cb;

    note_error(r->b, ret);
    r->b->flush_in_flight = false;
    r->busy = false;
}

static void req_done(HbAioCb *cb, int ret)
{
    BenchReq *r = (BenchReq *)cb;
    Bench *b = r->b;

    note_error(b, ret);
    b->in_flight--;
    b->done++;
    if (b->flush_interval && b->done % b->flush_interval == 0) {
        b->flushes_due++;
    }
    /*
     * The slot is refilled by the loop in run(), never from here: a request
     * that completes inside hb_node_submit() would otherwise recurse.
     */
    r->busy = false;
}

/* Start @r on the next offset. */
static void submit_one(Bench *b, BenchReq *r)
{
    uint64_t off = b->offset;

    b->offset = b->image_size ? (b->offset + b->step) % b->image_size : 0;
    b->issued++;
    b->in_flight++;
    r->busy = true;
    r->io = (HbIoReq){ .cb.done = req_done, .op = b->write ? HB_IO_WRITE : HB_IO_READ,
                       .offset = off, .bytes = b->bufsize, .iov = &r->iov, .niov = 1 };
    hb_node_submit(b->node, &r->io);
}

/* A due flush goes out once nothing else is in flight (a drain), or at once with --no-drain. */
static void maybe_flush(Bench *b, BenchReq *slot)
{
    if (!b->flushes_due || b->flush_in_flight || slot->busy || (b->drain && b->in_flight)) {
        return;
    }
    b->flushes_due--;
    b->flush_in_flight = true;
    slot->busy = true;
    slot->io = (HbIoReq){ .cb.done = flush_done, .op = HB_IO_FLUSH };
    hb_node_submit(b->node, &slot->io);
}

static bool finished(const Bench *b)
{
    return b->error || (b->issued >= b->count && !b->in_flight && !b->flushes_due &&
                        !b->flush_in_flight);
}

/* @slots[0..depth) carry reads and writes, @slots[depth] the flushes. */
static void run(Bench *b, BenchReq *slots)
{
    while (!finished(b)) {
        maybe_flush(b, &slots[b->depth]);
        bool held = b->drain && (b->flushes_due || b->flush_in_flight);
        for (uint64_t i = 0; i < b->depth && !held && !b->error && b->issued < b->count; i++) {
            if (!slots[i].busy) {
                submit_one(b, &slots[i]);
            }
        }
        if (b->in_flight || b->flush_in_flight) {
            hb_aio_ctx_wait(b->ctx, -1);
        }
    }
    while (b->in_flight || b->flush_in_flight) {
        hb_aio_ctx_wait(b->ctx, -1);
    }
}

/* The parsed command line; -1 to go on, else the exit status. */
typedef struct BenchArgs {
    HbImgOpenSpec spec;
    const char *aio;
    bool quiet;
    const char *name;
} BenchArgs;

static bool parse_count(const char *arg, uint64_t *out, bool positive)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 0);

    if (errno || end == arg || *end || arg[0] == '-' || v > INT_MAX || (positive && !v)) {
        return false;
    }
    *out = v;
    return true;
}

static int parse_args(int argc, char **argv, Bench *b, BenchArgs *a)
{
    enum { OPT_PATTERN = 256, OPT_FLUSH, OPT_NO_DRAIN, OPT_IMAGE_OPTS };
    /* Not HB_IMG_LOPTS_READER: -i is the AIO engine here, as in qemu-img bench. */
    static const struct option lopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, 'j' },
        { "image-opts", no_argument, NULL, OPT_IMAGE_OPTS },
        { "force-share", no_argument, NULL, 'U' },
        { "pattern", required_argument, NULL, OPT_PATTERN },
        { "flush-interval", required_argument, NULL, OPT_FLUSH },
        { "no-drain", no_argument, NULL, OPT_NO_DRAIN },
        { NULL, 0, NULL, 0 },
    };
    int64_t sz;
    bool have_step = false;
    int c;

    while ((c = getopt_long(argc, argv, "hc:d:f:ni:o:qs:S:t:wU", lopts, NULL)) != -1) {
        switch (c) {
        case 'h': hb_img_cmd_help(argv[0]); return 0;
        case 'c':
            if (!parse_count(optarg, &b->count, false)) {
                fprintf(stderr, "%s: Invalid request count specified\n", hb_img_prog);
                return 1;
            }
            break;
        case 'd':
            if (!parse_count(optarg, &b->depth, true)) {
                fprintf(stderr, "%s: Invalid queue depth specified\n", hb_img_prog);
                return 1;
            }
            break;
        case 'f': a->spec.fmt = optarg; break;
        case 'n': a->aio = "native"; break;
        case 'i': a->aio = optarg; break;
        case 'o':
            if (!hb_img_parse_size(optarg, &sz)) {
                return hb_img_bad_size("offset");
            }
            b->offset = (uint64_t)sz;
            break;
        case 'q': a->quiet = true; break;
        case 's':
            if (!hb_img_parse_size(optarg, &sz) || sz > INT_MAX) {
                return hb_img_bad_size("buffer size");
            }
            b->bufsize = (uint64_t)sz;
            break;
        case 'S':
            if (!hb_img_parse_size(optarg, &sz) || sz > INT_MAX) {
                return hb_img_bad_size("step_size");
            }
            b->step = (uint64_t)sz;
            have_step = true;
            break;
        case 't': a->spec.cache = optarg; break;
        case 'w': b->write = true; break;
        case 'U': a->spec.force_share = true; break;
        case OPT_IMAGE_OPTS: a->spec.image_opts = true; break;
        case OPT_PATTERN: {
            uint64_t v;
            if (!parse_count(optarg, &v, false) || v > 255) {
                fprintf(stderr, "%s: Invalid pattern byte specified\n", hb_img_prog);
                return 1;
            }
            b->pattern = (int)v;
            break;
        }
        case OPT_FLUSH:
            if (!parse_count(optarg, &b->flush_interval, false)) {
                fprintf(stderr, "%s: Invalid flush interval specified\n", hb_img_prog);
                return 1;
            }
            break;
        case OPT_NO_DRAIN: b->drain = false; break;
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
    if (!have_step) {
        b->step = b->bufsize;
    }
    if (b->flush_interval && b->flush_interval < b->depth) {
        fprintf(stderr, "%s: Flush interval can't be smaller than depth\n", hb_img_prog);
        return 1;
    }
    if (b->flush_interval && !b->write) {
        fprintf(stderr, "%s: --flush-interval is only available in write tests\n", hb_img_prog);
        return 1;
    }
    return -1;
}

/* -i / -n, -t and -U as qemu-img checks them before opening: -1 to go on, else 1. */
static int check_open_options(const Bench *b, BenchArgs *a)
{
    GError *err = NULL;

    if (a->spec.cache && !hb_img_cache_mode_valid(a->spec.cache, &err)) {
        return hb_img_fail(err, NULL);
    }
    if (a->aio && !g_str_equal(a->aio, "threads") && !g_str_equal(a->aio, "native") &&
        !g_str_equal(a->aio, "io_uring")) {
        fprintf(stderr, "%s: Invalid aio option: %s\n", hb_img_prog, a->aio);
        return 1;
    }
    bool direct = a->spec.cache && (g_str_equal(a->spec.cache, "none") ||
                                    g_str_equal(a->spec.cache, "directsync"));
    if (a->aio && g_str_equal(a->aio, "native") && !direct) {
        fprintf(stderr, "%s: Could not open '%s': aio=native was specified, but it requires "
                "cache.direct=on, which was not specified.\n", hb_img_prog, a->name);
        return 1;
    }
    if (a->spec.force_share && b->write) {
        fprintf(stderr, "%s: Could not open '%s': force-share=on can only be used with "
                "read-only images\n", hb_img_prog, a->name);
        return 1;
    }
    return -1;
}

int hb_img_cmd_bench(int argc, char **argv)
{
    Bench b = { .count = 75000, .depth = 64, .bufsize = 4096, .drain = true };
    BenchArgs a = { 0 };
    GError *err = NULL;
    int ret = parse_args(argc, argv, &b, &a);

    if (ret < 0) {
        ret = check_open_options(&b, &a);
    }
    if (ret >= 0) {
        return ret;
    }
    a.spec.read_only = !b.write;
    /* aio=native is io_uring in hotblock's file driver (see block/file.c). */
    a.spec.aio = !a.aio ? NULL : g_str_equal(a.aio, "threads") ? "threads" : "io_uring";
    g_autoptr(HbNode) node = hb_img_open_image(a.name, &a.spec, &err);
    if (!node) {
        return hb_img_open_fail(err, a.name);
    }
    g_autoptr(HbAioCtx) ctx = hb_aio_ctx_new(g_strcmp0(a.spec.aio, "threads") != 0, &err);
    if (!ctx) {
        return hb_img_fail(err, a.name);
    }
    int64_t len = hb_node_get_length(node);
    if (len < 0) {
        fprintf(stderr, "%s: %s: %s\n", hb_img_prog, a.name, g_strerror((int)-len));
        return 1;
    }
    b.node = node;
    b.ctx = ctx;
    b.image_size = (uint64_t)len;
    if (!a.quiet) {
        printf("Sending %" G_GUINT64_FORMAT " %s requests, %" G_GUINT64_FORMAT " bytes each, %"
               G_GUINT64_FORMAT " in parallel (starting at offset %" G_GUINT64_FORMAT
               ", step size %" G_GUINT64_FORMAT ")\n", b.count, b.write ? "write" : "read",
               b.bufsize, b.depth, b.offset, b.step);
        if (b.flush_interval) {
            printf("Sending flush every %" G_GUINT64_FORMAT " requests\n", b.flush_interval);
        }
        fflush(stdout);
    }
    g_autofree BenchReq *slots = g_new0(BenchReq, b.depth + 1);
    void *bufs = NULL;
    if (posix_memalign(&bufs, 4096, MAX(b.bufsize * b.depth, 1))) {
        fprintf(stderr, "%s: %s: %s\n", hb_img_prog, a.name, g_strerror(ENOMEM));
        return 1;
    }
    memset(bufs, b.pattern, b.bufsize * b.depth);
    for (uint64_t i = 0; i <= b.depth; i++) {
        slots[i].b = &b;
        if (i < b.depth) {
            slots[i].iov = (struct iovec){ (uint8_t *)bufs + i * b.bufsize, b.bufsize };
        }
    }
    hb_aio_ctx_set_current(ctx);
    gint64 t0 = g_get_monotonic_time();
    run(&b, slots);
    gint64 t1 = g_get_monotonic_time();
    hb_aio_ctx_set_current(NULL);
    free(bufs);
    if (b.error) {
        /* The node's -EINVAL is a request past the end: QEMU's block layer says EIO. */
        int e = b.error == -EINVAL ? EIO : -b.error;
        fprintf(stderr, "%s: %s: Failed request: %s\n", hb_img_prog, a.name, g_strerror(e));
        return 1;
    }
    if (!a.quiet) {
        printf("Run completed in %3.3f seconds.\n", (double)(t1 - t0) / G_USEC_PER_SEC);
    }
    return 0;
}

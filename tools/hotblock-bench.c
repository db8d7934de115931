/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/hotblock-bench.c — a native vhost-user-blk front-end: load generator and data verifier. */

/*
 * Theory of operation
 *
 * We play QEMU's part: our "guest memory" is one memfd shared with the
 * back-end through SET_MEM_TABLE, in which each queue has a split ring
 * (descriptor table, avail and used rings), per-request slots (indirect
 * table, request header, status byte) and data buffers.  Guest-physical
 * addresses are offsets in the memfd.  One thread per queue keeps
 * --iodepth requests in flight: it fills the avail ring, kicks the
 * back-end through an eventfd (unless EVENT_IDX says it need not), and
 * sleeps on the call eventfd until used entries come back.
 *
 * With --dirty-log we also do what QEMU does while a VM migrates: share a
 * dirty log with the back-end and ask it to mark every guest page it
 * writes; --dirty-log-check then checks the marks against what the
 * back-end must have written (see vu_client_dirty_log_check()).
 *
 * Written data follows a pattern derived from the byte offset on the disk
 * and --seed, so any later read of those blocks (--verify in the same run,
 * or --check in a later one, say after a reconnect) can be checked.
 */

#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "tools/vu-client.h"
#include "util/size.h"

enum { RW_READ, RW_WRITE, RW_RANDREAD, RW_RANDWRITE, RW_RANDRW };
static const char *const rw_names[] = { "read", "write", "randread", "randwrite", "randrw" };

typedef struct Opts {
    const char *socket;
    int rw;
    uint64_t bs;
    unsigned iodepth;
    unsigned queues;
    double runtime;
    uint64_t count;
    uint64_t size;       /* region used, 0 = whole disk */
    uint64_t seed;
    bool verify;
    bool check;
    bool json;
    bool info;
    bool flush;
    bool no_pattern;   /* writes send whatever the buffer holds */
    bool write_ok;     /* --write-ok: the disk's data may be overwritten */
    const char *evil;  /* send one malformed request of this kind */
    const char *ready_file;   /* created once the device is set up */
    bool dirty_log;    /* run with dirty-page logging on */
    bool dirty_log_check;     /* and check the log after the run */
} Opts;

typedef struct Stats {
    uint64_t ops, bytes, errors, verify_errors;
    uint64_t ioerr;      /* of the errors, those with status VIRTIO_BLK_S_IOERR */
    uint64_t *lat;       /* ns per op */
    size_t nlat, caplat;
} Stats;

typedef struct Worker {
    VuClient *c;
    VuClientQueue *q;
    const Opts *o;
    int phase_rw;        /* the rw of the current phase */
    bool phase_check;    /* compare reads with the pattern */
    uint64_t region;     /* bytes usable */
    uint64_t seq_next;
    uint64_t rng;
    uint64_t target;     /* ops to submit in this phase, 0 = until deadline */
    uint64_t submitted;
    struct timespec deadline;
    bool timed;
    uint64_t *written;   /* offsets written in the verify phase */
    size_t nwritten, capwritten;
    size_t replay;       /* next entry of written[] to read back */
    Stats st;
} Worker;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* The pattern word for disk byte offset @off (a multiple of 8). */
static inline uint64_t pattern(uint64_t off, uint64_t seed)
{
    return (off * 0x9E3779B97F4A7C15ull) ^ seed ^ (off >> 9);
}

static void fill_pattern(uint8_t *buf, uint64_t off, uint64_t len, uint64_t seed)
{
    for (uint64_t i = 0; i < len; i += 8) {
        uint64_t w = htole64(pattern(off + i, seed));
        memcpy(buf + i, &w, 8);
    }
}

static bool check_pattern(const uint8_t *buf, uint64_t off, uint64_t len, uint64_t seed)
{
    for (uint64_t i = 0; i < len; i += 8) {
        uint64_t w;
        memcpy(&w, buf + i, 8);
        if (le64toh(w) != pattern(off + i, seed)) {
            return false;
        }
    }
    return true;
}

static void stats_add_lat(Stats *s, uint64_t ns)
{
    if (s->nlat == s->caplat) {
        s->caplat = s->caplat ? s->caplat * 2 : 65536;
        s->lat = realloc(s->lat, s->caplat * sizeof(*s->lat));
        if (!s->lat) {
            abort();
        }
    }
    s->lat[s->nlat++] = ns;
}

static bool is_write(int rw, uint64_t *rng)
{
    switch (rw) {
    case RW_WRITE:
    case RW_RANDWRITE:
        return true;
    case RW_RANDRW:
        return xorshift(rng) & 1;
    default:
        return false;
    }
}

static bool more_to_submit(Worker *w)
{
    if (w->target && w->submitted >= w->target) {
        return false;
    }
    if (w->timed) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        if (ts.tv_sec > w->deadline.tv_sec ||
            (ts.tv_sec == w->deadline.tv_sec && ts.tv_nsec >= w->deadline.tv_nsec)) {
            return false;
        }
    }
    return true;
}

/* Choose the next request of @w into @slot and submit it. */
static void submit_next(Worker *w, unsigned slot)
{
    const Opts *o = w->o;
    uint64_t nblocks = w->region / o->bs, off;
    bool write;

    if (w->written && w->phase_check) {
        /* read-back phase of --verify: replay what was written */
        off = w->written[w->replay++];
        write = false;
    } else {
        write = is_write(w->phase_rw, &w->rng);
        if (w->phase_rw == RW_READ || w->phase_rw == RW_WRITE) {
            off = (w->seq_next % nblocks) * o->bs;
            w->seq_next++;
        } else {
            off = (xorshift(&w->rng) % nblocks) * o->bs;
        }
    }
    if (write && !o->no_pattern) {
        fill_pattern(vu_client_slot_data(w->q, slot), off, o->bs, o->seed);
        if (w->written) {
            if (w->nwritten == w->capwritten) {
                w->capwritten = w->capwritten ? w->capwritten * 2 : 4096;
                w->written = realloc(w->written, w->capwritten * sizeof(uint64_t));
                if (!w->written) {
                    abort();
                }
            }
            w->written[w->nwritten++] = off;
        }
    }
    vu_client_submit(w->q, slot, write ? HB_VIRTIO_BLK_T_OUT : HB_VIRTIO_BLK_T_IN, off, o->bs,
                     now_ns());
    w->submitted++;
}

static void complete(Worker *w, const VuCompletion *cpl)
{
    const Opts *o = w->o;

    w->st.ops++;
    stats_add_lat(&w->st, now_ns() - cpl->cookie);
    if (cpl->status != 0) {
        w->st.errors++;
        w->st.ioerr += cpl->status == HB_VIRTIO_BLK_S_IOERR;
        return;
    }
    w->st.bytes += o->bs;
    if (cpl->type == HB_VIRTIO_BLK_T_IN && w->phase_check &&
        !check_pattern(vu_client_slot_data(w->q, cpl->slot), cpl->offset, o->bs, o->seed)) {
        w->st.verify_errors++;
    }
}

/* Run one phase: keep iodepth requests in flight until the target is met. */
static void run_phase(Worker *w)
{
    unsigned inflight = 0;
    VuCompletion cpl[256];

    for (unsigned s = 0; s < w->o->iodepth && more_to_submit(w); s++) {
        submit_next(w, s);
        inflight++;
    }
    vu_client_kick(w->q);
    while (inflight) {
        int n = vu_client_wait(w->q, cpl, 256);
        if (n < 0) {
            fprintf(stderr, "hotblock-bench: connection lost\n");
            exit(2);
        }
        for (int i = 0; i < n; i++) {
            complete(w, &cpl[i]);
            inflight--;
            if (more_to_submit(w)) {
                submit_next(w, cpl[i].slot);
                inflight++;
            }
        }
        if (n) {
            vu_client_kick(w->q);
        }
    }
}

static void *worker_main(void *arg)
{
    Worker *w = arg;
    const Opts *o = w->o;

    if (o->verify) {
        /* write phase, then read back exactly what was written */
        w->phase_rw = (o->rw == RW_READ || o->rw == RW_WRITE) ? RW_WRITE : RW_RANDWRITE;
        w->phase_check = false;
        w->written = malloc(sizeof(uint64_t));
        run_phase(w);
        w->phase_check = true;
        w->target = w->nwritten;
        w->submitted = 0;
        w->replay = 0;
        w->timed = false;
        run_phase(w);
    } else {
        w->phase_rw = o->rw;
        w->phase_check = o->check;
        run_phase(w);
    }
    if (o->flush) {
        int st = vu_client_flush(w->q);
        if (st != 0) {
            w->st.errors++;
            w->st.ioerr += st == HB_VIRTIO_BLK_S_IOERR;
        }
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(const uint64_t *v, size_t n, double p)
{
    size_t i;

    if (!n) {
        return 0;
    }
    i = (size_t)(p / 100.0 * (n - 1) + 0.5);
    return v[i] / 1000.0;
}

static uint64_t parse_size(const char *s)
{
    uint64_t v;

    if (!hb_parse_size(s, &v)) {
        fprintf(stderr, "hotblock-bench: bad size '%s'\n", s);
        exit(2);
    }
    return v;
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: hotblock-bench SOCKET [--rw read|write|randread|randwrite|randrw]\n"
        "         [--bs 4k] [--iodepth 32] [--queues N] [--runtime S | --count N]\n"
        "         [--size BYTES] [--seed N] [--verify] [--check] [--flush]\n"
        "         [--json] [--info] [--no-pattern] [--write-ok]\n"
        "  --info        print the device's configuration and exit: the safe check\n"
        "                of an export (reads nothing, writes nothing)\n"
        "  --write-ok    allow writing (--rw write|randwrite|randrw, --verify): this\n"
        "                OVERWRITES the disk behind SOCKET; without it they are refused\n"
        "  --verify      write patterns, then read them back and compare\n"
        "  --check       compare every read with the pattern (data written earlier)\n"
        "  --no-pattern  do not generate write data (measure the server, not us)\n"
        "  --ready-file F  create F once connected and set up (for scripts)\n"
        "  --dirty-log   turn dirty-page logging on first, as QEMU does while a VM\n"
        "                migrates (LOG_SHMFD, SET_LOG_BASE, VHOST_F_LOG_ALL, VRING_F_LOG)\n"
        "  --dirty-log-check  --dirty-log, then check that every page the server\n"
        "                wrote (read data, status bytes, used ring) is marked\n"
        "  --evil KIND   send one malformed request (as a hostile guest) and report\n"
        "                whether the server dropped us or answered with a status\n"
        "  --version     print the version\n");
}

static int print_info(VuClient *c, const Opts *o)
{
    char serial[21] = { 0 };
    int st = vu_client_get_id(c->queues[0], serial);

    /* the serial is the server's data: keep the JSON well-formed */
    for (char *p = serial; *p; p++) {
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e) {
            *p = '?';
        }
    }
    if (o->json) {
        printf("{\"capacity\": %" PRIu64 ", \"blk_size\": %u, \"num_queues\": %u, "
               "\"max_queues\": %u, \"read_only\": %s, \"writeback\": %u, "
               "\"features\": %" PRIu64 ", \"protocol_features\": %" PRIu64 ", "
               "\"serial\": \"%s\", \"get_id_status\": %d}\n",
               c->capacity, c->blk_size, c->cfg_num_queues, c->max_queues,
               c->read_only ? "true" : "false", c->writeback,
               c->features, c->protocol_features, st == 0 ? serial : "", st);
    } else {
        printf("capacity %" PRIu64 " bytes, blk_size %u, queues %u/%u, %s, serial '%s'\n",
               c->capacity, c->blk_size, c->cfg_num_queues, c->max_queues,
               c->read_only ? "read-only" : "read-write", st == 0 ? serial : "");
    }
    return 0;
}

/*
 * Parse the command line into @o (defaults already set).
 * Return: -1 to go on, or the exit status (0 after --help, 2 on misuse).
 */
static int parse_options(int argc, char **argv, Opts *o)
{
    static const struct option longopts[] = {
        { "rw", required_argument, NULL, 'r' },
        { "bs", required_argument, NULL, 'b' },
        { "iodepth", required_argument, NULL, 'd' },
        { "queues", required_argument, NULL, 'q' },
        { "runtime", required_argument, NULL, 't' },
        { "count", required_argument, NULL, 'n' },
        { "size", required_argument, NULL, 's' },
        { "seed", required_argument, NULL, 'S' },
        { "verify", no_argument, NULL, 'v' },
        { "check", no_argument, NULL, 'c' },
        { "flush", no_argument, NULL, 'f' },
        { "json", no_argument, NULL, 'j' },
        { "info", no_argument, NULL, 'i' },
        { "no-pattern", no_argument, NULL, 'P' },
        { "evil", required_argument, NULL, 'E' },
        { "ready-file", required_argument, NULL, 'R' },
        { "dirty-log", no_argument, NULL, 'L' },
        { "dirty-log-check", no_argument, NULL, 'C' },
        { "write-ok", no_argument, NULL, 'W' },
        { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    int opt;

    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'r':
            o->rw = -1;
            for (int i = 0; i < 5; i++) {
                if (!strcmp(optarg, rw_names[i])) {
                    o->rw = i;
                }
            }
            if (o->rw < 0) {
                usage(stderr);
                return 2;
            }
            break;
        case 'b': o->bs = parse_size(optarg); break;
        case 'd': o->iodepth = atoi(optarg); break;
        case 'q': o->queues = atoi(optarg); break;
        case 't': o->runtime = atof(optarg); break;
        case 'n': o->count = parse_size(optarg); break;
        case 's': o->size = parse_size(optarg); break;
        case 'S': o->seed = strtoull(optarg, NULL, 0); break;
        case 'v': o->verify = true; break;
        case 'c': o->check = true; break;
        case 'f': o->flush = true; break;
        case 'j': o->json = true; break;
        case 'i': o->info = true; break;
        case 'P': o->no_pattern = true; break;
        case 'E': o->evil = optarg; break;
        case 'R': o->ready_file = optarg; break;
        case 'L': o->dirty_log = true; break;
        case 'C': o->dirty_log = o->dirty_log_check = true; break;
        case 'W': o->write_ok = true; break;
        case 'V': printf("hotblock-bench version %s\n", HB_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    /* An export is somebody's disk: writing to it must be asked for by name. */
    if ((o->verify || o->evil || (o->rw != RW_READ && o->rw != RW_RANDREAD)) &&
        !o->info && !o->write_ok) {
        fprintf(stderr, "hotblock-bench: %s%s%s may overwrite the disk behind the socket; "
                "add --write-ok if its data may be destroyed (--info checks an export "
                "without writing)\n", o->evil ? "--evil" : "--rw ",
                o->evil ? "" : rw_names[o->rw], o->verify ? " --verify" : "");
        return 2;
    }
    if (o->no_pattern && (o->verify || o->check)) {
        fprintf(stderr, "hotblock-bench: --no-pattern contradicts --verify/--check\n");
        return 2;
    }
    if (optind != argc - 1 || o->iodepth < 1 || o->iodepth > 256 || o->queues < 1 ||
        o->queues > VU_CLIENT_MAX_QUEUES || o->bs < 512 || o->bs % 512 ||
        o->bs > (8u << 20)) {
        usage(stderr);
        return 2;
    }
    if (!o->count && o->runtime <= 0) {
        o->runtime = o->info ? 0 : 5;
    }
    o->socket = argv[optind];
    return -1;
}

/* Create --ready-file, empty, if asked to. */
static void touch_ready_file(const char *path)
{
    if (path) {
        FILE *f = fopen(path, "w");
        if (f) {
            fclose(f);
        }
    }
}

/* --evil: send one malformed request, report what became of it; the exit status. */
static int run_evil(VuClient *c, const Opts *o)
{
    int status = -1, r = vu_client_evil(c->queues[0], o->evil, &status);

    if (r == -2) {
        fprintf(stderr, "hotblock-bench: unknown --evil kind '%s'; kinds:", o->evil);
        for (const char *const *k = vu_client_evil_kinds(); *k; k++) {
            fprintf(stderr, " %s", *k);
        }
        fprintf(stderr, "\n");
        vu_client_close(c);
        return 2;
    }
    if (o->json) {
        printf("{\"evil\": \"%s\", \"dropped\": %s, \"status\": %d}\n", o->evil,
               r == 0 ? "true" : "false", status);
    } else {
        printf("%s: %s\n", o->evil, r == 0 ? "connection dropped" : "completed");
    }
    vu_client_close(c);
    return 0;
}

/* Set up worker @i of @o->queues on queue @i of @c. */
static void worker_init(Worker *w, VuClient *c, const Opts *o, unsigned i)
{
    w->c = c;
    w->q = c->queues[i];
    w->o = o;
    w->region = o->size;
    w->rng = o->seed * 2654435761u + i * 7919 + 1;
    /* sequential streams of several queues start in different places */
    w->seq_next = (o->size / o->bs) / o->queues * i;
    w->target = o->count ? (o->count + o->queues - 1 - i) / o->queues : 0;
    if (o->runtime > 0) {
        uint64_t ns = (uint64_t)(o->runtime * 1e9);
        clock_gettime(CLOCK_MONOTONIC, &w->deadline);
        w->deadline.tv_sec += (w->deadline.tv_nsec + ns) / 1000000000ull;
        w->deadline.tv_nsec = (w->deadline.tv_nsec + ns) % 1000000000ull;
        w->timed = true;
    }
}

/* Add what worker @w did to @tot. */
static void stats_merge(Stats *tot, const Worker *w)
{
    tot->ops += w->st.ops;
    tot->bytes += w->st.bytes;
    tot->errors += w->st.errors;
    tot->ioerr += w->st.ioerr;
    tot->verify_errors += w->st.verify_errors;
    for (size_t j = 0; j < w->st.nlat; j++) {
        stats_add_lat(tot, w->st.lat[j]);
    }
}

/*
 * Print the totals of a run of @secs seconds; sorts @tot's latencies.
 * @lc: what --dirty-log-check found, or NULL
 */
static void print_results(const Opts *o, Stats *tot, double secs, const VuLogCheck *lc)
{
    double sum = 0, avg, iops, mbps;

    qsort(tot->lat, tot->nlat, sizeof(uint64_t), cmp_u64);
    for (size_t j = 0; j < tot->nlat; j++) {
        sum += tot->lat[j];
    }
    avg = tot->nlat ? sum / tot->nlat / 1000.0 : 0;
    iops = tot->ops / secs;
    mbps = tot->bytes / secs / 1e6;
    if (o->json) {
        printf("{\"rw\": \"%s\", \"bs\": %" PRIu64 ", \"iodepth\": %u, \"queues\": %u, "
               "\"ops\": %" PRIu64 ", \"seconds\": %.3f, \"iops\": %.0f, \"mbps\": %.2f, "
               "\"lat_us\": {\"avg\": %.1f, \"p50\": %.1f, \"p90\": %.1f, \"p99\": %.1f, "
               "\"p999\": %.1f, \"max\": %.1f}, \"errors\": %" PRIu64
               ", \"ioerr\": %" PRIu64 ", \"verify_errors\": %" PRIu64,
               rw_names[o->rw], o->bs, o->iodepth, o->queues, tot->ops, secs, iops, mbps,
               avg, pct(tot->lat, tot->nlat, 50), pct(tot->lat, tot->nlat, 90),
               pct(tot->lat, tot->nlat, 99), pct(tot->lat, tot->nlat, 99.9),
               pct(tot->lat, tot->nlat, 100), tot->errors, tot->ioerr, tot->verify_errors);
        printf(", \"dirty_log\": %s", o->dirty_log ? "true" : "false");
        if (lc) {
            printf(", \"dirty_log_check\": {\"checked\": %" PRIu64 ", \"missing\": %" PRIu64
                   ", \"first_missing\": %" PRIu64 ", \"spurious\": %" PRIu64 "}",
                   lc->checked, lc->missing, lc->first_missing, lc->spurious);
        }
        printf("}\n");
    } else {
        printf("%s bs=%" PRIu64 " iodepth=%u queues=%u: %" PRIu64 " ops in %.2fs, "
               "IOPS=%.0f, %.2f MB/s, lat avg %.1f p50 %.1f p99 %.1f p99.9 %.1f us, "
               "errors %" PRIu64 " (I/O errors %" PRIu64 "), verify errors %" PRIu64 "\n",
               rw_names[o->rw], o->bs, o->iodepth, o->queues, tot->ops, secs, iops, mbps,
               avg, pct(tot->lat, tot->nlat, 50), pct(tot->lat, tot->nlat, 99),
               pct(tot->lat, tot->nlat, 99.9), tot->errors, tot->ioerr, tot->verify_errors);
        if (lc) {
            printf("dirty log: %" PRIu64 " pages written by the server, %" PRIu64
                   " not marked%s, %" PRIu64 " driver-only pages marked\n",
                   lc->checked, lc->missing, lc->missing ? " (FAIL)" : "", lc->spurious);
        }
    }
}

/* The load itself: one thread per queue, then the totals.  The exit status. */
static int run_load(VuClient *c, const Opts *o)
{
    Worker *w = calloc(o->queues, sizeof(*w));
    pthread_t *th = calloc(o->queues, sizeof(*th));
    Stats tot = { 0 };
    VuLogCheck lc;
    bool log_ok = true;
    uint64_t t0, t1;

    t0 = now_ns();
    for (unsigned i = 0; i < o->queues; i++) {
        worker_init(&w[i], c, o, i);
        pthread_create(&th[i], NULL, worker_main, &w[i]);
    }
    for (unsigned i = 0; i < o->queues; i++) {
        pthread_join(th[i], NULL);
        stats_merge(&tot, &w[i]);
    }
    t1 = now_ns();
    if (o->dirty_log_check) {
        log_ok = vu_client_dirty_log_check(c, &lc);
    }
    print_results(o, &tot, (t1 - t0) / 1e9, o->dirty_log_check ? &lc : NULL);
    vu_client_close(c);
    for (unsigned i = 0; i < o->queues; i++) {
        free(w[i].st.lat);
        free(w[i].written);
    }
    free(tot.lat);
    free(w);
    free(th);
    return tot.errors || tot.verify_errors || !log_ok ? 1 : 0;
}

int main(int argc, char **argv)
{
    Opts o = { .rw = RW_RANDREAD, .bs = 4096, .iodepth = 32, .queues = 1,
               .seed = 0x5eed };
    VuClient *c;
    int ret = parse_options(argc, argv, &o);

    if (ret >= 0) {
        return ret;
    }
    c = vu_client_connect(o.socket, o.queues, o.iodepth, o.info ? 4096 : o.bs, o.dirty_log);
    if (!c) {
        return 2;
    }
    if (o.dirty_log && vu_client_dirty_log_start(c) < 0) {
        fprintf(stderr, "hotblock-bench: could not turn dirty logging on\n");
        vu_client_close(c);
        return 2;
    }
    touch_ready_file(o.ready_file);
    if (o.info) {
        print_info(c, &o);
        vu_client_close(c);
        return 0;
    }
    if (o.evil) {
        return run_evil(c, &o);
    }
    if (o.size == 0 || o.size > c->capacity) {
        o.size = c->capacity;
    }
    if (o.size < o.bs) {
        fprintf(stderr, "hotblock-bench: disk smaller than one block\n");
        return 2;
    }
    return run_load(c, &o);
}

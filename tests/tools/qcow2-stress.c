/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/tools/qcow2-stress.c — drive the qcow2 format core for integration tests: dump, differential, crash, threads. */

/*
 * Usage:
 *   qcow2-stress dump IMG OUT [CHUNK]      whole virtual disk → raw file OUT,
 *                                          read CHUNK bytes at a time
 *   qcow2-stress diff IMG REF SEED NOPS    random writes/zeroes/discards on
 *                                          IMG and raw REF, compared often
 *   qcow2-stress writer IMG SEED LOG       endless batches of writes, a
 *                                          flush after each; "N\n" appended
 *                                          to LOG once batch N is flushed
 *   qcow2-stress verify IMG SEED LOG BASE  after a SIGKILL of the writer:
 *                                          every flushed write is there
 *   qcow2-stress threads IMG SEED N NOPS   N threads writing interleaved
 *                                          clusters, reading back their own
 *   qcow2-stress write IMG OFF LEN BYTE    one write of LEN bytes of BYTE
 *   qcow2-stress discard IMG OFF LEN       discard, with pass-discard-request
 *   qcow2-stress create IMG SIZE [K=V,...] hb_qcow2_create()
 *   qcow2-stress check IMG                 hb_qcow2_check(); exit 0/2/3/1
 * Exit status 0 on success, 1 on a mismatch or error (message on stderr).
 * The backing chain named in an image header is followed (qcow2 or raw).
 */

#include "block/qcow2/qcow2.h"
#include "block/qcow2/qcow2-int.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLK 4096

typedef struct Img {
    int fd;
    HbQcow2 *q;           /* NULL: raw */
    struct Img *backing;
    int64_t size;
} Img;

static int img_preadv(void *opaque, uint64_t off, uint64_t bytes,
                      const struct iovec *iov, int niov);

static void img_close(Img *im)
{
    if (!im) {
        return;
    }
    if (im->q) {
        hb_qcow2_close_image(im->q);
        hb_qcow2_free_image(im->q);
    }
    img_close(im->backing);
    close(im->fd);
    g_free(im);
}

static Img *img_open(const char *path, bool rw, GError **errp)
{
    Img *im = g_new0(Img, 1);
    HbQcow2Io io;
    HbQcow2OpenOpts oo = { .read_only = !rw };
    uint8_t magic[4] = { 0 };

    im->fd = open(path, rw ? O_RDWR : O_RDONLY);
    if (im->fd < 0) {
        hb_error_set_errno(errp, errno, "open %s", path);
        g_free(im);
        return NULL;
    }
    if (pread(im->fd, magic, 4, 0) != 4 ||
        GUINT32_FROM_BE(*(uint32_t *)magic) != QCOW2_MAGIC) {
        im->size = lseek(im->fd, 0, SEEK_END);
        return im;
    }
    hb_qcow2_io_from_fd(&io, &im->fd);
    im->q = hb_qcow2_open_image(&io, &oo, errp);
    if (!im->q) {
        close(im->fd);
        g_free(im);
        return NULL;
    }
    im->size = im->q->hdr.size;
    if (im->q->backing_file) {
        g_autofree char *dir = g_path_get_dirname(path);
        g_autofree char *bp = g_path_is_absolute(im->q->backing_file)
            ? g_strdup(im->q->backing_file)
            : g_build_filename(dir, im->q->backing_file, NULL);
        im->backing = img_open(bp, false, errp);
        if (!im->backing) {
            img_close(im);
            return NULL;
        }
        im->q->backing.opaque = im->backing;
        im->q->backing.preadv = img_preadv;
        im->q->backing.length = im->backing->size;
    }
    return im;
}

static int img_preadv(void *opaque, uint64_t off, uint64_t bytes,
                      const struct iovec *iov, int niov)
{
    Img *im = opaque;

    if (im->q) {
        return hb_qcow2_preadv(im->q, off, bytes, iov, niov);
    }
    for (int i = 0; i < niov; i++) {
        ssize_t n = pread(im->fd, iov[i].iov_base, iov[i].iov_len, off);
        if (n < 0) {
            return -errno;
        }
        memset((uint8_t *)iov[i].iov_base + n, 0, iov[i].iov_len - n);
        off += iov[i].iov_len;
    }
    return 0;
}

static int img_read(Img *im, uint64_t off, void *buf, uint64_t len)
{
    struct iovec iov = { .iov_base = buf, .iov_len = len };

    return img_preadv(im, off, len, &iov, 1);
}

static int img_write_split(Img *im, uint64_t off, const void *buf, uint64_t len,
                           uint64_t half)
{
    struct iovec iov[2] = {
        { .iov_base = (void *)buf, .iov_len = half },
        { .iov_base = (uint8_t *)buf + half, .iov_len = len - half },
    };

    return hb_qcow2_pwritev(im->q, off, len, iov, 2, false);
}

/* A write split into two iovecs anywhere, to exercise the vector paths. */
static int img_write(Img *im, uint64_t off, const void *buf, uint64_t len)
{
    return img_write_split(im, off, buf, len, len / 2);
}

static int die(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static int die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static int cmd_dump(const char *img, const char *out, uint64_t chunk)
{
    g_autoptr(GError) err = NULL;
    Img *im = img_open(img, false, &err);
    if (!im) {
        return die("%s", err->message);
    }
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    g_autofree uint8_t *buf = g_malloc(chunk);
    for (int64_t off = 0; off < im->size; off += chunk) {
        uint64_t n = MIN(chunk, (uint64_t)(im->size - off));
        int ret = img_read(im, off, buf, n);
        if (ret < 0) {
            return die("read at %" G_GINT64_FORMAT ": %s", off, g_strerror(-ret));
        }
        if (pwrite(fd, buf, n, off) != (ssize_t)n) {
            return die("write %s", out);
        }
    }
    close(fd);
    img_close(im);
    return 0;
}

static void compare_all(Img *im, int ref, int64_t size, int op)
{
    g_autofree uint8_t *a = g_malloc(1 << 20);
    g_autofree uint8_t *b = g_malloc(1 << 20);

    for (int64_t off = 0; off < size; off += 1 << 20) {
        uint64_t n = MIN(1 << 20, size - off);
        int ret = img_read(im, off, a, n);
        if (ret < 0) {
            die("op %d: read at %" G_GINT64_FORMAT ": %s", op, off, g_strerror(-ret));
        }
        memset(b, 0, n);
        if (pread(ref, b, n, off) < 0) {
            die("read ref");
        }
        if (memcmp(a, b, n)) {
            for (uint64_t i = 0; i < n; i++) {
                if (a[i] != b[i]) {
                    die("op %d: mismatch at %" G_GINT64_FORMAT, op, off + (int64_t)i);
                }
            }
        }
    }
}

static int cmd_diff(const char *img, const char *refpath, unsigned seed, int nops)
{
    g_autoptr(GError) err = NULL;
    Img *im = img_open(img, true, &err);
    if (!im || !im->q) {
        return die("%s", err ? err->message : "not qcow2");
    }
    int ref = open(refpath, O_RDWR);
    if (ref < 0) {
        return die("open %s", refpath);
    }
    GRand *r = g_rand_new_with_seed(seed);
    int64_t size = im->size;
    uint64_t cs = im->q->cluster_size;
    uint64_t maxlen = MIN((uint64_t)size, MIN(4 * cs, 256 * 1024) + 8192);
    g_autofree uint8_t *buf = g_malloc(maxlen);
    g_autofree uint8_t *zero = g_malloc0(maxlen);

    for (int op = 0; op < nops; op++) {
        uint64_t len = g_rand_int_range(r, 1, maxlen + 1);
        uint64_t off = g_rand_int_range(r, 0, size - len + 1);
        int kind = g_rand_int_range(r, 0, 10);
        int ret;

        if (g_rand_boolean(r)) {
            off &= ~511ull;  /* mostly sector-aligned, like real guests */
            len = MAX(512, len & ~511ull);
            len = MIN(len, (uint64_t)size - off);
        }
        if (kind < 7) {
            uint32_t x = g_rand_int(r) | 1;
            for (uint64_t i = 0; i < len; i++) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                buf[i] = x;
            }
            ret = img_write(im, off, buf, len);
            if (pwrite(ref, buf, len, off) != (ssize_t)len) {
                return die("write ref");
            }
        } else if (kind < 9) {
            ret = hb_qcow2_pwrite_zeroes(im->q, off, len, kind == 8);
            if (pwrite(ref, zero, len, off) != (ssize_t)len) {
                return die("write ref");
            }
        } else {
            /* Discard: whole clusters read back as zeroes afterwards. */
            ret = hb_qcow2_pdiscard(im->q, off, len);
            uint64_t s0 = (off + cs - 1) & ~(cs - 1);
            uint64_t e0 = (off + len) & ~(cs - 1);
            if (off + len == (uint64_t)size) {
                e0 = off + len;
            }
            if (s0 < e0 && pwrite(ref, zero, e0 - s0, s0) != (ssize_t)(e0 - s0)) {
                return die("write ref");
            }
        }
        if (ret < 0) {
            return die("op %d kind %d off %" G_GUINT64_FORMAT " len %" G_GUINT64_FORMAT
                       ": %s", op, kind, off, len, g_strerror(-ret));
        }
        if (g_rand_int_range(r, 0, 50) == 0 && hb_qcow2_flush(im->q) < 0) {
            return die("flush failed");
        }
        if (op % 300 == 299) {
            compare_all(im, ref, size, op);
        }
    }
    compare_all(im, ref, size, nops);
    g_rand_free(r);
    close(ref);
    img_close(im);
    return 0;
}

/* ---- crash test ---- */

typedef struct CrashOp {
    int kind;          /* 0 write, 1 zeroes, 2 discard */
    uint64_t off, len; /* in BLK units for writes/zeroes */
} CrashOp;

#define CRASH_BATCH 24

static void crash_op(GRand *r, int64_t size, uint64_t cs, CrashOp *op)
{
    uint64_t nblk = size / BLK;
    int k = g_rand_int_range(r, 0, 20);

    op->kind = k < 17 ? 0 : k < 19 ? 1 : 2;
    op->len = g_rand_int_range(r, 1, 17);
    op->off = g_rand_int_range(r, 0, nblk - op->len + 1);
    if (op->kind == 2) {
        /* Discard whole clusters only, so "zeroes" is the one outcome. */
        uint64_t per = MAX(cs / BLK, 1);
        op->off = op->off / per * per;
        op->len = per * MAX(1, op->len / per);
        if (op->off + op->len > nblk) {
            op->kind = 1;
            op->len = MIN(op->len, nblk - op->off);
        }
    }
}

/* Block contents: (op id, block number) header then a derived pattern. */
static void fill_block(uint8_t *b, uint64_t id, uint64_t blk)
{
    uint64_t x = id * 0x9e3779b97f4a7c15ull ^ blk;

    memcpy(b, &id, 8);
    memcpy(b + 8, &blk, 8);
    for (int i = 16; i < BLK; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(b + i, &x, 8);
    }
}

static int cmd_writer(const char *img, unsigned seed, const char *logpath)
{
    g_autoptr(GError) err = NULL;
    Img *im = img_open(img, true, &err);
    if (!im || !im->q) {
        return die("%s", err ? err->message : "not qcow2");
    }
    int log = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
    GRand *r = g_rand_new_with_seed(seed);
    g_autofree uint8_t *buf = g_malloc(16 * BLK);
    uint64_t id = 0;

    for (uint64_t batch = 0;; batch++) {
        for (int i = 0; i < CRASH_BATCH; i++, id++) {
            CrashOp op;
            int ret;
            crash_op(r, im->size, im->q->cluster_size, &op);
            if (op.kind == 0) {
                for (uint64_t b = 0; b < op.len; b++) {
                    fill_block(buf + b * BLK, id + 1, op.off + b);
                }
                /*
                 * Split at a block boundary: a kill between the two
                 * pwrite()s of an unacknowledged write may leave either
                 * half, but no block torn within.
                 */
                ret = img_write_split(im, op.off * BLK, buf, op.len * BLK,
                                      op.len / 2 * BLK);
            } else if (op.kind == 1) {
                ret = hb_qcow2_pwrite_zeroes(im->q, op.off * BLK, op.len * BLK,
                                             g_rand_boolean(r));
            } else {
                ret = hb_qcow2_pdiscard(im->q, op.off * BLK, op.len * BLK);
            }
            if (ret < 0) {
                return die("writer op %" G_GUINT64_FORMAT ": %s", id, g_strerror(-ret));
            }
        }
        if (hb_qcow2_flush(im->q) < 0) {
            return die("flush");
        }
        char line[32];
        int n = snprintf(line, sizeof(line), "%" G_GUINT64_FORMAT "\n", batch);
        if (write(log, line, n) != n) {
            return die("log");
        }
    }
}

static int cmd_verify(const char *img, unsigned seed, const char *logpath,
                      const char *basepath)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *logtext = NULL;
    int64_t flushed = -1;

    if (g_file_get_contents(logpath, &logtext, NULL, NULL)) {
        g_auto(GStrv) lines = g_strsplit(logtext, "\n", -1);
        for (int i = 0; lines[i]; i++) {
            if (lines[i][0]) {
                flushed = g_ascii_strtoll(lines[i], NULL, 10);
            }
        }
    }
    Img *im = img_open(img, false, &err);
    if (!im || !im->q) {
        return die("%s", err ? err->message : "not qcow2");
    }
    uint64_t nblk = im->size / BLK;
    /* expected[b]: op id (0 = baseline, UINT64_MAX = zeroes); allowed: later ids */
    g_autofree uint64_t *expected = g_new0(uint64_t, nblk);
    GHashTable **maybe = g_new0(GHashTable *, nblk);
    GRand *r = g_rand_new_with_seed(seed);
    uint64_t id = 0;

    for (int64_t batch = 0; batch <= flushed + 2; batch++) {
        for (int i = 0; i < CRASH_BATCH; i++, id++) {
            CrashOp op;
            crash_op(r, im->size, im->q->cluster_size, &op);
            if (op.kind == 1) {
                (void)g_rand_int(r);
            }
            for (uint64_t b = op.off; b < op.off + op.len; b++) {
                uint64_t v = op.kind == 0 ? id + 1 : UINT64_MAX;
                if (batch <= flushed) {
                    expected[b] = v;
                } else {
                    if (!maybe[b]) {
                        maybe[b] = g_hash_table_new_full(g_int64_hash, g_int64_equal,
                                                         g_free, NULL);
                    }
                    uint64_t *k = g_new(uint64_t, 1);
                    *k = v;
                    g_hash_table_add(maybe[b], k);
                }
            }
        }
    }
    int base = open(basepath, O_RDONLY);
    uint8_t got[BLK], want[BLK];
    uint64_t bad = 0;
    for (uint64_t b = 0; b < nblk; b++) {
        int ret = img_read(im, b * BLK, got, BLK);
        if (ret < 0) {
            return die("read block %" G_GUINT64_FORMAT ": %s", b, g_strerror(-ret));
        }
        if (expected[b] == 0) {
            memset(want, 0, BLK);
            if (pread(base, want, BLK, b * BLK) < 0) {
                return die("read baseline");
            }
        } else if (expected[b] == UINT64_MAX) {
            memset(want, 0, BLK);
        } else {
            fill_block(want, expected[b], b);
        }
        if (!memcmp(got, want, BLK)) {
            continue;
        }
        /*
         * Unacknowledged writes may have landed in part (a write spans
         * several clusters written separately): each 512-byte sector must
         * be either the acknowledged contents or those of a later write.
         */
        bool ok = maybe[b] != NULL;
        for (int sec = 0; ok && sec < BLK / 512; sec++) {
            const uint8_t *g = got + sec * 512;
            bool sec_ok = !memcmp(g, want + sec * 512, 512);
            GHashTableIter it;
            gpointer key;
            g_hash_table_iter_init(&it, maybe[b]);
            while (!sec_ok && g_hash_table_iter_next(&it, &key, NULL)) {
                uint64_t cand = *(uint64_t *)key;
                uint8_t alt[BLK];
                if (cand == UINT64_MAX) {
                    memset(alt, 0, BLK);
                } else {
                    fill_block(alt, cand, b);
                }
                sec_ok = !memcmp(g, alt + sec * 512, 512);
            }
            ok = sec_ok;
        }
        if (!ok && bad++ < 5) {
            uint64_t gid, gblk;
            memcpy(&gid, got, 8);
            memcpy(&gblk, got + 8, 8);
            fprintf(stderr, "block %" G_GUINT64_FORMAT ": unexpected contents "
                    "(flushed batch %" G_GINT64_FORMAT ", expected id %" G_GUINT64_FORMAT
                    ", got id %" G_GUINT64_FORMAT " block %" G_GUINT64_FORMAT ")\n",
                    b, flushed, expected[b], gid, gblk);
        }
    }
    if (bad) {
        return die("%" G_GUINT64_FORMAT " blocks lost acknowledged data", bad);
    }
    printf("flushed=%" G_GINT64_FORMAT "\n", flushed);
    for (uint64_t b = 0; b < nblk; b++) {
        if (maybe[b]) {
            g_hash_table_destroy(maybe[b]);
        }
    }
    g_free(maybe);
    g_rand_free(r);
    close(base);
    img_close(im);
    return 0;
}

/* ---- threads ---- */

typedef struct ThreadArg {
    Img *im;
    unsigned seed;
    int t, n, nops;
    uint8_t *shadow;   /* the whole disk's expected contents */
    int failed;
} ThreadArg;

static gpointer thread_main(gpointer opaque)
{
    ThreadArg *a = opaque;
    GRand *r = g_rand_new_with_seed(a->seed + a->t);
    uint64_t cs = a->im->q->cluster_size;
    uint64_t ncl = a->im->size / cs;
    g_autofree uint8_t *buf = g_malloc(cs);

    for (int op = 0; op < a->nops && !a->failed; op++) {
        /* Thread t owns clusters t, t+n, t+2n...: neighbours share L2 tables. */
        uint64_t k = g_rand_int_range(r, 0, (ncl - a->t + a->n - 1) / a->n);
        uint64_t cl = k * a->n + a->t;
        uint64_t in = g_rand_int_range(r, 0, cs / 512) * 512;
        uint64_t len = g_rand_int_range(r, 1, (cs - in) / 512 + 1) * 512;
        uint64_t off = cl * cs + in;

        int kind = g_rand_int_range(r, 0, 20);
        if (kind == 0) {
            /* Discard the whole cluster: it reads back as zeroes. */
            if (hb_qcow2_pdiscard(a->im->q, cl * cs, cs) < 0) {
                a->failed = 1;
            }
            memset(a->shadow + cl * cs, 0, cs);
        } else if (kind == 1) {
            if (hb_qcow2_pwrite_zeroes(a->im->q, off, len, g_rand_boolean(r)) < 0) {
                a->failed = 1;
            }
            memset(a->shadow + off, 0, len);
        } else if (kind == 2) {
            if (hb_qcow2_flush(a->im->q) < 0) {
                a->failed = 1;
            }
        } else if (kind < 8) {
            for (uint64_t i = 0; i < len; i++) {
                buf[i] = g_rand_int(r);
            }
            if (img_write(a->im, off, buf, len) < 0) {
                a->failed = 1;
            }
            memcpy(a->shadow + off, buf, len);
        } else {
            if (img_read(a->im, off, buf, len) < 0 ||
                memcmp(buf, a->shadow + off, len)) {
                fprintf(stderr, "thread %d: mismatch at %" G_GUINT64_FORMAT "\n", a->t, off);
                a->failed = 1;
            }
        }
    }
    g_rand_free(r);
    return NULL;
}

static int cmd_threads(const char *img, unsigned seed, int n, int nops)
{
    g_autoptr(GError) err = NULL;
    Img *im = img_open(img, true, &err);
    if (!im || !im->q) {
        return die("%s", err ? err->message : "not qcow2");
    }
    g_autofree uint8_t *shadow = g_malloc0(im->size);
    if (img_read(im, 0, shadow, im->size) < 0) {
        return die("initial read");
    }
    ThreadArg *args = g_new0(ThreadArg, n);
    GThread **th = g_new0(GThread *, n);
    for (int t = 0; t < n; t++) {
        args[t] = (ThreadArg){ .im = im, .seed = seed, .t = t, .n = n,
                               .nops = nops, .shadow = shadow };
        th[t] = g_thread_new("w", thread_main, &args[t]);
    }
    int failed = 0;
    for (int t = 0; t < n; t++) {
        g_thread_join(th[t]);
        failed |= args[t].failed;
    }
    if (failed) {
        return die("thread test failed");
    }
    g_autofree uint8_t *all = g_malloc(im->size);
    if (img_read(im, 0, all, im->size) < 0 || memcmp(all, shadow, im->size)) {
        return die("final contents differ");
    }
    g_free(args);
    g_free(th);
    img_close(im);
    return 0;
}

static int cmd_write(const char *img, uint64_t off, uint64_t len, int byte)
{
    g_autoptr(GError) err = NULL;
    Img *im = img_open(img, true, &err);
    if (!im || !im->q) {
        return die("%s", err ? err->message : "not qcow2");
    }
    g_autofree uint8_t *buf = g_malloc(len);
    memset(buf, byte, len);
    int ret = img_write(im, off, buf, len);
    if (ret == 0) {
        ret = hb_qcow2_flush(im->q);
    }
    if (ret < 0) {
        return die("write: %s", g_strerror(-ret));
    }
    img_close(im);
    return 0;
}

static int cmd_discard(const char *img, uint64_t off, uint64_t len)
{
    g_autoptr(GError) err = NULL;
    Img *im = img_open(img, true, &err);
    if (!im || !im->q) {
        return die("%s", err ? err->message : "not qcow2");
    }
    im->q->discard_passthrough = true;
    int ret = hb_qcow2_pdiscard(im->q, off, len);
    if (ret == 0) {
        ret = hb_qcow2_flush(im->q);
    }
    if (ret < 0) {
        return die("discard: %s", g_strerror(-ret));
    }
    img_close(im);
    return 0;
}

static int cmd_create(const char *img, const char *size, const char *opts)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GHashTable) h = g_hash_table_new_full(g_str_hash, g_str_equal,
                                                    g_free, g_free);
    g_auto(GStrv) kv = g_strsplit(opts ? opts : "", ",", -1);

    for (int i = 0; kv[i]; i++) {
        char *eq = strchr(kv[i], '=');
        if (eq) {
            g_hash_table_insert(h, g_strndup(kv[i], eq - kv[i]), g_strdup(eq + 1));
        }
    }
    if (!hb_qcow2_create(img, g_ascii_strtoll(size, NULL, 10), h, &err)) {
        return die("%s", err->message);
    }
    if (g_hash_table_size(h)) {
        return die("unknown option");
    }
    return 0;
}

static int cmd_check(const char *img)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GString) rep = g_string_new("");
    HbQcow2CheckResult res;

    if (!hb_qcow2_check(img, &res, rep, &err)) {
        fprintf(stderr, "%s\n", err->message);
        return 1;
    }
    fputs(rep->str, stdout);
    printf("corruptions=%" G_GUINT64_FORMAT " leaks=%" G_GUINT64_FORMAT
           " check_errors=%" G_GUINT64_FORMAT " allocated=%" G_GUINT64_FORMAT
           "/%" G_GUINT64_FORMAT " end=%" G_GUINT64_FORMAT "\n", res.corruptions,
           res.leaks, res.check_errors, res.allocated_clusters, res.total_clusters,
           res.image_end_offset);
    return res.check_errors ? 1 : res.corruptions ? 2 : res.leaks ? 3 : 0;
}

int main(int argc, char **argv)
{
    if ((argc == 4 || argc == 5) && !strcmp(argv[1], "create")) {
        return cmd_create(argv[2], argv[3], argc == 5 ? argv[4] : NULL);
    }
    if (argc == 6 && !strcmp(argv[1], "write")) {
        return cmd_write(argv[2], g_ascii_strtoull(argv[3], NULL, 0),
                         g_ascii_strtoull(argv[4], NULL, 0), atoi(argv[5]));
    }
    if (argc == 5 && !strcmp(argv[1], "discard")) {
        return cmd_discard(argv[2], g_ascii_strtoull(argv[3], NULL, 0),
                           g_ascii_strtoull(argv[4], NULL, 0));
    }
    if (argc == 3 && !strcmp(argv[1], "check")) {
        return cmd_check(argv[2]);
    }
    if ((argc == 4 || argc == 5) && !strcmp(argv[1], "dump")) {
        uint64_t chunk = argc == 5 ? g_ascii_strtoull(argv[4], NULL, 0) : 1 << 20;
        return cmd_dump(argv[2], argv[3], MAX(chunk, 1));
    }
    if (argc == 6 && !strcmp(argv[1], "diff")) {
        return cmd_diff(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]));
    }
    if (argc == 5 && !strcmp(argv[1], "writer")) {
        return cmd_writer(argv[2], atoi(argv[3]), argv[4]);
    }
    if (argc == 6 && !strcmp(argv[1], "verify")) {
        return cmd_verify(argv[2], atoi(argv[3]), argv[4], argv[5]);
    }
    if (argc == 6 && !strcmp(argv[1], "threads")) {
        return cmd_threads(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    }
    fprintf(stderr, "usage: see the comment at the top of tests/tools/qcow2-stress.c\n");
    return 2;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bench/crypto-bench.c — XTS-AES-256 decrypt throughput of 512-byte sectors in
 * 64 KiB requests: hb_luks1_decrypt() against a bare gnutls_cipher_decrypt()
 * loop (set IV + decrypt per sector, one handle: the practical limit).
 * With --sector-size (LUKS2's 1024..4096), the hotblock side is the sector
 * cipher hb_luks2_decrypt() uses, set to that size, and the raw loop
 * decrypts units of that size.
 *
 *   crypto-bench [--seconds S] [--threads N] [--check RATIO] [--sector-size N]
 *
 * Rounds alternate between the two so that frequency scaling and neighbours
 * on a shared machine hit both alike; the best round of each is reported.
 * With --check, exits 1 if hotblock/raw falls below RATIO (e.g. 0.85).
 */
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/cipher.h"
#include "crypto/luks1.h"

#define REQ (64 * 1024)

static double seconds = 0.3;
static gint threads = 1;
static double check;
static gint sector_size = 512;

static const GOptionEntry entries[] = {
    { "seconds", 0, 0, G_OPTION_ARG_DOUBLE, &seconds, "length of one round", "S" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "concurrent requesters", "N" },
    { "check", 0, 0, G_OPTION_ARG_DOUBLE, &check, "fail below this hotblock/raw ratio", "R" },
    { "sector-size", 0, 0, G_OPTION_ARG_INT, &sector_size, "encryption sector (512..4096)", "N" },
    { NULL },
};

typedef struct {
    HbLuks1 *luks;      /* NULL: raw gnutls loop (or @cipher) */
    HbSectorCipher *cipher; /* --sector-size: the hotblock side */
    const uint8_t *key; /* raw loop's key */
    guint64 bytes;
    double cpu; /* thread CPU seconds spent */
} Worker;

static volatile gint stop;

static gpointer run_raw(Worker *w)
{
    gnutls_cipher_hd_t h;
    uint8_t iv[16] = { 0 };
    gnutls_datum_t k = { (uint8_t *)w->key, 64 }, v = { iv, 16 };
    g_autofree uint8_t *buf = g_malloc0(REQ);
    uint64_t sector = 0;

    if (gnutls_cipher_init(&h, GNUTLS_CIPHER_AES_256_XTS, &k, &v) < 0) {
        g_error("gnutls_cipher_init");
    }
    while (!g_atomic_int_get(&stop)) {
        /* IVs count 512-byte sectors whatever the unit (see cipher.h). */
        for (int s = 0; s < REQ / sector_size; s++, sector += (uint64_t)sector_size / 512) {
            memset(iv, 0, sizeof(iv));
            for (int i = 0; i < 8; i++) {
                iv[i] = (uint8_t)(sector >> (8 * i));
            }
            gnutls_cipher_set_iv(h, iv, 16);
            gnutls_cipher_decrypt(h, buf + s * sector_size, (size_t)sector_size);
        }
        w->bytes += REQ;
    }
    gnutls_cipher_deinit(h);
    return NULL;
}

static gpointer run_hb(Worker *w)
{
    g_autofree uint8_t *buf = g_malloc0(REQ);
    uint64_t sector = 0;

    while (!g_atomic_int_get(&stop)) {
        int rc = w->cipher ? hb_sector_cipher_decrypt(w->cipher, sector, buf, REQ)
                           : hb_luks1_decrypt(w->luks, sector, buf, REQ);
        if (rc < 0) {
            g_error("decrypt");
        }
        sector += REQ / 512;
        w->bytes += REQ;
    }
    return NULL;
}

static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static gpointer worker_fn(gpointer p)
{
    Worker *w = p;
    double t0 = thread_cpu();
    if (w->luks || w->cipher) {
        run_hb(w);
    } else {
        run_raw(w);
    }
    w->cpu = thread_cpu() - t0;
    return NULL;
}

/* MiB per CPU-second of one round with @n threads: CPU time rather than wall
 * time, so other load on a shared machine does not skew the ratio. */
static double round_mibs(HbLuks1 *luks, HbSectorCipher *cipher, const uint8_t *key, int n)
{
    Worker *ws = g_new0(Worker, n);
    GThread **ts = g_new0(GThread *, n);
    guint64 total = 0;
    double cpu = 0;

    g_atomic_int_set(&stop, 0);
    gint64 start = g_get_monotonic_time();
    for (int i = 0; i < n; i++) {
        ws[i].luks = luks;
        ws[i].cipher = cipher;
        ws[i].key = key;
        ts[i] = g_thread_new("bench", worker_fn, &ws[i]);
    }
    g_usleep((gulong)(seconds * 1e6));
    g_atomic_int_set(&stop, 1);
    for (int i = 0; i < n; i++) {
        g_thread_join(ts[i]);
        total += ws[i].bytes;
        cpu += ws[i].cpu;
    }
    (void)start;
    double el = cpu > 0 ? cpu / n : 1e-9;
    g_free(ws);
    g_free(ts);
    return (double)total / el / (1024.0 * 1024.0);
}

typedef struct {
    GByteArray *b;
} Mem;

static int mem_read(void *opaque, uint64_t off, void *buf, size_t len)
{
    Mem *m = opaque;
    if (off + len > m->b->len) {
        return -5;
    }
    memcpy(buf, m->b->data + off, len);
    return 0;
}

static int mem_write(void *opaque, uint64_t off, const void *buf, size_t len)
{
    Mem *m = opaque;
    if (off + len > m->b->len) {
        g_byte_array_set_size(m->b, (guint)(off + len));
    }
    memcpy(m->b->data + off, buf, len);
    return 0;
}

int main(int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new("- LUKS sector cipher throughput");
    g_autoptr(GError) err = NULL;
    HbLuks1CreateOpts o = { .iter_time_ms = 1 };
    Mem m = { g_byte_array_new() };
    uint64_t hsize;
    double best_raw = 0, best_hb = 0;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        fprintf(stderr, "crypto-bench: %s\n", err->message);
        return 2;
    }
    if (!hb_luks1_create(mem_write, &m, &o, (const uint8_t *)"bench", 5, &hsize, &err)) {
        g_error("%s", err->message);
    }
    HbLuks1 *luks = hb_luks1_open(mem_read, &m, m.b->len, (const uint8_t *)"bench", 5, &err);
    if (!luks) {
        g_error("%s", err->message);
    }
    /* The raw loop uses the same master key, so both do identical work. */
    const uint8_t *key = hb_luks1_master_key(luks)->data;
    g_autoptr(HbSectorCipher) cipher = NULL;
    if (sector_size != 512) {
        cipher = hb_sector_cipher_new(HB_CIPHER_AES_256, HB_CIPHER_MODE_XTS, HB_IVGEN_PLAIN64,
                                      HB_HASH_SHA256, key, 64, &err);
        if (!cipher || !hb_sector_cipher_set_sector_size(cipher, (uint32_t)sector_size)) {
            fprintf(stderr, "crypto-bench: bad --sector-size %d\n", sector_size);
            return 2;
        }
    }

    for (int r = 0; r < 5; r++) {
        best_raw = MAX(best_raw, round_mibs(NULL, NULL, key, threads));
        best_hb = MAX(best_hb, round_mibs(cipher ? NULL : luks, cipher, key, threads));
    }
    double ratio = best_hb / best_raw;
    printf("xts-aes-256 decrypt, %d-byte sectors, 64 KiB requests, %d thread(s);\n"
           "MiB/s from CPU time (bytes / (CPU seconds / threads)), best of 5 rounds\n",
           sector_size, threads);
    printf("raw gnutls_cipher_decrypt loop: %8.1f MiB/s\n", best_raw);
    printf("%-31s %8.1f MiB/s\n", cipher ? "hb sector cipher (LUKS2 path):" : "hb_luks1_decrypt:",
           best_hb);
    printf("ratio:                          %8.3f\n", ratio);
    hb_luks1_free(luks);
    g_byte_array_unref(m.b);
    return check > 0 && ratio < check ? 1 : 0;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crypto/pbkdf.c — PBKDF2 through gnutls, and measuring how many iterations fit a time. */
#include "crypto/pbkdf.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "crypto/secret.h"
#include "util/error.h"
#include "util/slow-job.h"

/* gnutls_pbkdf2() as a slow job: its arguments and result. */
typedef struct Pbkdf2Job {
    gnutls_mac_algorithm_t mac;
    const gnutls_datum_t *key, *salt;
    unsigned iters;
    uint8_t *out;
    size_t outlen;
    int rc;
} Pbkdf2Job;

static void pbkdf2_job(void *opaque)
{
    Pbkdf2Job *j = opaque;

    j->rc = gnutls_pbkdf2(j->mac, j->key, j->salt, j->iters, j->out, j->outlen);
    hb_secret_burn_stack();     /* nettle's HMAC left key ^ ipad there */
}

/*
 * Counts this large take long enough (tens of ms and up) to be worth a
 * thread of their own while the daemon's main loop goes on serving
 * (util/slow-job.h).  Only the derivation moves: what is made from its
 * result (cipher contexts, hash states) is made where the caller runs, so
 * nothing derived from a key is left in a finished thread's memory.
 */
#define PBKDF2_SLOW_ITERS 100000

bool hb_pbkdf2(HbHashAlg alg, const uint8_t *pass, size_t passlen,
               const uint8_t *salt, size_t saltlen, uint64_t iters,
               uint8_t *out, size_t outlen, GError **errp)
{
    /* gnutls wants a non-NULL key pointer even for an empty passphrase. */
    static const uint8_t empty[1];
    gnutls_datum_t key = { (unsigned char *)(passlen ? pass : empty), (unsigned)passlen };
    gnutls_datum_t s = { (unsigned char *)salt, (unsigned)saltlen };
    int rc;

    if (iters == 0 || iters > UINT32_MAX) {
        hb_error_set(errp, "PBKDF2 iteration count %" G_GUINT64_FORMAT " out of range", iters);
        return false;
    }
    Pbkdf2Job job = { hb_hash_gnutls_mac(alg), &key, &s, (unsigned)iters, out, outlen, 0 };
    if (iters >= PBKDF2_SLOW_ITERS) {
        hb_run_slow(pbkdf2_job, &job);
    } else {
        pbkdf2_job(&job);
    }
    rc = job.rc;
    if (rc < 0) {
        hb_error_set(errp, "PBKDF2 with %s failed: %s", hb_hash_name(alg), gnutls_strerror(rc));
        return false;
    }
    return true;
}

bool hb_pbkdf2_count_iters(HbHashAlg alg, size_t outlen, uint64_t ms,
                           uint64_t *iters, GError **errp)
{
    static const uint8_t pass[] = "hotblock-calibration";
    uint8_t salt[32] = { 0 };
    g_autofree uint8_t *out = g_malloc(outlen);
    uint64_t n = 1 << 10;
    gint64 elapsed;

    /* Double until one run is long enough (20 ms) for the clock to be meaningful. */
    for (;;) {
        gint64 start = g_get_monotonic_time();
        if (!hb_pbkdf2(alg, pass, sizeof(pass) - 1, salt, sizeof(salt), n, out, outlen, errp)) {
            return false;
        }
        elapsed = g_get_monotonic_time() - start;
        if (elapsed >= 20000 || n >= (UINT64_C(1) << 31)) {
            break;
        }
        n *= 2;
    }
    if (elapsed <= 0) {
        elapsed = 1;
    }
    /* iterations per ms * ms, guarding the multiplication. */
    double want = (double)n * 1000.0 / (double)elapsed * (double)ms;
    if (want > UINT32_MAX) {
        hb_error_set(errp, "PBKDF iterations %.0f larger than %u", want, UINT32_MAX);
        return false;
    }
    *iters = want < 1 ? 1 : (uint64_t)want;
    return true;
}

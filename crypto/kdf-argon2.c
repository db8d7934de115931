/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crypto/kdf-argon2.c — Argon2 through libargon2 as a slow job. */
#include "crypto/kdf-argon2.h"

#include <argon2.h>
#include <unistd.h>

#include "crypto/secret.h"
#include "util/error.h"
#include "util/slow-job.h"

typedef struct Argon2Job {
    argon2_context ctx;
    argon2_type type;
    int rc;
} Argon2Job;

static void argon2_job(void *opaque)
{
    Argon2Job *j = opaque;

    j->rc = argon2_ctx(&j->ctx, j->type);
    hb_secret_burn_stack();     /* the initial Blake2b hash of the passphrase */
}

const char *hb_argon2_name(HbArgon2Type type)
{
    return type == HB_ARGON2I ? "argon2i" : "argon2id";
}

bool hb_argon2(HbArgon2Type type, const uint8_t *pass, size_t passlen,
               const uint8_t *salt, size_t saltlen, uint32_t time, uint32_t memory_kib,
               uint32_t lanes, uint8_t *out, size_t outlen, GError **errp)
{
    static uint8_t empty[1];
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    Argon2Job job = { 0 };

    if (outlen > UINT32_MAX || passlen > UINT32_MAX || saltlen > UINT32_MAX) {
        hb_error_set(errp, "%s input too long", hb_argon2_name(type));
        return false;
    }
    job.ctx.out = out;
    job.ctx.outlen = (uint32_t)outlen;
    /* libargon2 only reads these; it wants non-NULL even when empty. */
    job.ctx.pwd = passlen ? (uint8_t *)pass : empty;
    job.ctx.pwdlen = (uint32_t)passlen;
    job.ctx.salt = (uint8_t *)salt;
    job.ctx.saltlen = (uint32_t)saltlen;
    job.ctx.t_cost = time;
    job.ctx.m_cost = memory_kib;
    job.ctx.lanes = lanes;
    /* Threads change nothing in the result, only the wall time. */
    job.ctx.threads = cpus > 0 && (unsigned long)cpus < lanes ? (uint32_t)cpus : lanes;
    job.ctx.version = ARGON2_VERSION_13;
    /* Not ARGON2_FLAG_CLEAR_PASSWORD: the passphrase is the caller's,
     * which wipes it itself.  libargon2 wipes its memory blocks on free. */
    job.ctx.flags = ARGON2_DEFAULT_FLAGS;
    job.type = type == HB_ARGON2I ? Argon2_i : Argon2_id;

    hb_run_slow(argon2_job, &job);
    if (job.rc != ARGON2_OK) {
        hb_error_set(errp, "%s key derivation failed: %s", hb_argon2_name(type),
                     argon2_error_message(job.rc));
        return false;
    }
    return true;
}

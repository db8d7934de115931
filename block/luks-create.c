/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/luks-create.c — `hotblock-img create -f luks`: the -o options turned
 * into crypto/luks1.h or crypto/luks2.h create options, the file written.
 * LUKS1 stays the default, as qemu-img has it; format=luks2 writes LUKS2 as
 * cryptsetup 2.6's luksFormat does, and takes cryptsetup's KDF knobs
 * (pbkdf, pbkdf-memory, pbkdf-parallel) and sector-size besides qemu-img's
 * cipher-alg, cipher-mode, ivgen-alg, ivgen-hash-alg, hash-alg, iter-time. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "block/create.h"
#include "block/luks-create.h"
#include "crypto/cipher.h"
#include "crypto/luks2.h"
#include "crypto/secret.h"
#include "util/error.h"
#include "util/opts-take.h"
#include "util/fd-io.h"

static int create_write(void *opaque, uint64_t offset, const void *buf, size_t len)
{
    return hb_pwrite_all(*(int *)opaque, buf, len, offset);
}

static bool take_bool(GHashTable *opts, const char *key, bool *out, GError **errp)
{
    const char *v = g_hash_table_lookup(opts, key);

    if (!v) {
        return true;
    }
    if (g_str_equal(v, "on") || g_str_equal(v, "true")) {
        *out = true;
    } else if (g_str_equal(v, "off") || g_str_equal(v, "false")) {
        *out = false;
    } else {
        hb_error_set(errp, "Parameter '%s' expects 'on' or 'off'", key);
        return false;
    }
    g_hash_table_remove(opts, key);
    return true;
}

/* A decimal number in [@min, @max]; absent leaves *@out alone. */
static bool take_num(GHashTable *opts, const char *key, int64_t min, int64_t max, int64_t *out,
                     GError **errp)
{
    const char *v = g_hash_table_lookup(opts, key);
    char *end = NULL;

    if (!v) {
        return true;
    }
    int64_t n = g_ascii_strtoll(v, &end, 10);
    if (!*v || !end || *end || n < min || n > max) {
        hb_error_set(errp, "Parameter '%s' expects a number", key);
        return false;
    }
    *out = n;
    g_hash_table_remove(opts, key);
    return true;
}

typedef struct CreateArgs {
    char *secret, *alg, *mode, *ivgen, *ivhash, *hash, *format, *pbkdf;
    int64_t iter, memory, parallel, sector_size;
    QapiPreallocMode prealloc;  /* of the payload; metadata is off, as QEMU */
    bool detached;
} CreateArgs;

static void args_clear(CreateArgs *a)
{
    g_free(a->secret);
    g_free(a->alg);
    g_free(a->mode);
    g_free(a->ivgen);
    g_free(a->ivhash);
    g_free(a->hash);
    g_free(a->format);
    g_free(a->pbkdf);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(CreateArgs, args_clear)

static HbLuksFormatOpts format_opts(const CreateArgs *a);

/* preallocation=: QEMU's PreallocMode names; the text is QEMU's file protocol's, which takes it there. */
static bool take_prealloc(GHashTable *opts, QapiPreallocMode *out, GError **errp)
{
    g_autofree char *v = hb_opts_take_str(opts, "preallocation");

    *out = QAPI_PREALLOC_MODE_OFF;
    if (!v || QapiPreallocMode_parse(v, out)) {
        return true;
    }
    hb_error_set(errp, "invalid parameter value: %s", v);
    return false;
}

static bool take_args(GHashTable *opts, CreateArgs *a, GError **errp)
{
    a->secret = hb_opts_take_str(opts, "key-secret");
    a->alg = hb_opts_take_str(opts, "cipher-alg");
    a->mode = hb_opts_take_str(opts, "cipher-mode");
    a->ivgen = hb_opts_take_str(opts, "ivgen-alg");
    a->ivhash = hb_opts_take_str(opts, "ivgen-hash-alg");
    a->hash = hb_opts_take_str(opts, "hash-alg");
    a->format = hb_opts_take_str(opts, "format");
    a->pbkdf = hb_opts_take_str(opts, "pbkdf");
    if (!take_bool(opts, "detached-header", &a->detached, errp) ||
        !take_prealloc(opts, &a->prealloc, errp) ||
        !take_num(opts, "iter-time", 1, INT32_MAX, &a->iter, errp) ||
        !take_num(opts, "pbkdf-memory", 1, HB_LUKS_PBKDF_MEMORY_MAX, &a->memory, errp) ||
        !take_num(opts, "pbkdf-parallel", 1, HB_LUKS_PBKDF_PARALLEL_MAX, &a->parallel, errp) ||
        !take_num(opts, "sector-size", 1, HB_LUKS_SECTOR_SIZE_MAX, &a->sector_size, errp)) {
        return false;
    }
    if (a->format && !g_str_equal(a->format, "luks1") && !g_str_equal(a->format, "luks2")) {
        hb_error_set(errp, "Parameter 'format' expects 'luks1' or 'luks2'");
        return false;
    }
    HbLuksFormatOpts fo = format_opts(a);
    if (!hb_luks_format_check(&fo, errp)) {
        return false;
    }
    if (!a->secret) {
        hb_error_set(errp, "Parameter 'key-secret' is required for cipher");
        return false;
    }
    return true;
}

bool hb_luks_format_check(const HbLuksFormatOpts *o, GError **errp)
{
    const char *only2 = o->pbkdf ? "pbkdf" : o->pbkdf_memory_kib ? "pbkdf-memory"
                      : o->pbkdf_parallel ? "pbkdf-parallel" : o->sector_size ? "sector-size"
                      : NULL;

    if (!o->luks2 && only2) {
        hb_error_set(errp, "Parameter '%s' needs format=luks2", only2);
        return false;
    }
    return true;
}

/* The -o options as HbLuksFormatOpts (the strings stay @a's). */
static HbLuksFormatOpts format_opts(const CreateArgs *a)
{
    return (HbLuksFormatOpts){
        .luks2 = a->format && g_str_equal(a->format, "luks2"),
        .cipher_alg = a->alg, .cipher_mode = a->mode, .ivgen_alg = a->ivgen,
        .ivgen_hash_alg = a->ivhash, .hash_alg = a->hash, .iter_time_ms = a->iter,
        .pbkdf = a->pbkdf, .pbkdf_memory_kib = a->memory, .pbkdf_parallel = a->parallel,
        .sector_size = a->sector_size, .detached = a->detached,
    };
}

/* LUKS2 names the cipher as dm-crypt does ("aes-xts-plain64") with a key
 * size in bits; qemu-img's options name its parts. */
static bool luks2_opts(const HbLuksFormatOpts *a, HbLuks2CreateOpts *o, char **spec,
                       GError **errp)
{
    HbCipherAlg alg;
    HbCipherMode mode;
    HbIvgenAlg ivgen;

    if (!hb_cipher_alg_lookup(a->cipher_alg ? a->cipher_alg : "aes-256", &alg, errp) ||
        !hb_cipher_mode_lookup(a->cipher_mode ? a->cipher_mode : "xts", &mode, errp) ||
        !hb_ivgen_lookup(a->ivgen_alg ? a->ivgen_alg : "plain64", &ivgen, errp)) {
        return false;
    }
    const char *ivhash = a->ivgen_hash_alg ? a->ivgen_hash_alg
                       : ivgen == HB_IVGEN_ESSIV ? "sha256" : NULL;
    *spec = g_strdup_printf("aes-%s-%s%s%s", hb_cipher_mode_name(mode), hb_ivgen_name(ivgen),
                            ivhash ? ":" : "", ivhash ? ivhash : "");
    o->cipher = *spec;
    o->key_size_bits = (uint32_t)hb_cipher_key_len(alg, mode) * 8;
    o->hash_alg = a->hash_alg;
    o->pbkdf = a->pbkdf;
    o->iter_time_ms = a->iter_time_ms;
    o->memory_kib = (uint32_t)a->pbkdf_memory_kib;
    o->parallel = (uint32_t)a->pbkdf_parallel;
    o->sector_size = (uint32_t)a->sector_size;
    o->detached_header = a->detached;
    return true;
}

bool hb_luks_format(HbLuks1WriteFn write, void *opaque, const HbLuksFormatOpts *a,
                    const HbSecretBuf *pass, uint64_t *header_size, GError **errp)
{
    if (!hb_luks_format_check(a, errp)) {
        return false;
    }
    if (a->luks2) {
        HbLuks2CreateOpts o = { 0 };
        g_autofree char *spec = NULL;
        return luks2_opts(a, &o, &spec, errp) &&
               hb_luks2_create(write, opaque, &o, pass->data, pass->len, header_size, errp);
    }
    HbLuks1CreateOpts co = {
        .cipher_alg = a->cipher_alg, .cipher_mode = a->cipher_mode, .ivgen_alg = a->ivgen_alg,
        .ivgen_hash_alg = a->ivgen_hash_alg, .hash_alg = a->hash_alg,
        .iter_time_ms = a->iter_time_ms, .detached_header = a->detached,
    };
    return hb_luks1_create(write, opaque, &co, pass->data, pass->len, header_size, errp);
}

bool hb_luks_create(const char *filename, int64_t size, GHashTable *opts, GError **errp)
{
    g_auto(CreateArgs) a = { 0 };

    if (!take_args(opts, &a, errp)) {
        return false;
    }
    if (!a.detached && size < 0) {
        hb_error_set(errp, "Image creation needs a size parameter");
        return false;
    }
    g_autoptr(HbSecretBuf) pass = hb_secret_lookup_utf8(a.secret, errp);
    if (!pass) {
        return false;
    }

    HB_AUTOFD int fd = open(filename, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        hb_error_set_errno(errp, errno, "Could not create '%s'", filename);
        return false;
    }
    uint64_t header_size = 0;
    HbLuksFormatOpts fo = format_opts(&a);
    bool ok = hb_luks_format(create_write, &fd, &fo, pass, &header_size, errp);
    if (ok) {
        uint64_t total = header_size + (a.detached ? 0 : (uint64_t)size);
        if (ftruncate(fd, (off_t)total) == -1) {
            hb_error_set_errno(errp, errno, "Could not resize '%s'", filename);
            ok = false;
        }
        ok = ok && (a.prealloc == QAPI_PREALLOC_MODE_METADATA ||
                    hb_file_preallocate(fd, header_size, total, a.prealloc, errp) == 0);
        if (ok && fdatasync(fd) == -1) {
            hb_error_set_errno(errp, errno, "Could not resize '%s'", filename);
            ok = false;
        }
    }
    if (!ok) {
        unlink(filename);
    }
    return ok;
}

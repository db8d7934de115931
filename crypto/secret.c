/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crypto/secret.c — the secret object registry: load (data/file, raw/base64,
 * keyid+iv decryption as libvirt uses it), look up, delete.
 *
 * The registry is touched from the main thread by QMP and from whoever opens a
 * node, so it takes a mutex; lookups hand out copies so a secret can be
 * deleted while a copy is in use.  Error texts follow QEMU's, and none of
 * them ever contains secret bytes.
 */
#include "crypto/secret.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <sys/stat.h>
#include <fcntl.h>

#include "util/error.h"

static GMutex secrets_lock;
static GHashTable *secrets; /* id -> HbSecretBuf* */

static GHashTable *table(void)
{
    if (!secrets) {
        secrets = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify)hb_secret_buf_free);
    }
    return secrets;
}

HbSecretBuf *hb_base64_decode(const char *in, size_t inlen, GError **errp)
{
    static const char valid[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\n";
    gint state = 0;
    guint save = 0;

    if (memchr(in, '\0', inlen)) {
        hb_error_set(errp, "Base64 data contains embedded NUL characters");
        return NULL;
    }
    if (strspn(in, valid) < inlen) {
        hb_error_set(errp, "Base64 data contains invalid characters");
        return NULL;
    }
    /* Decode into a locked scratch buffer, then copy the exact length: a
     * buffer's len also sizes its mapping, so it must not shrink in place. */
    g_autoptr(HbSecretBuf) tmp = hb_secret_buf_new(inlen / 4 * 3 + 3);
    size_t n = g_base64_decode_step(in, inlen, tmp->data, &state, &save);
    /* The decoder's state holds up to three decoded bytes. */
    explicit_bzero(&save, sizeof(save));
    return hb_secret_buf_new_from(tmp->data, n);
}

/*
 * A secret file is read straight into locked memory, and only if it is a
 * regular file of sane size: a FIFO would block the main thread in open()
 * or read(), and /dev/zero or a huge file would be read whole into the
 * ordinary heap.  Symlinks are followed (key files are often links).
 */
#define SECRET_FILE_MAX (64 * 1024)

static HbSecretBuf *load_file(const char *path, GError **errp)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);

    if (fd < 0) {
        /* QEMU's text (through g_file_get_contents()), which clients may match */
        hb_error_set(errp, "Unable to read %s: Failed to open file \u201c%s\u201d: %s",
                     path, path, g_strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > SECRET_FILE_MAX) {
        hb_error_set(errp, "Unable to read %s: not a regular file of at most %d bytes",
                     path, SECRET_FILE_MAX);
        close(fd);
        return NULL;
    }
    HbSecretBuf *buf = hb_secret_buf_new(st.st_size);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf->data + got, st.st_size - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;      /* the file shrank: keep what was there */
        }
        got += n;
    }
    close(fd);
    if (got < buf->len) {           /* keep the mapping's size as allocated */
        HbSecretBuf *shorter = hb_secret_buf_new_from(buf->data, got);
        hb_secret_buf_free(buf);
        return shorter;
    }
    return buf;
}

/* Contents of the data or file property, before any decoding. */
static HbSecretBuf *load_input(const HbSecretOptions *opts, GError **errp)
{
    if (opts->file && opts->data) {
        hb_error_set(errp, "'file' and 'data' are mutually exclusive");
        return NULL;
    }
    if (opts->data) {
        return hb_secret_buf_new_from(opts->data, strlen(opts->data));
    }
    if (!opts->file) {
        hb_error_set(errp, "Either 'file' or 'data' must be provided");
        return NULL;
    }
    return load_file(opts->file, errp);
}

/* AES-256-CBC with PKCS#7 padding under secret @keyid: QEMU's (and libvirt's) scheme. */
static HbSecretBuf *decrypt_input(const HbSecretOptions *opts, const HbSecretBuf *input,
                                  GError **errp)
{
    g_autoptr(HbSecretBuf) key = hb_secret_lookup(opts->keyid, errp);
    g_autoptr(HbSecretBuf) iv = NULL;
    g_autoptr(HbSecretBuf) ct = NULL;
    gnutls_cipher_hd_t aes;
    int rc;

    if (!key) {
        return NULL;
    }
    if (key->len != 32) {
        hb_error_set(errp, "Key should be 32 bytes in length");
        return NULL;
    }
    if (!opts->iv) {
        hb_error_set(errp, "IV is required to decrypt secret");
        return NULL;
    }
    iv = hb_base64_decode(opts->iv, strlen(opts->iv), errp);
    if (!iv) {
        return NULL;
    }
    if (iv->len != 16) {
        hb_error_set(errp, "IV should be 16 bytes in length not %zu", iv->len);
        return NULL;
    }
    if (opts->format == HB_SECRET_FORMAT_BASE64) {
        ct = hb_base64_decode((const char *)input->data, input->len, errp);
        if (!ct) {
            return NULL;
        }
    } else {
        ct = hb_secret_buf_new_from(input->data, input->len);
    }
    if (ct->len == 0 || ct->len % 16) {
        hb_error_set(errp, "Length %zu must be a multiple of block size 16", ct->len);
        return NULL;
    }

    gnutls_datum_t k = { key->data, 32 }, v = { iv->data, 16 };
    rc = gnutls_cipher_init(&aes, GNUTLS_CIPHER_AES_256_CBC, &k, &v);
    if (rc < 0) {
        hb_error_set(errp, "Cannot initialize cipher: %s", gnutls_strerror(rc));
        return NULL;
    }
    rc = gnutls_cipher_decrypt(aes, ct->data, ct->len);
    gnutls_cipher_deinit(aes);
    if (rc < 0) {
        hb_error_set(errp, "Cannot decrypt secret: %s", gnutls_strerror(rc));
        return NULL;
    }

    /* PKCS#7: n bytes of value n, 1 <= n <= 16.  QEMU only checks n; checking
     * every pad byte catches a wrong key far more often, same message. */
    uint8_t pad = ct->data[ct->len - 1];
    bool bad = pad == 0 || pad > 16;
    for (size_t i = 0; !bad && i < pad; i++) {
        bad = ct->data[ct->len - 1 - i] != pad;
    }
    if (bad) {
        hb_error_set(errp, "Incorrect number of padding bytes (%d) found on decrypted data", pad);
        return NULL;
    }
    HbSecretBuf *out = hb_secret_buf_new_from(ct->data, ct->len - pad);
    return out;
}

/* QEMU's rule for object ids: a letter, then letters, digits, '-', '.', '_'. */
static bool id_wellformed(const char *id)
{
    if (!g_ascii_isalpha(id[0])) {
        return false;
    }
    for (const char *p = id + 1; *p; p++) {
        if (!g_ascii_isalnum(*p) && !strchr("-._", *p)) {
            return false;
        }
    }
    return true;
}

bool hb_secret_add(const HbSecretOptions *opts, GError **errp)
{
    g_autoptr(HbSecretBuf) input = NULL;
    g_autoptr(HbSecretBuf) value = NULL;

    g_return_val_if_fail(opts && opts->id, false);
    if (!id_wellformed(opts->id)) {
        hb_error_set(errp, "Parameter 'id' expects an identifier");
        return false;
    }
    /* Checked first, as QEMU adds the object to /objects before completing it. */
    if (hb_secret_exists(opts->id)) {
        hb_error_set(errp, "attempt to add duplicate property '%s' to object (type 'container')",
                     opts->id);
        return false;
    }
    input = load_input(opts, errp);
    if (!input) {
        return false;
    }
    if (opts->keyid) {
        value = decrypt_input(opts, input, errp);
    } else if (opts->format == HB_SECRET_FORMAT_BASE64) {
        value = hb_base64_decode((const char *)input->data, input->len, errp);
    } else {
        value = g_steal_pointer(&input);
    }
    if (!value) {
        return false;
    }

    g_mutex_lock(&secrets_lock);
    bool dup = g_hash_table_contains(table(), opts->id);
    if (!dup) {
        g_hash_table_insert(table(), g_strdup(opts->id), g_steal_pointer(&value));
    }
    g_mutex_unlock(&secrets_lock);
    if (dup) {
        hb_error_set(errp, "attempt to add duplicate property '%s' to object (type 'container')",
                     opts->id);
        return false;
    }
    return true;
}

bool hb_secret_del(const char *id, GError **errp)
{
    g_mutex_lock(&secrets_lock);
    bool found = g_hash_table_remove(table(), id);
    g_mutex_unlock(&secrets_lock);
    if (!found) {
        hb_error_set(errp, "object '%s' not found", id);
        return false;
    }
    return true;
}

bool hb_secret_exists(const char *id)
{
    g_mutex_lock(&secrets_lock);
    bool found = g_hash_table_contains(table(), id);
    g_mutex_unlock(&secrets_lock);
    return found;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **hb_secret_list_ids(void)
{
    g_mutex_lock(&secrets_lock);
    guint n = 0;
    char **ids = (char **)g_hash_table_get_keys_as_array(table(), &n);
    char **copy = g_new0(char *, n + 1);
    for (guint i = 0; i < n; i++) {
        copy[i] = g_strdup(ids[i]);
    }
    g_free(ids);
    g_mutex_unlock(&secrets_lock);
    qsort(copy, n, sizeof(char *), cmp_str);
    return copy;
}

void hb_secret_clear_all(void)
{
    g_mutex_lock(&secrets_lock);
    if (secrets) {
        g_hash_table_remove_all(secrets);
    }
    g_mutex_unlock(&secrets_lock);
}

HbSecretBuf *hb_secret_lookup(const char *id, GError **errp)
{
    HbSecretBuf *copy = NULL;

    g_mutex_lock(&secrets_lock);
    HbSecretBuf *buf = id ? g_hash_table_lookup(table(), id) : NULL;
    if (buf) {
        copy = hb_secret_buf_new_from(buf->data, buf->len);
    }
    g_mutex_unlock(&secrets_lock);
    if (!copy) {
        hb_error_set(errp, "No secret with id '%s'", id ? id : "");
    }
    return copy;
}

HbSecretBuf *hb_secret_lookup_utf8(const char *id, GError **errp)
{
    g_autoptr(HbSecretBuf) buf = hb_secret_lookup(id, errp);

    if (buf && !g_utf8_validate((const char *)buf->data, buf->len, NULL)) {
        hb_error_set(errp, "Data from secret %s is not valid UTF-8", id);
        return NULL;
    }
    return g_steal_pointer(&buf);
}

bool hb_secret_lookup_utf8_opt(const char *id, HbSecretBuf **out, GError **errp)
{
    return !id || (*out = hb_secret_lookup_utf8(id, errp)) != NULL;
}

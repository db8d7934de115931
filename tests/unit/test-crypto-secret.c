/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-crypto-secret.c — the secret registry: formats, files,
 * keyid/iv decryption (checked against gnutls directly), and every error. */
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <string.h>
#include <unistd.h>

#include "crypto/secret.h"

static void add_ok(const HbSecretOptions *o)
{
    g_autoptr(GError) err = NULL;
    g_assert_true(hb_secret_add(o, &err));
    g_assert_no_error(err);
}

static void add_fails(const HbSecretOptions *o, const char *msg)
{
    g_autoptr(GError) err = NULL;
    bool existed = hb_secret_exists(o->id);
    g_assert_false(hb_secret_add(o, &err));
    g_assert_nonnull(err);
    g_assert_cmpstr(err->message, ==, msg);
    g_assert_cmpint(hb_secret_exists(o->id), ==, existed);
}

static void assert_value(const char *id, const void *want, size_t len)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(HbSecretBuf) b = hb_secret_lookup(id, &err);
    g_assert_no_error(err);
    g_assert_cmpmem(b->data, b->len, want, len);
    g_assert_cmpuint(b->data[b->len], ==, 0); /* always NUL-terminated */
}

static void test_raw_and_base64(void)
{
    add_ok(&(HbSecretOptions){ .id = "sec0", .data = "abc123" });
    assert_value("sec0", "abc123", 6);
    add_ok(&(HbSecretOptions){ .id = "b64", .data = "AAEC/w==", .format = HB_SECRET_FORMAT_BASE64 });
    assert_value("b64", "\x00\x01\x02\xff", 4);
    add_fails(&(HbSecretOptions){ .id = "sec0", .data = "x" },
              "attempt to add duplicate property 'sec0' to object (type 'container')");
    add_fails(&(HbSecretOptions){ .id = "bad", .data = "!!!", .format = HB_SECRET_FORMAT_BASE64 },
              "Base64 data contains invalid characters");
    add_fails(&(HbSecretOptions){ .id = "none" }, "Either 'file' or 'data' must be provided");
    add_fails(&(HbSecretOptions){ .id = "both", .data = "a", .file = "/etc/hostname" },
              "'file' and 'data' are mutually exclusive");
    add_fails(&(HbSecretOptions){ .id = "9bad", .data = "a" }, "Parameter 'id' expects an identifier");
    add_fails(&(HbSecretOptions){ .id = "a b", .data = "a" }, "Parameter 'id' expects an identifier");
    add_ok(&(HbSecretOptions){ .id = "a-b.c_9", .data = "" });
    assert_value("a-b.c_9", "", 0);

    g_auto(GStrv) ids = hb_secret_list_ids();
    g_assert_cmpuint(g_strv_length(ids), ==, 3);
    g_assert_cmpstr(ids[0], ==, "a-b.c_9");
    g_assert_cmpstr(ids[1], ==, "b64");
    g_assert_cmpstr(ids[2], ==, "sec0");

    g_autoptr(GError) err = NULL;
    g_assert_null(hb_secret_lookup("nope", &err));
    g_assert_cmpstr(err->message, ==, "No secret with id 'nope'");
    g_clear_error(&err);
    g_assert_null(hb_secret_lookup_utf8("b64", &err));
    g_assert_cmpstr(err->message, ==, "Data from secret b64 is not valid UTF-8");
    g_clear_error(&err);
    g_assert_true(hb_secret_del("b64", &err));
    g_assert_false(hb_secret_del("b64", &err));
    g_assert_cmpstr(err->message, ==, "object 'b64' not found");
    hb_secret_clear_all();
    g_assert_false(hb_secret_exists("sec0"));
}

static void test_file(void)
{
    g_autofree char *path = NULL;
    g_autoptr(GError) err = NULL;
    int fd = g_file_open_tmp("hb-secret-XXXXXX", &path, &err);
    g_assert_cmpint(fd, >=, 0);
    close(fd);
    /* Files may hold any bytes, NUL included, and keep a trailing newline. */
    g_assert_true(g_file_set_contents(path, "pa\0ss\n", 6, &err));
    add_ok(&(HbSecretOptions){ .id = "f", .file = path });
    assert_value("f", "pa\0ss\n", 6);
    g_assert_true(g_file_set_contents(path, "cGFzcw==\n", -1, &err));
    add_ok(&(HbSecretOptions){ .id = "f64", .file = path, .format = HB_SECRET_FORMAT_BASE64 });
    assert_value("f64", "pass", 4);
    g_assert_true(g_file_set_contents(path, "cGF\0zcw==", 9, &err));
    add_fails(&(HbSecretOptions){ .id = "fnul", .file = path, .format = HB_SECRET_FORMAT_BASE64 },
              "Base64 data contains embedded NUL characters");
    unlink(path);
    g_autofree char *msg = g_strdup_printf(
        "Unable to read %s: Failed to open file “%s”: No such file or directory", path, path);
    add_fails(&(HbSecretOptions){ .id = "gone", .file = path }, msg);
    hb_secret_clear_all();
}

/* Encrypt as libvirt does, with gnutls directly: AES-256-CBC, PKCS#7. */
static char *encrypt_b64(const uint8_t key[32], const uint8_t iv[16], const char *plain)
{
    size_t n = strlen(plain), pad = 16 - n % 16;
    g_autofree uint8_t *buf = g_malloc(n + pad);
    gnutls_cipher_hd_t h;
    gnutls_datum_t k = { (uint8_t *)key, 32 }, v = { (uint8_t *)iv, 16 };

    memcpy(buf, plain, n);
    memset(buf + n, (int)pad, pad);
    g_assert_cmpint(gnutls_cipher_init(&h, GNUTLS_CIPHER_AES_256_CBC, &k, &v), ==, 0);
    g_assert_cmpint(gnutls_cipher_encrypt(h, buf, n + pad), ==, 0);
    gnutls_cipher_deinit(h);
    return g_base64_encode(buf, n + pad);
}

static void test_keyid_iv(void)
{
    uint8_t key[32], iv[16];
    for (int i = 0; i < 32; i++) {
        key[i] = (uint8_t)(i * 9 + 7);
    }
    for (int i = 0; i < 16; i++) {
        iv[i] = (uint8_t)(0xf0 - i);
    }
    g_autofree char *key64 = g_base64_encode(key, 32);
    g_autofree char *iv64 = g_base64_encode(iv, 16);
    g_autofree char *ct = encrypt_b64(key, iv, "letmein-0123456789abcdef");
    g_autofree char *ct16 = encrypt_b64(key, iv, "exactly16bytes!!");

    add_ok(&(HbSecretOptions){ .id = "master", .data = key64, .format = HB_SECRET_FORMAT_BASE64 });
    add_ok(&(HbSecretOptions){ .id = "s1", .data = ct, .format = HB_SECRET_FORMAT_BASE64,
                               .keyid = "master", .iv = iv64 });
    assert_value("s1", "letmein-0123456789abcdef", 24);
    add_ok(&(HbSecretOptions){ .id = "s2", .data = ct16, .format = HB_SECRET_FORMAT_BASE64,
                               .keyid = "master", .iv = iv64 });
    assert_value("s2", "exactly16bytes!!", 16);

    add_fails(&(HbSecretOptions){ .id = "e1", .data = ct, .format = HB_SECRET_FORMAT_BASE64,
                                  .keyid = "nokey", .iv = iv64 },
              "No secret with id 'nokey'");
    add_ok(&(HbSecretOptions){ .id = "short", .data = "abc" });
    add_fails(&(HbSecretOptions){ .id = "e2", .data = ct, .format = HB_SECRET_FORMAT_BASE64,
                                  .keyid = "short", .iv = iv64 },
              "Key should be 32 bytes in length");
    add_fails(&(HbSecretOptions){ .id = "e3", .data = ct, .format = HB_SECRET_FORMAT_BASE64,
                                  .keyid = "master" },
              "IV is required to decrypt secret");
    add_fails(&(HbSecretOptions){ .id = "e4", .data = ct, .format = HB_SECRET_FORMAT_BASE64,
                                  .keyid = "master", .iv = "AAAA" },
              "IV should be 16 bytes in length not 3");
    add_fails(&(HbSecretOptions){ .id = "e5", .data = ct, .format = HB_SECRET_FORMAT_BASE64,
                                  .keyid = "master", .iv = "AA*A" },
              "Base64 data contains invalid characters");
    add_fails(&(HbSecretOptions){ .id = "e6", .data = "YWJj", .format = HB_SECRET_FORMAT_BASE64,
                                  .keyid = "master", .iv = iv64 },
              "Length 3 must be a multiple of block size 16");
    /* A wrong IV only garbles the first block; a wrong key garbles the padding. */
    uint8_t key2[32] = { 1 };
    g_autofree char *bad = encrypt_b64(key2, iv, "secret");
    g_autoptr(GError) err = NULL;
    g_assert_false(hb_secret_add(&(HbSecretOptions){ .id = "e7", .data = bad,
                                                     .format = HB_SECRET_FORMAT_BASE64,
                                                     .keyid = "master", .iv = iv64 },
                                 &err));
    g_assert_true(g_str_has_prefix(err->message, "Incorrect number of padding bytes ("));
    g_assert_true(g_str_has_suffix(err->message, ") found on decrypted data"));
    g_assert_false(hb_secret_exists("e7"));
    hb_secret_clear_all();
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/crypto/secret/raw-and-base64", test_raw_and_base64);
    g_test_add_func("/crypto/secret/file", test_file);
    g_test_add_func("/crypto/secret/keyid-iv", test_keyid_iv);
    return g_test_run();
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/tools/luks-probe.c — drive crypto/luks1 on plain files for interop tests.
 *
 *   luks-probe info    HEADER [--passphrase P]        metadata (+ master-key hex if unlocked)
 *   luks-probe create  HEADER --passphrase P [--cipher-alg A] [--cipher-mode M]
 *                      [--ivgen-alg G] [--ivgen-hash-alg H] [--hash-alg H]
 *                      [--iter-time MS] [--detached-header]
 *   luks-probe decrypt HEADER --passphrase P [--payload FILE] --sector S --count N
 *                      writes N decrypted payload sectors from S to stdout
 *   luks-probe encrypt HEADER --passphrase P [--payload FILE] --sector S
 *                      encrypts stdin (whole sectors) into the payload at S
 *   luks-probe add-keyslot HEADER --passphrase P --new-passphrase Q [--slot N] [--iter-time MS]
 *   luks-probe erase-keyslot HEADER --passphrase P --slot N
 *
 * Output is "key: value" lines; errors go to stderr as "luks-probe: <message>"
 * with exit status 1.  It prints the master key on purpose: tests compare it
 * with cryptsetup's; nothing in the daemon ever does.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/luks1.h"

static int file_read(void *opaque, uint64_t off, void *buf, size_t len)
{
    int fd = *(int *)opaque;
    while (len) {
        ssize_t n = pread(fd, buf, len, (off_t)off);
        if (n < 0) {
            return -errno;
        }
        if (n == 0) {
            return -EIO; /* short file */
        }
        buf = (uint8_t *)buf + n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

static int file_write(void *opaque, uint64_t off, const void *buf, size_t len)
{
    int fd = *(int *)opaque;
    while (len) {
        ssize_t n = pwrite(fd, buf, len, (off_t)off);
        if (n < 0) {
            return -errno;
        }
        buf = (const uint8_t *)buf + n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

static int fail(GError *err)
{
    fprintf(stderr, "luks-probe: %s\n", err->message);
    g_error_free(err);
    return 1;
}

static char *pass, *new_pass, *cipher_alg, *cipher_mode, *ivgen_alg, *ivgen_hash_alg, *hash_alg,
    *payload;
static gint64 iter_time, sector, count;
static gint slot = -1;
static gboolean detached;

static const GOptionEntry entries[] = {
    { "passphrase", 0, 0, G_OPTION_ARG_STRING, &pass, "passphrase", "P" },
    { "new-passphrase", 0, 0, G_OPTION_ARG_STRING, &new_pass, "new passphrase", "Q" },
    { "cipher-alg", 0, 0, G_OPTION_ARG_STRING, &cipher_alg, "aes-256...", "A" },
    { "cipher-mode", 0, 0, G_OPTION_ARG_STRING, &cipher_mode, "xts/cbc", "M" },
    { "ivgen-alg", 0, 0, G_OPTION_ARG_STRING, &ivgen_alg, "plain/plain64/essiv", "G" },
    { "ivgen-hash-alg", 0, 0, G_OPTION_ARG_STRING, &ivgen_hash_alg, "hash", "H" },
    { "hash-alg", 0, 0, G_OPTION_ARG_STRING, &hash_alg, "hash", "H" },
    { "iter-time", 0, 0, G_OPTION_ARG_INT64, &iter_time, "ms", "MS" },
    { "detached-header", 0, 0, G_OPTION_ARG_NONE, &detached, "payload offset 0", NULL },
    { "payload", 0, 0, G_OPTION_ARG_FILENAME, &payload, "payload file (default HEADER)", "F" },
    { "sector", 0, 0, G_OPTION_ARG_INT64, &sector, "first payload sector", "S" },
    { "count", 0, 0, G_OPTION_ARG_INT64, &count, "sectors", "N" },
    { "slot", 0, 0, G_OPTION_ARG_INT, &slot, "keyslot", "N" },
    { NULL },
};

static HbLuks1 *open_header(const char *path, int *fd, bool writable, bool need_key,
                            GError **errp)
{
    struct stat st;

    *fd = open(path, writable ? O_RDWR : O_RDONLY);
    if (*fd < 0 || fstat(*fd, &st) < 0) {
        g_set_error(errp, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s", path,
                    g_strerror(errno));
        return NULL;
    }
    if (need_key && !pass) {
        g_set_error(errp, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, "--passphrase is required");
        return NULL;
    }
    return hb_luks1_open(file_read, fd, (uint64_t)st.st_size, (const uint8_t *)pass,
                         pass ? strlen(pass) : 0, errp);
}

static int cmd_info(const char *path)
{
    GError *err = NULL;
    int fd;
    g_autoptr(HbLuks1) luks = open_header(path, &fd, false, false, &err);
    HbLuks1Info info;

    if (!luks) {
        return fail(err);
    }
    hb_luks1_get_info(luks, &info);
    printf("cipher-alg: %s\ncipher-mode: %s\nivgen-alg: %s\nivgen-hash-alg: %s\n"
           "hash-alg: %s\npayload-offset: %" G_GUINT64_FORMAT "\nmaster-key-iters: %u\n"
           "uuid: %s\nheader-size: %" G_GUINT64_FORMAT "\n",
           info.cipher_alg, info.cipher_mode, info.ivgen_alg, info.ivgen_hash_alg,
           info.hash_alg, info.payload_offset, info.master_key_iters, info.uuid,
           hb_luks1_header_size(luks));
    for (int i = 0; i < 8; i++) {
        printf("slot%d: active=%d iters=%u stripes=%u key-offset=%" G_GUINT64_FORMAT "\n", i,
               info.slots[i].active, info.slots[i].iters, info.slots[i].stripes,
               info.slots[i].key_offset);
    }
    if (hb_luks1_has_key(luks)) {
        const HbSecretBuf *mk = hb_luks1_master_key(luks);
        printf("master-key: ");
        for (size_t i = 0; i < mk->len; i++) {
            printf("%02x", mk->data[i]);
        }
        printf("\n");
    }
    close(fd);
    return 0;
}

static int cmd_create(const char *path)
{
    GError *err = NULL;
    HbLuks1CreateOpts o = {
        .cipher_alg = cipher_alg, .cipher_mode = cipher_mode, .ivgen_alg = ivgen_alg,
        .ivgen_hash_alg = ivgen_hash_alg, .hash_alg = hash_alg, .iter_time_ms = iter_time,
        .detached_header = detached,
    };
    uint64_t size = 0;
    int fd = open(path, O_RDWR | O_CREAT, 0600);

    if (fd < 0 || !pass) {
        fprintf(stderr, "luks-probe: cannot open %s or no --passphrase\n", path);
        return 1;
    }
    if (!hb_luks1_create(file_write, &fd, &o, (const uint8_t *)pass, strlen(pass), &size, &err)) {
        return fail(err);
    }
    printf("header-size: %" G_GUINT64_FORMAT "\n", size);
    close(fd);
    return 0;
}

static int cmd_crypt(const char *path, bool encrypt)
{
    GError *err = NULL;
    int fd, pfd;
    g_autoptr(HbLuks1) luks = open_header(path, &fd, false, true, &err);

    if (!luks) {
        return fail(err);
    }
    pfd = open(payload ? payload : path, encrypt ? O_RDWR : O_RDONLY);
    if (pfd < 0) {
        perror("luks-probe: payload");
        return 1;
    }
    uint64_t base = hb_luks1_payload_offset(luks);
    if (encrypt) {
        gsize len = 0;
        g_autofree char *data = NULL;
        g_autoptr(GIOChannel) in = g_io_channel_unix_new(0);
        g_io_channel_set_encoding(in, NULL, NULL);
        g_io_channel_read_to_end(in, &data, &len, NULL);
        if (hb_luks1_encrypt(luks, (uint64_t)sector, data, len) < 0 ||
            file_write(&pfd, base + (uint64_t)sector * 512, data, len) < 0) {
            fprintf(stderr, "luks-probe: encrypt failed\n");
            return 1;
        }
        return 0;
    }
    g_autofree uint8_t *buf = g_malloc((size_t)count * 512);
    int rc = file_read(&pfd, base + (uint64_t)sector * 512, buf, (size_t)count * 512);
    if (rc == 0) {
        rc = hb_luks1_decrypt(luks, (uint64_t)sector, buf, (size_t)count * 512);
    }
    if (rc < 0) {
        fprintf(stderr, "luks-probe: decrypt failed: %s\n", g_strerror(-rc));
        return 1;
    }
    fwrite(buf, 512, (size_t)count, stdout);
    return 0;
}

static int cmd_keyslot(const char *path, bool add)
{
    GError *err = NULL;
    int fd;
    g_autoptr(HbLuks1) luks = open_header(path, &fd, true, true, &err);

    if (!luks) {
        return fail(err);
    }
    bool ok = add ? hb_luks1_add_keyslot(luks, file_read, file_write, &fd, slot,
                                         (const uint8_t *)(new_pass ? new_pass : ""),
                                         new_pass ? strlen(new_pass) : 0, iter_time, &err)
                  : hb_luks1_erase_keyslot(luks, file_write, &fd, slot, &err);
    if (!ok) {
        return fail(err);
    }
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new("COMMAND HEADER");
    GError *err = NULL;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        return fail(err);
    }
    if (argc != 3) {
        fprintf(stderr, "usage: luks-probe info|create|decrypt|encrypt|add-keyslot|erase-keyslot HEADER [options]\n");
        return 2;
    }
    const char *cmd = argv[1], *path = argv[2];
    if (g_str_equal(cmd, "info")) {
        return cmd_info(path);
    } else if (g_str_equal(cmd, "create")) {
        return cmd_create(path);
    } else if (g_str_equal(cmd, "decrypt")) {
        return cmd_crypt(path, false);
    } else if (g_str_equal(cmd, "encrypt")) {
        return cmd_crypt(path, true);
    } else if (g_str_equal(cmd, "add-keyslot")) {
        return cmd_keyslot(path, true);
    } else if (g_str_equal(cmd, "erase-keyslot")) {
        return cmd_keyslot(path, false);
    }
    fprintf(stderr, "luks-probe: unknown command %s\n", cmd);
    return 2;
}

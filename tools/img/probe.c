/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/img/probe.c — telling an image's format from its bytes, including formats hotblock does not read. */

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools/img/img.h"

#include "util/error.h"
#include "util/fd-io.h"

#define PROBE_HEAD 512
#define PROBE_TAIL 512

/*
 * Magic numbers of the formats qemu-img knows and hotblock does not.
 * Without them such an image would be opened as raw: "info v.vmdk"
 * printing "file format: raw" invites a convert that copies the
 * container instead of the disk.
 */
typedef struct Magic {
    const char *format;
    size_t offset;          /* in the first PROBE_HEAD bytes */
    const char *bytes;
    size_t len;
} Magic;

static const Magic magics[] = {
    { "luks", 0, "LUKS\xba\xbe", 6 },
    { "qcow2", 0, "QFI\xfb", 4 },       /* "qcow" when the version is 1 */
    { "vmdk", 0, "KDMV", 4 },           /* hosted sparse extent */
    { "vmdk", 0, "COWD", 4 },           /* ESX sparse extent */
    { "vmdk", 0, "# Disk DescriptorFile", 21 },
    { "vdi", 64, "\x7f\x10\xda\xbe", 4 },
    { "vhdx", 0, "vhdxfile", 8 },
    { "qed", 0, "QED\0", 4 },
    { "vpc", 0, "conectix", 8 },        /* dynamic VHD: a fixed one is raw to QEMU too */
    { "parallels", 0, "WithoutFreeSpace", 16 },
    { "parallels", 0, "WithouFreSpacExt", 16 },
};

/* A DMG's trailer ("koly") sits in the file's last 512 bytes. */
static bool is_dmg(int fd)
{
    struct stat st;
    char tail[4];

    return fstat(fd, &st) == 0 && st.st_size >= PROBE_HEAD + PROBE_TAIL &&
           pread(fd, tail, sizeof(tail), st.st_size - PROBE_TAIL) == (ssize_t)sizeof(tail) &&
           !memcmp(tail, "koly", 4);
}

const char *hb_img_probe_format(const char *filename)
{
    unsigned char head[PROBE_HEAD] = { 0 };
    HB_AUTOFD int fd = open(filename, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        return "raw";   /* opening it as raw reports why it cannot be read */
    }
    if (pread(fd, head, sizeof(head), 0) < 0) {
        memset(head, 0, sizeof(head));
    }
    for (size_t i = 0; i < G_N_ELEMENTS(magics); i++) {
        const Magic *m = &magics[i];
        if (!memcmp(head + m->offset, m->bytes, m->len)) {
            if (g_str_equal(m->format, "qcow2") && head[7] == 1 &&
                !head[4] && !head[5] && !head[6]) {
                return "qcow";
            }
            return m->format;
        }
    }
    return is_dmg(fd) ? "dmg" : "raw";
}

bool hb_img_format_supported(const char *fmt, GError **errp)
{
    if (g_str_equal(fmt, "raw") || g_str_equal(fmt, "qcow2") || g_str_equal(fmt, "luks")) {
        return true;
    }
    hb_error_set(errp, "Image is in %s format, which hotblock does not read "
                 "(it reads raw, qcow2 and luks); qemu-img convert -O qcow2 "
                 "turns it into one it does", fmt);
    return false;
}

bool hb_img_format_known_elsewhere(const char *fmt)
{
    static const char *const qemu_only[] = { "qcow", "dmg", "cloop", "bochs" };

    for (size_t i = 0; i < G_N_ELEMENTS(magics); i++) {
        if (g_str_equal(magics[i].format, fmt)) {
            return !hb_img_format_supported(fmt, NULL);
        }
    }
    for (size_t i = 0; i < G_N_ELEMENTS(qemu_only); i++) {
        if (g_str_equal(qemu_only[i], fmt)) {
            return true;
        }
    }
    return false;
}

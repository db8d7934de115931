/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/fuzz/fuzz-qcow2.c — libFuzzer target: qcow2 header, table parsing and the I/O paths over a fuzzed image. */

/*
 * The input is an image file held in memory.  It is opened read-only and
 * parts of the virtual disk are read (header, L1/L2, refcounts, compressed
 * clusters, backing name), then opened read-write and written, zeroed,
 * discarded and flushed, which walks allocation, refcount block creation
 * and reference table growth; hb_qcow2_check() runs over it too (through
 * a memfd).  The image may grow to 8 MiB; a write past
 * that fails with -ENOSPC like a full disk.  Nothing may crash, hang or
 * leak.
 */

#include "block/qcow2/qcow2.h"
#include "block/qcow2/qcow2-int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_IMAGE (8u << 20)

typedef struct Mem {
    uint8_t *data;
    size_t len;
} Mem;

static int mem_preadv(void *opaque, uint64_t off, uint64_t bytes,
                      const struct iovec *iov, int niov)
{
    Mem *m = opaque;

    for (int i = 0; i < niov; i++) {
        uint8_t *p = iov[i].iov_base;
        size_t n = iov[i].iov_len;
        size_t have = off < m->len ? MIN(n, m->len - off) : 0;
        if (have) {
            memcpy(p, m->data + off, have);
        }
        memset(p + have, 0, n - have);
        off += n;
    }
    return 0;
}

static int mem_pwritev(void *opaque, uint64_t off, uint64_t bytes,
                       const struct iovec *iov, int niov)
{
    Mem *m = opaque;

    if (off > MAX_IMAGE || bytes > MAX_IMAGE - off) {
        return -ENOSPC;
    }
    if (off + bytes > m->len) {
        m->data = g_realloc(m->data, off + bytes);
        memset(m->data + m->len, 0, off + bytes - m->len);
        m->len = off + bytes;
    }
    for (int i = 0; i < niov; i++) {
        memcpy(m->data + off, iov[i].iov_base, iov[i].iov_len);
        off += iov[i].iov_len;
    }
    return 0;
}

static int mem_flush(void *opaque)
{
    return 0;
}

static int64_t mem_length(void *opaque)
{
    return ((Mem *)opaque)->len;
}

static uint64_t pick(const uint8_t *data, size_t size, size_t i, uint64_t range)
{
    uint64_t v = 0;

    for (int k = 0; k < 8; k++) {
        v = (v << 8) | (size ? data[(i * 8 + k) % size] : 0);
    }
    return range ? v % range : 0;
}

static void exercise(const uint8_t *data, size_t size, bool rw)
{
    Mem m = { .data = g_memdup2(data, size), .len = size };
    HbQcow2Io io = {
        .opaque = &m, .preadv = mem_preadv, .pwritev = mem_pwritev,
        .flush = mem_flush, .get_length = mem_length,
    };
    HbQcow2OpenOpts oo = { .read_only = !rw, .l2_cache_size = 8 * 4096 };
    GError *err = NULL;
    HbQcow2 *s = hb_qcow2_open_image(&io, &oo, &err);
    static uint8_t buf[64 * 1024];

    if (!s) {
        g_assert(err != NULL);
        g_error_free(err);
        g_free(m.data);
        return;
    }
    uint64_t vsize = s->hdr.size;
    for (size_t i = 0; i < 12 && vsize; i++) {
        uint64_t len = 1 + pick(data, size, i, MIN(sizeof(buf), vsize));
        uint64_t off = pick(data, size, i + 100, vsize - len + 1);
        struct iovec iov = { .iov_base = buf, .iov_len = len };
        if (i < 4) {
            off = MIN(i * sizeof(buf), vsize - len);
        }
        if (!rw || i % 3 == 0) {
            hb_qcow2_preadv(s, off, len, &iov, 1);
        } else if (i % 3 == 1) {
            memset(buf, (int)i, len);
            hb_qcow2_pwritev(s, off, len, &iov, 1, i == 4);
        } else if (i % 2) {
            hb_qcow2_pwrite_zeroes(s, off, len, i & 4);
        } else {
            hb_qcow2_pdiscard(s, off, len);
        }
    }
    hb_qcow2_close_image(s);
    hb_qcow2_free_image(s);
    g_free(m.data);
}

static void check(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz-qcow2", MFD_CLOEXEC);
    char path[64];
    HbQcow2CheckResult res;
    GError *err = NULL;
    GString *rep = g_string_new("");

    if (fd < 0) {
        abort();
    }
    if (write(fd, data, size) != (ssize_t)size) {
        abort();
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    if (!hb_qcow2_check(path, &res, rep, &err)) {
        g_assert(err != NULL);
        g_error_free(err);
    }
    g_string_free(rep, TRUE);
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_IMAGE) {
        return 0;
    }
    exercise(data, size, false);
    check(data, size);
    exercise(data, size, true);
    return 0;
}

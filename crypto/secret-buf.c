/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crypto/secret-buf.c — page-backed, mlock'ed, wiped-on-free buffers for key material.
 *
 * Each buffer gets its own anonymous mapping: mlock() does not nest, so two
 * buffers sharing a page would unlock each other on free.  Secrets are few
 * (objects, master keys, one split key while unlocking), so the page
 * granularity costs little.  Locking is best effort: beyond RLIMIT_MEMLOCK the
 * buffer simply stays swappable.  Mappings are excluded from core dumps.
 * hb_secret_burn_stack() deals with what libraries leave on the stack.
 */
#include "crypto/secret.h"

#include <gnutls/crypto.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t map_len(size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    /* One extra byte so hb_secret_buf_new() can always NUL-terminate. */
    return (len + 1 + page - 1) / page * page;
}

HbSecretBuf *hb_secret_buf_new(size_t len)
{
    HbSecretBuf *buf = g_new0(HbSecretBuf, 1);
    size_t mlen = map_len(len);
    void *p = mmap(NULL, mlen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED) {
        g_error("hb_secret_buf_new: out of memory for %zu bytes", len);
    }
    (void)mlock(p, mlen);
    (void)madvise(p, mlen, MADV_DONTDUMP);
    buf->data = p;
    buf->len = len;
    return buf;
}

HbSecretBuf *hb_secret_buf_new_from(const void *data, size_t len)
{
    HbSecretBuf *buf = hb_secret_buf_new(len);
    if (len) {
        memcpy(buf->data, data, len);
    }
    return buf;
}

void hb_secret_buf_free(HbSecretBuf *buf)
{
    if (!buf) {
        return;
    }
    if (buf->data) {
        size_t mlen = map_len(buf->len);
        gnutls_memset(buf->data, 0, mlen);
        munlock(buf->data, mlen);
        munmap(buf->data, mlen);
    }
    g_free(buf);
}

__attribute__((noinline)) void hb_secret_burn_stack(void)
{
    uint8_t area[HB_SECRET_BURN_BYTES];

    /* explicit_bzero() is never elided, and needs the whole array in place. */
    explicit_bzero(area, sizeof(area));
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/luks.c — the "luks" format: LUKS1 or LUKS2 over a payload, header attached or detached. */
#include "block/iov.h"
#include "block/luks-create.h"
#include "block/luks-info.h"
#include "block/luks-priv.h"
#include "block/node.h"
#include "crypto/luks1.h"
#include "crypto/luks2.h"
#include "crypto/secret.h"
#include "util/error.h"
#include "util/fd-io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Theory of operation
 *
 * The header (key material) comes from the "header" child when given,
 * else from the start of "file".  Its signature says LUKS1 or LUKS2; the
 * rest of this file does not care which, but for the encryption sector
 * size.  The payload lives in "file" from the header's payload offset on
 * (LUKS1: 0 for a detached header; LUKS2: the data segment's offset), in
 * sectors numbered from the payload start in 512-byte units: that number
 * (plus LUKS2's iv_tweak) is the IV.
 *
 * LUKS1 encrypts 512-byte sectors; LUKS2 may use 1024 to 4096.  The node's
 * request_alignment is that sector size, so the generic layer (node-io.c)
 * turns smaller or unaligned requests into read-modify-write of whole
 * sectors; an export of a 4096-sector volume should advertise
 * logical-block-size=4096 so that a guest never asks for less.
 *
 * The header child is only read, and shared with everyone, so several
 * luks nodes may sit on one header node (one header, several volumes).
 *
 * Reads land in the caller's buffer and are decrypted there (it is the
 * destination anyway) when its segments are whole sectors; otherwise, and
 * for every write, data goes through a per-thread bounce buffer: a write
 * must never encrypt the caller's buffer, which may be guest memory the
 * guest still looks at, or a retry's source.
 *
 * Without key-secret the node is refused (QSD's text), unless the
 * process asked for metadata-only opens (hotblock-img info): then it is
 * read-only and every read fails with -EPERM.
 *
 * Asynchronously (submit()), the same shapes: a read goes to the payload
 * child straight into the caller's iovecs, or into a bounce buffer when
 * they are not whole sectors, and is decrypted in the completion; a write
 * is encrypted into a bounce buffer that the child write then carries,
 * and which comes back in the completion.  Both the submission and the
 * completion run on the I/O thread (block/aio.h), so the buffers come from
 * a small per-thread cache without a lock.  The crypto runs on the I/O
 * thread too; that is cheap for a request up to BOUNCE_SIZE (tens of
 * microseconds), and a bigger one is handed back (-ENOTSUP) to run on the
 * I/O pool, where several big requests encrypt on several CPUs at once
 * instead of stalling every queue of the I/O thread behind one of them.
 */

#define BOUNCE_SIZE (256 * 1024)
#define SECTOR HB_LUKS1_SECTOR_SIZE

static bool has_key(const LuksState *s)
{
    return s->luks2 ? hb_luks2_has_key(s->luks2) : hb_luks1_has_key(s->luks);
}

/* Crypt whole sectors in place; @sector is in 512-byte units from the payload start. */
static int luks_decrypt(LuksState *s, uint64_t sector, void *buf, size_t len)
{
    return s->luks2 ? hb_luks2_decrypt(s->luks2, sector, buf, len)
                    : hb_luks1_decrypt(s->luks, sector, buf, len);
}

static int luks_encrypt(LuksState *s, uint64_t sector, void *buf, size_t len)
{
    return s->luks2 ? hb_luks2_encrypt(s->luks2, sector, buf, len)
                    : hb_luks1_encrypt(s->luks, sector, buf, len);
}

static void bounce_free(gpointer p)
{
    free(p);
}

static GPrivate bounce_key = G_PRIVATE_INIT(bounce_free);

/* This thread's bounce buffer (allocated once per thread). */
static uint8_t *bounce_get(void)
{
    uint8_t *b = g_private_get(&bounce_key);

    if (!b) {
        void *p = NULL;
        if (posix_memalign(&p, 4096, BOUNCE_SIZE)) {
            return NULL;
        }
        g_private_set(&bounce_key, p);
        b = p;
    }
    return b;
}

/*
 * Whether a read can be decrypted where it lands: @iov is exactly @bytes
 * long and every segment holds whole sectors, since a sector split
 * across segments cannot be decrypted in place.
 */
static bool in_place(const LuksState *s, uint64_t bytes, const struct iovec *iov, int niov)
{
    if (bytes != hb_iov_size(iov, niov)) {
        return false;
    }
    for (int i = 0; i < niov; i++) {
        if (iov[i].iov_len % s->sector) {
            return false;
        }
    }
    return true;
}

/* Decrypt the sectors in @iov (see in_place()) read from payload @offset. */
static int decrypt_iov(LuksState *s, uint64_t offset,
                       const struct iovec *iov, int niov)
{
    uint64_t sector = offset / SECTOR;
    int ret = 0;

    for (int i = 0; i < niov && ret == 0; i++) {
        ret = luks_decrypt(s, sector, iov[i].iov_base, iov[i].iov_len);
        sector += iov[i].iov_len / SECTOR;
    }
    return ret;
}

/* The header is read while opening or activating, maybe from an inactive child. */
int luks_header_read(void *opaque, uint64_t offset, void *buf, size_t len)
{
    struct iovec v = { .iov_base = buf, .iov_len = len };

    return hb_node_preadv(opaque, offset, len, &v, 1, HB_REQ_WHILE_INACTIVE);
}

HbNode *luks_header_node(LuksState *s)
{
    return s->header ? s->header->node : s->file->node;
}

/* Parse (and with @pass unlock) the header of @version found on @hdr. */
static bool open_header(LuksState *s, HbNode *hdr, uint64_t hdr_len, int version,
                        const HbSecretBuf *pass, GError **errp)
{
    const uint8_t *p = pass ? pass->data : NULL;
    size_t plen = pass ? pass->len : 0;

    if (version == 2) {
        s->luks2 = hb_luks2_open(luks_header_read, hdr, hdr_len, p, plen, errp);
        if (!s->luks2) {
            return false;
        }
        s->payload_offset = hb_luks2_payload_offset(s->luks2);
        s->payload_size = hb_luks2_payload_size(s->luks2);
        s->sector = hb_luks2_sector_size(s->luks2);
        return true;
    }
    /* Version 1, or no LUKS signature: the LUKS1 parser says what is wrong. */
    s->luks = hb_luks1_open(luks_header_read, hdr, hdr_len, p, plen, errp);
    if (!s->luks) {
        return false;
    }
    s->payload_offset = hb_luks1_payload_offset(s->luks);
    s->sector = SECTOR;
    return true;
}

/* The payload must lie in "file", and not over an attached header. */
static bool check_payload(const LuksState *s, uint64_t file_len, GError **errp)
{
    if (file_len < s->payload_offset) {
        hb_error_set(errp, "LUKS payload is overlapping with the header: "
                     "payload offset %" G_GUINT64_FORMAT " is beyond the "
                     "end of the volume (%" G_GUINT64_FORMAT " bytes)",
                     s->payload_offset, file_len);
        return false;
    }
    if (!s->luks2) {
        return true;
    }
    uint64_t meta = hb_luks2_header_size(s->luks2);
    if (!s->header && s->payload_offset < meta) {
        hb_error_set(errp, "LUKS2 data segment at offset %" G_GUINT64_FORMAT " overlaps the "
                     "headers and keyslots area (%" G_GUINT64_FORMAT " bytes)",
                     s->payload_offset, meta);
        return false;
    }
    if (s->payload_size && file_len - s->payload_offset < s->payload_size) {
        hb_error_set(errp, "LUKS2 data segment (%" G_GUINT64_FORMAT " bytes at offset %"
                     G_GUINT64_FORMAT ") ends beyond the end of the volume (%"
                     G_GUINT64_FORMAT " bytes)", s->payload_size, s->payload_offset, file_len);
        return false;
    }
    return true;
}

static bool metadata_only_allowed;

void hb_luks_allow_metadata_only(void)
{
    metadata_only_allowed = true;
}

static bool luks_open(HbNode *node, QapiBlockdevOptions *opts, GError **errp)
{
    QapiBlockdevOptionsLUKS *lo = opts->u.luks;
    LuksState *s = g_new0(LuksState, 1);
    g_autoptr(HbSecretBuf) pass = NULL;
    bool has_key = lo->key_secret != NULL;

    if (has_key) {
        pass = hb_secret_lookup_utf8(lo->key_secret, errp);
        if (!pass) {
            goto fail;
        }
    } else if (!metadata_only_allowed) {
        hb_error_set(errp, "Parameter 'key-secret' is required for cipher");
        goto fail;
    } else {
        node->read_only = true;
    }

    unsigned perm = HB_PERM_CONSISTENT_READ |
                    (node->read_only ? 0 : HB_PERM_WRITE);
    unsigned shared = HB_PERM_CONSISTENT_READ | HB_PERM_WRITE_UNCHANGED |
                      (node->read_only ? HB_PERM_RESIZE : 0);
    if (!has_key) {
        shared = HB_PERM_ALL;   /* metadata only: we hold no data view */
    }
    s->file = hb_node_open_child(node, "file", lo->file, perm, shared, errp);
    if (!s->file) {
        goto fail;
    }
    if (lo->header) {
        s->header = hb_node_open_child(node, "header", lo->header,
                                       HB_PERM_CONSISTENT_READ, HB_PERM_ALL,
                                       errp);
        if (!s->header) {
            goto fail;
        }
    }

    HbNode *hdr = luks_header_node(s);
    int64_t hdr_len = hb_node_get_length(hdr);
    if (hdr_len < 0) {
        hb_error_set_errno(errp, (int)hdr_len, "Could not get the header size");
        goto fail;
    }
    int version = hb_luks_version(luks_header_read, hdr, (uint64_t)hdr_len);
    if (version < 0) {
        hb_error_set_errno(errp, version, "Cannot read LUKS header");
        goto fail;
    }
    if (!open_header(s, hdr, (uint64_t)hdr_len, version, pass, errp)) {
        goto fail;
    }

    int64_t file_len = hb_node_get_length(s->file->node);
    if (file_len < 0) {
        hb_error_set_errno(errp, (int)file_len, "Could not get the file size");
        goto fail;
    }
    if (!check_payload(s, (uint64_t)file_len, errp)) {
        goto fail;
    }
    node->request_alignment = s->sector;
    node->opaque = s;
    return true;

fail:
    hb_luks1_free(s->luks);
    hb_luks2_free(s->luks2);
    g_free(s);   /* the children are detached by node.c */
    return false;
}

static void luks_close(HbNode *node)
{
    LuksState *s = node->opaque;

    hb_luks1_free(s->luks);
    hb_luks2_free(s->luks2);
    g_free(s);
    node->opaque = NULL;
}

/*
 * The other process may have changed the header while we were inactive:
 * read it again and make sure the key we kept still opens this volume.
 */
static bool luks_activate(HbNode *node, GError **errp)
{
    LuksState *s = node->opaque;
    HbNode *hdr = luks_header_node(s);
    int64_t hdr_len = hb_node_get_length(hdr);

    if (hdr_len < 0) {
        hb_error_set_errno(errp, (int)hdr_len, "Could not get the header size");
        return false;
    }
    if (s->luks2) {
        return hb_luks2_reload(s->luks2, luks_header_read, hdr, (uint64_t)hdr_len, errp);
    }
    return hb_luks1_reload(s->luks, luks_header_read, hdr, (uint64_t)hdr_len, errp);
}

static int64_t luks_get_length(HbNode *node)
{
    LuksState *s = node->opaque;
    int64_t len = hb_node_get_length(s->file->node);

    if (len < 0) {
        return len;
    }
    if ((uint64_t)len <= s->payload_offset) {
        return 0;
    }
    uint64_t avail = (uint64_t)len - s->payload_offset;
    if (s->payload_size) {
        avail = MIN(avail, s->payload_size);
    }
    return (int64_t)(avail / s->sector * s->sector);
}

static int luks_preadv(HbNode *node, uint64_t offset, uint64_t bytes,
                       const struct iovec *iov, int niov, unsigned flags)
{
    LuksState *s = node->opaque;
    int ret;

    if (!has_key(s)) {
        return -EPERM;
    }
    if (in_place(s, bytes, iov, niov)) {
        ret = hb_node_preadv(s->file->node, s->payload_offset + offset,
                             bytes, iov, niov, 0);
        return ret < 0 ? ret : decrypt_iov(s, offset, iov, niov);
    }

    uint8_t *buf = bounce_get();
    if (!buf) {
        return -ENOMEM;
    }
    for (uint64_t done = 0; done < bytes; done += BOUNCE_SIZE) {
        uint64_t n = MIN(bytes - done, (uint64_t)BOUNCE_SIZE);
        ret = hb_node_pread(s->file->node, s->payload_offset + offset + done,
                            buf, n);
        if (ret == 0) {
            ret = luks_decrypt(s, (offset + done) / SECTOR, buf, n);
        }
        if (ret < 0) {
            return ret;
        }
        hb_iov_from_buf(iov, niov, done, buf, n);
    }
    return 0;
}

static int luks_pwritev(HbNode *node, uint64_t offset, uint64_t bytes,
                        const struct iovec *iov, int niov, unsigned flags)
{
    LuksState *s = node->opaque;
    uint8_t *buf;
    int ret;

    if (!has_key(s)) {
        return -EPERM;
    }
    buf = bounce_get();
    if (!buf) {
        return -ENOMEM;
    }
    for (uint64_t done = 0; done < bytes; done += BOUNCE_SIZE) {
        uint64_t n = MIN(bytes - done, (uint64_t)BOUNCE_SIZE);
        hb_iov_to_buf(iov, niov, done, buf, n);
        ret = luks_encrypt(s, (offset + done) / SECTOR, buf, n);
        if (ret == 0) {
            ret = hb_node_pwrite(s->file->node,
                                 s->payload_offset + offset + done, buf, n, 0);
        }
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

/* ---- asynchronous requests ---- */

/*
 * The per-thread cache of bounce buffers for submit().  Sizes are powers
 * of two from 4 KiB to BOUNCE_SIZE, so that one buffer serves every
 * request of its class; a buffer is taken in submit() and given back in
 * the completion, on the same thread, so the cache needs no lock.  It
 * keeps at most CACHE_BYTES per thread, enough for a queue of 16 requests
 * of 256 KiB or 32 of 128 KiB to reuse their buffers: with 1 MiB, 32
 * writes of 256 KiB in flight spent more CPU allocating and faulting in
 * fresh buffers than encrypting, and ran slower than the pool.  Thread
 * exit frees it.
 */
#define CACHE_MIN_SHIFT 12
#define CACHE_CLASSES 7                 /* 4 KiB << 0..6 = BOUNCE_SIZE */
#define CACHE_DEPTH 32
#define CACHE_BYTES (4 * 1024 * 1024)

G_STATIC_ASSERT((1u << (CACHE_MIN_SHIFT + CACHE_CLASSES - 1)) == BOUNCE_SIZE);

typedef struct BounceCache {
    void *free[CACHE_CLASSES][CACHE_DEPTH];
    unsigned n[CACHE_CLASSES];
    size_t bytes;                       /* held in free[][] */
} BounceCache;

static void cache_free(gpointer p)
{
    BounceCache *c = p;

    for (unsigned k = 0; k < CACHE_CLASSES; k++) {
        for (unsigned i = 0; i < c->n[k]; i++) {
            free(c->free[k][i]);
        }
    }
    g_free(c);
}

static GPrivate cache_key = G_PRIVATE_INIT(cache_free);

static BounceCache *cache_get(void)
{
    BounceCache *c = g_private_get(&cache_key);

    if (!c) {
        c = g_new0(BounceCache, 1);
        g_private_set(&cache_key, c);
    }
    return c;
}

/* The class of a buffer of @bytes (1..BOUNCE_SIZE). */
static unsigned cache_class(uint64_t bytes)
{
    unsigned k = 0;

    while ((1ull << (CACHE_MIN_SHIFT + k)) < bytes) {
        k++;
    }
    return k;
}

/* A buffer of class @k: page-aligned, as O_DIRECT below may need; or NULL. */
static void *cache_take(unsigned k)
{
    BounceCache *c = cache_get();
    size_t size = (size_t)1 << (CACHE_MIN_SHIFT + k);
    void *p = NULL;

    if (c->n[k]) {
        c->bytes -= size;
        return c->free[k][--c->n[k]];
    }
    return posix_memalign(&p, 4096, size) ? NULL : p;
}

static void cache_give(unsigned k, void *p)
{
    BounceCache *c = cache_get();
    size_t size = (size_t)1 << (CACHE_MIN_SHIFT + k);

    if (c->n[k] < CACHE_DEPTH && c->bytes + size <= CACHE_BYTES) {
        c->free[k][c->n[k]++] = p;
        c->bytes += size;
    } else {
        free(p);
    }
}

typedef struct LuksReq {
    HbIoReq child;          /* on the payload child; first, for the cast */
    HbIoReq *req;           /* the caller's */
    LuksState *s;
    void *bounce;           /* NULL: the caller's iovecs carry the data */
    unsigned bounce_class;
    struct iovec v;         /* the bounce buffer, as the child's iovec */
} LuksReq;

static void luks_req_done(HbAioCb *cb, int ret)
{
    LuksReq *lr = (LuksReq *)cb;
    HbIoReq *req = lr->req;

    if (ret == 0 && req->op == HB_IO_READ) {
        if (lr->bounce) {
            ret = luks_decrypt(lr->s, req->offset / SECTOR, lr->bounce, req->bytes);
            if (ret == 0) {
                hb_iov_from_buf(req->iov, req->niov, 0, lr->bounce, req->bytes);
            }
        } else {
            ret = decrypt_iov(lr->s, req->offset, req->iov, req->niov);
        }
    }
    if (lr->bounce) {
        cache_give(lr->bounce_class, lr->bounce);
    }
    g_free(lr);
    req->cb.done(&req->cb, ret);
}

static int luks_submit(HbNode *node, HbIoReq *req)
{
    LuksState *s = node->opaque;

    /*
     * Only data moves here (discard and zeroes are the synchronous
     * path's).  No key: the synchronous path says -EPERM.  Too big: the
     * pool spreads the crypto over its threads (see the theory above).
     */
    if ((req->op != HB_IO_READ && req->op != HB_IO_WRITE) ||
        !has_key(s) || req->bytes > BOUNCE_SIZE) {
        return -ENOTSUP;
    }
    LuksReq *lr = g_new(LuksReq, 1);
    lr->child = *req;
    lr->child.cb.done = luks_req_done;
    lr->child.offset = s->payload_offset + req->offset;
    lr->child.flags = 0;
    lr->req = req;
    lr->s = s;
    lr->bounce = NULL;

    if (req->op == HB_IO_WRITE || !in_place(s, req->bytes, req->iov, req->niov)) {
        lr->bounce_class = cache_class(req->bytes);
        lr->bounce = cache_take(lr->bounce_class);
        if (!lr->bounce) {
            g_free(lr);
            return -ENOTSUP;
        }
        lr->v.iov_base = lr->bounce;
        lr->v.iov_len = req->bytes;
        lr->child.iov = &lr->v;
        lr->child.niov = 1;
    }
    if (req->op == HB_IO_WRITE) {
        /* Never in the caller's buffer: guest memory, or a retry's source. */
        hb_iov_to_buf(req->iov, req->niov, 0, lr->bounce, req->bytes);
        int ret = luks_encrypt(s, req->offset / SECTOR, lr->bounce, req->bytes);
        if (ret < 0) {
            cache_give(lr->bounce_class, lr->bounce);
            g_free(lr);
            req->cb.done(&req->cb, ret);
            return 0;
        }
    }
    hb_node_submit(s->file->node, &lr->child);
    return 0;
}

static int luks_pdiscard(HbNode *node, uint64_t offset, uint64_t bytes)
{
    LuksState *s = node->opaque;

    return hb_node_pdiscard(s->file->node, s->payload_offset + offset, bytes);
}

/*
 * block_resize: the payload's container follows (header included when it
 * is attached).  New sectors hold whatever the container gives (zeroes),
 * which decrypt to noise until written, as with QEMU; @prealloc is the
 * container's to honour (as QEMU, which passes it down).
 */
static int luks_truncate(HbNode *node, uint64_t size, QapiPreallocMode prealloc,
                         GError **errp)
{
    LuksState *s = node->opaque;

    if (size % s->sector) {
        hb_error_set(errp, "The new size must be a multiple of %u bytes", s->sector);
        return -EINVAL;
    }
    if (s->payload_size) {
        hb_error_set(errp, "The LUKS2 data segment has a fixed size (%" G_GUINT64_FORMAT
                     " bytes): resizing it is not supported", s->payload_size);
        return -ENOTSUP;
    }
    if (INT64_MAX - size < s->payload_offset) {
        hb_error_set(errp, "Disk size too large for the payload offset");
        return -EINVAL;
    }
    return hb_node_truncate_prealloc(s->file->node, s->payload_offset + size, prealloc, errp);
}

static QapiImageInfoSpecific *luks_query_specific(HbNode *node)
{
    LuksState *s = node->opaque;

    return hb_luks_info_specific(s->luks, s->luks2, s->header != NULL);
}

const HbDriver hb_driver_luks = {
    .name = "luks",
    .is_format = true,
    .open = luks_open,
    .close = luks_close,
    .get_length = luks_get_length,
    .preadv = luks_preadv,
    .pwritev = luks_pwritev,
    .pdiscard = luks_pdiscard,
    .submit = luks_submit,
    .truncate = luks_truncate,
    .activate = luks_activate,
    .query_specific = luks_query_specific,
    .encrypted = true,
    .create = hb_luks_create,
};

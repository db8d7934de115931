/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/luks-amend.c — keyslot changes on a luks node: QEMU's amend rules
 * (which options go with which state, erase by index or by passphrase)
 * over crypto/luks1.h and crypto/luks2.h, whose add/erase functions have
 * the same shapes; the header is written through the header node. */
#include "block/luks-amend.h"
#include "block/luks-priv.h"
#include "crypto/secret.h"
#include "util/error.h"

extern const HbDriver hb_driver_luks;

static int header_write(void *opaque, uint64_t offset, const void *buf, size_t len)
{
    return hb_node_pwrite(opaque, offset, buf, len, 0);
}

static int nslots(const LuksState *s)
{
    return s->luks2 ? HB_LUKS2_MAX_KEYSLOTS : HB_LUKS1_NUM_KEYSLOTS;
}

static bool is_active(const LuksState *s, int slot)
{
    if (s->luks2) {
        HbLuks2Info info;
        hb_luks2_get_info(s->luks2, &info);
        for (int i = 0; i < info.nslots; i++) {
            if (info.slots[i].id == slot) {
                return true;
            }
        }
        return false;
    }
    HbLuks1Info info;
    hb_luks1_get_info(s->luks, &info);
    return info.slots[slot].active;
}

static int matches(LuksState *s, HbNode *hdr, int slot, const HbSecretBuf *pass, GError **errp)
{
    if (s->luks2) {
        return hb_luks2_keyslot_matches(s->luks2, luks_header_read, hdr, slot, pass->data,
                                        pass->len, errp);
    }
    return hb_luks1_keyslot_matches(s->luks, luks_header_read, hdr, slot, pass->data, pass->len,
                                    errp);
}

static bool erase(LuksState *s, HbNode *hdr, int slot, GError **errp)
{
    return s->luks2 ? hb_luks2_erase_keyslot(s->luks2, header_write, hdr, slot, errp)
                    : hb_luks1_erase_keyslot(s->luks, header_write, hdr, slot, errp);
}

static bool activate(LuksState *s, HbNode *hdr, const HbLuksAmendOpts *o, GError **errp)
{
    if (!o->new_secret) {
        hb_error_set(errp, "'new-secret' is required to activate a keyslot");
        return false;
    }
    if (o->old_secret) {
        hb_error_set(errp, "'old-secret' must not be given when activating keyslots");
        return false;
    }
    const HbSecretBuf *pass = o->new_secret;
    int slot = o->has_keyslot ? o->keyslot : -1;
    if (o->has_keyslot && (slot < 0 || slot >= nslots(s))) {
        hb_error_set(errp, "Invalid keyslot %u specified, must be between 0 and %d",
                     (unsigned)slot, nslots(s) - 1);
        return false;
    }
    if (slot >= 0 && slot < nslots(s) && is_active(s, slot) && o->force) {
        hb_error_set(errp, "Overwriting active keyslot %d is not supported, even with "
                     "force: add the new secret to a free keyslot, then erase %d",
                     slot, slot);
        return false;
    }
    if (o->secret) {
        bool opens = false;
        for (int i = 0; i < nslots(s) && !opens; i++) {
            int rv = is_active(s, i) ? matches(s, hdr, i, o->secret, errp) : 0;
            if (rv < 0) {
                return false;
            }
            opens = rv > 0;
        }
        if (!opens) {
            hb_error_set(errp, "Invalid password, cannot unlock any keyslot");
            return false;
        }
    }
    int64_t iter = o->has_iter_time ? o->iter_time_ms : 0;
    return s->luks2 ? hb_luks2_add_keyslot(s->luks2, luks_header_read, header_write, hdr, slot,
                                           pass->data, pass->len, iter, errp)
                    : hb_luks1_add_keyslot(s->luks, luks_header_read, header_write, hdr, slot,
                                           pass->data, pass->len, iter, errp);
}

/* Erase every keyslot @pass opens, unless that is every active one. */
static bool erase_matching(LuksState *s, HbNode *hdr, const HbSecretBuf *pass, bool force,
                           GError **errp)
{
    uint64_t match = 0, active = 0;

    for (int i = 0; i < nslots(s); i++) {
        if (!is_active(s, i)) {
            continue;
        }
        active |= UINT64_C(1) << i;
        int rv = matches(s, hdr, i, pass, errp);
        if (rv < 0) {
            return false;
        }
        match |= (uint64_t)rv << i;
    }
    if (!match) {
        hb_error_set(errp, "No keyslots match given (old) password for erase operation");
        return false;
    }
    if (match == active && !force) {
        hb_error_set(errp, "All the active keyslots match the (old) password that was given "
                     "and erasing them will erase all the data in the image irreversibly - "
                     "refusing operation");
        return false;
    }
    for (int i = 0; i < nslots(s); i++) {
        if ((match >> i & 1) && !erase(s, hdr, i, errp)) {
            return false;
        }
    }
    return true;
}

static bool deactivate(LuksState *s, HbNode *hdr, const HbLuksAmendOpts *o, GError **errp)
{
    const HbSecretBuf *old = o->old_secret;

    if (o->new_secret) {
        hb_error_set(errp, "'new-secret' must not be given when erasing keyslots");
        return false;
    }
    if (o->has_iter_time) {
        hb_error_set(errp, "'iter-time' must not be given when erasing keyslots");
        return false;
    }
    if (!o->has_keyslot && !o->old_secret) {
        hb_error_set(errp, "To erase keyslot(s), either explicit keyslot index or the "
                     "password currently contained in them must be given");
        return false;
    }
    if (o->secret) {
        hb_error_set(errp, "'secret' must not be given when erasing keyslots");
        return false;
    }
    if (!o->has_keyslot) {
        return erase_matching(s, hdr, old, o->force, errp);
    }
    if (o->keyslot < 0 || o->keyslot >= nslots(s)) {
        hb_error_set(errp, "Invalid keyslot %u specified, must be between 0 and %d",
                     (unsigned)o->keyslot, nslots(s) - 1);
        return false;
    }
    if (old) {
        int rv = matches(s, hdr, o->keyslot, old, errp);
        if (rv < 0) {
            return false;
        }
        if (rv == 0) {
            hb_error_set(errp, "Given keyslot %d doesn't contain the given old password for "
                         "erase operation", o->keyslot);
            return false;
        }
    }
    if (!o->force && !is_active(s, o->keyslot)) {
        hb_error_set(errp, "Given keyslot %d is already erased (inactive) ", o->keyslot);
        return false;
    }
    return erase(s, hdr, o->keyslot, errp);
}

bool hb_luks_amend_supported(HbNode *node, GError **errp)
{
    if (node->drv != &hb_driver_luks) {
        hb_error_set(errp, "Format driver '%s' does not support option amendment",
                     node->drv->name);
        return false;
    }
    return true;
}

bool hb_luks_amend_begin(HbNode *node, GError **errp)
{
    if (!hb_luks_amend_supported(node, errp)) {
        return false;
    }
    LuksState *s = node->opaque;
    HbNode *hdr = luks_header_node(s);
    if (node->read_only) {
        hb_error_set(errp, "Image is read-only");
        return false;
    }
    if (s->amending) {
        hb_error_set(errp, "Node '%s' is already having its LUKS keyslots changed",
                     node->node_name);
        return false;
    }
    /* A detached header is read-only for the luks node (data I/O never
     * writes it): write access is taken for the change only. */
    HbChild *edge = s->header;
    if (edge) {
        s->amend_perm = edge->perm;
        s->amend_shared = edge->shared_perm;
        if (!hb_child_set_perm(edge, edge->perm | HB_PERM_WRITE, edge->shared_perm, errp)) {
            g_prefix_error(errp, "LUKS header node '%s': ", hdr->node_name);
            return false;
        }
    }
    s->amending = true;
    return true;
}

void hb_luks_amend_end(HbNode *node)
{
    LuksState *s = node->opaque;

    g_assert(s->amending);
    if (s->header) {
        /* Dropping a permission cannot conflict; a lock-byte release
         * error leaves the extra lock held, which is harmless. */
        hb_child_set_perm(s->header, s->amend_perm, s->amend_shared, NULL);
    }
    s->amending = false;
}

bool hb_luks_amend_keyslots(HbNode *node, const HbLuksAmendOpts *o, GError **errp)
{
    LuksState *s = node->opaque;
    HbNode *hdr = luks_header_node(s);

    g_assert(s->amending);
    bool ok = o->active ? activate(s, hdr, o, errp) : deactivate(s, hdr, o, errp);
    /* Even after a failure: an erase by passphrase may have done some. */
    int rc = hb_node_flush(hdr);
    if (ok && rc < 0) {
        hb_error_set_errno(errp, rc, "Could not flush the LUKS header");
        ok = false;
    }
    return ok;
}

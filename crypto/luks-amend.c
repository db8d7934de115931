/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crypto/luks-amend.c — LUKS keyslot changes with QEMU's amend rules (x-blockdev-amend). */
#include "crypto/luks-amend.h"

#include "util/error.h"

/* QEMU checks the index before anything else touches the header. */
static bool keyslot_in_range(int64_t slot, bool as_unsigned, GError **errp)
{
    if (slot >= 0 && slot < HB_LUKS1_NUM_KEYSLOTS) {
        return true;
    }
    /* QEMU prints it as unsigned when activating, signed when erasing. */
    if (as_unsigned) {
        hb_error_set(errp, "Invalid keyslot %u specified, must be between 0 and %u",
                     (unsigned)slot, HB_LUKS1_NUM_KEYSLOTS - 1);
    } else {
        hb_error_set(errp, "Invalid keyslot %d specified, must be between 0 and %d",
                     (int)slot, HB_LUKS1_NUM_KEYSLOTS - 1);
    }
    return false;
}

/* "'x' must not be given when activating keyslots", and when erasing. */
static bool not_given(bool given, const char *member, const char *doing, GError **errp)
{
    if (given) {
        hb_error_set(errp, "'%s' must not be given when %s keyslots", member, doing);
    }
    return !given;
}

static unsigned active_mask(const HbLuks1 *luks)
{
    HbLuks1Info info;
    unsigned mask = 0;

    hb_luks1_get_info(luks, &info);
    for (int i = 0; i < HB_LUKS1_NUM_KEYSLOTS; i++) {
        mask |= info.slots[i].active ? 1u << i : 0;
    }
    return mask;
}

/* Bit i set: keyslot i opens with @pass; false on an error. */
static bool matching_slots(const HbLuks1 *luks, HbLuks1ReadFn read, void *opaque,
                           const HbSecretBuf *pass, unsigned *mask, GError **errp)
{
    *mask = 0;
    for (int i = 0; i < HB_LUKS1_NUM_KEYSLOTS; i++) {
        int rv = hb_luks1_slot_matches(luks, read, opaque, i, pass->data, pass->len, errp);
        if (rv < 0) {
            return false;
        }
        *mask |= rv ? 1u << i : 0;
    }
    return true;
}

static bool add_keyslot(HbLuks1 *luks, HbLuks1ReadFn read, HbLuks1WriteFn write, void *opaque,
                        const HbLuksAmendOpts *o, GError **errp)
{
    unsigned active = active_mask(luks);
    int slot = -1;

    if (!o->new_secret) {
        hb_error_set(errp, "'new-secret' is required to activate a keyslot");
        return false;
    }
    if (!not_given(o->old_secret, "old-secret", "activating", errp)) {
        return false;
    }
    if (o->has_keyslot) {
        if (!keyslot_in_range(o->keyslot, true, errp)) {
            return false;
        }
        slot = (int)o->keyslot;
    } else {
        for (int i = HB_LUKS1_NUM_KEYSLOTS - 1; i >= 0; i--) {
            slot = active & (1u << i) ? slot : i;
        }
        if (slot < 0) {
            hb_error_set(errp, "Can't add a keyslot - all keyslots are in use");
            return false;
        }
    }
    if (active & (1u << slot)) {
        if (o->force) {
            hb_error_set(errp, "Overwriting active keyslot %d is not supported, even with "
                         "force: add the new secret to a free keyslot, then erase %d",
                         slot, slot);
        } else {
            hb_error_set(errp, "Refusing to overwrite active keyslot %d - please erase it "
                         "first", slot);
        }
        return false;
    }
    if (o->secret) {
        unsigned mask;
        if (!matching_slots(luks, read, opaque, o->secret, &mask, errp)) {
            return false;
        }
        if (!mask) {
            hb_error_set(errp, "Invalid password, cannot unlock any keyslot");
            return false;
        }
    }
    return hb_luks1_add_keyslot(luks, read, write, opaque, slot, o->new_secret->data,
                                o->new_secret->len, o->has_iter_time ? o->iter_time : 0,
                                errp);
}

static bool erase_mask(HbLuks1 *luks, HbLuks1WriteFn write, void *opaque, unsigned mask,
                       GError **errp)
{
    for (int i = 0; i < HB_LUKS1_NUM_KEYSLOTS; i++) {
        if ((mask & (1u << i)) && !hb_luks1_erase_keyslot(luks, write, opaque, i, errp)) {
            return false;
        }
    }
    return true;
}

static bool erase_keyslots(HbLuks1 *luks, HbLuks1ReadFn read, HbLuks1WriteFn write,
                           void *opaque, const HbLuksAmendOpts *o, GError **errp)
{
    unsigned active = active_mask(luks), mask = 0;

    if (!not_given(o->new_secret, "new-secret", "erasing", errp) ||
        !not_given(o->has_iter_time, "iter-time", "erasing", errp) ||
        !not_given(o->secret, "secret", "erasing", errp)) {
        return false;
    }
    if (o->has_keyslot) {
        if (!keyslot_in_range(o->keyslot, false, errp)) {
            return false;
        }
        int slot = (int)o->keyslot;
        if (o->old_secret) {
            int rv = hb_luks1_slot_matches(luks, read, opaque, slot, o->old_secret->data,
                                           o->old_secret->len, errp);
            if (rv < 0) {
                return false;
            }
            if (rv == 0) {
                hb_error_set(errp, "Given keyslot %d doesn't contain the given old password "
                             "for erase operation", slot);
                return false;
            }
        }
        if (!o->force && !(active & (1u << slot))) {
            hb_error_set(errp, "Given keyslot %d is already erased (inactive) ", slot);
            return false;
        }
        if (!o->force && active == 1u << slot) {
            hb_error_set(errp, "Attempt to erase the only active keyslot %d which will erase "
                         "all the data in the image irreversibly - refusing operation", slot);
            return false;
        }
        return erase_mask(luks, write, opaque, 1u << slot, errp);
    }
    if (!o->old_secret) {
        hb_error_set(errp, "To erase keyslot(s), either explicit keyslot index or the password "
                     "currently contained in them must be given");
        return false;
    }
    if (!matching_slots(luks, read, opaque, o->old_secret, &mask, errp)) {
        return false;
    }
    if (!mask) {
        hb_error_set(errp, "No keyslots match given (old) password for erase operation");
        return false;
    }
    if (!o->force && mask == active) {
        hb_error_set(errp, "All the active keyslots match the (old) password that was given "
                     "and erasing them will erase all the data in the image irreversibly - "
                     "refusing operation");
        return false;
    }
    return erase_mask(luks, write, opaque, mask, errp);
}

bool hb_luks1_amend(HbLuks1 *luks, HbLuks1ReadFn read, HbLuks1WriteFn write, void *opaque,
                    const HbLuksAmendOpts *o, GError **errp)
{
    return o->activate ? add_keyslot(luks, read, write, opaque, o, errp)
                       : erase_keyslots(luks, read, write, opaque, o, errp);
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crypto/luks-slots.c — keyslot add/erase rules for LUKS1 and LUKS2. */
#include "crypto/luks-slots.h"
#include "util/error.h"

static bool check_index(int slot, int nslots, GError **errp)
{
    if (slot < 0 || slot >= nslots) {
        /* %u as QEMU prints it: -1 reads 4294967295. */
        hb_error_set(errp, "Invalid keyslot %u specified, must be between 0 and %d",
                     (unsigned)slot, nslots - 1);
        return false;
    }
    return true;
}

bool luks_slot_for_add(int *slot, int nslots, uint32_t active, GError **errp)
{
    if (*slot == -1) {
        for (int i = 0; i < nslots; i++) {
            if (!(active & (UINT32_C(1) << i))) {
                *slot = i;
                return true;
            }
        }
        hb_error_set(errp, "Can't add a keyslot - all keyslots are in use");
        return false;
    }
    if (!check_index(*slot, nslots, errp)) {
        return false;
    }
    if (active & (UINT32_C(1) << *slot)) {
        hb_error_set(errp, "Refusing to overwrite active keyslot %d - please erase it first",
                     *slot);
        return false;
    }
    return true;
}

bool luks_slot_for_erase(int slot, int nslots, uint32_t active, GError **errp)
{
    if (!check_index(slot, nslots, errp)) {
        return false;
    }
    if (!(active & (UINT32_C(1) << slot))) {
        hb_error_set(errp, "Given keyslot %d is already erased (inactive) ", slot);
        return false;
    }
    if (active == (UINT32_C(1) << slot)) {
        hb_error_set(errp,
                     "Attempt to erase the only active keyslot %d which will erase all the "
                     "data in the image irreversibly - refusing operation", slot);
        return false;
    }
    return true;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crypto/luks-slots.h — the keyslot rules LUKS1 and LUKS2 share when a
 * keyslot is added or erased, with QEMU's error texts. */
#ifndef HB_CRYPTO_LUKS_SLOTS_H
#define HB_CRYPTO_LUKS_SLOTS_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/**
 * luks_slot_for_add() - check or pick the keyslot a new passphrase goes to
 * @slot: in: 0..@nslots-1, or -1 for the first inactive one; out: the slot
 * @nslots: keyslots the format has (8 or 32)
 * @active: bit i set when keyslot i is active
 * @errp: "Invalid keyslot ...", "Can't add a keyslot - all keyslots are in
 *        use", "Refusing to overwrite active keyslot ..."
 */
bool luks_slot_for_add(int *slot, int nslots, uint32_t active, GError **errp);

/**
 * luks_slot_for_erase() - whether keyslot @slot may be erased
 * @errp: "Invalid keyslot ...", "... already erased ...", or the refusal to
 *        erase the only active keyslot
 */
bool luks_slot_for_erase(int slot, int nslots, uint32_t active, GError **errp);

#endif

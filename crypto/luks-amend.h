/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crypto/luks-amend.h — LUKS keyslot changes with QEMU's amend rules (x-blockdev-amend). */
#ifndef HB_CRYPTO_LUKS_AMEND_H
#define HB_CRYPTO_LUKS_AMEND_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "crypto/luks1.h"
#include "crypto/secret.h"

/*
 * QEMU's QCryptoBlockAmendOptionsLUKS, typed, with the secrets already
 * looked up (they are main-thread objects; the work runs on a job's
 * thread).  A secret not given is NULL.
 */
typedef struct HbLuksAmendOpts {
    bool activate;                   /* state=active: add; inactive: erase */
    const HbSecretBuf *new_secret;   /* the passphrase of the new keyslot */
    const HbSecretBuf *old_secret;   /* erase the keyslots it opens */
    const HbSecretBuf *secret;       /* proves the caller knows a passphrase */
    bool has_keyslot;
    int64_t keyslot;
    bool has_iter_time;
    int64_t iter_time;               /* ms of PBKDF2 for the new keyslot */
    bool force;                      /* as QEMU's: allow erasing every keyslot */
} HbLuksAmendOpts;

/**
 * hb_luks1_amend() - add or erase keyslots of an unlocked LUKS1 header
 * @luks: the header, unlocked (its master key goes into a new keyslot)
 * @read: reads the header volume
 * @write: writes it
 * @opaque: for both
 * @o: what to change
 * @errp: QEMU's texts: "'new-secret' is required to activate a keyslot",
 *        "Refusing to overwrite active keyslot 1 - please erase it first",
 *        "No keyslots match given (old) password for erase operation", ...
 *
 * Activating picks @o->keyslot or the first free keyslot.  Erasing takes
 * @o->keyslot (which, with @o->old_secret, must open with it) or every
 * keyslot @o->old_secret opens; erasing the last active keyslot needs
 * @o->force.  Unlike QEMU, @o->force does not let a new keyslot overwrite
 * an active one, and the last keyslot of a volume is never erased (the
 * LUKS1 library refuses both): erase first, keep one.
 */
bool hb_luks1_amend(HbLuks1 *luks, HbLuks1ReadFn read, HbLuks1WriteFn write, void *opaque,
                    const HbLuksAmendOpts *o, GError **errp);

#endif

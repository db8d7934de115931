/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/luks-amend.h — adding and erasing the keyslots of an open luks node
 * (LUKS1 or LUKS2) with the rules and texts of QEMU's LUKS amend. */
#ifndef HB_BLOCK_LUKS_AMEND_H
#define HB_BLOCK_LUKS_AMEND_H

#include <stdbool.h>
#include <stdint.h>

#include "block/node.h"

#include "crypto/secret.h"

/*
 * QEMU's QCryptoBlockAmendOptionsLUKS with its secrets looked up already:
 * secrets are main-thread objects, and x-blockdev-amend runs this on a
 * job's thread.  A secret not given is NULL.
 */
typedef struct HbLuksAmendOpts {
    bool active;                    /* state=active (add) or inactive (erase) */
    const HbSecretBuf *new_secret;  /* the new keyslot's passphrase */
    const HbSecretBuf *old_secret;  /* erase the keyslots it opens */
    const HbSecretBuf *secret;      /* adding: must open some keyslot (QEMU's "secret") */
    bool has_keyslot;
    int keyslot;
    bool has_iter_time;
    int64_t iter_time_ms;
    bool force;                     /* x-blockdev-amend's force (see hb_luks_amend_keyslots) */
} HbLuksAmendOpts;

/**
 * hb_luks_amend_supported() - whether @node is one hb_luks_amend_keyslots()
 * takes; else qemu-img's "Format driver 'X' does not support option amendment"
 */
bool hb_luks_amend_supported(HbNode *node, GError **errp);

/**
 * hb_luks_amend_begin() - hold luks node @node for a keyslot change: refuse
 * a second one meanwhile, and take write access to a detached header (it
 * is read-only for data I/O).  Main thread: it changes the graph's edges.
 * @errp: "Image is read-only", "Node 'x' is already having its LUKS
 *        keyslots changed", a permission conflict on the header node
 * Return: true; then hb_luks_amend_end() must follow, also on the main thread.
 */
bool hb_luks_amend_begin(HbNode *node, GError **errp);

/** hb_luks_amend_end() - release what hb_luks_amend_begin() took.  Main thread. */
void hb_luks_amend_end(HbNode *node);

/**
 * hb_luks_amend_keyslots() - add or erase keyslots of a luks node
 * @node: an unlocked luks node, between hb_luks_amend_begin() and _end()
 * @o: what to do, as QEMU's QCryptoBlockAmendOptionsLUKS
 * @errp: QEMU's texts ("'new-secret' is required to activate a keyslot",
 *        "No keyslots match given (old) password for erase operation", ...)
 *
 * Active: the volume key goes into @o->keyslot (or the first free one)
 * under @o->new_secret.  Inactive: keyslot @o->keyslot is erased (when
 * @o->old_secret is given too, only if it opens that slot), or every
 * keyslot @o->old_secret opens, never all of them.  The header node is
 * flushed afterwards.  Any thread (the key derivation takes seconds: an
 * x-blockdev-amend job runs it on its own).  A detached header gets write access for the change
 * only ("Block node is read-only" when it is a read-only node).  Main thread.
 */
bool hb_luks_amend_keyslots(HbNode *node, const HbLuksAmendOpts *o, GError **errp);

#endif

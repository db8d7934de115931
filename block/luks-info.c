/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/luks-info.c — a luks node's format-specific information for
 * query-named-block-nodes and hotblock-img info. */
#include "block/luks-info.h"

static const char *const priority_names[] = { "ignore", "normal", "prefer" };

/* LUKS2: the same struct, keyslots that exist with their KDF, and the extras. */
static QapiQCryptoBlockInfoLUKS *luks2_info(const HbLuks2 *luks2, bool detached)
{
    g_autofree HbLuks2Info *info = g_new0(HbLuks2Info, 1);
    QapiQCryptoBlockInfoLUKS *l = g_new0(QapiQCryptoBlockInfoLUKS, 1);
    QapiQCryptoBlockInfoLUKSSlotList **tail = &l->slots;

    hb_luks2_get_info(luks2, info);
    l->cipher_alg = g_strdup(info->cipher_alg);
    l->cipher_mode = g_strdup(info->cipher_mode);
    l->ivgen_alg = g_strdup(info->ivgen_alg);
    if (info->ivgen_hash_alg[0]) {
        l->ivgen_hash_alg = g_strdup(info->ivgen_hash_alg);
    }
    l->hash_alg = g_strdup(info->hash_alg);
    l->detached_header = detached;
    l->payload_offset = (int64_t)info->payload_offset;
    l->master_key_iters = info->digest_iters;
    l->uuid = g_strdup(info->uuid);
    l->has_version = true;
    l->version = 2;
    l->has_sector_size = true;
    l->sector_size = info->sector_size;
    l->has_iv_tweak = true;
    l->iv_tweak = (int64_t)info->iv_tweak;
    for (int i = 0; i < info->nslots; i++) {
        const HbLuks2SlotInfo *in = &info->slots[i];
        QapiQCryptoBlockInfoLUKSSlot *slot = g_new0(QapiQCryptoBlockInfoLUKSSlot, 1);
        slot->active = true;
        slot->has_iters = true;
        slot->iters = in->iterations;
        slot->has_stripes = true;
        slot->stripes = in->stripes;
        slot->key_offset = (int64_t)in->area_offset;
        slot->has_keyslot = true;
        slot->keyslot = in->id;
        slot->pbkdf = g_strdup(in->kdf);
        if (in->memory_kib) {
            slot->has_memory = true;
            slot->memory = in->memory_kib;
            slot->has_parallel = true;
            slot->parallel = in->cpus;
        }
        slot->priority = g_strdup(priority_names[in->priority]);
        *tail = g_new0(QapiQCryptoBlockInfoLUKSSlotList, 1);
        (*tail)->value = slot;
        tail = &(*tail)->next;
    }
    return l;
}

QapiImageInfoSpecific *hb_luks_info_specific(const HbLuks1 *luks1, const HbLuks2 *luks2,
                                             bool detached)
{
    HbLuks1Info info;
    QapiImageInfoSpecific *spec = g_new0(QapiImageInfoSpecific, 1);
    QapiQCryptoBlockInfoLUKS *l;
    QapiQCryptoBlockInfoLUKSSlotList **tail;

    spec->type = QAPI_IMAGE_INFO_SPECIFIC_KIND_LUKS;
    spec->u.luks = g_new0(QapiImageInfoSpecificLUKSWrapper, 1);
    if (luks2) {
        spec->u.luks->data = luks2_info(luks2, detached);
        return spec;
    }
    l = g_new0(QapiQCryptoBlockInfoLUKS, 1);
    tail = &l->slots;
    hb_luks1_get_info(luks1, &info);
    l->cipher_alg = g_strdup(info.cipher_alg);
    l->cipher_mode = g_strdup(info.cipher_mode);
    l->ivgen_alg = g_strdup(info.ivgen_alg);
    if (info.ivgen_hash_alg[0]) {
        l->ivgen_hash_alg = g_strdup(info.ivgen_hash_alg);
    }
    l->hash_alg = g_strdup(info.hash_alg);
    l->detached_header = detached;
    l->payload_offset = (int64_t)info.payload_offset;
    l->master_key_iters = info.master_key_iters;
    l->uuid = g_strdup(info.uuid);
    for (unsigned i = 0; i < G_N_ELEMENTS(info.slots); i++) {
        QapiQCryptoBlockInfoLUKSSlot *slot = g_new0(QapiQCryptoBlockInfoLUKSSlot, 1);
        slot->active = info.slots[i].active;
        if (slot->active) {
            slot->has_iters = true;
            slot->iters = info.slots[i].iters;
            slot->has_stripes = true;
            slot->stripes = info.slots[i].stripes;
        }
        slot->key_offset = (int64_t)info.slots[i].key_offset;
        *tail = g_new0(QapiQCryptoBlockInfoLUKSSlotList, 1);
        (*tail)->value = slot;
        tail = &(*tail)->next;
    }
    spec->u.luks->data = l;
    return spec;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/luks-info.h — a luks node's format-specific information for queries. */
#ifndef HB_BLOCK_LUKS_INFO_H
#define HB_BLOCK_LUKS_INFO_H

#include "crypto/luks1.h"
#include "crypto/luks2.h"
#include "qapi-types.h"

/**
 * hb_luks_info_specific() - the "luks" ImageInfoSpecific of a header
 * @luks1: the LUKS1 header, or NULL
 * @luks2: the LUKS2 header, or NULL (exactly one of the two is given)
 * @detached: whether the header is on its own node
 *
 * LUKS1 as QEMU shows it (eight slots); LUKS2 in the same struct with the
 * hotblock extensions (version, sector-size, iv-tweak; the keyslots that
 * exist, with their KDF).  Never key material.
 */
QapiImageInfoSpecific *hb_luks_info_specific(const HbLuks1 *luks1, const HbLuks2 *luks2,
                                             bool detached);

#endif

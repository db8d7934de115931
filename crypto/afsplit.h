/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crypto/afsplit.h — the LUKS anti-forensic information splitter (AF split/merge). */
#ifndef HB_CRYPTO_AFSPLIT_H
#define HB_CRYPTO_AFSPLIT_H

#include "crypto/hash.h"

/**
 * hb_afsplit_encode() - spread @blocklen bytes of @in over @stripes blocks in @out
 * @alg: the diffusion hash (the LUKS header's hash spec)
 * @blocklen: size of one block (the master key length)
 * @stripes: number of blocks, at least 1
 * @in: @blocklen bytes
 * @out: @blocklen * @stripes bytes; all but the last block are random
 * @errp: error
 */
bool hb_afsplit_encode(HbHashAlg alg, size_t blocklen, uint32_t stripes,
                       const uint8_t *in, uint8_t *out, GError **errp);

/**
 * hb_afsplit_decode() - recover @blocklen bytes from @stripes split blocks
 * @alg: the diffusion hash
 * @blocklen: size of one block
 * @stripes: number of blocks, at least 1
 * @in: @blocklen * @stripes bytes
 * @out: @blocklen bytes
 * @errp: error
 */
bool hb_afsplit_decode(HbHashAlg alg, size_t blocklen, uint32_t stripes,
                       const uint8_t *in, uint8_t *out, GError **errp);

#endif

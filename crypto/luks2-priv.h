/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crypto/luks2-priv.h — what luks2-header.c, luks2-json.c and luks2.c share. */
#ifndef HB_CRYPTO_LUKS2_PRIV_H
#define HB_CRYPTO_LUKS2_PRIV_H

#include <json-glib/json-glib.h>

#include "crypto/kdf-argon2.h"
#include "crypto/cipher.h"
#include "crypto/luks2.h"

#define LUKS2_BIN_LEN 4096          /* binary header; the JSON area follows */
#define LUKS2_MAX_DIGESTS 32
#define LUKS2_MAX_SALT 64
#define LUKS2_MAX_DIGEST_LEN 64
#define LUKS2_MAX_KEY 64            /* AES-256-XTS */
/* What cryptsetup ever writes, and more: keeps key * stripes bounded. */
#define LUKS2_MAX_STRIPES 65536

/* Byte offsets in a binary header (big-endian numbers). */
enum {
    OFF_MAGIC = 0,
    OFF_VERSION = 6,
    OFF_HDR_SIZE = 8,
    OFF_SEQID = 16,
    OFF_LABEL = 24,
    OFF_CSUM_ALG = 72,
    OFF_SALT = 104,
    OFF_UUID = 168,
    OFF_SUBSYSTEM = 208,
    OFF_HDR_OFFSET = 256,
    OFF_CSUM = 448,
    CSUM_LEN = 64,
    MIN_HDR = 16 * 1024,
    MAX_HDR = 4 * 1024 * 1024,
};

/* One binary header, decoded (host order, strings NUL-terminated). */
typedef struct Luks2Bin {
    uint16_t version;
    uint64_t hdr_size;
    uint64_t seqid;
    uint64_t hdr_offset;
    char label[49];
    char checksum_alg[33];
    char uuid[41];
    char subsystem[49];
} Luks2Bin;

/* A cipher spec from the JSON ("aes-xts-plain64") with its key size. */
typedef struct Luks2Cipher {
    char spec[64];
    HbCipherAlg alg;
    HbCipherMode mode;
    HbIvgenAlg ivgen;
    HbHashAlg ivhash;
    bool has_ivhash;
    uint32_t key_size;
} Luks2Cipher;

typedef enum {
    LUKS2_KDF_PBKDF2,
    LUKS2_KDF_ARGON2I,
    LUKS2_KDF_ARGON2ID,
} Luks2KdfType;

typedef struct Luks2Keyslot {
    bool present;
    uint32_t key_size;          /* the volume key's */
    int priority;
    HbHashAlg af_hash;
    uint32_t stripes;
    Luks2Cipher area_cipher;    /* area key_size is area_cipher.key_size */
    uint64_t area_offset;
    uint64_t area_size;
    Luks2KdfType kdf;
    HbHashAlg kdf_hash;         /* pbkdf2 */
    uint32_t iterations;        /* pbkdf2 */
    uint32_t time, memory, cpus; /* argon2 */
    uint8_t salt[LUKS2_MAX_SALT];
    size_t salt_len;
    int digest;                 /* the digest that checks this slot, -1 none */
} Luks2Keyslot;

typedef struct Luks2Digest {
    bool present;
    HbHashAlg hash;
    uint32_t iterations;
    uint8_t salt[LUKS2_MAX_SALT];
    size_t salt_len;
    uint8_t digest[LUKS2_MAX_DIGEST_LEN];
    size_t digest_len;
    uint32_t keyslots;          /* bitmask of keyslot ids */
    bool segment0;              /* covers the data segment */
} Luks2Digest;

typedef struct Luks2Segment {
    uint64_t offset;
    uint64_t size;              /* 0: dynamic */
    uint64_t iv_tweak;          /* in 512-byte units */
    uint32_t sector_size;
    Luks2Cipher cipher;
} Luks2Segment;

/* The JSON metadata, checked and decoded. */
typedef struct Luks2Meta {
    Luks2Keyslot slots[HB_LUKS2_MAX_KEYSLOTS];
    Luks2Digest digests[LUKS2_MAX_DIGESTS];
    Luks2Segment seg;
    int seg_digest;             /* the digest of the segment */
    uint64_t json_size;
    uint64_t keyslots_size;
} Luks2Meta;

struct HbLuks2 {
    Luks2Bin bin;               /* the header in use */
    Luks2Meta meta;
    char *json;                 /* its JSON text: rewritten, never rebuilt, on a change */
    uint64_t volume_size;
    HbSecretBuf *master_key;
    HbSectorCipher *cipher;
};

extern const uint8_t luks2_magic1[6], luks2_magic2[6];

/* luks2-header.c: read both copies and decode the one to trust; *@json
 * (when @json is not NULL) gets its JSON text. */
bool luks2_read_headers(HbLuks1ReadFn read, void *opaque, uint64_t volume_size, Luks2Bin *bin,
                        Luks2Meta *meta, char **json, GError **errp);

/* luks2-write.c: the metadata @root as the next seqid, both copies written;
 * @l takes it in only once it is on disk. */
bool luks2_write_metadata(HbLuks2 *l, JsonNode *root, HbLuks1WriteFn write, void *opaque,
                          GError **errp);

/* luks2.c: the keyslot's KDF over @pass. */
bool luks2_derive(const Luks2Keyslot *s, const uint8_t *pass, size_t passlen, uint8_t *out,
                  size_t outlen, GError **errp);

/* luks2-keyslot.c: KDF costs and keyslot key material. */
typedef struct Luks2KdfOpts {
    Luks2KdfType type;
    HbHashAlg hash;             /* pbkdf2 */
    int64_t iter_time_ms;       /* <= 0: 2000 */
    uint32_t memory_kib;        /* argon2; 0: benchmarked, up to the limit */
    uint32_t parallel;          /* argon2; 0: min(4, CPUs) */
} Luks2KdfOpts;
uint32_t luks2_max_memory(void);
bool luks2_kdf_check(const Luks2KdfOpts *o, GError **errp);
void luks2_json_set_u64(JsonObject *o, const char *name, uint64_t v);
bool luks2_kdf_costs(const Luks2KdfOpts *o, uint32_t key_size, Luks2Keyslot *s, GError **errp);
bool luks2_store_key(HbLuks2 *l, JsonNode *root, int id, const Luks2KdfOpts *kdf,
                     const uint8_t *pass, size_t passlen, HbLuks1WriteFn write, void *opaque,
                     GError **errp);

/* luks2-json.c: parse and check the JSON area of a header of @hdr_size bytes
 * on a volume of @volume_size bytes. */
bool luks2_parse_json(const char *json, uint64_t hdr_size, uint64_t volume_size,
                      Luks2Meta *meta, GError **errp);
bool luks2_cipher_parse(const char *spec, uint32_t key_size, Luks2Cipher *c, const char *what,
                        GError **errp);

#endif

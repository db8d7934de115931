/* SPDX-License-Identifier: GPL-2.0-or-later */
/* block/luks-priv.h — the luks node's state, shared by luks.c (I/O) and
 * luks-amend.c (keyslot changes). */
#ifndef HB_BLOCK_LUKS_PRIV_H
#define HB_BLOCK_LUKS_PRIV_H

#include "block/node.h"
#include "crypto/luks2.h"

typedef struct LuksState {
    HbChild *file;
    HbChild *header;        /* NULL: attached */
    HbLuks1 *luks;          /* exactly one of luks, luks2 */
    HbLuks2 *luks2;
    uint64_t payload_offset;
    uint64_t payload_size;  /* LUKS2 fixed-size segment; 0: to the end of file */
    uint32_t sector;        /* encryption sector size */
    /* An amend holds the header (main thread): one at a time (luks-amend.c). */
    bool amending;
    unsigned amend_perm, amend_shared;  /* the header edge's own, to restore */
} LuksState;

/* The node holding the LUKS header: the header child, else the file. */
HbNode *luks_header_node(LuksState *s);
/* A HbLuks1ReadFn over a header node (@opaque), allowed while inactive. */
int luks_header_read(void *opaque, uint64_t offset, void *buf, size_t len);

#endif

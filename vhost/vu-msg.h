/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhost/vu-msg.h — vhost-user message layout and framing (back-end side). */
#ifndef HB_EXPORT_VU_MSG_H
#define HB_EXPORT_VU_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vhost/vhost-user.h"

#define MEM_TABLE_MAX 8           /* regions in one SET_MEM_TABLE */

typedef struct __attribute__((packed)) VuRegion {
    uint64_t gpa;
    uint64_t size;
    uint64_t uva;
    uint64_t mmap_offset;
} VuRegion;

typedef struct __attribute__((packed)) VuMsgHdr {
    uint32_t request;
    uint32_t flags;
    uint32_t size;
} VuMsgHdr;

typedef union __attribute__((packed)) VuPayload {
    uint64_t u64;
    struct __attribute__((packed)) {
        uint32_t index;
        uint32_t num;
    } state;
    struct __attribute__((packed)) {
        uint32_t index;
        uint32_t flags;
        uint64_t desc;
        uint64_t used;
        uint64_t avail;
        uint64_t log;
    } addr;
    struct __attribute__((packed)) {
        uint32_t nregions;
        uint32_t padding;
        VuRegion regions[MEM_TABLE_MAX];
    } mem;
    struct __attribute__((packed)) {
        uint64_t padding;
        VuRegion region;
    } memreg;
    struct __attribute__((packed)) {
        uint32_t offset;
        uint32_t size;
        uint32_t flags;
        uint8_t region[HB_VU_CONFIG_MAX];
    } config;
    struct __attribute__((packed)) {
        uint64_t mmap_size;
        uint64_t mmap_offset;
        uint16_t num_queues;
        uint16_t queue_size;
    } inflight;
} VuPayload;

typedef struct VuMsg {
    VuMsgHdr hdr;
    VuPayload p;
    int fds[HB_VU_MAX_FDS];
    unsigned nfds;
} VuMsg;

#define CONFIG_HDR_SIZE offsetof(VuPayload, config.region)

/**
 * hb_vu_msg_read() - read one message and the fds that came with it.
 * Return: false on hang-up, short read, a bad version or an oversized
 * payload (the connection is then done for).  Received fds are in
 * @msg->fds even on failure, for the caller to close.
 */
bool hb_vu_msg_read(int sock, VuMsg *msg);

/* Send @msg back as a reply with @size payload bytes and optionally @fd. */
bool hb_vu_msg_reply(int sock, VuMsg *msg, uint32_t size, int fd);
bool hb_vu_msg_reply_u64(int sock, VuMsg *msg, uint64_t v);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhost/vu-msg.h — vhost-user message layout, framing and fd passing, for both ends. */
#ifndef HB_EXPORT_VU_MSG_H
#define HB_EXPORT_VU_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vhost/vhost-user.h"

/*
 * Theory of operation
 *
 * A vhost-user message is a 12-byte header (request, flags, payload size;
 * host endian), the payload, and up to HB_VU_MAX_FDS file descriptors that
 * travel as SCM_RIGHTS ancillary data with the first byte of the header.
 * This is the only code in the tree that frames messages and passes fds:
 * the back-end (vhost-user.c), the front-end in tools/ and the tests all
 * send and receive through it.
 *
 * hb_vu_msg_send() sends a header exactly as given, so that tests can
 * frame messages badly on purpose; hb_vu_msg_read() is strict: it refuses
 * a bad version or a payload larger than HB_VU_MSG_MAX_PAYLOAD, and closes
 * fds beyond HB_VU_MAX_FDS as they arrive.
 */

#define HB_VU_MEM_TABLE_MAX 8     /* regions in one SET_MEM_TABLE */

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
        VuRegion regions[HB_VU_MEM_TABLE_MAX];
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
    struct __attribute__((packed)) {
        uint64_t mmap_size;
        uint64_t mmap_offset;
    } log;
} VuPayload;

/**
 * struct VuMsg - one received (or to be sent) message.
 * @hdr: the header as it came
 * @p: the payload, zero-filled past @hdr.size
 * @fds: received fds, -1 in unused slots; whoever holds @msg owns them
 * @nfds: number of slots of @fds filled by hb_vu_msg_read()
 */
typedef struct VuMsg {
    VuMsgHdr hdr;
    VuPayload p;
    int fds[HB_VU_MAX_FDS];
    unsigned nfds;
} VuMsg;

/* Largest payload hb_vu_msg_read() accepts. */
#define HB_VU_MSG_MAX_PAYLOAD sizeof(VuPayload)

/* Bytes of a GET_CONFIG/SET_CONFIG payload before the config space itself. */
#define HB_VU_CONFIG_HDR_SIZE offsetof(VuPayload, config.region)

/**
 * hb_vu_msg_send() - send one message and its fds.
 * @sock: a connected AF_UNIX stream socket
 * @hdr: the header, sent as given (its size need not match @len)
 * @payload: @len bytes to send after the header; may be NULL if @len is 0
 * @len: payload bytes
 * @fds: @nfds descriptors to pass along (SCM_RIGHTS); not closed here
 * @nfds: 0..HB_VU_MAX_FDS
 *
 * SIGPIPE is never raised; EINTR is retried and a short write is
 * completed.
 *
 * Return: true once the whole message is sent; false with errno set
 * (EINVAL for more than HB_VU_MAX_FDS fds) otherwise.
 */
bool hb_vu_msg_send(int sock, const VuMsgHdr *hdr, const void *payload, size_t len,
                    const int *fds, unsigned nfds);

/**
 * hb_vu_msg_send_nowait() - hb_vu_msg_send() that never waits for room in
 * the socket: what the back-end sends (replies, backend-channel messages)
 * goes this way, so a front-end that stops reading cannot stall the
 * thread, or the main thread, that sends to it.
 * Return: false also when the socket is full (the caller drops the peer).
 */
bool hb_vu_msg_send_nowait(int sock, const VuMsgHdr *hdr, const void *payload, size_t len,
                           const int *fds, unsigned nfds);

/**
 * hb_vu_msg_send_request() - send a well-formed front-end message.
 * @sock: a connected AF_UNIX stream socket
 * @request: the message id (HB_VU_GET_FEATURES, ...)
 * @flags: flags besides the version (HB_VU_MSG_FLAG_NEED_REPLY or 0)
 * @payload: @size bytes of payload; may be NULL if @size is 0
 * @size: payload bytes, also the header's size
 * @fds: @nfds descriptors to pass along; not closed here
 * @nfds: 0..HB_VU_MAX_FDS
 *
 * Return: as hb_vu_msg_send().
 */
bool hb_vu_msg_send_request(int sock, uint32_t request, uint32_t flags, const void *payload,
                            uint32_t size, const int *fds, unsigned nfds);

/**
 * hb_vu_msg_read() - read one message and the fds that came with it.
 * @sock: a connected AF_UNIX stream socket
 * @msg: filled in; its fds are reset to -1 first
 *
 * Fds beyond HB_VU_MAX_FDS are closed on arrival.  Received fds are in
 * @msg->fds even on failure, for the caller to close with
 * hb_vu_msg_close_fds().
 *
 * Return: false on hang-up, short read, a bad version or a payload larger
 * than HB_VU_MSG_MAX_PAYLOAD (the connection is then done for).
 */
bool hb_vu_msg_read(int sock, VuMsg *msg);

/**
 * hb_vu_msg_close_fds() - close the fds still held by @msg.
 * @msg: a message filled by hb_vu_msg_read(); slots set to -1 (fds taken
 *       by their new owner) are skipped, and all end up -1
 */
void hb_vu_msg_close_fds(VuMsg *msg);

/* The spec's name of front-end request @req ("SET_MEM_TABLE"), or "unknown". */
const char *hb_vu_msg_name(uint32_t req);

/**
 * hb_vu_msg_reply() - send @msg back as the reply to itself.
 * @sock: the connection @msg came from
 * @msg: its header's flags and size are rewritten for the reply
 * @size: payload bytes of @msg->p to send
 * @fd: an fd to pass along, or -1; not closed here
 *
 * Return: as hb_vu_msg_send().
 */
bool hb_vu_msg_reply(int sock, VuMsg *msg, uint32_t size, int fd);

/**
 * hb_vu_msg_reply_u64() - reply to @msg with the 64-bit payload @v.
 * @sock: the connection @msg came from
 * @msg: the request (rewritten, as by hb_vu_msg_reply())
 * @v: the value
 *
 * Return: as hb_vu_msg_send().
 */
bool hb_vu_msg_reply_u64(int sock, VuMsg *msg, uint64_t v);

#endif

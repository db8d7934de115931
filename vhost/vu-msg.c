/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhost/vu-msg.c — read and send vhost-user messages with their fds. */
#include "vhost/vu-msg.h"

#include <errno.h>
#include <glib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static bool read_full(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;

    while (len) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        p += n;
        len -= n;
    }
    return true;
}

/* Attach @nfds fds to @mh as one SCM_RIGHTS message in @control. */
static void put_fds(struct msghdr *mh, void *control, const int *fds, unsigned nfds)
{
    struct cmsghdr *cmsg;

    mh->msg_control = control;
    mh->msg_controllen = CMSG_SPACE(nfds * sizeof(int));
    memset(control, 0, mh->msg_controllen);
    cmsg = CMSG_FIRSTHDR(mh);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(nfds * sizeof(int));
    memcpy(CMSG_DATA(cmsg), fds, nfds * sizeof(int));
}

/* Keep the fds of @mh that fit in @msg, close the rest. */
static void take_fds(VuMsg *msg, struct msghdr *mh)
{
    for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(mh); cmsg; cmsg = CMSG_NXTHDR(mh, cmsg)) {
        size_t cnt;

        if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        cnt = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < cnt; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
            if (msg->nfds < HB_VU_MAX_FDS) {
                msg->fds[msg->nfds++] = fd;
            } else {
                close(fd);
            }
        }
    }
}

static bool send_flags(int sock, const VuMsgHdr *hdr, const void *payload, size_t len,
                       const int *fds, unsigned nfds, int flags)
{
    union {
        char buf[CMSG_SPACE(HB_VU_MAX_FDS * sizeof(int))];
        struct cmsghdr align;
    } control;
    struct iovec iov[2] = {
        { .iov_base = (void *)hdr, .iov_len = sizeof(*hdr) },
        { .iov_base = (void *)payload, .iov_len = len },
    };
    struct msghdr mh = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };

    if (nfds > HB_VU_MAX_FDS) {
        errno = EINVAL;
        return false;
    }
    if (nfds) {
        put_fds(&mh, control.buf, fds, nfds);
    }
    while (mh.msg_iovlen) {
        ssize_t n = sendmsg(sock, &mh, flags);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        /* The fds went with the first byte; go on with what is left. */
        mh.msg_control = NULL;
        mh.msg_controllen = 0;
        while (mh.msg_iovlen && (size_t)n >= mh.msg_iov->iov_len) {
            n -= mh.msg_iov->iov_len;
            mh.msg_iov++;
            mh.msg_iovlen--;
        }
        if (mh.msg_iovlen) {
            mh.msg_iov->iov_base = (uint8_t *)mh.msg_iov->iov_base + n;
            mh.msg_iov->iov_len -= n;
        }
    }
    return true;
}

bool hb_vu_msg_send(int sock, const VuMsgHdr *hdr, const void *payload, size_t len,
                    const int *fds, unsigned nfds)
{
    return send_flags(sock, hdr, payload, len, fds, nfds, MSG_NOSIGNAL);
}

bool hb_vu_msg_send_nowait(int sock, const VuMsgHdr *hdr, const void *payload, size_t len,
                           const int *fds, unsigned nfds)
{
    return send_flags(sock, hdr, payload, len, fds, nfds, MSG_NOSIGNAL | MSG_DONTWAIT);
}

bool hb_vu_msg_send_request(int sock, uint32_t request, uint32_t flags, const void *payload,
                            uint32_t size, const int *fds, unsigned nfds)
{
    VuMsgHdr hdr = { .request = request, .flags = HB_VU_MSG_VERSION | flags, .size = size };

    return hb_vu_msg_send(sock, &hdr, payload, size, fds, nfds);
}

bool hb_vu_msg_read(int sock, VuMsg *msg)
{
    union {
        char buf[CMSG_SPACE(HB_VU_MAX_FDS * sizeof(int))];
        struct cmsghdr align;
    } control;
    struct iovec iov = { .iov_base = &msg->hdr, .iov_len = sizeof(msg->hdr) };
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = control.buf, .msg_controllen = sizeof(control.buf),
    };
    ssize_t n;

    msg->nfds = 0;
    memset(msg->fds, -1, sizeof(msg->fds));
    do {
        n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        if (n == 0) {
            errno = 0;          /* a hangup between messages: no error */
        }
        return false;
    }
    take_fds(msg, &mh);
    if ((size_t)n < sizeof(msg->hdr) &&
        !read_full(sock, (uint8_t *)&msg->hdr + n, sizeof(msg->hdr) - n)) {
        return false;
    }
    if ((msg->hdr.flags & 3) != HB_VU_MSG_VERSION || msg->hdr.size > HB_VU_MSG_MAX_PAYLOAD) {
        errno = EPROTO;
        return false;
    }
    memset(&msg->p, 0, sizeof(msg->p));
    return read_full(sock, &msg->p, msg->hdr.size);
}

void hb_vu_msg_close_fds(VuMsg *msg)
{
    for (unsigned i = 0; i < HB_VU_MAX_FDS; i++) {
        if (msg->fds[i] >= 0) {
            close(msg->fds[i]);
            msg->fds[i] = -1;
        }
    }
    msg->nfds = 0;
}

bool hb_vu_msg_reply(int sock, VuMsg *msg, uint32_t size, int fd)
{
    msg->hdr.flags = HB_VU_MSG_VERSION | HB_VU_MSG_FLAG_REPLY;
    msg->hdr.size = size;
    /* A front-end that does not read its replies loses its connection;
     * it never blocks the back-end's thread. */
    return hb_vu_msg_send_nowait(sock, &msg->hdr, &msg->p, size, &fd, fd >= 0 ? 1 : 0);
}

bool hb_vu_msg_reply_u64(int sock, VuMsg *msg, uint64_t v)
{
    msg->p.u64 = v;
    return hb_vu_msg_reply(sock, msg, sizeof(v), -1);
}

const char *hb_vu_msg_name(uint32_t req)
{
    static const char *const names[] = {
        [HB_VU_GET_FEATURES] = "GET_FEATURES", [HB_VU_SET_FEATURES] = "SET_FEATURES",
        [HB_VU_SET_OWNER] = "SET_OWNER", [HB_VU_RESET_OWNER] = "RESET_OWNER",
        [HB_VU_SET_MEM_TABLE] = "SET_MEM_TABLE", [HB_VU_SET_LOG_BASE] = "SET_LOG_BASE",
        [HB_VU_SET_LOG_FD] = "SET_LOG_FD", [HB_VU_SET_VRING_NUM] = "SET_VRING_NUM",
        [HB_VU_SET_VRING_ADDR] = "SET_VRING_ADDR", [HB_VU_SET_VRING_BASE] = "SET_VRING_BASE",
        [HB_VU_GET_VRING_BASE] = "GET_VRING_BASE", [HB_VU_SET_VRING_KICK] = "SET_VRING_KICK",
        [HB_VU_SET_VRING_CALL] = "SET_VRING_CALL", [HB_VU_SET_VRING_ERR] = "SET_VRING_ERR",
        [HB_VU_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
        [HB_VU_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
        [HB_VU_GET_QUEUE_NUM] = "GET_QUEUE_NUM", [HB_VU_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
        [HB_VU_SET_BACKEND_REQ_FD] = "SET_BACKEND_REQ_FD", [HB_VU_GET_CONFIG] = "GET_CONFIG",
        [HB_VU_SET_CONFIG] = "SET_CONFIG", [HB_VU_GET_INFLIGHT_FD] = "GET_INFLIGHT_FD",
        [HB_VU_SET_INFLIGHT_FD] = "SET_INFLIGHT_FD", [HB_VU_RESET_DEVICE] = "RESET_DEVICE",
        [HB_VU_GET_MAX_MEM_SLOTS] = "GET_MAX_MEM_SLOTS", [HB_VU_ADD_MEM_REG] = "ADD_MEM_REG",
        [HB_VU_REM_MEM_REG] = "REM_MEM_REG",
    };

    return req < G_N_ELEMENTS(names) && names[req] ? names[req] : "unknown";
}

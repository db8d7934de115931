/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhost/vu-msg.c — read and send vhost-user messages with their fds. */
#include "vhost/vu-msg.h"

#include <errno.h>
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

bool hb_vu_msg_read(int sock, VuMsg *msg)
{
    char control[CMSG_SPACE(HB_VU_MAX_FDS * sizeof(int))];
    struct iovec iov = { .iov_base = &msg->hdr, .iov_len = sizeof(msg->hdr) };
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = control, .msg_controllen = sizeof(control),
    };
    struct cmsghdr *cmsg;
    ssize_t n;

    msg->nfds = 0;
    do {
        n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        return false;
    }
    for (cmsg = CMSG_FIRSTHDR(&mh); cmsg; cmsg = CMSG_NXTHDR(&mh, cmsg)) {
        if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS) {
            size_t cnt = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
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
    if ((size_t)n < sizeof(msg->hdr) &&
        !read_full(sock, (uint8_t *)&msg->hdr + n, sizeof(msg->hdr) - n)) {
        return false;
    }
    if ((msg->hdr.flags & 3) != HB_VU_MSG_VERSION || msg->hdr.size > sizeof(msg->p)) {
        return false;
    }
    memset(&msg->p, 0, sizeof(msg->p));
    return read_full(sock, &msg->p, msg->hdr.size);
}

bool hb_vu_msg_reply(int sock, VuMsg *msg, uint32_t size, int fd)
{
    char control[CMSG_SPACE(sizeof(int))];
    struct iovec iov[2] = {
        { .iov_base = &msg->hdr, .iov_len = sizeof(msg->hdr) },
        { .iov_base = &msg->p, .iov_len = size },
    };
    struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
    ssize_t n;

    msg->hdr.flags = HB_VU_MSG_VERSION | HB_VU_MSG_FLAG_REPLY;
    msg->hdr.size = size;
    if (fd >= 0) {
        struct cmsghdr *cmsg;
        memset(control, 0, sizeof(control));
        mh.msg_control = control;
        mh.msg_controllen = sizeof(control);
        cmsg = CMSG_FIRSTHDR(&mh);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
    }
    do {
        n = sendmsg(sock, &mh, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n == (ssize_t)(sizeof(msg->hdr) + size);
}

bool hb_vu_msg_reply_u64(int sock, VuMsg *msg, uint64_t v)
{
    msg->p.u64 = v;
    return hb_vu_msg_reply(sock, msg, sizeof(v), -1);
}

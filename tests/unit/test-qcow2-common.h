/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-qcow2-common.h — helpers shared by the qcow2 core unit tests. */
#ifndef HB_TEST_QCOW2_COMMON_H
#define HB_TEST_QCOW2_COMMON_H

#include <glib.h>
#include <sys/uio.h>
#include <unistd.h>

#include "block/qcow2/qcow2-int.h"

/* Guest bytes [@off, @off + @len) of @s all read as @byte. */
static inline void expect_fill(HbQcow2 *s, uint64_t off, uint64_t len, uint8_t byte)
{
    g_autofree uint8_t *buf = g_malloc(len);
    struct iovec iov = { .iov_base = buf, .iov_len = len };

    g_assert_cmpint(hb_qcow2_preadv(s, off, len, &iov, 1), ==, 0);
    for (uint64_t i = 0; i < len; i++) {
        if (buf[i] != byte) {
            g_error("byte %" G_GUINT64_FORMAT " is %#x, not %#x", off + i, buf[i], byte);
        }
    }
}

/*
 * Close @s and its image file @fd, then check the image at @path: no
 * corruption, no leak.  The counters go to *@res when it is not NULL.
 */
static inline void close_and_check(HbQcow2 *s, int fd, const char *path,
                                   HbQcow2CheckResult *res)
{
    g_autoptr(GError) err = NULL;
    HbQcow2CheckResult local;

    res = res ? res : &local;
    g_assert_cmpint(hb_qcow2_close_image(s), ==, 0);
    hb_qcow2_free_image(s);
    close(fd);
    g_assert_true(hb_qcow2_check(path, res, NULL, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(res->corruptions, ==, 0);
    g_assert_cmpuint(res->leaks, ==, 0);
}

#endif

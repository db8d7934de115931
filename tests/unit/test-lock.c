/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-lock.c — QEMU's image lock bytes: conflicts both ways, rollback, release. */
#include "block/lock.h"
#include "block/node.h"

#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <unistd.h>

/*
 * OFD locks belong to the open file description, so two open()s of one
 * file in this process conflict exactly as two processes (hotblockd and
 * qemu-img, say) would.
 */

static char *path;

static HbImageLock open_lock(void)
{
    HbImageLock lk = { .fd = open(path, O_RDWR) };

    g_assert_cmpint(lk.fd, >=, 0);
    return lk;
}

static void close_lock(HbImageLock *lk)
{
    hb_lock_release(lk);
    close(lk->fd);
}

/* Whether another description holds any lock on byte @off. */
static bool byte_held(int off)
{
    int fd = open(path, O_RDWR);
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = off, .l_len = 1 };

    g_assert_cmpint(fcntl(fd, F_OFD_GETLK, &fl), ==, 0);
    close(fd);
    return fl.l_type != F_UNLCK;
}

static void expect_update(HbImageLock *lk, unsigned perm, unsigned shared, const char *err_text)
{
    g_autoptr(GError) err = NULL;
    bool ok = hb_lock_update(lk, perm, shared, &err);

    if (!err_text) {
        g_assert_no_error(err);
        g_assert_true(ok);
    } else {
        g_assert_false(ok);
        g_assert_nonnull(err);
        g_assert_cmpstr(err->message, ==, err_text);
    }
}

static void test_conflicts(void)
{
    HbImageLock writer = open_lock(), reader = open_lock(), other = open_lock();

    g_assert_true(hb_lock_supported(writer.fd));
    /* A writer that lets others read only (a read-write blockdev-add). */
    expect_update(&writer, HB_PERM_CONSISTENT_READ | HB_PERM_WRITE,
                  HB_PERM_CONSISTENT_READ | HB_PERM_WRITE_UNCHANGED | HB_PERM_RESIZE, NULL);
    g_assert_true(byte_held(HB_LOCK_PERM_BASE + 1));     /* uses write */
    g_assert_true(byte_held(HB_LOCK_SHARED_BASE + 1));   /* refuses write */
    /* A reader sharing everything coexists with it. */
    expect_update(&reader, HB_PERM_CONSISTENT_READ, HB_PERM_ALL, NULL);
    /* A second writer is refused: the first does not share write. */
    expect_update(&other, HB_PERM_CONSISTENT_READ | HB_PERM_WRITE, HB_PERM_ALL,
                  "Failed to get \"write\" lock");
    /* A reader that refuses writers is refused: someone writes. */
    expect_update(&other, HB_PERM_CONSISTENT_READ,
                  HB_PERM_CONSISTENT_READ | HB_PERM_WRITE_UNCHANGED | HB_PERM_RESIZE,
                  "Failed to get shared \"write\" lock");
    close_lock(&writer);
    /* With the writer gone, both work. */
    expect_update(&other, HB_PERM_CONSISTENT_READ | HB_PERM_WRITE, HB_PERM_ALL, NULL);
    close_lock(&reader);
    close_lock(&other);
}

/* A refused update leaves exactly the bytes held before it. */
static void test_rollback(void)
{
    HbImageLock a = open_lock(), b = open_lock();

    expect_update(&a, HB_PERM_CONSISTENT_READ, HB_PERM_CONSISTENT_READ, NULL);
    expect_update(&b, HB_PERM_CONSISTENT_READ, HB_PERM_ALL, NULL);
    g_assert_true(byte_held(HB_LOCK_PERM_BASE));
    expect_update(&b, HB_PERM_CONSISTENT_READ | HB_PERM_WRITE, HB_PERM_ALL,
                  "Failed to get \"write\" lock");
    g_assert_cmpuint(b.locked_perm, ==, HB_PERM_CONSISTENT_READ);
    g_assert_cmpuint(b.locked_unshared, ==, 0);
    close_lock(&a);
    /* b still holds its read byte: a new exclusive reader sees it. */
    g_assert_true(byte_held(HB_LOCK_PERM_BASE));
    g_assert_false(byte_held(HB_LOCK_PERM_BASE + 1));
    close_lock(&b);
    g_assert_false(byte_held(HB_LOCK_PERM_BASE));
}

/* Narrowing what one holds gives the bytes back to others at once. */
static void test_release_and_narrow(void)
{
    HbImageLock a = open_lock(), b = open_lock();

    expect_update(&a, HB_PERM_CONSISTENT_READ | HB_PERM_WRITE, HB_PERM_CONSISTENT_READ, NULL);
    expect_update(&b, HB_PERM_CONSISTENT_READ | HB_PERM_WRITE, HB_PERM_ALL,
                  "Failed to get \"write\" lock");
    expect_update(&a, HB_PERM_CONSISTENT_READ, HB_PERM_ALL, NULL);
    expect_update(&b, HB_PERM_CONSISTENT_READ | HB_PERM_WRITE, HB_PERM_ALL, NULL);
    hb_lock_release(&b);
    g_assert_cmpuint(b.locked_perm | b.locked_unshared, ==, 0);
    g_assert_false(byte_held(HB_LOCK_PERM_BASE + 1));
    close_lock(&a);
    close(b.fd);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_autofree char *dir = g_dir_make_tmp("hb-test-lock-XXXXXX", NULL);
    path = g_build_filename(dir, "img", NULL);
    g_assert_true(g_file_set_contents(path, "x", 1, NULL));
    g_test_add_func("/lock/conflicts", test_conflicts);
    g_test_add_func("/lock/rollback", test_rollback);
    g_test_add_func("/lock/release-and-narrow", test_release_and_narrow);
    int ret = g_test_run();
    g_unlink(path);
    g_rmdir(dir);
    g_free(path);
    return ret;
}

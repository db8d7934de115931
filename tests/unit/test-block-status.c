/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-block-status.c — hb_node_block_status() and the chain walk: the rules every driver shares. */
#include "test-block-common.h"
#include "block/throttle-group.h"

#include <errno.h>

static char *tmpdir;

static HbNode *must_open(const char *j)
{
    g_autoptr(GError) err = NULL;
    HbNode *n = open_json(j, &err);

    g_assert_no_error(err);
    return n;
}

/* A sparse file of 1 MiB with data in [64k, 128k) only. */
static char *sparse_file(const char *name)
{
    char *path = g_build_filename(tmpdir, name, NULL);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    static char buf[65536];

    g_assert_cmpint(fd, >=, 0);
    memset(buf, 0x5a, sizeof(buf));
    g_assert_cmpint(pwrite(fd, buf, sizeof(buf), 65536), ==, sizeof(buf));
    g_assert_cmpint(ftruncate(fd, 1 << 20), ==, 0);
    close(fd);
    return path;
}

static void test_range_checked(void)
{
    g_autoptr(HbNode) n = must_open("{\"driver\":\"null-co\",\"size\":4096}");
    uint64_t pnum, map;
    HbNode *file;

    g_assert_cmpint(hb_node_block_status(n, 4096, 1, &pnum, &map, &file), ==, -EINVAL);
    g_assert_cmpint(hb_node_block_status(n, 0, 0, &pnum, &map, &file), ==, -EINVAL);
    /* Asking past the end is cut at the end. */
    g_assert_cmpint(hb_node_block_status(n, 1024, 1 << 20, &pnum, &map, &file), >=, 0);
    g_assert_cmpuint(pnum, ==, 3072);
}

static void test_null(void)
{
    g_autoptr(HbNode) z = must_open("{\"driver\":\"null-co\",\"read-zeroes\":true}");
    g_autoptr(HbNode) u = must_open("{\"driver\":\"null-co\"}");
    uint64_t pnum, map = 0;
    HbNode *file = NULL;

    g_assert_cmpint(hb_node_block_status(z, 512, 1024, &pnum, &map, &file), ==,
                    HB_BS_ZERO | HB_BS_OFFSET_VALID | HB_BS_ALLOCATED);
    g_assert_cmpuint(map, ==, 512);
    g_assert_true(file == z);
    /* Reads leave the buffer alone: neither data nor zeroes, nothing allocated. */
    g_assert_cmpint(hb_node_block_status(u, 0, 1024, &pnum, &map, &file), ==,
                    HB_BS_OFFSET_VALID);
}

static void test_raw_window_and_filter(void)
{
    g_autofree char *path = sparse_file("s.raw");
    g_autofree char *j = g_strdup_printf(
        "{\"driver\":\"throttle\",\"throttle-group\":\"tg\",\"file\":"
        "{\"driver\":\"raw\",\"offset\":32768,\"size\":524288,\"file\":"
        "{\"driver\":\"file\",\"filename\":\"%s\"}}}", path);
    g_autoptr(GError) err = NULL;
    QapiThrottleLimits l = { 0 };
    g_assert_true(hb_throttle_group_add("tg", &l, &err));
    g_autoptr(HbNode) n = must_open(j);
    HbNode *f = hb_node_child(hb_node_child(n, "file")->node, "file")->node;
    HbBlockExtent e;

    /* raw's 0 is the file's 32k: a hole up to its 64k, then the data. */
    g_assert_cmpint(hb_node_block_status_chain(n, 0, 1 << 20, &e), ==, 0);
    g_assert_cmpuint(e.flags, ==, HB_BS_ZERO | HB_BS_OFFSET_VALID | HB_BS_ALLOCATED);
    g_assert_cmpuint(e.bytes, ==, 32768);
    g_assert_cmpuint(e.map, ==, 32768);
    g_assert_true(e.file == f);
    g_assert_cmpint(hb_node_block_status_chain(n, 32768, 1 << 20, &e), ==, 0);
    g_assert_cmpuint(e.flags, ==, HB_BS_DATA | HB_BS_OFFSET_VALID | HB_BS_ALLOCATED);
    g_assert_cmpuint(e.bytes, ==, 65536);
    g_assert_cmpuint(e.map, ==, 65536);
    /* The last hole runs to the window's end, not the file's. */
    g_assert_cmpint(hb_node_block_status_chain(n, 98304, 1 << 20, &e), ==, 0);
    g_assert_cmpuint(e.bytes, ==, 524288 - 98304);
    g_assert_cmpuint(e.depth, ==, 0);
    hb_node_unref(g_steal_pointer(&n));
    g_assert_true(hb_throttle_group_del("tg", &err));
}

static void test_inactive_refused(void)
{
    g_autofree char *path = sparse_file("i.raw");
    g_autofree char *j = g_strdup_printf("{\"driver\":\"file\",\"filename\":\"%s\"}", path);
    g_autoptr(HbNode) n = must_open(j);
    uint64_t pnum, map;
    HbNode *file;

    g_atomic_int_set(&n->inactive, 1);
    g_assert_cmpint(hb_node_block_status(n, 0, 512, &pnum, &map, &file), ==, -EPERM);
    g_atomic_int_set(&n->inactive, 0);
    g_assert_cmpint(hb_node_block_status(n, 0, 512, &pnum, &map, &file), >, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    tmpdir = g_dir_make_tmp("hb-bs-XXXXXX", NULL);
    g_test_add_func("/block-status/range", test_range_checked);
    g_test_add_func("/block-status/null-co", test_null);
    g_test_add_func("/block-status/raw-window-and-filter", test_raw_window_and_filter);
    g_test_add_func("/block-status/inactive", test_inactive_refused);
    int ret = g_test_run();
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmpdir);
    (void)!system(cmd);
    return ret;
}

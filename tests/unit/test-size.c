/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-size.c — hb_parse_size(): the suffixes and limits of QEMU's qemu_strtosz. */
#include "util/size.h"

#include <glib.h>

static void expect_size(const char *s, uint64_t want)
{
    uint64_t v = 12345;

    if (!hb_parse_size(s, &v)) {
        g_error("'%s' refused", s);
    }
    g_assert_cmpuint(v, ==, want);
}

static void expect_refused(const char *s)
{
    uint64_t v = 12345;

    if (hb_parse_size(s, &v)) {
        g_error("'%s' accepted as %" G_GUINT64_FORMAT, s, v);
    }
    g_assert_cmpuint(v, ==, 12345);
}

static void test_suffixes(void)
{
    expect_size("0", 0);
    expect_size("512", 512);
    expect_size("512b", 512);
    expect_size("512B", 512);
    expect_size("4k", 4096);
    expect_size("4K", 4096);
    expect_size("1.5k", 1536);
    expect_size("64M", 64ull << 20);
    expect_size("200G", 200ull << 30);
    expect_size("2t", 2ull << 40);
    expect_size("1P", 1ull << 50);
    expect_size("8E", 8ull << 60);
    expect_size("18446744073709551615", UINT64_MAX);
}

static void test_refused(void)
{
    expect_refused("");
    expect_refused("-1");
    expect_refused("+1");
    expect_refused(" 1");
    expect_refused("1 ");
    expect_refused("1x");
    expect_refused("1kb");
    expect_refused("1.5");       /* not a whole number of bytes */
    expect_refused("0.1k");      /* 102.4 bytes */
    expect_refused("16E");       /* 2^64 */
    expect_refused("18446744073709551616");
    expect_refused("inf");
    expect_refused("nan");
    expect_refused(".5k");
    expect_refused("k");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/size/suffixes", test_suffixes);
    g_test_add_func("/size/refused", test_refused);
    return g_test_run();
}

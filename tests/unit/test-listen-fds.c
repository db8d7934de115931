/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-listen-fds.c — the socket-activation variables (the fds themselves: test_systemd.py). */
#include "daemon/listen-fds.h"

/* parse() with self = 100; @names_out is checked against @want (NULL: none). */
static void check(const char *pid, const char *fds, const char *names, int n_want,
                  const char *const *want, const char *err_want)
{
    g_autoptr(GError) err = NULL;
    g_auto(GStrv) got = NULL;
    int n = hb_listen_fds_parse(pid, fds, names, 100, &got, &err);

    g_assert_cmpint(n, ==, n_want);
    if (err_want) {
        g_assert_nonnull(err);
        g_assert_cmpstr(err->message, ==, err_want);
        g_assert_null(got);
        return;
    }
    g_assert_no_error(err);
    if (!want) {
        g_assert_null(got);
        return;
    }
    g_assert_true(g_strv_equal((const char *const *)got, want));
}

static void test_not_for_us(void)
{
    check(NULL, NULL, NULL, 0, NULL, NULL);
    check(NULL, "1", NULL, 0, NULL, NULL);
    check("100", NULL, NULL, 0, NULL, NULL);
    check("99", "1", "qmp", 0, NULL, NULL);     /* another process's */
    check("100", "0", NULL, 0, NULL, NULL);
}

static void test_names(void)
{
    static const char *const unknown2[] = { "unknown", "unknown", NULL };
    static const char *const named[] = { "qmp", "disk0", NULL };

    check("100", "2", NULL, 2, unknown2, NULL);
    check("100", "2", "qmp:disk0", 2, named, NULL);
}

static void test_malformed(void)
{
    check("x", "1", NULL, -1, NULL, "LISTEN_PID 'x' is not a process id");
    check("-100", "1", NULL, -1, NULL, "LISTEN_PID '-100' is not a process id");
    check("100", "1x", NULL, -1, NULL, "LISTEN_FDS '1x' is not a number of descriptors");
    check("100", "-1", NULL, -1, NULL, "LISTEN_FDS '-1' is not a number of descriptors");
    check("100", "99999999999999999999", NULL, -1, NULL,
          "LISTEN_FDS '99999999999999999999' is not a number of descriptors");
    check("100", "2", "qmp", -1, NULL,
          "LISTEN_FDNAMES 'qmp' has 1 names for 2 descriptors (LISTEN_FDS)");
    check("100", "1", "", -1, NULL,
          "LISTEN_FDNAMES '' has 0 names for 1 descriptors (LISTEN_FDS)");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/listen-fds/not-for-us", test_not_for_us);
    g_test_add_func("/listen-fds/names", test_names);
    g_test_add_func("/listen-fds/malformed", test_malformed);
    return g_test_run();
}

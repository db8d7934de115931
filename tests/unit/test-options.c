/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-options.c — hotblockd's argv model (keyval itself: test-keyval.c). */
#include <string.h>

#include "daemon/options.h"
#include "util/error.h"

/* Run the argv parser; the vector is NULL-terminated, argv[0] added here. */
static bool run_argv(HbDaemonOptions *o, GError **errp, ...)
{
    g_autoptr(GPtrArray) v = g_ptr_array_new();
    va_list ap;
    const char *a;

    g_ptr_array_add(v, (char *)"hotblockd");
    va_start(ap, errp);
    while ((a = va_arg(ap, const char *))) {
        g_ptr_array_add(v, (char *)a);
    }
    va_end(ap);
    g_ptr_array_add(v, NULL);
    return hb_daemon_options_parse(v->len - 1, (char **)v->pdata, o, errp);
}

static HbStartupItem *item(HbDaemonOptions *o, guint i)
{
    g_assert_cmpuint(i, <, o->items->len);
    return o->items->pdata[i];
}

static const char *member(HbStartupItem *it, const char *name)
{
    return json_object_get_string_member(json_node_get_object(it->args),
                                         name);
}

static void test_argv_order(void)
{
    HbDaemonOptions o = { 0 };
    g_autoptr(GError) err = NULL;

    g_assert_true(run_argv(&o, &err,
        "--object", "secret,id=sec0,data=abc123",
        "--qmp", "/run/a.sock",
        "--blockdev", "{\"driver\":\"file\",\"node-name\":\"f\","
                      "\"filename\":\"/x\"}",
        "--blockdev=driver=raw,node-name=r,file=f",
        "--export", "vhost-user-blk,id=e0,node-name=r,addr.type=unix,"
                    "addr.path=/run/v.sock",
        "--export-dir=/run/exports", "--pidfile", "/run/h.pid",
        "--daemonize", NULL));
    g_assert_no_error(err);
    g_assert_cmpuint(o.items->len, ==, 5);
    g_assert_cmpint(item(&o, 0)->kind, ==, HB_OPT_OBJECT);
    g_assert_true(item(&o, 0)->keyval);
    g_assert_cmpstr(member(item(&o, 0), "qom-type"), ==, "secret");
    g_assert_cmpint(item(&o, 1)->kind, ==, HB_OPT_MONITOR_PATH);
    g_assert_cmpstr(item(&o, 1)->path, ==, "/run/a.sock");
    g_assert_null(item(&o, 1)->args);
    g_assert_cmpint(item(&o, 2)->kind, ==, HB_OPT_BLOCKDEV);
    g_assert_false(item(&o, 2)->keyval);
    g_assert_cmpstr(member(item(&o, 2), "filename"), ==, "/x");
    g_assert_cmpint(item(&o, 3)->kind, ==, HB_OPT_BLOCKDEV);
    g_assert_true(item(&o, 3)->keyval);
    g_assert_cmpstr(member(item(&o, 3), "driver"), ==, "raw");
    g_assert_cmpint(item(&o, 4)->kind, ==, HB_OPT_EXPORT);
    g_assert_cmpstr(member(item(&o, 4), "type"), ==, "vhost-user-blk");
    g_assert_null(item(&o, 0)->path);
    g_assert_cmpstr(o.export_dir, ==, "/run/exports");
    g_assert_cmpstr(o.pidfile, ==, "/run/h.pid");
    g_assert_true(o.daemonize);
    g_assert_false(o.help);
    g_assert_false(o.version);
    hb_daemon_options_clear(&o);
    g_assert_null(o.items);
    g_assert_null(o.pidfile);
    hb_daemon_options_clear(&o);
    hb_daemon_options_clear(NULL);
}

static void test_argv_flags(void)
{
    HbDaemonOptions o = { 0 };

    g_assert_true(run_argv(&o, NULL, "--help", "-V", NULL));
    g_assert_true(o.help);
    g_assert_true(o.version);
    g_assert_cmpuint(o.items->len, ==, 0);
    hb_daemon_options_clear(&o);

    g_assert_true(run_argv(&o, NULL, "-h", "--version", "--", NULL));
    g_assert_true(o.help && o.version);
    hb_daemon_options_clear(&o);

    /* The last --pidfile wins, as with getopt-style tools. */
    g_assert_true(run_argv(&o, NULL, "--pidfile=a", "--pidfile=b", NULL));
    g_assert_cmpstr(o.pidfile, ==, "b");
    hb_daemon_options_clear(&o);

    g_assert_nonnull(strstr(hb_daemon_usage(), "--blockdev"));
    g_assert_cmpstr(hb_opt_kind_name(HB_OPT_EXPORT), ==, "export");
}

static void test_argv_monitors(void)
{
    HbDaemonOptions o = { 0 };
    g_autoptr(GError) err = NULL;

    g_assert_true(run_argv(&o, &err,
        "--qmp", "/a.sock",
        "--chardev", "socket,id=m0,path=/b.sock,server=on,wait=off",
        "--blockdev", "null-co,node-name=n",
        "--monitor", "chardev=m0",
        "--chardev=socket,id=m1,path=/c,,d.sock,server=on",
        "--monitor=m1,mode=control,pretty=on",
        "--qmp=unix:/e.sock,server=on,wait=off", NULL));
    g_assert_no_error(err);
    g_assert_cmpuint(o.items->len, ==, 5);
    g_assert_cmpstr(item(&o, 0)->path, ==, "/a.sock");
    g_assert_cmpint(item(&o, 1)->kind, ==, HB_OPT_BLOCKDEV);
    g_assert_cmpstr(member(item(&o, 1), "driver"), ==, "null-co");
    /* The monitor sits where --monitor is, not where --chardev is. */
    g_assert_cmpint(item(&o, 2)->kind, ==, HB_OPT_MONITOR_PATH);
    g_assert_cmpstr(item(&o, 2)->path, ==, "/b.sock");
    g_assert_cmpstr(member(item(&o, 2), "chardev"), ==, "m0");
    g_assert_cmpstr(item(&o, 3)->path, ==, "/c,d.sock");
    g_assert_cmpstr(member(item(&o, 3), "pretty"), ==, "on");
    g_assert_cmpstr(item(&o, 4)->path, ==, "/e.sock");
    hb_daemon_options_clear(&o);
}

static void check_argv_err(const char *want, ...)
{
    HbDaemonOptions o = { 0 };
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) v = g_ptr_array_new();
    va_list ap;
    const char *a;

    g_ptr_array_add(v, (char *)"hotblockd");
    va_start(ap, want);
    while ((a = va_arg(ap, const char *))) {
        g_ptr_array_add(v, (char *)a);
    }
    va_end(ap);
    g_ptr_array_add(v, NULL);
    g_assert_false(hb_daemon_options_parse(v->len - 1, (char **)v->pdata,
                                           &o, &err));
    g_assert_nonnull(err);
    if (!strstr(err->message, want)) {
        g_error("got error '%s', want '%s'", err->message, want);
    }
    hb_daemon_options_clear(&o);
}

static void test_argv_errors(void)
{
    check_argv_err("Unknown option '--frobnicate'", "--frobnicate", NULL);
    check_argv_err("Unknown option '--nbd-server'", "--nbd-server=x", NULL);
    check_argv_err("Unknown option '-x'", "-x", NULL);
    check_argv_err("Unexpected argument 'foo'", "foo", NULL);
    check_argv_err("Unexpected argument 'foo'", "--", "foo", NULL);
    check_argv_err("Option '--qmp' requires an argument", "--qmp", NULL);
    check_argv_err("Option '--blockdev' requires an argument",
                   "--qmp", "/a", "--blockdev", NULL);
    check_argv_err("Option '--daemonize' doesn't take an argument",
                   "--daemonize=yes", NULL);
    check_argv_err("--qmp: an empty socket path", "--qmp=", NULL);
    check_argv_err("Monitor socket '/a' is given more than once",
                   "--qmp", "/a", "--qmp", "/a", NULL);
    check_argv_err("--blockdev: Parameter 'a' is given more than once",
                   "--blockdev", "file,a=1,a=2", NULL);
    check_argv_err("--object: JSON parse error", "--object", "{bad", NULL);
    check_argv_err("--export: Expected '=' after parameter 'x'",
                   "--export", "vhost-user-blk,x", NULL);
    /* Chardev and monitor pairing. */
    check_argv_err("chardev 'm0' not found",
                   "--monitor", "chardev=m0",
                   "--chardev", "socket,id=m0,path=/a,server=on", NULL);
    check_argv_err("Device 'm0' is in use",
                   "--chardev", "socket,id=m0,path=/a,server=on,wait=off",
                   "--monitor", "m0", "--monitor", "m0", NULL);
    check_argv_err("Duplicate ID 'm0' for chardev",
                   "--chardev", "socket,id=m0,path=/a,server=on",
                   "--chardev", "socket,id=m0,path=/b,server=on", NULL);
    check_argv_err("only listening sockets",
                   "--chardev", "socket,id=m0,path=/a", NULL);
    check_argv_err("only listening sockets",
                   "--chardev", "socket,id=m0,path=/a,server=off", NULL);
    check_argv_err("Parameter 'path' is missing",
                   "--chardev", "socket,id=m0,server=on", NULL);
    check_argv_err("Parameter 'id' is missing",
                   "--chardev", "socket,path=/a,server=on", NULL);
    check_argv_err("backend 'pty' is not supported",
                   "--chardev", "pty,id=x", NULL);
    check_argv_err("--chardev: Parameter 'telnet' is unexpected",
                   "--chardev", "socket,id=m,path=/a,server=on,telnet=on",
                   NULL);
    check_argv_err("Parameter 'wait' expects",
                   "--chardev", "socket,id=m,path=/a,server=on,wait=maybe",
                   NULL);
    check_argv_err("Only QMP", "--chardev", "socket,id=m,path=/a,server=on",
                   "--monitor", "m,mode=readline", NULL);
    check_argv_err("Parameter 'chardev' is missing",
                   "--monitor", "id=x", NULL);
    check_argv_err("--monitor: Parameter 'bogus' is unexpected",
                   "--monitor", "m,bogus=1", NULL);
    check_argv_err("Monitor socket '/a' is given more than once",
                   "--qmp", "/a",
                   "--chardev", "socket,id=m,path=/a,server=on",
                   "--monitor", "m", NULL);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/options/argv/order", test_argv_order);
    g_test_add_func("/options/argv/flags", test_argv_flags);
    g_test_add_func("/options/argv/monitors", test_argv_monitors);
    g_test_add_func("/options/argv/errors", test_argv_errors);
    return g_test_run();
}

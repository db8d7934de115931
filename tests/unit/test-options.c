/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-options.c — keyval parsing and hotblockd's argv model. */
#include <string.h>

#include "daemon/options.h"
#include "util/error.h"

/* Parse @in and compare the compact JSON with @want. */
static void check_ok(const char *in, const char *implied, const char *want)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) n = NULL;
    g_autofree char *got = NULL;
    bool kv = false;

    n = hb_keyval_parse(in, implied, &kv, &err);
    g_assert_no_error(err);
    g_assert_nonnull(n);
    g_assert_true(JSON_NODE_HOLDS_OBJECT(n));
    g_assert_cmpint(kv, ==, in[0] != '{');
    got = json_to_string(n, FALSE);
    g_assert_cmpstr(got, ==, want);
}

static void check_err(const char *in, const char *implied, const char *want)
{
    g_autoptr(GError) err = NULL;
    JsonNode *n = hb_keyval_parse(in, implied, NULL, &err);

    g_assert_null(n);
    g_assert_error(err, HB_ERROR, HB_ERROR_GENERIC);
    if (!strstr(err->message, want)) {
        g_error("'%s': got error '%s', want '%s'", in, err->message, want);
    }
}

static void test_keyval_basic(void)
{
    check_ok("", NULL, "{}");
    check_ok("a=1", NULL, "{\"a\":\"1\"}");
    check_ok("a=1,b=two", NULL, "{\"a\":\"1\",\"b\":\"two\"}");
    check_ok("a=1,", NULL, "{\"a\":\"1\"}");
    check_ok("a=", NULL, "{\"a\":\"\"}");
    check_ok("node-name=x_y-z,read-only=on", NULL,
             "{\"node-name\":\"x_y-z\",\"read-only\":\"on\"}");
    /* Values keep '=' and '.' and anything but a single comma. */
    check_ok("a=b=c.d", NULL, "{\"a\":\"b=c.d\"}");
    check_ok("a=x y/z:1", NULL, "{\"a\":\"x y/z:1\"}");
}

static void test_keyval_escape(void)
{
    check_ok("a=x,,y", NULL, "{\"a\":\"x,y\"}");
    check_ok("a=x,,,b=1", NULL, "{\"a\":\"x,\",\"b\":\"1\"}");
    check_ok("a=,,,,", NULL, "{\"a\":\",,\"}");
    check_ok("filename=/tmp/a,,b.img,driver=file", NULL,
             "{\"filename\":\"/tmp/a,b.img\",\"driver\":\"file\"}");
}

static void test_keyval_nested(void)
{
    check_ok("file.filename=x", NULL, "{\"file\":{\"filename\":\"x\"}}");
    check_ok("file.driver=file,file.filename=x,driver=raw", NULL,
             "{\"file\":{\"driver\":\"file\",\"filename\":\"x\"},"
             "\"driver\":\"raw\"}");
    check_ok("a.b.c.d=1,a.b.e=2", NULL,
             "{\"a\":{\"b\":{\"c\":{\"d\":\"1\"},\"e\":\"2\"}}}");
    check_ok("addr.type=unix,addr.path=/run/v.sock", NULL,
             "{\"addr\":{\"type\":\"unix\",\"path\":\"/run/v.sock\"}}");
}

static void test_keyval_arrays(void)
{
    check_ok("a.0=x,a.1=y", NULL, "{\"a\":[\"x\",\"y\"]}");
    /* Indexes in any order, as long as there is no gap. */
    check_ok("a.1=y,a.0=x,a.2=z", NULL, "{\"a\":[\"x\",\"y\",\"z\"]}");
    check_ok("s.0.host=h,s.0.port=1,s.1.host=g", NULL,
             "{\"s\":[{\"host\":\"h\",\"port\":\"1\"},{\"host\":\"g\"}]}");
    check_ok("m.0.0=a,m.0.1=b,m.1.0=c", NULL,
             "{\"m\":[[\"a\",\"b\"],[\"c\"]]}");
    check_err("a.1=y", NULL, "Parameter 'a.0' missing");
    check_err("a.0=x,a.2=z", NULL, "Parameter 'a.1' missing");
    check_err("a.0=x,a.99999999999=z", NULL, "Parameter 'a.1' missing");
    check_err("a.0=x,a.b=y", NULL, "Parameters 'a.*' used inconsistently");
    check_err("x.a.0=x,x.a.b=y", NULL,
              "Parameters 'x.a.*' used inconsistently");
    /* A first fragment cannot be an index. */
    check_err("0=x", NULL, "Invalid parameter '0'");
}

static void test_keyval_implied(void)
{
    check_ok("secret,id=sec0,data=abc123", "qom-type",
             "{\"qom-type\":\"secret\",\"id\":\"sec0\",\"data\":\"abc123\"}");
    check_ok("file", "driver", "{\"driver\":\"file\"}");
    check_ok("driver=file,node-name=n", "driver",
             "{\"driver\":\"file\",\"node-name\":\"n\"}");
    check_ok("vhost-user-blk,id=e", "type",
             "{\"type\":\"vhost-user-blk\",\"id\":\"e\"}");
    /* Only the first element may omit its key. */
    check_err("secret,id=s,foo", "qom-type",
              "Expected '=' after parameter 'foo'");
    check_err("secret,qom-type=x", "qom-type",
              "Parameter 'qom-type' is given more than once");
    /* Without an implied key a bare word is a key missing its value. */
    check_err("secret,id=s", NULL, "Expected '=' after parameter 'secret'");
}

static void test_keyval_errors(void)
{
    check_err("a=1,a=2", NULL, "Parameter 'a' is given more than once");
    check_err("a.b=1,a.b=2", NULL, "Parameter 'a.b' is given more than once");
    check_err("a.b=1,a=2", NULL, "Parameters 'a.*' used inconsistently");
    check_err("a=2,a.b=1", NULL, "Parameters 'a.*' used inconsistently");
    check_err("=x", NULL, "Invalid parameter ''");
    check_err(",a=1", NULL, "Invalid parameter ''");
    check_err("a=1,,,=2", NULL, "Invalid parameter ''");
    check_err("a..b=1", NULL, "Invalid parameter 'a..b'");
    check_err("a.=1", NULL, "Invalid parameter 'a.'");
    check_err(".a=1", NULL, "Invalid parameter '.a'");
    check_err("a b=1", NULL, "Invalid parameter 'a b'");
    check_err("-a=1", NULL, "Invalid parameter '-a'");
    check_err("a.0b=1", NULL, "Invalid parameter 'a.0b'");
    check_err("a", NULL, "Expected '=' after parameter 'a'");
    check_err("a=1,b", NULL, "Expected '=' after parameter 'b'");
    {
        g_autofree char *longkey = g_strnfill(128, 'k');
        g_autofree char *in = g_strdup_printf("%s=1", longkey);
        g_autofree char *in2 = g_strdup_printf("a.%s=1", longkey);
        g_autofree char *ok = g_strdup_printf("%.127s=1", longkey);

        check_err(in, NULL, "is too long");
        check_err(in2, NULL, "Parameter fragment");
        g_assert_null(strstr(ok, ","));
        {
            g_autoptr(JsonNode) n = hb_keyval_parse(ok, NULL, NULL, NULL);
            g_assert_nonnull(n);
        }
    }
}

static void test_keyval_json(void)
{
    check_ok("{\"qom-type\":\"secret\",\"id\":\"s\",\"size\":5}", "qom-type",
             "{\"qom-type\":\"secret\",\"id\":\"s\",\"size\":5}");
    check_ok("{\"file\":{\"driver\":\"file\"},\"ro\":true}", NULL,
             "{\"file\":{\"driver\":\"file\"},\"ro\":true}");
    check_ok("{}", NULL, "{}");
    check_err("{\"a\":", NULL, "JSON parse error");
    check_err("{\"a\":1} x", NULL, "JSON parse error");
    check_err("{a:1}", NULL, "JSON parse error");
}

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

/* A secret's value must not be echoed by a parse error of another key. */
static void test_no_secret_in_errors(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) n =
        hb_keyval_parse("secret,id=s,data=abc123,data=abc123", "qom-type",
                        NULL, &err);

    g_assert_null(n);
    g_assert_null(strstr(err->message, "abc123"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/options/keyval/basic", test_keyval_basic);
    g_test_add_func("/options/keyval/escape", test_keyval_escape);
    g_test_add_func("/options/keyval/nested", test_keyval_nested);
    g_test_add_func("/options/keyval/arrays", test_keyval_arrays);
    g_test_add_func("/options/keyval/implied", test_keyval_implied);
    g_test_add_func("/options/keyval/errors", test_keyval_errors);
    g_test_add_func("/options/keyval/json", test_keyval_json);
    g_test_add_func("/options/keyval/no-secret-in-errors",
                    test_no_secret_in_errors);
    g_test_add_func("/options/argv/order", test_argv_order);
    g_test_add_func("/options/argv/flags", test_argv_flags);
    g_test_add_func("/options/argv/monitors", test_argv_monitors);
    g_test_add_func("/options/argv/errors", test_argv_errors);
    return g_test_run();
}

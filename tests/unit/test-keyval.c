/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-keyval.c — QEMU key=value and JSON option values (util/keyval.c). */
#include <string.h>

#include "util/error.h"
#include "util/keyval.h"

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

/* One boolean parser for QMP key=value input and the daemon's options. */
static void test_parse_bool(void)
{
    static const char *const yes[] = { "on", "yes", "true", "y" };
    static const char *const no[] = { "off", "no", "false", "n" };
    static const char *const bad[] = { "", "1", "0", "ON", "True", "yess", "o" };
    bool b;

    for (guint i = 0; i < G_N_ELEMENTS(yes); i++) {
        b = false;
        g_assert_true(hb_parse_bool(yes[i], &b));
        g_assert_true(b);
        g_assert_true(hb_parse_bool(no[i], &b));
        g_assert_false(b);
    }
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        b = true;
        g_assert_false(hb_parse_bool(bad[i], &b));
        g_assert_true(b);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/keyval/basic", test_keyval_basic);
    g_test_add_func("/keyval/escape", test_keyval_escape);
    g_test_add_func("/keyval/nested", test_keyval_nested);
    g_test_add_func("/keyval/arrays", test_keyval_arrays);
    g_test_add_func("/keyval/implied", test_keyval_implied);
    g_test_add_func("/keyval/errors", test_keyval_errors);
    g_test_add_func("/keyval/json", test_keyval_json);
    g_test_add_func("/keyval/no-secret-in-errors", test_no_secret_in_errors);
    g_test_add_func("/keyval/bool", test_parse_bool);
    return g_test_run();
}

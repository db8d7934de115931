/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-qmp-session.c — QMP's request rules, as a client on a socketpair sees them. */
#include "qmp/dispatch.h"
#include "qmp/session.h"

#include <glib.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * A session is served on the default main context; the test plays the
 * client on the other end of a socketpair and turns the loop until a
 * whole reply line has arrived.  The commands are the test's own, so
 * only session.c and dispatch.c are under test.
 */

static int client = -1;
static GString *inbuf;

/* What a command without return data answers: {} (as the generated marshallers). */
static JsonNode *empty_object(void)
{
    g_autoptr(JsonObject) o = json_object_new();

    return json_node_init_object(json_node_alloc(), o);
}

static bool cmd_capabilities(JsonNode *args, bool keyval, JsonNode **ret, GError **errp)
{
    hb_qmp_session_set_negotiated(hb_qmp_current_session(), false);
    *ret = empty_object();
    return true;
}

static bool cmd_echo(JsonNode *args, bool keyval, JsonNode **ret, GError **errp)
{
    *ret = args ? json_node_copy(args) : empty_object();
    return true;
}

static bool cmd_fail(JsonNode *args, bool keyval, JsonNode **ret, GError **errp)
{
    g_set_error(errp, g_quark_from_static_string("test"), 0, "it failed");
    return false;
}

static const QapiCommandDef commands[] = {
    { .name = "qmp_capabilities", .fn = cmd_capabilities, .allow_oob = false },
    { .name = "echo", .fn = cmd_echo, .allow_oob = false },
    { .name = "fail", .fn = cmd_fail, .allow_oob = false },
};

/* The next line the session sent, without its newline. */
static char *read_line(void)
{
    gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    for (;;) {
        char *nl = memchr(inbuf->str, '\n', inbuf->len);
        if (nl) {
            char *line = g_strndup(inbuf->str, nl - inbuf->str);
            g_string_erase(inbuf, 0, nl - inbuf->str + 1);
            return line;
        }
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_main_context_iteration(NULL, FALSE);
        char buf[4096];
        ssize_t n = recv(client, buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0) {
            g_string_append_len(inbuf, buf, n);
        } else {
            g_usleep(1000);
        }
    }
}

static JsonObject *reply_to(const char *request, JsonNode **keep)
{
    g_autofree char *line = NULL;

    g_assert_cmpint(write(client, request, strlen(request)), ==, (ssize_t)strlen(request));
    g_assert_cmpint(write(client, "\n", 1), ==, 1);
    line = read_line();
    *keep = json_from_string(line, NULL);
    g_assert_nonnull(*keep);
    return json_node_get_object(*keep);
}

/* Send @request; the reply must be an error of @cls with text @desc. */
static void expect_error(const char *request, const char *cls, const char *desc)
{
    g_autoptr(JsonNode) keep = NULL;
    JsonObject *r = reply_to(request, &keep);
    JsonObject *e = json_object_get_object_member(r, "error");

    if (!e) {
        g_error("%s: no error in the reply", request);
    }
    g_assert_cmpstr(json_object_get_string_member(e, "class"), ==, cls);
    g_assert_cmpstr(json_object_get_string_member(e, "desc"), ==, desc);
}

static void expect_return(const char *request, const char *want_json)
{
    g_autoptr(JsonNode) keep = NULL;
    JsonObject *r = reply_to(request, &keep);
    JsonNode *ret = json_object_get_member(r, "return");

    if (!ret) {
        g_error("%s: no return in the reply", request);
    }
    if (want_json) {
        g_autofree char *got = json_to_string(ret, FALSE);
        g_assert_cmpstr(got, ==, want_json);
    }
}

static void setup(void)
{
    int sv[2];

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    client = sv[1];
    inbuf = g_string_new(NULL);
    hb_qmp_session_new(sv[0], NULL);
}

static void teardown(void)
{
    close(client);
    client = -1;
    g_string_free(inbuf, TRUE);
    hb_qmp_sessions_close_all();
}

static void test_greeting_and_negotiation(void)
{
    setup();
    g_autofree char *greeting = read_line();
    g_assert_nonnull(strstr(greeting, "{\"QMP\":{\"version\":"));
    g_assert_nonnull(strstr(greeting, "\"capabilities\":[\"oob\"]"));
    expect_error("{\"execute\":\"echo\"}", "CommandNotFound",
                 "Expecting capabilities negotiation with 'qmp_capabilities'");
    expect_return("{\"execute\":\"qmp_capabilities\"}", "{}");
    expect_error("{\"execute\":\"qmp_capabilities\"}", "CommandNotFound",
                 "Capabilities negotiation is already complete, command ignored");
    teardown();
}

static void test_request_rules(void)
{
    setup();
    g_free(read_line());
    expect_return("{\"execute\":\"qmp_capabilities\"}", "{}");
    expect_error("[1,2]", "GenericError", "QMP input must be a JSON object");
    expect_error("{\"execute\":\"echo\",\"bogus\":1}", "GenericError",
                 "QMP input member 'bogus' is unexpected");
    expect_error("{\"arguments\":{}}", "GenericError", "QMP input lacks member 'execute'");
    expect_error("{\"execute\":1}", "GenericError",
                 "QMP input member 'execute' must be a string");
    expect_error("{\"execute\":\"echo\",\"arguments\":[]}", "GenericError",
                 "QMP input member 'arguments' must be an object");
    expect_error("{\"execute\":\"echo\",\"exec-oob\":\"echo\"}", "GenericError",
                 "QMP input must not have both 'execute' and 'exec-oob'");
    expect_error("{\"exec-oob\":\"echo\"}", "GenericError",
                 "QMP input member 'exec-oob' is unexpected");
    expect_error("{\"execute\":\"nope\"}", "CommandNotFound",
                 "The command nope has not been found");
    expect_error("{\"execute\":\"fail\"}", "GenericError", "it failed");
    expect_return("{\"execute\":\"echo\",\"arguments\":{\"a\":[1,{\"b\":null}]}}",
                  "{\"a\":[1,{\"b\":null}]}");
    teardown();
}

/* The id, any JSON value, comes back as it was sent, errors included. */
static void test_id_echoed(void)
{
    setup();
    g_free(read_line());
    expect_return("{\"execute\":\"qmp_capabilities\"}", "{}");
    g_autoptr(JsonNode) k1 = NULL;
    JsonObject *r = reply_to("{\"execute\":\"echo\",\"id\":{\"x\":[1,\"two\"]}}", &k1);
    g_autofree char *id = json_to_string(json_object_get_member(r, "id"), FALSE);
    g_assert_cmpstr(id, ==, "{\"x\":[1,\"two\"]}");
    g_autoptr(JsonNode) k2 = NULL;
    r = reply_to("{\"execute\":\"nope\",\"id\":7}", &k2);
    g_assert_cmpint(json_object_get_int_member(r, "id"), ==, 7);
    g_assert_true(json_object_has_member(r, "error"));
    teardown();
}

/*
 * Duplicate keys are a parse error at every level, as in QEMU: with
 * json-glib's last-one-wins, {"execute":"query-version","execute":"quit"}
 * would run quit behind a proxy that checked the first.
 */
static void test_duplicate_keys(void)
{
    setup();
    g_free(read_line());
    expect_return("{\"execute\":\"qmp_capabilities\"}", "{}");
    expect_error("{\"execute\":\"echo\",\"execute\":\"fail\"}", "GenericError",
                 "JSON parse error, duplicate key");
    expect_error("{\"execute\":\"echo\",\"arguments\":{\"a\":{\"b\":1,\"b\":2}}}",
                 "GenericError", "JSON parse error, duplicate key");
    expect_error("{\"execute\":\"echo\",\"\\u0065xecute\":\"fail\"}", "GenericError",
                 "JSON parse error, duplicate key");
    expect_error("{\"execute\":\"echo\",\"arguments\":{\"l\":[{\"k\":1,\"k\":1}]}}",
                 "GenericError", "JSON parse error, duplicate key");
    /* the same name in different objects is fine */
    expect_return("{\"execute\":\"echo\",\"arguments\":{\"a\":{\"a\":{\"a\":1}}}}",
                  "{\"a\":{\"a\":{\"a\":1}}}");
    teardown();
}

/* Send raw bytes; return the raw reply line. */
static char *raw_exchange(const char *bytes, size_t len)
{
    g_assert_cmpint(write(client, bytes, len), ==, (ssize_t)len);
    return read_line();
}

/* The line is valid UTF-8, plain ASCII without controls, and parses. */
static JsonNode *assert_clean_json(const char *line)
{
    g_assert_true(g_utf8_validate(line, -1, NULL));
    for (const char *p = line; *p; p++) {
        g_assert_cmpint((unsigned char)*p, >=, 0x20);
        g_assert_cmpint((unsigned char)*p, <, 0x7f);
    }
    JsonNode *n = json_from_string(line, NULL);
    g_assert_nonnull(n);
    return n;
}

/*
 * Whatever a client sends, every reply is valid JSON and valid UTF-8:
 * control characters are escaped, a lone surrogate becomes U+FFFD, and a
 * number with no JSON spelling (1e400 is infinity) is refused, not echoed
 * as "inf.0".
 */
static void test_replies_always_valid_json(void)
{
    setup();
    g_free(read_line());
    expect_return("{\"execute\":\"qmp_capabilities\"}", "{}");

    static const char ctl[] = "{\"execute\":\"echo\",\"id\":\"a\\u001fb\"}\n";
    g_autofree char *l1 = raw_exchange(ctl, strlen(ctl));
    g_autoptr(JsonNode) n1 = assert_clean_json(l1);
    g_assert_cmpstr(json_object_get_string_member(json_node_get_object(n1), "id"), ==, "a\x1f" "b");

    static const char sur[] = "{\"execute\":\"echo\",\"id\":\"\\ud800x\"}\n";
    g_autofree char *l2 = raw_exchange(sur, strlen(sur));
    g_autoptr(JsonNode) n2 = assert_clean_json(l2);
    /* json-glib keeps the lone surrogate as bytes ED A0 80 (and eats what
     * follows); each invalid byte comes back as U+FFFD */
    g_assert_true(g_str_has_prefix(json_object_get_string_member(json_node_get_object(n2), "id"),
                                   "\xef\xbf\xbd"));

    static const char cmd[] = "{\"execute\":\"a\\u0001\\u00e9\"}\n";
    g_autofree char *l3 = raw_exchange(cmd, strlen(cmd));
    g_autoptr(JsonNode) n3 = assert_clean_json(l3);
    JsonObject *e3 = json_object_get_object_member(json_node_get_object(n3), "error");
    g_assert_cmpstr(json_object_get_string_member(e3, "desc"), ==,
                    "The command a\x01\xc3\xa9 has not been found");

    expect_error("{\"execute\":\"echo\",\"id\":1e400}", "GenericError",
                 "JSON parse error, number out of range");
    expect_return("{\"execute\":\"echo\",\"arguments\":{\"d\":1.5,\"i\":-7}}",
                  "{\"d\":1.5,\"i\":-7}");
    teardown();
}

/* A bare byte-order mark is input without a value: a parse error, no GLib
 * critical (which GTest makes fatal, as G_DEBUG=fatal-criticals would). */
static void test_bare_bom(void)
{
    setup();
    g_free(read_line());
    static const char bom[] = "\xef\xbb\xbf \n";
    g_autofree char *line = raw_exchange(bom, strlen(bom));
    g_autoptr(JsonNode) n = assert_clean_json(line);
    JsonObject *e = json_object_get_object_member(json_node_get_object(n), "error");
    g_assert_nonnull(e);
    g_assert_true(g_str_has_prefix(json_object_get_string_member(e, "desc"), "JSON parse error, "));
    expect_return("{\"execute\":\"qmp_capabilities\"}", "{}");
    teardown();
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    hb_qmp_register_commands(commands, G_N_ELEMENTS(commands));
    g_test_add_func("/qmp-session/greeting-and-negotiation", test_greeting_and_negotiation);
    g_test_add_func("/qmp-session/request-rules", test_request_rules);
    g_test_add_func("/qmp-session/id-echoed", test_id_echoed);
    g_test_add_func("/qmp-session/duplicate-keys", test_duplicate_keys);
    g_test_add_func("/qmp-session/replies-always-valid-json", test_replies_always_valid_json);
    g_test_add_func("/qmp-session/bare-bom", test_bare_bom);
    return g_test_run();
}

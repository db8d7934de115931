/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-qapi.c — the generated schema code: validation, conversion, marshalling. */
#include <string.h>

#include "qapi-commands.h"
#include "qapi-events.h"
#include "util/error.h"

static JsonNode *parse(const char *text)
{
    g_autoptr(JsonParser) p = json_parser_new();
    g_assert_true(json_parser_load_from_data(p, text, -1, NULL));
    return json_node_copy(json_parser_get_root(p));
}

static char *to_text(JsonNode *n)
{
    return json_to_string(n, FALSE);
}

/* Parse @text as TestAll and expect failure with exactly @msg. */
static void expect_all_error(const char *text, bool keyval, const char *msg)
{
    g_autoptr(JsonNode) n = parse(text);
    g_autoptr(GError) err = NULL;
    QapiTestAll *obj = NULL;

    g_assert_false(qapi_from_json_TestAll(n, keyval, &obj, &err));
    g_assert_null(obj);
    g_assert_nonnull(err);
    g_assert_cmpstr(err->message, ==, msg);
    g_assert_cmpstr(hb_error_class_name(err), ==, "GenericError");
}

static void test_struct_full(void)
{
    const char *text =
        "{\"id\":\"a\",\"flag\":true,\"i\":-5,\"u\":7,\"i8\":-128,\"n\":1.5,"
        "\"color\":\"dark-green\",\"inner\":{\"name\":\"x\",\"size\":4096},"
        "\"list\":[{\"name\":\"l0\"},{\"name\":\"l1\",\"size\":1}],"
        "\"strs\":[\"s\",\"t\"],\"anything\":{\"k\":[1,null]},\"default\":\"d\"}";
    g_autoptr(JsonNode) n = parse(text);
    g_autoptr(QapiTestAll) obj = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) back = NULL;
    g_autoptr(JsonNode) expect = parse(text);

    g_assert_true(qapi_from_json_TestAll(n, false, &obj, &err));
    g_assert_no_error(err);
    g_assert_cmpstr(obj->id, ==, "a");
    g_assert_true(obj->has_flag && obj->flag);
    g_assert_cmpint(obj->i, ==, -5);
    g_assert_true(obj->has_u);
    g_assert_cmpuint(obj->u, ==, 7);
    g_assert_cmpint(obj->i8, ==, -128);
    g_assert_cmpfloat(obj->n, ==, 1.5);
    g_assert_true(obj->has_color);
    g_assert_cmpint(obj->color, ==, QAPI_TEST_COLOR_DARK_GREEN);
    g_assert_cmpstr(QapiTestColor_str(obj->color), ==, "dark-green");
    g_assert_cmpstr(obj->inner->name, ==, "x");
    g_assert_cmpuint(obj->inner->size, ==, 4096);
    g_assert_cmpstr(obj->list->value->name, ==, "l0");
    g_assert_false(obj->list->value->has_size);
    g_assert_cmpstr(obj->list->next->value->name, ==, "l1");
    g_assert_null(obj->list->next->next);
    g_assert_cmpstr(obj->strs->next->value, ==, "t");
    g_assert_true(JSON_NODE_HOLDS_OBJECT(obj->anything));
    g_assert_cmpstr(obj->q_default, ==, "d");

    back = qapi_to_json_TestAll(obj);
    g_assert_true(json_node_equal(back, expect));
}

static void test_struct_optional_absent(void)
{
    g_autoptr(JsonNode) n = parse("{\"id\":\"a\",\"i\":1}");
    g_autoptr(QapiTestAll) obj = NULL;
    g_autoptr(JsonNode) back = NULL;
    g_autofree char *text = NULL;

    g_assert_true(qapi_from_json_TestAll(n, false, &obj, NULL));
    g_assert_false(obj->has_flag);
    g_assert_false(obj->has_color);
    g_assert_null(obj->inner);
    g_assert_null(obj->list);
    back = qapi_to_json_TestAll(obj);
    text = to_text(back);
    g_assert_cmpstr(text, ==, "{\"id\":\"a\",\"i\":1}");
}

static void test_struct_errors(void)
{
    expect_all_error("{\"i\":1}", false, "Parameter 'id' is missing");
    expect_all_error("{\"id\":\"a\"}", false, "Parameter 'i' is missing");
    expect_all_error("{\"id\":\"a\",\"i\":1,\"zzz\":0}", false,
                     "Parameter 'zzz' is unexpected");
    expect_all_error("{\"id\":\"a\",\"i\":\"1\"}", false,
                     "Invalid parameter type for 'i', expected: integer");
    expect_all_error("{\"id\":7,\"i\":1}", false,
                     "Invalid parameter type for 'id', expected: string");
    expect_all_error("{\"id\":\"a\",\"i\":1,\"flag\":1}", false,
                     "Invalid parameter type for 'flag', expected: boolean");
    expect_all_error("{\"id\":\"a\",\"i\":1,\"inner\":{}}", false,
                     "Parameter 'inner.name' is missing");
    expect_all_error("{\"id\":\"a\",\"i\":1,\"inner\":{\"name\":\"x\",\"q\":1}}", false,
                     "Parameter 'inner.q' is unexpected");
    expect_all_error("{\"id\":\"a\",\"i\":1,\"inner\":[]}", false,
                     "Invalid parameter type for 'inner', expected: object");
    expect_all_error("{\"id\":\"a\",\"i\":1,\"list\":[{\"name\":\"a\"},{}]}", false,
                     "Parameter 'list[1].name' is missing");
    expect_all_error("{\"id\":\"a\",\"i\":1,\"strs\":[\"a\",2]}", false,
                     "Invalid parameter type for 'strs[1]', expected: string");
    expect_all_error("{\"id\":\"a\",\"i\":1,\"list\":{}}", false,
                     "Invalid parameter type for 'list', expected: array");
    expect_all_error("{\"id\":\"a\",\"i\":1,\"color\":\"purple\"}", false,
                     "Parameter 'color' does not accept value 'purple'");
    expect_all_error("{\"id\":\"a\",\"i\":1,\"color\":1}", false,
                     "Invalid parameter type for 'color', expected: string");
    expect_all_error("{\"id\":\"a\",\"i\":1,\"i8\":128}", false,
                     "Parameter 'i8' expects an int in range");
    expect_all_error("{\"id\":\"a\",\"i\":1,\"u\":-1}", false,
                     "Parameter 'u' expects uint64");
    expect_all_error("[1]", false, "Invalid parameter type for 'null', expected: object");
}

static void test_keyval(void)
{
    g_autoptr(JsonNode) n = parse(
        "{\"id\":\"a\",\"flag\":\"on\",\"i\":\"0x10\",\"u\":\"99\",\"n\":\"2.5\","
        "\"inner\":{\"name\":\"x\",\"size\":\"4k\"},\"color\":\"blue\"}");
    g_autoptr(QapiTestAll) obj = NULL;
    g_autoptr(GError) err = NULL;

    g_assert_true(qapi_from_json_TestAll(n, true, &obj, &err));
    g_assert_no_error(err);
    g_assert_true(obj->flag);
    g_assert_cmpint(obj->i, ==, 16);
    g_assert_cmpuint(obj->u, ==, 99);
    g_assert_cmpfloat(obj->n, ==, 2.5);
    g_assert_cmpuint(obj->inner->size, ==, 4096);

    expect_all_error("{\"id\":\"a\",\"i\":\"x1\"}", true, "Parameter 'i' expects integer");
    expect_all_error("{\"id\":\"a\",\"i\":\"1\",\"flag\":\"maybe\"}", true,
                     "Parameter 'flag' expects 'on' or 'off'");
    expect_all_error("{\"id\":\"a\",\"i\":\"1\",\"u\":\"-3\"}", true,
                     "Parameter 'u' expects uint64");
    expect_all_error("{\"id\":\"a\",\"i\":\"1\",\"inner\":{\"name\":\"x\",\"size\":\"4q\"}}",
                     true, "Parameter 'inner.size' expects a size value");
    /* Strings are taken literally only in keyval mode. */
    expect_all_error("{\"id\":\"a\",\"i\":\"1\"}", false,
                     "Invalid parameter type for 'i', expected: integer");
}

static void test_union(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(QapiTestUnion) u = NULL;
    g_autoptr(JsonNode) n = parse("{\"kind\":\"fancy\",\"common\":\"c\",\"f\":\"x\","
                                  "\"ref\":\"other\"}");
    g_autoptr(JsonNode) back = NULL;

    g_assert_true(qapi_from_json_TestUnion(n, false, &u, &err));
    g_assert_cmpint(u->kind, ==, QAPI_TEST_KIND_FANCY);
    g_assert_cmpstr(u->common, ==, "c");
    g_assert_cmpstr(u->u.fancy->f, ==, "x");
    g_assert_cmpint(u->u.fancy->ref->type, ==, QAPI_QTYPE_QSTRING);
    g_assert_cmpstr(u->u.fancy->ref->u.reference, ==, "other");
    back = qapi_to_json_TestUnion(u);
    g_assert_true(json_node_equal(back, n));

    struct { const char *in, *msg; } bad[] = {
        { "{\"p\":1}", "Parameter 'kind' is missing" },
        { "{\"kind\":\"plain\"}", "Parameter 'p' is missing" },
        { "{\"kind\":\"plain\",\"p\":1,\"f\":\"x\"}", "Parameter 'f' is unexpected" },
        { "{\"kind\":\"nope\"}", "Parameter 'kind' does not accept value 'nope'" },
        { "{\"kind\":\"fancy\",\"f\":\"x\",\"ref\":{\"kind\":\"plain\"}}",
          "Parameter 'ref.p' is missing" },
        { "{\"kind\":\"fancy\",\"f\":\"x\",\"ref\":5}",
          "Invalid parameter type for 'ref', expected: TestRef" },
        /* a value with no branch accepts only the base members */
        { "{\"kind\":\"bare\",\"p\":1}", "Parameter 'p' is unexpected" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(JsonNode) b = parse(bad[i].in);
        g_autoptr(GError) e = NULL;
        QapiTestUnion *out = NULL;
        g_assert_false(qapi_from_json_TestUnion(b, false, &out, &e));
        g_assert_null(out);
        g_assert_cmpstr(e->message, ==, bad[i].msg);
    }
}

static void test_alternate(void)
{
    g_autoptr(JsonNode) n = parse(
        "{\"ref\":{\"kind\":\"plain\",\"p\":3},\"maybe\":null,\"nf\":true}");
    g_autoptr(QapiTestHolder) h = NULL;
    g_autoptr(QapiTestHolder) copy = NULL;
    g_autoptr(JsonNode) back = NULL;
    g_autoptr(GError) err = NULL;

    g_assert_true(qapi_from_json_TestHolder(n, false, &h, &err));
    g_assert_cmpint(h->ref->type, ==, QAPI_QTYPE_QDICT);
    g_assert_cmpint(h->ref->u.definition->u.plain->p, ==, 3);
    g_assert_cmpint(h->maybe->type, ==, QAPI_QTYPE_QNULL);
    g_assert_cmpint(h->nf->type, ==, QAPI_QTYPE_QBOOL);
    g_assert_true(h->nf->u.flag);
    copy = qapi_clone_TestHolder(h);
    back = qapi_to_json_TestHolder(copy);
    g_assert_true(json_node_equal(back, n));

    /* keyval: a string goes to the integer branch when there is no str branch */
    {
        g_autoptr(JsonNode) k = parse("{\"ref\":\"r\",\"nf\":\"12\"}");
        g_autoptr(QapiTestHolder) hk = NULL;
        g_assert_true(qapi_from_json_TestHolder(k, true, &hk, NULL));
        g_assert_cmpint(hk->nf->type, ==, QAPI_QTYPE_QNUM);
        g_assert_cmpint(hk->nf->u.num, ==, 12);
    }
}

static char *echoed_text;

bool qmp_test_echo(QapiTestEchoArgs *args, QapiStrList **ret, GError **errp)
{
    QapiStrList *head = NULL;

    if (args->has_times && args->times < 0) {
        hb_error_set_code(errp, HB_ERROR_DEVICE_NOT_FOUND, "negative");
        return false;
    }
    for (int64_t i = 0; i < (args->has_times ? args->times : 1); i++) {
        QapiStrList *e = g_new0(QapiStrList, 1);
        e->value = g_strdup(args->text);
        e->next = head;
        head = e;
    }
    g_free(echoed_text);
    echoed_text = g_strdup(args->text);
    *ret = head;
    return true;
}

static void test_marshal(void)
{
    g_autoptr(JsonNode) args = parse("{\"text\":\"hi\",\"times\":2}");
    g_autoptr(JsonNode) kv = parse("{\"text\":\"kv\",\"times\":\"3\"}");
    g_autoptr(JsonNode) bad = parse("{\"text\":\"hi\",\"times\":-1}");
    g_autoptr(JsonNode) extra = parse("{\"text\":\"hi\",\"x\":1}");
    JsonNode *ret = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *text = NULL;

    g_assert_cmpuint(qapi_commands_count, ==, 1);
    g_assert_cmpstr(qapi_commands[0].name, ==, "test-echo");
    g_assert_true(qapi_commands[0].fn(args, false, &ret, &err));
    text = to_text(ret);
    g_assert_cmpstr(text, ==, "[\"hi\",\"hi\"]");
    json_node_unref(ret);
    ret = NULL;

    g_assert_true(qapi_commands[0].fn(kv, true, &ret, NULL));
    g_assert_cmpint(json_array_get_length(json_node_get_array(ret)), ==, 3);
    json_node_unref(ret);
    ret = NULL;

    g_assert_false(qapi_commands[0].fn(bad, false, &ret, &err));
    g_assert_null(ret);
    g_assert_cmpstr(hb_error_class_name(err), ==, "DeviceNotFound");
    g_clear_error(&err);

    g_assert_false(qapi_commands[0].fn(extra, false, &ret, &err));
    g_assert_cmpstr(err->message, ==, "Parameter 'x' is unexpected");
    g_clear_error(&err);

    g_assert_false(qapi_commands[0].fn(NULL, false, &ret, &err));
    g_assert_cmpstr(err->message, ==, "Parameter 'text' is missing");
}

static char *last_event;

static void capture_event(const char *name, JsonObject *data)
{
    g_autoptr(JsonNode) n = json_node_new(JSON_NODE_OBJECT);
    g_autofree char *text = NULL;

    json_node_take_object(n, data);
    text = json_to_string(n, FALSE);
    g_free(last_event);
    last_event = g_strdup_printf("%s %s", name, text);
}

static void test_event(void)
{
    qapi_event_set_emitter(capture_event);
    qapi_event_send_test_event("w", false, 0);
    g_assert_cmpstr(last_event, ==, "TEST_EVENT {\"what\":\"w\"}");
    qapi_event_send_test_event("w", true, 4);
    g_assert_cmpstr(last_event, ==, "TEST_EVENT {\"what\":\"w\",\"count\":4}");
    qapi_event_set_emitter(NULL);
    g_clear_pointer(&last_event, g_free);
}

static void test_introspect(void)
{
    g_autoptr(JsonNode) n = parse(qapi_introspect_json);
    JsonArray *a = json_node_get_array(n);
    bool found_cmd = false, found_alt = false, found_union = false;

    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);
        const char *name = json_object_get_string_member(o, "name");
        const char *meta = json_object_get_string_member(o, "meta-type");
        if (!strcmp(name, "test-echo")) {
            found_cmd = !strcmp(meta, "command") &&
                !strcmp(json_object_get_string_member(o, "ret-type"), "[str]");
        } else if (!strcmp(name, "TestRef")) {
            found_alt = !strcmp(meta, "alternate");
        } else if (!strcmp(name, "TestUnion")) {
            found_union = !strcmp(json_object_get_string_member(o, "tag"), "kind");
        }
    }
    g_assert_true(found_cmd);
    g_assert_true(found_alt);
    g_assert_true(found_union);
}

/*
 * Failures found late, after the input functions have allocated strings,
 * list cells, union branches and alternate wrappers: each must fail cleanly
 * and free everything (checked by the ASan/LSan build of this test).
 */
static void test_error_paths_free_everything(void)
{
    static const struct { const char *type, *in; bool keyval; } bad[] = {
        { "all", "{\"id\":\"a\",\"i\":1,\"list\":[{\"name\":\"x\"},{\"name\":1}]}", false },
        { "all", "{\"id\":\"a\",\"i\":1,\"strs\":[\"a\",\"b\",3]}", false },
        { "all", "{\"id\":\"a\",\"i\":1,\"anything\":{\"x\":[1]},\"color\":\"pink\"}", false },
        { "all", "{\"id\":\"a\",\"i\":1,\"inner\":{\"name\":\"n\",\"size\":\"9z\"}}", true },
        { "all", "{\"id\":\"a\",\"i\":1,\"default\":\"d\",\"zzz\":1}", false },
        { "all", "{\"id\":\"a\",\"i\":\"x\"}", true },
        { "union", "{\"kind\":\"fancy\",\"common\":\"c\",\"f\":\"x\",\"ref\":7}", false },
        { "union", "{\"kind\":\"fancy\",\"common\":\"c\",\"f\":\"x\","
                   "\"ref\":{\"kind\":\"plain\",\"p\":\"q\"}}", false },
        { "union", "{\"kind\":\"fancy\",\"common\":\"c\",\"f\":\"x\",\"extra\":1}", false },
        { "holder", "{\"ref\":{\"kind\":\"fancy\",\"f\":\"y\",\"ref\":[]}}", false },
        { "holder", "{\"ref\":\"r\",\"maybe\":{\"kind\":\"plain\"}}", false },
        { "holder", "{\"ref\":\"r\",\"maybe\":\"m\",\"nf\":\"maybe\"}", true },
        { "holder", "{\"ref\":\"r\",\"maybe\":null,\"nf\":[1]}", false },
        { "holder", "{\"ref\":\"r\",\"maybe\":\"m\",\"nf\":1,\"more\":2}", false },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(JsonNode) n = parse(bad[i].in);
        g_autoptr(GError) err = NULL;
        void *out = NULL;
        bool ok;

        if (!strcmp(bad[i].type, "all")) {
            ok = qapi_from_json_TestAll(n, bad[i].keyval, (QapiTestAll **)&out, &err);
        } else if (!strcmp(bad[i].type, "union")) {
            ok = qapi_from_json_TestUnion(n, bad[i].keyval, (QapiTestUnion **)&out, &err);
        } else {
            ok = qapi_from_json_TestHolder(n, bad[i].keyval, (QapiTestHolder **)&out, &err);
        }
        g_assert_false(ok);
        g_assert_null(out);
        g_assert_nonnull(err);
    }
}

/* Output of structs whose optional pointer members are all absent. */
static void test_output_of_empty_optionals(void)
{
    g_autoptr(QapiTestAll) a = g_new0(QapiTestAll, 1);
    g_autoptr(QapiTestFancy) f = g_new0(QapiTestFancy, 1);
    g_autoptr(QapiTestHolder) h = g_new0(QapiTestHolder, 1);
    g_autoptr(JsonNode) na = qapi_to_json_TestAll(a);
    g_autoptr(JsonNode) nf = qapi_to_json_TestFancy(f);
    g_autoptr(JsonNode) nh = NULL;

    g_assert_true(JSON_NODE_HOLDS_OBJECT(na));
    g_assert_true(JSON_NODE_HOLDS_OBJECT(nf));
    h->ref = g_new0(QapiTestRef, 1);
    h->ref->type = QAPI_QTYPE_QDICT;    /* a definition not filled in */
    nh = qapi_to_json_TestHolder(h);
    g_assert_true(JSON_NODE_HOLDS_OBJECT(nh));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qapi/struct/full", test_struct_full);
    g_test_add_func("/qapi/struct/optional-absent", test_struct_optional_absent);
    g_test_add_func("/qapi/struct/errors", test_struct_errors);
    g_test_add_func("/qapi/keyval", test_keyval);
    g_test_add_func("/qapi/union", test_union);
    g_test_add_func("/qapi/alternate", test_alternate);
    g_test_add_func("/qapi/marshal", test_marshal);
    g_test_add_func("/qapi/event", test_event);
    g_test_add_func("/qapi/introspect", test_introspect);
    g_test_add_func("/qapi/error-paths-free-everything", test_error_paths_free_everything);
    g_test_add_func("/qapi/output-empty-optionals", test_output_of_empty_optionals);
    return g_test_run();
}

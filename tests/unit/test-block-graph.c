/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-block-graph.c — node lifecycle: refcounts, registry, busy, transactions, perms. */
#include "test-block-common.h"
#include "block/node-int.h"
#include "util/error.h"

#include <errno.h>

static char *tmpdir;

static char *json_file_node(const char *name, const char *path)
{
    return g_strdup_printf("{\"driver\":\"file\",\"node-name\":\"%s\","
                           "\"filename\":\"%s\"}", name, path);
}

static void test_refcount_and_registry(void)
{
    g_autofree char *path = make_file(tmpdir, "a.img", 4096);
    g_autofree char *j = json_file_node("a", path);
    g_autoptr(GError) err = NULL;
    unsigned before = hb_graph_count();
    int fds = count_fds();

    HbNode *n = open_json(j, &err);
    g_assert_no_error(err);
    g_assert_cmpint(n->refcnt, ==, 1);
    g_assert_true(hb_node_find("a") == n);
    g_assert_true(hb_node_register(n, &err));
    g_assert_cmpint(n->refcnt, ==, 2);
    hb_node_unref(n);                   /* the registry keeps it */
    g_assert_true(hb_node_find("a") == n);
    g_assert_null(hb_node_busy_reason(n));

    /* A raw parent by reference: busy now, and a second reference. */
    HbNode *raw = open_json("{\"driver\":\"raw\",\"node-name\":\"r\","
                            "\"file\":\"a\"}", &err);
    g_assert_no_error(err);
    g_assert_cmpint(n->refcnt, ==, 2);
    g_autofree char *busy = hb_node_busy_reason(n);
    g_assert_cmpstr(busy, ==, "Node 'a' is busy: node is used as file of 'r'");
    hb_node_unref(raw);
    g_assert_cmpint(n->refcnt, ==, 1);

    hb_node_unregister(n);
    g_assert_null(hb_node_find("a"));
    g_assert_cmpuint(hb_graph_count(), ==, before);
    g_assert_cmpint(count_fds(), ==, fds);
}

static void test_inline_children_go_with_parent(void)
{
    g_autofree char *path = make_file(tmpdir, "b.img", 8192);
    g_autofree char *j = g_strdup_printf(
        "{\"driver\":\"raw\",\"node-name\":\"rb\",\"file\":"
        "{\"driver\":\"file\",\"filename\":\"%s\"}}", path);
    g_autoptr(GError) err = NULL;
    unsigned before = hb_graph_count();
    int fds = count_fds();

    HbNode *n = open_json(j, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(hb_graph_count(), ==, before + 2);
    HbChild *c = hb_node_child(n, "file");
    g_assert_nonnull(c);
    g_assert_true(c->node->auto_named);
    g_assert_true(g_str_has_prefix(c->node->node_name, "#block"));
    g_assert_cmpint(count_fds(), ==, fds + 1);
    hb_node_unref(n);
    g_assert_cmpuint(hb_graph_count(), ==, before);
    g_assert_cmpint(count_fds(), ==, fds);
}

static void expect_open_fails(const char *j, const char *msg)
{
    g_autoptr(GError) err = NULL;
    unsigned before = hb_graph_count();
    int fds = count_fds();

    HbNode *n = open_json(j, &err);
    g_assert_null(n);
    g_assert_nonnull(err);
    if (msg) {
        g_assert_cmpstr(err->message, ==, msg);
    }
    g_assert_cmpuint(hb_graph_count(), ==, before);
    g_assert_cmpint(count_fds(), ==, fds);
}

static void test_transactions(void)
{
    g_autofree char *path = make_file(tmpdir, "c.img", 4096);
    g_autofree char *j = json_file_node("c", path);
    g_autoptr(GError) err = NULL;
    HbNode *c = open_json(j, &err);
    g_assert_no_error(err);

    expect_open_fails("{\"driver\":\"raw\",\"node-name\":\"x\",\"file\":\"nope\"}",
                      "Cannot find device='' nor node-name='nope'");
    expect_open_fails(j, "Duplicate nodes with node-name='c'");
    expect_open_fails("{\"driver\":\"null-co\",\"node-name\":\"1x\"}",
                      "Invalid node-name: '1x'");
    /* The inline child opens (a file fd), then the parent's name clashes
     * with it: both go, the fd is closed. */
    g_autofree char *dup = g_strdup_printf(
        "{\"driver\":\"raw\",\"node-name\":\"same\",\"file\":"
        "{\"driver\":\"file\",\"node-name\":\"same\",\"filename\":\"%s\"}}",
        path);
    expect_open_fails(dup, "Duplicate nodes with node-name='same'");
    /* A raw window larger than its file: the inline file closes again. */
    g_autofree char *big = g_strdup_printf(
        "{\"driver\":\"raw\",\"node-name\":\"w\",\"size\":8192,\"file\":"
        "{\"driver\":\"file\",\"filename\":\"%s\"}}", path);
    expect_open_fails(big, "The sum of offset (0) and size (8192) has to be "
                      "smaller or equal to the  actual size of the containing "
                      "file (4096)");
    /* A named child that fails a later step keeps its refcount. */
    g_autofree char *missing = g_strdup_printf("%s/missing.img", tmpdir);
    g_autofree char *jm = g_strdup_printf(
        "{\"driver\":\"file\",\"node-name\":\"m\",\"filename\":\"%s\"}", missing);
    g_autofree char *msg = g_strdup_printf(
        "Could not open '%s': No such file or directory", missing);
    expect_open_fails(jm, msg);
    g_assert_cmpint(c->refcnt, ==, 1);
    hb_node_unref(c);
}

static void test_permissions(void)
{
    g_autofree char *path = make_file(tmpdir, "d.img", 4096);
    g_autofree char *j = json_file_node("d", path);
    g_autoptr(GError) err = NULL;
    HbNode *f = open_json(j, &err);
    g_assert_no_error(err);

    HbNode *w1 = open_json("{\"driver\":\"raw\",\"node-name\":\"w1\",\"file\":\"d\"}", &err);
    g_assert_no_error(err);
    /* A second writer is refused: one writer per node unless shared. */
    HbNode *w2 = open_json("{\"driver\":\"raw\",\"node-name\":\"w2\",\"file\":\"d\"}", &err);
    g_assert_null(w2);
    g_assert_nonnull(err);
    g_assert_true(g_str_has_prefix(err->message, "Permission conflict on node 'd'"));
    g_clear_error(&err);
    /* A reader that tolerates the writer (force-share) is fine. */
    HbNode *r = open_json("{\"driver\":\"raw\",\"node-name\":\"r1\",\"read-only\":true,"
                          "\"force-share\":true,\"file\":\"d\"}", &err);
    g_assert_no_error(err);
    char b[16] = "hello";
    g_assert_cmpint(hb_node_pwrite(r, 0, b, 5, 0), ==, -EPERM);
    g_assert_cmpint(hb_node_pdiscard(r, 0, 512), ==, -EPERM);
    g_assert_cmpint(hb_node_pwrite(w1, 0, b, 5, 0), ==, 0);
    g_assert_cmpint(hb_node_pread(r, 0, b + 8, 5), ==, 0);
    g_assert_cmpmem(b, 5, b + 8, 5);

    /* An export-like user wanting write on the read-only node. */
    HbChild *u = hb_node_attach_user(r, "e", HB_PERM_WRITE,
                                     HB_PERM_ALL, &err);
    g_assert_null(u);
    g_assert_cmpstr(err->message, ==, "Block node is read-only");
    g_clear_error(&err);
    u = hb_node_attach_user(w1, "e", HB_PERM_CONSISTENT_READ,
                            HB_PERM_ALL, &err);
    g_assert_no_error(err);
    g_autofree char *busy = hb_node_busy_reason(w1);
    g_assert_cmpstr(busy, ==, "Node 'w1' is busy: node is used by export 'e'");
    hb_node_detach_user(u);

    /* force-share needs read-only. */
    HbNode *bad = open_json("{\"driver\":\"raw\",\"node-name\":\"fs\",\"force-share\":true,"
                            "\"file\":\"d\"}", &err);
    g_assert_null(bad);
    g_assert_cmpstr(err->message, ==, "force-share=on can only be used with read-only images");
    g_clear_error(&err);

    hb_node_unref(r);
    hb_node_unref(w1);
    /* The writer is gone: a new one may come. */
    w2 = open_json("{\"driver\":\"raw\",\"node-name\":\"w2\",\"file\":\"d\"}", &err);
    g_assert_no_error(err);
    hb_node_unref(w2);
    g_assert_cmpuint(f->perm, ==, 0);
    hb_node_unref(f);
}

/* hb_child_set_perm(): checked like a new edge, unchanged on refusal. */
static void test_child_set_perm(void)
{
    g_autofree char *path = make_file(tmpdir, "p.img", 4096);
    g_autofree char *j = json_file_node("p", path);
    g_autoptr(GError) err = NULL;
    HbNode *f = open_json(j, &err);
    g_assert_no_error(err);

    HbChild *a = hb_node_attach_user(f, "a", HB_PERM_CONSISTENT_READ, HB_PERM_ALL, &err);
    HbChild *b = hb_node_attach_user(f, "b", HB_PERM_CONSISTENT_READ,
                                     HB_PERM_CONSISTENT_READ, &err);
    g_assert_no_error(err);
    /* b does not share WRITE: a cannot take it. */
    g_assert_false(hb_child_set_perm(a, HB_PERM_CONSISTENT_READ | HB_PERM_WRITE, HB_PERM_ALL,
                                     &err));
    g_assert_true(g_str_has_prefix(err->message, "Permission conflict on node 'p'"));
    g_clear_error(&err);
    g_assert_cmpuint(a->perm, ==, HB_PERM_CONSISTENT_READ);
    g_assert_cmpuint(f->perm, ==, HB_PERM_CONSISTENT_READ);
    /* Once b shares it, a takes it, and gives it back. */
    g_assert_true(hb_child_set_perm(b, HB_PERM_CONSISTENT_READ, HB_PERM_ALL, &err));
    g_assert_true(hb_child_set_perm(a, HB_PERM_CONSISTENT_READ | HB_PERM_WRITE, HB_PERM_ALL,
                                    &err));
    g_assert_no_error(err);
    g_assert_cmpuint(f->perm, ==, HB_PERM_CONSISTENT_READ | HB_PERM_WRITE);
    g_assert_true(hb_child_set_perm(a, HB_PERM_CONSISTENT_READ, HB_PERM_ALL, &err));
    g_assert_cmpuint(f->perm, ==, HB_PERM_CONSISTENT_READ);
    hb_node_detach_user(a);
    hb_node_detach_user(b);
    hb_node_unref(f);

    /* A read-only node refuses WRITE. */
    g_autofree char *jr = g_strdup_printf("{\"driver\":\"file\",\"node-name\":\"pr\","
                                          "\"read-only\":true,\"filename\":\"%s\"}", path);
    HbNode *r = open_json(jr, &err);
    g_assert_no_error(err);
    HbChild *c = hb_node_attach_user(r, "c", HB_PERM_CONSISTENT_READ, HB_PERM_ALL, &err);
    g_assert_false(hb_child_set_perm(c, HB_PERM_WRITE, HB_PERM_ALL, &err));
    g_assert_cmpstr(err->message, ==, "Block node is read-only");
    g_assert_cmpuint(c->perm, ==, HB_PERM_CONSISTENT_READ);
    hb_node_detach_user(c);
    hb_node_unref(r);
}

static void test_auto_names_unique(void)
{
    g_autofree char *a = hb_graph_auto_name();
    g_autofree char *b = hb_graph_auto_name();

    g_assert_cmpstr(a, !=, b);
    g_assert_true(a[0] == '#');
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    tmpdir = g_dir_make_tmp("hb-graph-XXXXXX", NULL);
    g_test_add_func("/block/graph/refcount-registry", test_refcount_and_registry);
    g_test_add_func("/block/graph/inline-children", test_inline_children_go_with_parent);
    g_test_add_func("/block/graph/transactions", test_transactions);
    g_test_add_func("/block/graph/permissions", test_permissions);
    g_test_add_func("/block/graph/child-set-perm", test_child_set_perm);
    g_test_add_func("/block/graph/auto-names", test_auto_names_unique);
    int ret = g_test_run();
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmpdir);
    (void)!system(cmd);
    g_free(tmpdir);
    return ret;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-export-io-error.c — BLOCK_IO_ERROR's members and its per-export rate limit. */
#include "export/io-error.h"

#include <errno.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "qapi-runtime.h"

static GMutex events_lock;
static GPtrArray *events;    /* JsonObject * (the data of each BLOCK_IO_ERROR) */
static unsigned other_events;

static void capture_event(const char *name, JsonObject *data)
{
    g_mutex_lock(&events_lock);
    if (!strcmp(name, "BLOCK_IO_ERROR")) {
        g_ptr_array_add(events, data);
    } else {
        other_events++;
        json_object_unref(data);
    }
    g_mutex_unlock(&events_lock);
}

static void setup(void)
{
    events = g_ptr_array_new_with_free_func((GDestroyNotify)json_object_unref);
    other_events = 0;
    qapi_event_set_emitter(capture_event);
}

static void teardown(void)
{
    qapi_event_set_emitter(NULL);
    g_clear_pointer(&events, g_ptr_array_unref);
}

/* 10 s into the monotonic clock, in microseconds. */
#define T0 (10 * G_USEC_PER_SEC)

static void test_members(void)
{
    HbExportIoErrors r = { .node_name = "disk0" };
    JsonObject *d;

    setup();
    g_assert_true(hb_export_io_error_at(&r, true, -ENOSPC, T0));
    g_assert_true(hb_export_io_error_at(&r, false, -EIO, T0));
    g_assert_cmpuint(events->len, ==, 2);
    g_assert_cmpuint(other_events, ==, 0);

    d = events->pdata[0];
    g_assert_cmpuint(json_object_get_size(d), ==, 6);
    g_assert_cmpstr(json_object_get_string_member(d, "device"), ==, "");
    g_assert_cmpstr(json_object_get_string_member(d, "node-name"), ==, "disk0");
    g_assert_cmpstr(json_object_get_string_member(d, "operation"), ==, "write");
    g_assert_cmpstr(json_object_get_string_member(d, "action"), ==, "report");
    g_assert_true(json_object_get_boolean_member(d, "nospace"));
    g_assert_cmpstr(json_object_get_string_member(d, "reason"), ==, g_strerror(ENOSPC));

    d = events->pdata[1];
    g_assert_cmpstr(json_object_get_string_member(d, "operation"), ==, "read");
    g_assert_false(json_object_get_boolean_member(d, "nospace"));
    g_assert_cmpstr(json_object_get_string_member(d, "reason"), ==, g_strerror(EIO));
    g_assert_cmpuint(hb_export_io_errors_suppressed(&r), ==, 0);
    teardown();
}

static void test_rate_limit(void)
{
    HbExportIoErrors r = { .node_name = "disk0" };

    setup();
    for (unsigned i = 0; i < 3 * HB_EXPORT_IO_ERROR_RATE; i++) {
        bool sent = hb_export_io_error_at(&r, true, -EIO, T0 + i);
        g_assert_true(sent == (i < HB_EXPORT_IO_ERROR_RATE));
    }
    g_assert_cmpuint(events->len, ==, HB_EXPORT_IO_ERROR_RATE);
    g_assert_cmpuint(hb_export_io_errors_suppressed(&r), ==, 2 * HB_EXPORT_IO_ERROR_RATE);

    /* Still the same second at its last microsecond. */
    g_assert_false(hb_export_io_error_at(&r, true, -EIO, T0 + G_USEC_PER_SEC - 1));
    /* The next second has a fresh allowance. */
    g_assert_true(hb_export_io_error_at(&r, true, -EIO, T0 + G_USEC_PER_SEC));
    /* A thread whose clock reading is older counts against the newer second. */
    for (unsigned i = 1; i < HB_EXPORT_IO_ERROR_RATE; i++) {
        g_assert_true(hb_export_io_error_at(&r, true, -EIO, T0));
    }
    g_assert_false(hb_export_io_error_at(&r, true, -EIO, T0));
    g_assert_cmpuint(events->len, ==, 2 * HB_EXPORT_IO_ERROR_RATE);
    g_assert_cmpuint(hb_export_io_errors_suppressed(&r), ==, 2 * HB_EXPORT_IO_ERROR_RATE + 2);

    /* Another export has its own allowance. */
    HbExportIoErrors other = { .node_name = "disk1" };
    g_assert_true(hb_export_io_error_at(&other, false, -EIO, T0 + G_USEC_PER_SEC));
    teardown();
}

/* Many threads in one second: exactly the allowance goes out, the rest is counted. */
#define THREADS 8
#define CALLS 10000

static gpointer hammer(gpointer opaque)
{
    for (unsigned i = 0; i < CALLS; i++) {
        hb_export_io_error_at(opaque, i & 1, -EIO, T0);
    }
    return NULL;
}

static void test_threads(void)
{
    HbExportIoErrors r = { .node_name = "disk0" };
    GThread *t[THREADS];

    setup();
    for (unsigned i = 0; i < THREADS; i++) {
        t[i] = g_thread_new("hammer", hammer, &r);
    }
    for (unsigned i = 0; i < THREADS; i++) {
        g_thread_join(t[i]);
    }
    g_assert_cmpuint(events->len, ==, HB_EXPORT_IO_ERROR_RATE);
    g_assert_cmpuint(hb_export_io_errors_suppressed(&r), ==,
                     THREADS * CALLS - HB_EXPORT_IO_ERROR_RATE);
    teardown();
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/export-io-error/members", test_members);
    g_test_add_func("/export-io-error/rate-limit", test_rate_limit);
    g_test_add_func("/export-io-error/threads", test_threads);
    return g_test_run();
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util/lifecycle.c — export directory and shutdown hooks. */
#include "util/lifecycle.h"

#include <glib.h>
#include <unistd.h>

static char *export_dir;
static int export_dir_fd = -1;
static GSList *hooks;        /* stop serving; newest first */
static GSList *close_hooks;  /* then close storage; newest first */

void hb_set_export_dir(const char *dir, int dirfd)
{
    g_free(export_dir);
    export_dir = g_strdup(dir);
    if (export_dir_fd >= 0) {
        close(export_dir_fd);
    }
    export_dir_fd = dirfd;
}

int hb_export_dir_fd(void)
{
    return export_dir_fd;
}

const char *hb_export_dir(void)
{
    return export_dir;
}

static void add_hook(GSList **list, void (*fn)(void))
{
    for (GSList *l = *list; l; l = l->next) {
        if (l->data == (gpointer)fn) {
            return;    /* registered once, however often asked */
        }
    }
    *list = g_slist_prepend(*list, (gpointer)fn);
}

static void run_hooks(GSList **list)
{
    while (*list) {
        void (*fn)(void) = (void (*)(void))(*list)->data;
        *list = g_slist_delete_link(*list, *list);
        fn();
    }
}

void hb_at_shutdown(void (*fn)(void))
{
    add_hook(&hooks, fn);
}

void hb_at_shutdown_close(void (*fn)(void))
{
    add_hook(&close_hooks, fn);
}

void hb_run_shutdown_hooks(void)
{
    run_hooks(&hooks);
    run_hooks(&close_hooks);
    hb_set_export_dir(NULL, -1);
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util/lifecycle.c — export directory and shutdown hooks. */
#include "util/lifecycle.h"

#include <glib.h>

static char *export_dir;
static GSList *hooks;   /* newest first */

void hb_set_export_dir(const char *dir)
{
    g_free(export_dir);
    export_dir = g_strdup(dir);
}

const char *hb_export_dir(void)
{
    return export_dir;
}

void hb_at_shutdown(void (*fn)(void))
{
    for (GSList *l = hooks; l; l = l->next) {
        if (l->data == (gpointer)fn) {
            return;    /* registered once, however often asked */
        }
    }
    hooks = g_slist_prepend(hooks, (gpointer)fn);
}

void hb_run_shutdown_hooks(void)
{
    while (hooks) {
        void (*fn)(void) = (void (*)(void))hooks->data;
        hooks = g_slist_delete_link(hooks, hooks);
        fn();
    }
    g_free(export_dir);
    export_dir = NULL;
}

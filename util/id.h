/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util/id.h — QEMU's rule for identifiers: node names, export and device ids. */
#ifndef HB_UTIL_ID_H
#define HB_UTIL_ID_H

#include <glib.h>
#include <stdbool.h>

/**
 * hb_id_wellformed() - QEMU's id_wellformed(): a letter, then letters,
 * digits, '-', '.' and '_'.  Ids name files (an export's socket is
 * "<export-dir>/<id>.sock"), so nothing else may pass: no '/', no
 * spaces, no shell or control characters.
 */
static inline bool hb_id_wellformed(const char *id)
{
    if (!id || !g_ascii_isalpha(id[0])) {
        return false;
    }
    for (const char *p = id + 1; *p; p++) {
        if (!g_ascii_isalnum(*p) && *p != '-' && *p != '.' && *p != '_') {
            return false;
        }
    }
    return true;
}

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util/size.c — sizes with unit suffixes, for QMP key=value input, image options and the tools. */
#include "util/size.h"

#include <errno.h>
#include <glib.h>
#include <math.h>
#include <string.h>

static int suffix_shift(char c)
{
    switch (g_ascii_tolower(c)) {
    case 'b': return 0;
    case 'k': return 10;
    case 'm': return 20;
    case 'g': return 30;
    case 't': return 40;
    case 'p': return 50;
    case 'e': return 60;
    default: return -1;
    }
}

bool hb_parse_size(const char *s, uint64_t *out)
{
    char *end;
    int shift = 0;

    if (!*s || *s == '-' || *s == '+' || g_ascii_isspace(*s)) {
        return false;
    }
    /* Plain integers exactly, without a detour through double. */
    if (strspn(s, "0123456789") == strlen(s)) {
        errno = 0;
        guint64 v = g_ascii_strtoull(s, &end, 10);
        if (errno) {
            return false;
        }
        *out = v;
        return true;
    }
    errno = 0;
    double d = g_ascii_strtod(s, &end);
    if (errno || end == s || !g_ascii_isdigit(*s)) {
        return false;   /* also refuses "inf", "nan", ".5" */
    }
    if (*end) {
        shift = suffix_shift(*end);
        if (shift < 0 || end[1]) {
            return false;
        }
    }
    d = ldexp(d, shift);
    if (d < 0 || d >= 18446744073709551616.0 || d != floor(d)) {
        return false;
    }
    *out = (uint64_t)d;
    return true;
}

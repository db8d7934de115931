/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util/error.c — the hotblock error domain and its QMP class names. */
#include "util/error.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

G_DEFINE_QUARK(hb-error-quark, hb_error)

static const char *const class_names[] = {
    [HB_ERROR_GENERIC] = "GenericError",
    [HB_ERROR_COMMAND_NOT_FOUND] = "CommandNotFound",
    [HB_ERROR_DEVICE_NOT_FOUND] = "DeviceNotFound",
    [HB_ERROR_DEVICE_NOT_ACTIVE] = "DeviceNotActive",
    [HB_ERROR_KVM_MISSING_CAP] = "KVMMissingCap",
};
G_STATIC_ASSERT(G_N_ELEMENTS(class_names) == HB_ERROR__MAX);

const char *hb_error_class_name(const GError *err)
{
    if (err && err->domain == HB_ERROR && err->code >= 0 &&
        err->code < HB_ERROR__MAX) {
        return class_names[err->code];
    }
    return "GenericError";
}

void hb_error_set_errno(GError **errp, int errnum, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *prefix = NULL;

    va_start(ap, fmt);
    prefix = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(errp, HB_ERROR, HB_ERROR_GENERIC, "%s: %s", prefix,
                g_strerror(abs(errnum)));
}

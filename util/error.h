/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util/error.h — the one error domain of hotblock and its mapping to QMP classes. */
#ifndef HB_UTIL_ERROR_H
#define HB_UTIL_ERROR_H

#include <glib.h>

/*
 * Every control-path error in hotblock is a GError.  Errors raised by our own
 * code use HB_ERROR with one of the codes below; each code is a QMP error
 * class, so the QMP layer turns any GError into {"class","desc"} without
 * knowing which module raised it.  Errors from other domains (GIOError,
 * GFileError, ...) become GenericError.
 */
#define HB_ERROR hb_error_quark()
GQuark hb_error_quark(void);

typedef enum {
    HB_ERROR_GENERIC = 0,          /* "GenericError" */
    HB_ERROR_COMMAND_NOT_FOUND,    /* "CommandNotFound" */
    HB_ERROR_DEVICE_NOT_FOUND,     /* "DeviceNotFound" */
    HB_ERROR_DEVICE_NOT_ACTIVE,    /* "DeviceNotActive" */
    HB_ERROR_KVM_MISSING_CAP,      /* "KVMMissingCap": kept for QEMU parity */
    HB_ERROR__MAX,
} HbErrorCode;

/**
 * hb_error_class_name() - the QMP "class" string for an error
 * @err: any GError; NULL gives "GenericError"
 */
const char *hb_error_class_name(const GError *err);

/* Shorthands: most call sites raise GenericError with a QEMU-like text. */
#define hb_error_set(errp, ...) \
    g_set_error((errp), HB_ERROR, HB_ERROR_GENERIC, __VA_ARGS__)
#define hb_error_set_code(errp, code, ...) \
    g_set_error((errp), HB_ERROR, (code), __VA_ARGS__)

/**
 * hb_error_set_errno() - GenericError "<prefix>: <strerror(errnum)>"
 * @errp: where to store the error
 * @errnum: a positive or negative errno value
 * @fmt: printf-style prefix
 */
void hb_error_set_errno(GError **errp, int errnum, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* util/size.h — the one parser of sizes with unit suffixes ("4k", "1.5G", "200G"). */
#ifndef HB_UTIL_SIZE_H
#define HB_UTIL_SIZE_H

#include <stdbool.h>
#include <stdint.h>

/**
 * hb_parse_size() - a byte count as QEMU's qemu_strtosz() takes it.
 * @s: digits, optionally with a fraction, optionally followed by one of
 *     B, K, M, G, T, P, E (either case; powers of 1024)
 * @out: the value; untouched on failure
 *
 * A fraction is allowed only where the result is a whole number of bytes
 * ("1.5k", not "1.5"); signs, spaces, trailing text and values of 2^64 or
 * more are refused.
 *
 * Return: whether @s was a valid size.
 */
bool hb_parse_size(const char *s, uint64_t *out);

#endif

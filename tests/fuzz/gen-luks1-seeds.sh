#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# tests/fuzz/gen-luks1-seeds.sh — regenerate corpus-luks1/ (LUKS1 headers made by cryptsetup).
#
# Each seed is a header volume cut right after the key material of its last
# active keyslot (the rest is never read when opening).  Keyslots use the
# minimum of 1000 PBKDF2 iterations, which fuzz-luks1.c leaves unclamped, so
# the seeds really unlock with the passphrase "fuzz".
set -eu
out=$(cd "$(dirname "$0")" && pwd)/corpus-luks1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"

# make NAME BYTES CRYPTSETUP-OPTIONS...
make() {
    name=$1 bytes=$2
    shift 2
    truncate -s 2M "$tmp/img"
    printf fuzz | cryptsetup luksFormat --type luks1 --batch-mode \
        --pbkdf-force-iterations 1000 --key-file - "$@" "$tmp/img"
    head -c "$bytes" "$tmp/img" >"$out/$name"
    rm -f "$tmp/img"
}

# 16-byte key: 64000 bytes of key material from sector 8.
make s1-cbc-plain $((4096 + 64000)) --cipher aes-cbc-plain --key-size 128 --hash sha256
make s2-xts-plain64 $((4096 + 128000)) --cipher aes-xts-plain64 --key-size 256 --hash sha256
make s3-cbc-essiv-sha1 $((4096 + 64000)) --cipher aes-cbc-essiv:sha256 --key-size 128 --hash sha1
# Metadata only: s1's header with keyslot 0 disabled (0x0000DEAD), 4 KiB.
head -c 4096 "$out/s1-cbc-plain" >"$tmp/h"
printf '\000\000\336\255' | dd of="$tmp/h" bs=1 seek=208 conv=notrunc status=none
mv "$tmp/h" "$out/s4-no-active-slot"

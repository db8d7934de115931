#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# tests/fuzz/gen-luks2-seeds.sh — regenerate corpus-luks2/ (LUKS2 headers made by cryptsetup).
#
# Each seed is a detached header with the smallest metadata (16 KiB a copy)
# and keyslots area cryptsetup allows for its keys, so that it stays small.
# KDF costs are under fuzz-luks2.c's limits (PBKDF2 1000, Argon2 64 KiB x 4),
# so the seeds really unlock with the passphrase "fuzz".  A byte past the
# keyslots area is the harness's control byte (see fuzz-luks2.c).
set -eu
out=$(cd "$(dirname "$0")" && pwd)/corpus-luks2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
truncate -s 1M "$tmp/payload"

# make NAME KEYSLOTS-SIZE CRYPTSETUP-OPTIONS...
make() {
    name=$1 ks=$2
    shift 2
    rm -f "$out/$name"
    printf fuzz | cryptsetup luksFormat --type luks2 --batch-mode --header "$out/$name" \
        --luks2-metadata-size 16k --luks2-keyslots-size "$ks" --key-file - "$@" \
        "$tmp/payload" >/dev/null 2>&1
}

PBKDF2="--pbkdf pbkdf2 --pbkdf-force-iterations 1000"
ARGON="--pbkdf-memory 64 --pbkdf-force-iterations 4 --pbkdf-parallel 1"
# shellcheck disable=SC2086
make s1-xts-pbkdf2 128k --key-size 256 $PBKDF2
# shellcheck disable=SC2086
make s2-xts-argon2id-4k 128k --key-size 256 --sector-size 4096 --pbkdf argon2id $ARGON
# shellcheck disable=SC2086
make s3-cbc-essiv-argon2i 128k --cipher aes-cbc-essiv:sha256 --key-size 128 \
    --pbkdf argon2i $ARGON
# Two keyslots, the second added with another passphrase.
# shellcheck disable=SC2086
make s4-two-slots 256k --key-size 256 $PBKDF2
printf other >"$tmp/other"
# shellcheck disable=SC2086
printf fuzz | cryptsetup luksAddKey --batch-mode --header "$out/s4-two-slots" --key-file - \
    $PBKDF2 "$tmp/payload" "$tmp/other" >/dev/null 2>&1
# One control byte past the keyslots area: 0 lets fuzz-luks2 unlock.
for f in "$out"/s*; do
    printf '\000' >>"$f"
done

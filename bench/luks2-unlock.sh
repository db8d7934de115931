#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# bench/luks2-unlock.sh — time to unlock a LUKS2 header made with cryptsetup's
# defaults (argon2id, costs cryptsetup benchmarks for ~2 s on this machine):
# hotblock-img info with the passphrase (parse, Argon2, AF merge, digest)
# against cryptsetup open --test-passphrase on the same header.
#
#   bench/luks2-unlock.sh [BUILD_DIR] [REPS]     prints each run and the medians
set -eu
build=${1:-build}
reps=${2:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf bench >"$tmp/pass"
truncate -s 4M "$tmp/payload"
cryptsetup luksFormat --type luks2 --batch-mode --key-file "$tmp/pass" \
    --header "$tmp/hdr" "$tmp/payload"
cryptsetup luksDump "$tmp/hdr" | grep -E 'PBKDF|Time cost|Memory|Threads' | sed 's/^\s*/# /'
spec="json:{\"driver\":\"luks\",\"key-secret\":\"s\",\"file\":{\"filename\":\"$tmp/payload\"},\"header\":{\"filename\":\"$tmp/hdr\"}}"

secs() {   # seconds a command takes
    start=$(date +%s.%N)
    "$@" >/dev/null
    end=$(date +%s.%N)
    echo "$end - $start" | bc
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

: >"$tmp/hb"
: >"$tmp/cs"
i=0
while [ $i -lt "$reps" ]; do   # alternate, so load hits both alike
    secs "$build/tools/hotblock-img" info --object secret,id=s,data=bench "$spec" >>"$tmp/hb"
    secs cryptsetup open --test-passphrase --key-file "$tmp/pass" --header "$tmp/hdr" \
        "$tmp/payload" >>"$tmp/cs"
    i=$((i + 1))
done
hb=$(median <"$tmp/hb")
cs=$(median <"$tmp/cs")
echo "hotblock-img info (unlock):       $(tr '\n' ' ' <"$tmp/hb")-> median $hb s"
echo "cryptsetup open --test-passphrase: $(tr '\n' ' ' <"$tmp/cs")-> median $cs s"
echo "ratio hotblock/cryptsetup: $(echo "scale=3; $hb / $cs" | bc)"

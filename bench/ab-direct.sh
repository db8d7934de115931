#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# bench/ab-direct.sh — two hotblockd builds and QSD (aio=io_uring) on one raw
# O_DIRECT file, hotblock-bench 4k at depth 32 and 1, in rotating order:
# what one change to the data path buys, with QSD measured in the same rounds.
#
#   bench/ab-direct.sh OLD_BUILD NEW_BUILD
#   REPS=5 RUNTIME=3 SIZE_MB=512 DIRECT_DIR=/var/tmp bench/ab-direct.sh /tmp/old/build build
#
# Prints, per workload: median IOPS [min-max] and median p99 of each server,
# and the ratios new/old and new/QSD.
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: $0 OLD_BUILD NEW_BUILD" >&2; exit 2; }
old=$(cd "$1" && pwd)
new=$(cd "$2" && pwd)
reps=${REPS:-5}
runtime=${RUNTIME:-3}
size_mb=${SIZE_MB:-512}
direct_dir=${DIRECT_DIR:-/var/tmp}
bench="$new/tools/hotblock-bench"
for t in "$old/daemon/hotblockd" "$new/daemon/hotblockd" "$bench"; do
    [ -x "$t" ] || { echo "$t is not built" >&2; exit 1; }
done
command -v qemu-storage-daemon >/dev/null || { echo "qemu-storage-daemon missing" >&2; exit 1; }
. "$(dirname "$0")/lib.sh"
bench_direct_workdir "$direct_dir" hb-ab
img="$work/raw.img"
sock="$work/v.sock"
dd if=/dev/urandom of="$img" bs=1M count="$size_mb" oflag=direct status=none
results="$work/results"

# run SERVER RW DEPTH: one hotblock-bench run; appends "SERVER RW-DEPTH IOPS P99".
run() {
    local server=$1 rw=$2 depth=$3
    rm -f "$sock"
    case "$server" in
    old|new)
        local b=$old
        [ "$server" = new ] && b=$new
        "$b/daemon/hotblockd" \
            --blockdev "{\"driver\":\"file\",\"node-name\":\"f0\",\"filename\":\"$img\",\"cache\":{\"direct\":true}}" \
            --blockdev '{"driver":"raw","node-name":"d0","file":"f0","cache":{"direct":true}}' \
            --export "{\"type\":\"vhost-user-blk\",\"id\":\"e0\",\"node-name\":\"d0\",\"addr\":{\"type\":\"unix\",\"path\":\"$sock\"},\"writable\":true}" \
            >"$work/server.log" 2>&1 &
        ;;
    qsd)
        qemu-storage-daemon \
            --blockdev "driver=file,node-name=f0,filename=$img,cache.direct=on,aio=io_uring" \
            --blockdev driver=raw,node-name=d0,file=f0,cache.direct=on \
            --export "type=vhost-user-blk,id=e0,node-name=d0,addr.type=unix,addr.path=$sock,writable=on" \
            >"$work/server.log" 2>&1 &
        ;;
    esac
    server_pid=$!
    for _ in $(seq 200); do [ -S "$sock" ] && break; sleep 0.05; done
    [ -S "$sock" ] || { cat "$work/server.log" >&2; exit 1; }
    "$bench" "$sock" --write-ok --rw "$rw" --bs 4k --iodepth "$depth" --runtime "$runtime" \
        --no-pattern --json |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(sys.argv[1], d["iops"], d["lat_us"]["p99"])' \
            "$server $rw-$depth" >>"$results"
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    server_pid=
}

echo "raw ${size_mb} MiB O_DIRECT in $work, $reps rounds x ${runtime}s; old=$old new=$new"
for rep in $(seq "$reps"); do
    for wl in "randread 32" "randwrite 32" "randread 1" "randwrite 1"; do
        case $((rep % 3)) in
        0) order="old new qsd" ;; 1) order="new qsd old" ;; *) order="qsd old new" ;;
        esac
        for s in $order; do
            # shellcheck disable=SC2086
            run "$s" $wl
        done
    done
done
python3 - "$results" <<'PY'
import collections, statistics, sys
iops, p99 = collections.defaultdict(list), collections.defaultdict(list)
for line in open(sys.argv[1]):
    server, wl, i, p = line.split()
    iops[(wl, server)].append(float(i))
    p99[(wl, server)].append(float(p))
print("| workload | old | new | QSD io_uring | new/old | new/QSD |")
print("|---|---:|---:|---:|---:|---:|")
for wl in dict.fromkeys(k[0] for k in iops):
    cells = []
    for s in ("old", "new", "qsd"):
        xs = iops[(wl, s)]
        cells.append(f"{statistics.median(xs)/1000:.1f}k [{min(xs)/1000:.1f}-{max(xs)/1000:.1f}k]"
                     f" p99 {statistics.median(p99[(wl, s)]):.0f}")
    o, n, q = (statistics.median(iops[(wl, s)]) for s in ("old", "new", "qsd"))
    print(f"| {wl} | {' | '.join(cells)} | {n/o:.2f} | {n/q:.2f} |")
PY

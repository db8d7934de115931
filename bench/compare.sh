#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# bench/compare.sh — the same hotblock-bench workloads against qemu-storage-daemon
# and hotblockd, over null-co, a raw file in the page cache and LUKS (attached)
# over a raw file; prints each figure and the ratio hotblockd/QSD.
#
#   bench/compare.sh [BUILD_DIR]      (default: build)
#   RUNTIME=3 SIZE_MB=256 REPS=3 bench/compare.sh build-opt
#   DIRECT=1 bench/compare.sh       (then bench/compare-direct.sh: O_DIRECT on a disk)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
bench="$build/tools/hotblock-bench"
hotblockd="$build/daemon/hotblockd"
runtime=${RUNTIME:-3}
size_mb=${SIZE_MB:-256}
reps=${REPS:-3}
for t in "$bench" "$hotblockd"; do
    [ -x "$t" ] || { echo "compare.sh: $t is not built" >&2; exit 1; }
done
command -v qemu-storage-daemon >/dev/null || { echo "compare.sh: qemu-storage-daemon missing" >&2; exit 1; }

. "$here/lib.sh"
bench_workdir /tmp hb-compare

# The images: a raw file read once so it sits in the page cache, and a
# LUKS1 image made by qemu-img (cheap PBKDF so unlocking takes no time).
raw="$work/raw.img"
luks="$work/luks.img"
dd if=/dev/urandom of="$raw" bs=1M count="$size_mb" status=none
# qemu-img's PBKDF timing fails now and then at a small iter-time ("Unable
# to get accurate CPU usage"): try again rather than abort the whole run.
for try in 1 2 3 4 5; do
    qemu-img create -q -f luks --object secret,id=s0,data=bench -o key-secret=s0,iter-time=10 \
        "$luks" "${size_mb}M" && break
    [ "$try" = 5 ] && { echo "compare.sh: qemu-img cannot create the LUKS image" >&2; exit 1; }
done
qemu-io --object secret,id=s0,data=bench --image-opts \
    "driver=luks,key-secret=s0,file.filename=$luks" -c "write -P 0x5a 0 ${size_mb}M" >/dev/null
cat "$raw" "$luks" > /dev/null

sock="$work/vhost.sock"

wait_socket() {
    for _ in $(seq 100); do
        [ -S "$sock" ] && return 0
        sleep 0.05
    done
    echo "compare.sh: server did not listen" >&2
    exit 1
}

# start_server qsd|hb BACKEND
start_server() {
    rm -f "$sock"
    # Write back what the previous server dirtied, so that neither server
    # runs while the kernel flushes the other's writes.
    sync
    local node_qsd node_hb
    case "$2" in
    null)
        node_qsd="driver=null-co,node-name=d0,size=$((size_mb << 20))"
        node_hb="{\"driver\":\"null-co\",\"node-name\":\"d0\",\"size\":$((size_mb << 20))}"
        ;;
    raw)
        node_qsd="driver=file,node-name=d0,filename=$raw"
        node_hb="{\"driver\":\"file\",\"node-name\":\"d0\",\"filename\":\"$raw\"}"
        ;;
    luks)
        node_qsd="driver=luks,node-name=d0,key-secret=s0,file.driver=file,file.filename=$luks"
        node_hb="{\"driver\":\"luks\",\"node-name\":\"d0\",\"key-secret\":\"s0\",\"file\":{\"driver\":\"file\",\"filename\":\"$luks\"}}"
        ;;
    esac
    if [ "$1" = qsd ]; then
        qemu-storage-daemon --object secret,id=s0,data=bench --blockdev "$node_qsd" \
            --export "type=vhost-user-blk,id=e0,node-name=d0,addr.type=unix,addr.path=$sock,writable=on" \
            2>"$work/server.log" &
    else
        "$hotblockd" --object '{"qom-type":"secret","id":"s0","data":"bench"}' --blockdev "$node_hb" \
            --export "{\"type\":\"vhost-user-blk\",\"id\":\"e0\",\"node-name\":\"d0\",\"addr\":{\"type\":\"unix\",\"path\":\"$sock\"},\"writable\":true}" \
            2>"$work/server.log" &
    fi
    server_pid=$!
    wait_socket
}

stop_server() {
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
}

# run_one RW BS IODEPTH -> "iops mbps"
run_one() {
    "$bench" "$sock" --write-ok --rw "$1" --bs "$2" --iodepth "$3" --runtime "$runtime" --no-pattern --json |
        python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["iops"], r["mbps"], r["errors"])'
}

workloads=("randread 4k 1" "randread 4k 32" "randwrite 4k 1" "randwrite 4k 32" "read 1M 8")
declare -A result   # backend/server/workload -> "iops mbps;iops mbps;..." one per repetition

# Figures on a small VM drift with what the kernel is doing (page-cache
# folio sizes, writeback, the host), so each pair of servers runs REPS
# times, the order alternating, and the medians are compared.
for backend in null raw luks; do
    for rep in $(seq "$reps"); do
        order="qsd hb"
        [ $((rep % 2)) = 0 ] && order="hb qsd"
        for server in $order; do
            start_server "$server" "$backend"
            for w in "${workloads[@]}"; do
                read -r rw bs qd <<<"$w"
                read -r iops mbps errors < <(run_one "$rw" "$bs" "$qd")
                [ "$errors" = 0 ] || { echo "compare.sh: $server $backend $w: $errors errors" >&2; exit 1; }
                result["$backend/$server/$w"]+="$iops $mbps;"
            done
            stop_server
        done
    done
done

for backend in null raw luks; do
    for w in "${workloads[@]}"; do
        echo "$backend|$w|${result[$backend/qsd/$w]}|${result[$backend/hb/$w]}"
    done
done | python3 "$here/ratio-table.py"

# What the kernel itself allows for the raw file's 4k random writes, with no
# daemon in between: the ceiling for "raw randwrite" above.
if [ -x "$build/bench/pwrite-threads" ]; then
    sync
    echo "kernel ceiling, 4k random pwrite() into the raw file:"
    "$build/bench/pwrite-threads" "$raw" 2 "$runtime" | sed 's/^/    /'
fi

# DIRECT=1: the O_DIRECT set too, on a real disk (bench/compare-direct.sh,
# which takes its own environment: DIRECT_DIR, IMAGES, WORKLOADS, ...).
if [ "${DIRECT:-0}" = 1 ]; then
    echo
    "$here/compare-direct.sh" "$build"
fi

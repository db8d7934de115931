#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# bench/compare-direct.sh — hotblock-bench against qemu-storage-daemon (each aio
# mode) and hotblockd, every image opened with O_DIRECT on a file on a real
# disk; fio on the same file as the physical ceiling.  Prints markdown tables.
#
#   bench/compare-direct.sh [BUILD_DIR]      (default: build)
#   DIRECT_DIR=/var/tmp RUNTIME=2 REPS=3 SIZE_MB=1024 bench/compare-direct.sh build
#   IMAGES=raw WORKLOADS="randread:4k:32 randwrite:4k:32" bench/compare-direct.sh
#
# Environment (defaults in brackets):
#   DIRECT_DIR  where the images go; must not be tmpfs/ramfs [/var/tmp]
#   IMAGES      any of: raw luks qcow2 qcow2-alloc [all four]
#   WORKLOADS   RW:BS:IODEPTH words [randread:4k:1 randread:4k:32
#               randwrite:4k:1 randwrite:4k:32 randread:64k:8]
#   QSD_AIO     QSD's aio modes to measure [threads native io_uring]
#   HB_AIO      if set, hotblockd's file nodes get "aio": HB_AIO [unset: none]
#   FIO_ENGINES fio's engines, each run on the raw file in the servers'
#               rotation (every repetition, every image) [libaio io_uring]
#   REPS        repetitions of each run [3]
#   RUNTIME     seconds per run [2]
#   SIZE_MB     image size [1024]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
bench="$build/tools/hotblock-bench"
hotblockd="$build/daemon/hotblockd"
direct_dir=${DIRECT_DIR:-/var/tmp}
images=${IMAGES:-raw luks qcow2 qcow2-alloc}
workloads=${WORKLOADS:-randread:4k:1 randread:4k:32 randwrite:4k:1 randwrite:4k:32 randread:64k:8}
qsd_aio=${QSD_AIO:-threads native io_uring}
hb_aio=${HB_AIO:-}
fio_engines=${FIO_ENGINES:-libaio io_uring}
reps=${REPS:-3}
runtime=${RUNTIME:-2}
size_mb=${SIZE_MB:-1024}

. "$here/lib.sh"
for t in "$bench" "$hotblockd"; do
    [ -x "$t" ] || bench_die "$t is not built"
done
for t in qemu-storage-daemon qemu-img fio; do
    command -v "$t" >/dev/null || bench_die "$t missing (scripts/install-deps.sh test)"
done
for i in $images; do
    case "$i" in raw|luks|qcow2|qcow2-alloc) ;; *) bench_die "unknown image '$i'" ;; esac
done
for w in $workloads; do
    [[ "$w" =~ ^(randread|randwrite|read|write):[0-9]+[kKmM]?:[0-9]+$ ]] || bench_die "bad workload '$w' (RW:BS:IODEPTH)"
done
for a in $qsd_aio; do
    case "$a" in threads|native|io_uring) ;; *) bench_die "unknown QSD aio mode '$a'" ;; esac
done
for e in $fio_engines; do
    case "$e" in libaio|io_uring) ;; *) bench_die "unknown fio engine '$e' (libaio, io_uring)" ;; esac
done

# O_DIRECT on tmpfs fails, and on anything memory-backed would measure memory.
bench_direct_workdir "$direct_dir" hb-direct
echo "images in $work ($fstype on $(df --output=source "$work" | tail -1)), ${size_mb} MiB," \
    "$reps x ${runtime}s per run"

# The images, all holding data so that reads reach the disk (a hole reads
# without I/O): random bytes, converted for luks and qcow2.
raw="$work/raw.img"
luks="$work/luks.img"
qcow2="$work/prealloc.qcow2"
fresh="$work/fresh.qcow2"
secret_obj=(--object "secret,id=s0,data=bench")
dd if=/dev/urandom of="$raw" bs=1M count="$size_mb" oflag=direct status=none
case " $images " in
*" luks "*)
    # qemu-img's PBKDF timing fails now and then at a small iter-time ("Unable
    # to get accurate CPU usage"): try again rather than abort the whole run.
    for try in 1 2 3 4 5; do
        qemu-img convert -q "${secret_obj[@]}" -O luks -o key-secret=s0,iter-time=10 \
            "$raw" "$luks" && break
        [ "$try" = 5 ] && bench_die "qemu-img cannot create the LUKS image"
    done ;;
esac
case " $images " in
*" qcow2 "*) qemu-img convert -q -O qcow2 -o preallocation=metadata "$raw" "$qcow2" ;;
esac
sync

sock="$work/vhost.sock"

wait_socket() {
    for _ in $(seq 200); do
        [ -S "$sock" ] && return 0
        kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; bench_die "$1 exited at start"; }
        sleep 0.05
    done
    bench_die "$1 did not listen"
}

# Every descriptor the server holds on FILE must be O_DIRECT (040000 in
# /proc/PID/fdinfo's octal flags), and there must be one.
check_direct() {
    local fd n=0 flags
    for fd in /proc/"$server_pid"/fd/*; do
        [ "$(readlink "$fd")" = "$1" ] || continue
        flags=$(awk '/^flags:/ { print $2 }' "/proc/$server_pid/fdinfo/${fd##*/}")
        (( (8#$flags & 8#40000) != 0 )) || bench_die "$2 opened $1 without O_DIRECT (flags $flags)"
        n=$((n + 1))
    done
    [ "$n" -gt 0 ] || bench_die "$2 has no descriptor on $1"
}

# start_server SERVER IMAGE, SERVER being qsd-MODE or hb
start_server() {
    local server=$1 image=$2 file aio_q aio_h='' node_qsd node_hb
    rm -f "$sock"
    sync
    case "$server" in
    qsd-*) aio_q=${server#qsd-} ;;
    esac
    [ -n "$hb_aio" ] && aio_h=",\"aio\":\"$hb_aio\""
    local dq="cache.direct=on" dh='"cache":{"direct":true}'
    case "$image" in
    raw)
        file=$raw
        node_qsd="driver=file,node-name=d0,filename=$file,$dq,aio=${aio_q:-}"
        node_hb="{\"driver\":\"file\",\"node-name\":\"d0\",\"filename\":\"$file\",$dh$aio_h}"
        ;;
    luks|qcow2|qcow2-alloc)
        local fmt=qcow2 extra_q='' extra_h=''
        case "$image" in
        luks) file=$luks; fmt=luks; extra_q=",key-secret=s0"; extra_h=",\"key-secret\":\"s0\"" ;;
        qcow2) file=$qcow2 ;;
        qcow2-alloc) file=$fresh ;;
        esac
        node_qsd="driver=$fmt,node-name=d0$extra_q,$dq,file.driver=file,file.filename=$file,file.$dq,file.aio=${aio_q:-}"
        node_hb="{\"driver\":\"$fmt\",\"node-name\":\"d0\"$extra_h,$dh,\"file\":{\"driver\":\"file\",\"filename\":\"$file\",$dh$aio_h}}"
        ;;
    esac
    if [ "$server" = hb ]; then
        "$hotblockd" --object '{"qom-type":"secret","id":"s0","data":"bench"}' --blockdev "$node_hb" \
            --export "{\"type\":\"vhost-user-blk\",\"id\":\"e0\",\"node-name\":\"d0\",\"addr\":{\"type\":\"unix\",\"path\":\"$sock\"},\"writable\":true}" \
            2>"$work/server.log" &
    else
        qemu-storage-daemon "${secret_obj[@]}" --blockdev "$node_qsd" \
            --export "type=vhost-user-blk,id=e0,node-name=d0,addr.type=unix,addr.path=$sock,writable=on" \
            2>"$work/server.log" &
    fi
    server_pid=$!
    wait_socket "$server"
    check_direct "$file" "$server"
}

stop_server() {
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
}

# run_bench RW BS IODEPTH -> "iops p99_us"
run_bench() {
    "$bench" "$sock" --write-ok --rw "$1" --bs "$2" --iodepth "$3" --runtime "$runtime" --no-pattern --json |
        python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["iops"], r["lat_us"]["p99"], r["errors"])'
}

# run_fio ENGINE RW BS IODEPTH -> "iops p99_us" on the raw file
run_fio() {
    fio --name=ceiling --filename="$raw" --ioengine="$1" --direct=1 --rw="$2" --bs="$3" \
        --iodepth="$4" --time_based --runtime="$runtime" --lat_percentiles=1 \
        --output-format=json 2>/dev/null |
        python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]
d = j["read"] if j["read"]["io_bytes"] else j["write"]
print(d["iops"], d["lat_ns"]["percentile"]["99.000000"] / 1000)'
}

declare -A result   # image/server/workload -> "iops p99;iops p99;..." one per repetition
servers=()
for a in $qsd_aio; do servers+=("qsd-$a"); done
# hotblockd between QSD's modes, not always last
servers=("${servers[0]}" hb "${servers[@]:1}")
# fio (the disk itself, the raw file) takes its turn in the same rotation:
# this disk's speed drifts by a third over minutes, so a ceiling measured
# apart from the servers says little about what share of it they reach.
for e in $fio_engines; do servers+=("fio-$e"); done
nserv=${#servers[@]}

for image in $images; do
    for w in $workloads; do
        IFS=: read -r rw bs qd <<<"$w"
        # A fresh, empty qcow2 allocates as it goes; reading it reads no disk.
        if [ "$image" = qcow2-alloc ] && [[ "$rw" != *write ]]; then
            continue
        fi
        for rep in $(seq "$reps"); do
            # rotate the order by one each repetition
            for k in $(seq 0 $((nserv - 1))); do
                server=${servers[$(( (k + rep - 1) % nserv ))]}
                if [[ "$server" == fio-* ]]; then
                    result["$image/$server/$w"]+="$(run_fio "${server#fio-}" "$rw" "$bs" "$qd");"
                    continue
                fi
                [ "$image" = qcow2-alloc ] && { rm -f "$fresh"; qemu-img create -q -f qcow2 "$fresh" "${size_mb}M"; }
                start_server "$server" "$image"
                read -r iops p99 errors < <(run_bench "$rw" "$bs" "$qd")
                stop_server
                [ "$errors" = 0 ] || bench_die "$server $image $w: $errors errors"
                result["$image/$server/$w"]+="$iops $p99;"
            done
        done
    done
done

{
    echo "servers|${servers[*]}"
    for image in $images; do
        for w in $workloads; do
            [ -n "${result[$image/hb/$w]:-}" ] || continue
            for s in "${servers[@]}"; do
                echo "$image|$w|$s|${result[$image/$s/$w]:-}"
            done
        done
    done
} | python3 "$here/direct-table.py"

# SPDX-License-Identifier: GPL-2.0-or-later
# bench/lib.sh — what the bench scripts share; sourced (". bench/lib.sh"), not run.
#
#   bench_die MSG...             "SCRIPT: MSG" on stderr, exit 1
#   bench_workdir PARENT PREFIX  $work: a fresh directory under PARENT, removed at
#                                exit, after the server in $server_pid (if any) is
#                                stopped
#   bench_direct_workdir DIR PREFIX
#                                bench_workdir on DIR, which must be a directory on
#                                a disk (not tmpfs/ramfs) taking O_DIRECT writes:
#                                O_DIRECT on memory would measure memory; sets
#                                $fstype

bench_die() {
    echo "$(basename "$0"): $*" >&2
    exit 1
}

server_pid=
bench_cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}

bench_workdir() {
    work=$(mktemp -d "$1/$2.XXXXXX")
    trap bench_cleanup EXIT
}

bench_direct_workdir() {
    [ -d "$1" ] || bench_die "DIRECT_DIR $1 is not a directory"
    fstype=$(stat -f -c %T "$1")
    case "$fstype" in
    tmpfs|ramfs) bench_die "$1 is on $fstype, not a disk: set DIRECT_DIR" ;;
    esac
    bench_workdir "$1" "$2"
    dd if=/dev/zero of="$work/probe" bs=4k count=1 oflag=direct status=none 2>/dev/null ||
        bench_die "$1 ($fstype) does not take O_DIRECT writes"
    rm -f "$work/probe"
}

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""bench/dirty-log.py — what dirty-page logging (live migration) costs a
server: the same hotblock-bench workload with and without --dirty-log, on
hotblockd and on qemu-storage-daemon, alternating, and the ratio of the
medians.

    bench/dirty-log.py [BUILD_DIR]                 (default: build)
    RUNTIME=4 REPS=5 SIZE_MB=512 bench/dirty-log.py

Backends: null-co (the server's own cost, nothing else: where logging
shows most) and a raw file of random data read into the page cache first.
Workloads: 4k randread and randwrite at iodepth 32, one queue.  With
--dirty-log the bench turns logging on as QEMU does when a migration
starts (LOG_SHMFD, SET_LOG_BASE, VHOST_F_LOG_ALL, VHOST_VRING_F_LOG), so
every completion marks its data, status and used-ring pages.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "build"))
BENCH = os.path.join(BUILD, "tools", "hotblock-bench")
HOTBLOCKD = os.path.join(BUILD, "daemon", "hotblockd")
RUNTIME = os.environ.get("RUNTIME", "4")
REPS = int(os.environ.get("REPS", "5"))
SIZE_MB = int(os.environ.get("SIZE_MB", "512"))


def start(server, backend, raw, sock):
    """@server ("hotblockd" or "qsd") exporting @backend on @sock."""
    if os.path.exists(sock):
        os.unlink(sock)
    size = SIZE_MB << 20
    if server == "qsd":
        node = (f"driver=null-co,node-name=d0,size={size}" if backend == "null"
                else f"driver=file,node-name=d0,filename={raw}")
        argv = ["qemu-storage-daemon", "--blockdev", node, "--export",
                f"type=vhost-user-blk,id=e0,node-name=d0,addr.type=unix,addr.path={sock},"
                "writable=on"]
    else:
        node = ({"driver": "null-co", "node-name": "d0", "size": size} if backend == "null"
                else {"driver": "file", "node-name": "d0", "filename": raw})
        argv = [HOTBLOCKD, "--blockdev", json.dumps(node), "--export",
                json.dumps({"type": "vhost-user-blk", "id": "e0", "node-name": "d0",
                            "writable": True, "addr": {"type": "unix", "path": sock}})]
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        if os.path.exists(sock):
            return p
        time.sleep(0.05)
    p.kill()
    sys.exit(f"dirty-log.py: {server} did not listen")


def iops(sock, rw, log):
    # scratch exports: writing is intended (randwrite runs too)
    argv = [BENCH, sock, "--rw", rw, "--iodepth", "32", "--runtime", RUNTIME, "--json",
            "--write-ok"]
    if log:
        argv.append("--dirty-log")
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return json.loads(out)["iops"]


def main():
    for t in (BENCH, HOTBLOCKD):
        if not os.access(t, os.X_OK):
            sys.exit(f"dirty-log.py: {t} is not built")
    with tempfile.TemporaryDirectory(prefix="hb-dirty-log.") as work:
        raw, sock = os.path.join(work, "raw.img"), os.path.join(work, "vhost.sock")
        with open(raw, "wb") as f:
            for _ in range(SIZE_MB):
                f.write(os.urandom(1 << 20))
        print(f"{'server':10} {'backend':8} {'workload':10} {'off IOPS':>10} {'on IOPS':>10} "
              f"{'cost':>7}  per-repetition costs")
        for server in ("hotblockd", "qsd"):
            for backend in ("null", "raw"):
                p = start(server, backend, raw, sock)
                try:
                    for rw in ("randread", "randwrite"):
                        off, on = [], []
                        for i in range(REPS):
                            # alternate which runs first, so drift hits both
                            for log in ((False, True) if i % 2 == 0 else (True, False)):
                                (on if log else off).append(iops(sock, rw, log))
                        moff, mon = statistics.median(off), statistics.median(on)
                        per = " ".join(f"{(a - b) / a * 100:+.0f}%" for a, b in zip(off, on))
                        print(f"{server:10} {backend:8} {rw:10} {moff:10.0f} {mon:10.0f} "
                              f"{(moff - mon) / moff * 100:+6.1f}%  {per}", flush=True)
                finally:
                    p.terminate()
                    p.wait()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""bench/rbd.py — hotblockd's rbd node against qemu-storage-daemon's rbd
driver, on one real single-node Ceph cluster and one image.

    bench/rbd.py [BUILD_DIR] [--runtime 3] [--size-mb 256] [--reps 3]

Starts the tests' cluster (tests/lib/hbtest/ceph.py: one ceph-mon, one
ceph-osd on memstore, so the OSD is RAM and the figures show the client
side), fills an image, exports it from hotblockd and from QSD (both
vhost-user-blk, one queue, the same rbd options), and runs hotblock-bench
on each in turn: 4k randread and randwrite at qd1 and qd32, 1 MiB
sequential reads at qd8, --reps times, the order of the two servers
alternating, median [min-max].  `rbd bench` on the same image is printed as the
ceiling (librbd with no server in between).  Prints IOPS (MB/s for 1 MiB)
and the ratio hotblockd/QSD.

With --pin, the cluster's daemons (every thread) run on the last CPU and
both servers and hotblock-bench on the others, so that the servers' own
CPU cost shows instead of the OSD's share of the same CPUs."""
import argparse
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "lib"))
from hbtest.ceph import Cluster, require_ceph  # noqa: E402
from hbtest.qmp import QMP  # noqa: E402
from hbtest.qsd import QemuStorageDaemon  # noqa: E402

WORKLOADS = [
    ("4k randread qd1", ["--rw", "randread", "--bs", "4k", "--iodepth", "1"], "iops"),
    ("4k randread qd32", ["--rw", "randread", "--bs", "4k", "--iodepth", "32"], "iops"),
    ("4k randwrite qd1", ["--rw", "randwrite", "--bs", "4k", "--iodepth", "1"], "iops"),
    ("4k randwrite qd32", ["--rw", "randwrite", "--bs", "4k", "--iodepth", "32"], "iops"),
    ("1M read qd8", ["--rw", "read", "--bs", "1M", "--iodepth", "8"], "mbps"),
]
RBD_BENCH = {
    "4k randread qd1": ["--io-type", "read", "--io-size", "4K", "--io-threads", "1",
                        "--io-pattern", "rand"],
    "4k randread qd32": ["--io-type", "read", "--io-size", "4K", "--io-threads", "32",
                         "--io-pattern", "rand"],
    "4k randwrite qd1": ["--io-type", "write", "--io-size", "4K", "--io-threads", "1",
                         "--io-pattern", "rand"],
    "4k randwrite qd32": ["--io-type", "write", "--io-size", "4K", "--io-threads", "32",
                          "--io-pattern", "rand"],
    "1M read qd8": ["--io-type", "read", "--io-size", "1M", "--io-threads", "8",
                    "--io-pattern", "seq"],
}


def add_volume(q, cluster, image, sock):
    q.cmd("object-add", **{"qom-type": "secret", "id": "ckey"}, data=cluster.admin_key(),
          format="base64")
    q.cmd("blockdev-add", **{"node-name": "r", "driver": "rbd", "pool": cluster.pool,
                             "image": image, "user": "admin", "key-secret": "ckey",
                             "server": [{"host": "127.0.0.1",
                                         "port": str(cluster.mon_port)}]})
    q.cmd("block-export-add", type="vhost-user-blk", id="e", **{"node-name": "r"},
          addr={"type": "unix", "path": str(sock)}, writable=True)


def pin(pid, cpus):
    """Every thread of process @pid onto CPU list @cpus ("0", "1-3")."""
    subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(pid)], check=True,
                   stdout=subprocess.DEVNULL)


def run_bench(bench, sock, args, runtime, size, cpus=None):
    prefix = ["taskset", "-c", cpus] if cpus else []
    p = subprocess.run([*prefix, bench, str(sock), "--json", "--write-ok", "--no-pattern",
                        "--runtime", str(runtime), "--size", str(size), *args],
                       capture_output=True, text=True, timeout=runtime * 10 + 60)
    if p.returncode:
        raise SystemExit(f"hotblock-bench failed: {p.stderr}{p.stdout}")
    return json.loads(p.stdout)


def cpu_seconds(pid):
    """User + system CPU time of process @pid so far, in seconds."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rbd_bench(cluster, image, args, total, key):
    """`rbd bench` moving @total bytes: ops/s (@key iops) or MB/s (mbps)."""
    out = cluster.run("rbd", "bench", *args, "--io-total", str(total),
                      f"{cluster.pool}/{image}", timeout=600).stdout.decode()
    m = re.search(r"elapsed:\s*([\d.]+)\s+ops:\s*(\d+)\s+ops/sec:\s*([\d.]+)"
                  r"\s+bytes/sec:\s*([\d.]+)\s*([KMG]?i?B)?", out)
    if not m:
        raise SystemExit(f"rbd bench: no summary in {out}")
    if key == "iops":
        return float(m.group(3))
    scale = {"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
    return float(m.group(4)) * scale.get(m.group(5) or "", 1) / 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--runtime", type=float, default=3)
    ap.add_argument("--size-mb", type=int, default=256)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--pin", action="store_true",
                    help="the cluster on the last CPU, servers and client on the others")
    a = ap.parse_args()
    ncpu = os.cpu_count() or 1
    if a.pin and ncpu < 2:
        raise SystemExit("--pin needs two CPUs at least")
    client_cpus = f"0-{ncpu - 2}" if a.pin else None
    build = pathlib.Path(a.build).resolve()
    bench = build / "tools/hotblock-bench"
    hotblockd = build / "daemon/hotblockd"
    size = a.size_mb << 20
    require_ceph()

    with tempfile.TemporaryDirectory(prefix="hb-rbd-bench.") as d:
        d = pathlib.Path(d)
        (d / "ceph").mkdir()
        cluster = Cluster(d / "ceph")
        procs = []
        try:
            cluster.start()
            if a.pin:
                for p in cluster.procs.values():
                    pin(p.pid, str(ncpu - 1))
                print(f"cluster on CPU {ncpu - 1}; servers and client on CPUs {client_cpus}")
            image = "bench"
            cluster.create_image(image, size)
            # Every object written once, so reads go to data, not holes.
            cluster.run("rbd", "bench", "--io-type", "write", "--io-size", "4M",
                        "--io-pattern", "seq", "--io-total", str(size),
                        f"{cluster.pool}/{image}", timeout=600)

            hsock, qsock = d / "hb.sock", d / "qsd.sock"
            (d / "hb").mkdir()
            hp = subprocess.Popen([hotblockd, "--qmp", str(d / "hb" / "qmp.sock")],
                                  stderr=open(d / "hb.log", "wb"))
            procs.append(hp)
            while not (d / "hb" / "qmp.sock").exists():
                time.sleep(0.05)
            hq = QMP(str(d / "hb" / "qmp.sock"))
            add_volume(hq, cluster, image, hsock)
            qsd = QemuStorageDaemon(d)
            procs.append(qsd.proc)
            qq = qsd.qmp()
            add_volume(qq, cluster, image, qsock)

            pids = {hsock: hp.pid, qsock: qsd.proc.pid}
            if a.pin:
                for pid in pids.values():
                    pin(pid, client_cpus)
            print(f"{'workload':18} {'hotblockd':>22} {'QSD':>22} {'ratio':>6} {'rbd bench':>10}"
                  f"  {'CPU us/op hotblockd QSD':>24}")
            for name, args, key in WORKLOADS:
                got = {hsock: [], qsock: []}
                cpu = {hsock: [0.0, 0], qsock: [0.0, 0]}   # seconds, requests
                for rep in range(a.reps):
                    order = (hsock, qsock) if rep % 2 == 0 else (qsock, hsock)
                    for sock in order:
                        t0 = cpu_seconds(pids[sock])
                        res = run_bench(bench, sock, args, a.runtime, size, client_cpus)
                        cpu[sock][0] += cpu_seconds(pids[sock]) - t0
                        cpu[sock][1] += res["ops"]
                        got[sock].append(res[key])
                hb, qs = (statistics.median(got[x]) for x in (hsock, qsock))
                us = [1e6 * cpu[x][0] / max(cpu[x][1], 1) for x in (hsock, qsock)]
                # rbd bench has no time limit: about as many bytes as
                # hotblockd moved in --runtime, within the image.
                moved = hb * a.runtime * (4096 if key == "iops" else 1e6)
                total = int(min(size, max(moved, 1 << 20)))
                ceil = rbd_bench(cluster, image, RBD_BENCH[name], total, key)
                unit = "IOPS" if key == "iops" else "MB/s"

                def cell(v, xs):
                    return f"{v:.0f} [{min(xs):.0f}-{max(xs):.0f}]"
                print(f"{name:18} {cell(hb, got[hsock]):>22} {cell(qs, got[qsock]):>22} "
                      f"{hb / qs:6.2f} {ceil:10.0f}  {us[0]:11.1f} {us[1]:6.1f}  {unit}",
                      flush=True)
        finally:
            for p in procs:
                p.terminate()
                p.wait()
            cluster.stop()


if __name__ == "__main__":
    main()

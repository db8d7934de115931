#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""bench/ab.py — one workload against two builds of hotblockd, alternating.

    bench/ab.py BASE_BUILD NEW_BUILD [--reps 7] [--runtime 3]
                [--rw randread] [--bs 4k] [--iodepth 32]

Each repetition starts each build's hotblockd in turn (the order alternating)
with one null-co node exported over vhost-user-blk, runs hotblock-bench on it
once (--no-pattern), and stops it.  Prints the median IOPS of each build,
[min-max], the ratio of the medians and the spread of the per-repetition
ratios (repetition i of the two builds ran back to back), and the daemon's
CPU time per request (user + system, from /proc/PID/stat over the run):
on a shared machine IOPS move with the neighbours' load, CPU per request
much less.  Used for the cost of the I/O accounting (query-blockstats)
against the merge base."""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time


def start(build, sock):
    node = {"driver": "null-co", "node-name": "d0", "size": 1 << 30}
    exp = {"type": "vhost-user-blk", "id": "e0", "node-name": "d0",
           "addr": {"type": "unix", "path": sock}, "writable": True}
    p = subprocess.Popen([os.path.join(build, "daemon/hotblockd"), "--blockdev", json.dumps(node),
                          "--export", json.dumps(exp)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not os.path.exists(sock):
        assert p.poll() is None and time.monotonic() < deadline, "hotblockd did not start"
        time.sleep(0.02)
    return p


def cpu_ns(pid):
    """User + system CPU time of @pid so far, in ns."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1e9 / os.sysconf("SC_CLK_TCK")


def run(build, bench, sock, a):
    p = start(build, sock)
    try:
        c0 = cpu_ns(p.pid)
        out = subprocess.run([bench, sock, "--rw", a.rw, "--bs", a.bs, "--iodepth", str(a.iodepth),
                              "--runtime", str(a.runtime), "--no-pattern", "--json",
                              "--write-ok"],   # scratch null-co exports: --rw randwrite too
                             capture_output=True, text=True, check=True).stdout
        r = json.loads(out)
        assert r["errors"] == 0
        return r["iops"], (cpu_ns(p.pid) - c0) / r["ops"]
    finally:
        p.terminate()
        p.wait()
        os.unlink(sock) if os.path.exists(sock) else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("new")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--runtime", type=float, default=3)
    ap.add_argument("--rw", default="randread")
    ap.add_argument("--bs", default="4k")
    ap.add_argument("--iodepth", type=int, default=32)
    a = ap.parse_args()
    bench = os.path.join(a.new, "tools/hotblock-bench")
    res = {a.base: [], a.new: []}
    with tempfile.TemporaryDirectory() as d:
        sock = os.path.join(d, "e0.sock")
        for rep in range(a.reps):
            order = [a.base, a.new] if rep % 2 == 0 else [a.new, a.base]
            for b in order:
                res[b].append(run(b, bench, sock, a))
    print(f"{a.rw} {a.bs} qd{a.iodepth}, {a.reps} x {a.runtime:g} s, null-co")
    for what, k, fmt in (("IOPS", 0, ".0f"), ("daemon CPU ns/request", 1, ".0f")):
        base = [r[k] for r in res[a.base]]
        new = [r[k] for r in res[a.new]]
        for name, v in ((a.base, base), (a.new, new)):
            print(f"  {name}: {what} median {statistics.median(v):{fmt}} "
                  f"[{min(v):{fmt}}-{max(v):{fmt}}]")
        per = [n / b for b, n in zip(base, new)]
        print(f"  {what} new/base: {statistics.median(new) / statistics.median(base):.3f} "
              f"(per repetition {min(per):.3f}-{max(per):.3f}, median {statistics.median(per):.3f})")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""bench/throttle.py — does a throttled volume hold its limit, and does an
unthrottled neighbour keep its speed?

    bench/throttle.py [BUILD_DIR] [--reps 5] [--runtime 5] [--iops 2000]
                      [--bps 0] [--bs 4k] [--shared-thread]

One hotblockd with two null-co volumes: "limited" under a throttle node of
group tg0 (limits.iops-total = --iops, or limits.bps-total = --bps), and
"neighbour" with no limit.  Each export has an iothread object of its own,
as docs/block.md advises (--shared-thread: both on one, to show the cost of
sharing).  Each repetition runs, the order alternating:

  alone:    the neighbour alone, 4k randread qd32 (its baseline)
  together: the limited volume saturated (randread qd32, --bs) while the
            neighbour runs the same baseline workload

and, in both, reports the limited volume's achieved rate over the window
(burst included: the first tenth of a second's worth goes at once).
Prints medians with [min-max] over the repetitions: the limited rate /
limit, and the neighbour's IOPS together / alone."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "lib"))
from hbtest.qmp import QMP  # noqa: E402


def parse_size(s):
    mult = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    return int(s[:-1]) * mult[s[-1].lower()] if s[-1].lower() in mult else int(s)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--runtime", type=float, default=5)
    ap.add_argument("--iops", type=int, default=2000)
    ap.add_argument("--bps", type=int, default=0)
    ap.add_argument("--bs", default="4k")
    ap.add_argument("--shared-thread", action="store_true")
    a = ap.parse_args()
    daemon = os.path.join(a.build, "daemon/hotblockd")
    bench = os.path.join(a.build, "tools/hotblock-bench")
    limits = {"bps-total": a.bps} if a.bps else {"iops-total": a.iops}
    limit = a.bps if a.bps else a.iops

    with tempfile.TemporaryDirectory() as d:
        qsock = os.path.join(d, "qmp.sock")
        p = subprocess.Popen([daemon, "--qmp", qsock], stderr=subprocess.DEVNULL)
        try:
            while not os.path.exists(qsock):
                time.sleep(0.02)
            qmp = QMP(qsock)
            qmp.cmd("object-add", {"qom-type": "iothread", "id": "io0"})
            qmp.cmd("object-add", {"qom-type": "iothread", "id": "io1"})
            qmp.cmd("object-add", {"qom-type": "throttle-group", "id": "tg0", "limits": limits})
            qmp.cmd("blockdev-add", {"driver": "throttle", "node-name": "limited",
                                     "throttle-group": "tg0",
                                     "file": {"driver": "null-co", "size": 1 << 30}})
            qmp.cmd("blockdev-add", {"driver": "null-co", "node-name": "neighbour",
                                     "size": 1 << 30})
            socks = {}
            for eid, node, th in (("el", "limited", "io0"),
                                  ("en", "neighbour", "io0" if a.shared_thread else "io1")):
                socks[eid] = os.path.join(d, eid + ".sock")
                qmp.cmd("block-export-add", {"type": "vhost-user-blk", "id": eid,
                                             "node-name": node, "iothread": th,
                                             "addr": {"type": "unix", "path": socks[eid]},
                                             "writable": True})

            def run(eid, bs, runtime):
                return subprocess.Popen([bench, socks[eid], "--rw", "randread", "--bs", bs,
                                         "--iodepth", "32", "--runtime", str(runtime),
                                         "--no-pattern", "--json"],
                                        stdout=subprocess.PIPE, text=True)

            def result(proc):
                r = json.loads(proc.communicate()[0])
                assert r["errors"] == 0
                return r

            def rate(r):
                return r["iops"] * (parse_size(a.bs) if a.bps else 1)

            alone, together, limited = [], [], []
            for rep in range(a.reps):
                for phase in (["alone", "together"] if rep % 2 == 0 else ["together", "alone"]):
                    if phase == "alone":
                        alone.append(result(run("en", "4k", a.runtime))["iops"])
                        continue
                    # The limited volume runs a little longer, so the neighbour's
                    # whole window has it saturated.
                    pl = run("el", a.bs, a.runtime + 1)
                    time.sleep(0.5)
                    together.append(result(run("en", "4k", a.runtime))["iops"])
                    limited.append(rate(result(pl)))
                    time.sleep(0.5)     # its queue drains
        finally:
            p.terminate()
            p.wait()

    def show(v):
        return f"{statistics.median(v):.0f} [{min(v):.0f}-{max(v):.0f}]"

    unit = "B/s" if a.bps else "IOPS"
    print(f"limit {limit} {unit} ({'one iothread for both' if a.shared_thread else 'an iothread each'}), "
          f"{a.reps} x {a.runtime:g} s")
    print(f"  limited volume ({a.bs} randread qd32): {show(limited)} {unit}; "
          f"/limit: median {statistics.median(limited) / limit:.3f} "
          f"[{min(limited) / limit:.3f}-{max(limited) / limit:.3f}]")
    per = [t / al for t, al in zip(together, alone)]
    print(f"  neighbour (4k randread qd32): alone {show(alone)} IOPS, together {show(together)} IOPS; "
          f"together/alone: median {statistics.median(together) / statistics.median(alone):.3f} "
          f"(per repetition {min(per):.3f}-{max(per):.3f})")


if __name__ == "__main__":
    main()

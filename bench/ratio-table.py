#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""bench/ratio-table.py — compare.sh's table: medians per server and their ratio.

Reads lines "BACKEND|RW BS QD|IOPS MBPS;IOPS MBPS;...|IOPS MBPS;..." (QSD's
runs, then hotblockd's, one entry per repetition) on stdin.
"""
import statistics
import sys


def runs(field):
    return [tuple(map(float, r.split())) for r in field.split(";") if r]


def main():
    print(f"{'backend':6} {'workload':18} {'QSD IOPS':>10} {'hb IOPS':>10} {'ratio':>7} "
          f"{'per run':>13} {'QSD MB/s':>10} {'hb MB/s':>10}")
    for line in sys.stdin:
        backend, workload, qsd, hb = line.rstrip("\n").split("|")
        qsd, hb = runs(qsd), runs(hb)
        qi = statistics.median(r[0] for r in qsd)
        hi = statistics.median(r[0] for r in hb)
        qm = statistics.median(r[1] for r in qsd)
        hm = statistics.median(r[1] for r in hb)
        # Repetition i of each server ran back to back: their ratio shows the spread.
        per = [h[0] / max(q[0], 1) for h, q in zip(hb, qsd)]
        rw, bs, qd = workload.split()
        print(f"{backend:6} {rw + ' ' + bs + ' qd' + qd:18} {qi:10.0f} {hi:10.0f} "
              f"{hi / max(qi, 1):6.2f}x {min(per):6.2f}-{max(per):5.2f}x {qm:10.1f} {hm:10.1f}")


if __name__ == "__main__":
    main()

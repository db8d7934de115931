#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""bench/direct-table.py — compare-direct.sh's markdown tables.

Reads on stdin a line "servers|qsd-MODE hb qsd-MODE ..." and then lines
"IMAGE|RW:BS:QD|SERVER|IOPS P99;IOPS P99;..." (one entry per repetition; SERVER
is qsd-MODE, hb, fio-libaio or fio-io_uring; fio ran on the raw file in the
same rotation).  Prints two tables: IOPS (median of the repetitions, [min-max])
with the ratios of hotblockd's median to the best QSD mode's and to the best
fio engine's, and p99 latency in microseconds (median of the repetitions' p99s).
"""
import statistics
import sys


def runs(field):
    return [tuple(map(float, r.split())) for r in field.split(";") if r]


def cell(r):
    iops = [x[0] for x in r]
    return f"{k(statistics.median(iops))} [{k(min(iops))}-{k(max(iops))}]"


def k(v):
    return f"{v / 1000:.1f}k" if v >= 10000 else f"{v:.0f}"


def main():
    first = sys.stdin.readline().rstrip("\n").split("|")
    assert first[0] == "servers"
    qsd = [s for s in first[1].split() if s.startswith("qsd-")]
    cols = qsd + ["hb"]
    data = {}
    rows = []
    for line in sys.stdin:
        image, workload, server, field = line.rstrip("\n").split("|")
        if (image, workload) not in data:
            data[(image, workload)] = {}
            rows.append((image, workload))
        data[(image, workload)][server] = runs(field)

    names = {"hb": "hotblockd"}
    head = " | ".join(names.get(c, "QSD " + c[4:]) for c in cols)
    print("IOPS, median of the repetitions [min-max]:")
    print()
    print(f"| image | workload | {head} | hb / best QSD | fio libaio | fio io_uring | hb / best fio |")
    print("|---|---|" + "---:|" * (len(cols) + 4))
    for image, workload in rows:
        d = data[(image, workload)]
        cells, med = [], {}
        for c in cols:
            r = d.get(c, [])
            if not r:
                cells.append("")
                continue
            iops = [x[0] for x in r]
            med[c] = statistics.median(iops)
            cells.append(f"{k(med[c])} [{k(min(iops))}-{k(max(iops))}]")
        best = max((c for c in qsd if c in med), key=lambda c: med[c], default=None)
        ratio = f"{med['hb'] / max(med[best], 1):.2f}x ({best[4:]})" if best and "hb" in med else ""
        engines = [f for f in ("fio-libaio", "fio-io_uring") if d.get(f)]
        fio = [cell(d[f]) if d.get(f) else "" for f in ("fio-libaio", "fio-io_uring")]
        fio_med = {f: statistics.median(x[0] for x in d[f]) for f in engines}
        fio_best = max(fio_med, key=fio_med.get, default=None)
        of_fio = (f"{med['hb'] / fio_med[fio_best]:.2f}x ({fio_best[4:]})"
                  if fio_best and "hb" in med else "")
        rw, bs, qd = workload.split(":")
        print(f"| {image} | {rw} {bs} qd{qd} | " + " | ".join(cells) + f" | {ratio} | "
              + " | ".join(fio) + f" | {of_fio} |")

    print()
    print("p99 latency in microseconds, median of the repetitions:")
    print()
    print(f"| image | workload | {head} | fio libaio | fio io_uring |")
    print("|---|---|" + "---:|" * (len(cols) + 2))
    for image, workload in rows:
        d = data[(image, workload)]
        cells = [f"{statistics.median(x[1] for x in d[c]):.0f}" if d.get(c) else ""
                 for c in cols + ["fio-libaio", "fio-io_uring"]]
        rw, bs, qd = workload.split(":")
        print(f"| {image} | {rw} {bs} qd{qd} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

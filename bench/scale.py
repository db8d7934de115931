#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""bench/scale.py — hot-add and remove many volumes over QMP; time, threads, fds, RSS.

    bench/scale.py [BUILD_DIR]                 (default: build)
    N=10000 CYCLES=3 bench/scale.py build

Starts hotblockd with one QMP socket and, on one connection, one command at a
time, adds N volumes (a file node over its own 1 MiB sparse file, a raw node
over it, a vhost-user-blk export of the raw node), then removes them all
(block-export-del, waiting for BLOCK_EXPORT_DELETED, then blockdev-del of the
raw node and of the file node); CYCLES times.  After start, after each add and
after each remove it reads the daemon's thread count (/proc/PID/task), open
fds (/proc/PID/fd) and RSS (VmRSS in /proc/PID/status), then checks:

  - each add phase takes under ADD_TARGET_S seconds (10);
  - at most 2 x CPUs + 8 threads at any point;
  - under 64 KiB of RSS per export ((RSS after add - RSS at start) / N);
  - no growth across cycles: threads and fds after each remove equal those
    after the first remove, and RSS after the last remove is within RSS_TOL_KIB
    (2048 KiB) of RSS after the first remove; likewise after each add.

Each volume costs the daemon 2 fds (the image and the export's listening
socket): 2 x N and a few more, more than the usual 1024, and at N=10000 more
than a hard limit of 20000.  The
daemon raises its soft limit to the hard one; this script first raises both,
for itself and so the daemon, to FD_LIMIT (65536), which needs
CAP_SYS_RESOURCE; without it, it keeps the hard limit, and refuses to start
when that cannot hold N volumes (it says how many it can).

The export sockets go where a host keeps them: a tmpfs, as /run is under
systemd (the unit's RuntimeDirectory).  SOCK_DIR chooses the parent
directory; by default /run if it is a tmpfs, else /dev/shm, else the work
directory.  On a disk file system every socket is an inode made and
unlinked per cycle: ext4 without a journal then checks each new inode
against the recently deleted ones, and that alone took the second and
third add phases from 5 s to 11 s on this project's VM.

Exit status: 0 when every target is met, 1 when one is not, 2 on an error.
Standard library only.
"""
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time

N = int(os.environ.get("N", "10000"))
CYCLES = int(os.environ.get("CYCLES", "3"))
FD_LIMIT = int(os.environ.get("FD_LIMIT", "65536"))
FILE_SIZE = 1 << 20
ADD_TARGET_S = 10.0
RSS_PER_EXPORT_KIB = 64
RSS_TOL_KIB = 2048


class QMPError(Exception):
    pass


class QMP:
    """One QMP connection; commands strictly one at a time."""

    def __init__(self, path, timeout=60):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.rfile = self.sock.makefile("rb")
        self.events = []
        greeting = self.recv()
        if "QMP" not in greeting:
            raise QMPError(f"no greeting: {greeting}")
        self.cmd("qmp_capabilities")

    def recv(self):
        line = self.rfile.readline()
        if not line:
            raise QMPError("connection closed")
        return json.loads(line)

    def cmd(self, execute, **arguments):
        msg = {"execute": execute}
        if arguments:
            msg["arguments"] = arguments
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self.recv()
            if "event" in r:
                self.events.append(r)
                continue
            if "error" in r:
                raise QMPError(f"{execute} {arguments}: {r['error']}")
            return r["return"]

    def wait_event(self, name, key, value):
        """Wait for event NAME whose data[KEY] is VALUE (it may have come already)."""
        while True:
            for i, ev in enumerate(self.events):
                if ev["event"] == name and ev.get("data", {}).get(key) == value:
                    del self.events[i]
                    return ev
            r = self.recv()
            if "event" in r:
                self.events.append(r)
            else:
                raise QMPError(f"unexpected reply while waiting for {name}: {r}")


def proc_figures(pid):
    threads = len(os.listdir(f"/proc/{pid}/task"))
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return {"threads": threads, "fds": fds, "rss_kib": rss}


def is_tmpfs(path):
    """Whether @path is on a tmpfs (the mount that holds it, from /proc/mounts)."""
    best, fstype = "", ""
    real = os.path.realpath(path)
    with open("/proc/mounts") as f:
        for line in f:
            fields = line.split()
            mnt = fields[1]
            if (real == mnt or real.startswith(mnt.rstrip("/") + "/")) and len(mnt) > len(best):
                best, fstype = mnt, fields[2]
    return fstype == "tmpfs"


def socket_parent(work):
    """Where the export sockets' directory goes: SOCK_DIR, a tmpfs, or @work."""
    if os.environ.get("SOCK_DIR"):
        return os.environ["SOCK_DIR"]
    for d in ("/run", "/dev/shm"):
        if os.path.isdir(d) and is_tmpfs(d):
            return d
    return work


def raise_limit():
    """Both fd limits to FD_LIMIT if we may (the daemon inherits them); a note."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= FD_LIMIT:
        return f"already {soft}/{hard}"
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, max(FD_LIMIT, hard)))
        return f"raised from {soft}/{hard}"
    except (ValueError, OSError) as e:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return f"could not be raised to {FD_LIMIT} ({e}; needs CAP_SYS_RESOURCE)"


def add_all(q, work):
    for i in range(N):
        q.cmd("blockdev-add", **{"driver": "file", "node-name": f"f{i}",
                                 "filename": f"{work}/img/{i}.img"})
        q.cmd("blockdev-add", **{"driver": "raw", "node-name": f"r{i}", "file": f"f{i}"})
        q.cmd("block-export-add", **{"type": "vhost-user-blk", "id": f"e{i}",
                                     "node-name": f"r{i}", "writable": True,
                                     "addr": {"type": "unix",
                                              "path": f"{work}/sock/{i}.sock"}})


def remove_all(q):
    for i in range(N):
        q.cmd("block-export-del", id=f"e{i}")
        # Asynchronous in QEMU: the node is still in use until the event.
        q.wait_event("BLOCK_EXPORT_DELETED", "id", f"e{i}")
        q.cmd("blockdev-del", **{"node-name": f"r{i}"})
        q.cmd("blockdev-del", **{"node-name": f"f{i}"})


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "build"))
    hotblockd = os.path.join(build, "daemon", "hotblockd")
    if not os.access(hotblockd, os.X_OK):
        print(f"scale.py: {hotblockd} is not built", file=sys.stderr)
        return 2
    cpus = os.cpu_count()
    max_threads = 2 * cpus + 8

    work = tempfile.mkdtemp(prefix="hb-scale.")
    os.mkdir(f"{work}/img")
    sock_dir = tempfile.mkdtemp(prefix="hb-scale-sock.", dir=socket_parent(work))
    os.symlink(sock_dir, f"{work}/sock")
    for i in range(N):
        with open(f"{work}/img/{i}.img", "wb") as f:
            f.truncate(FILE_SIZE)   # sparse
    qmp_path = f"{work}/qmp.sock"
    log = open(f"{work}/daemon.log", "wb")
    note = raise_limit()
    daemon = subprocess.Popen([hotblockd, "--qmp", qmp_path], stderr=log)
    try:
        return run(daemon, qmp_path, work, cpus, max_threads, note)
    finally:
        daemon.terminate()
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()
        if daemon.returncode not in (0, -15):
            with open(f"{work}/daemon.log") as f:
                sys.stderr.write(f.read()[-2000:])
        shutil.rmtree(os.path.realpath(f"{work}/sock"), ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def run(daemon, qmp_path, work, cpus, max_threads, note):
    pid = daemon.pid
    for _ in range(200):
        if os.path.exists(qmp_path):
            break
        if daemon.poll() is not None:
            print("scale.py: hotblockd exited at start", file=sys.stderr)
            return 2
        time.sleep(0.05)
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    print(f"hotblockd pid {pid}, {cpus} CPUs, N={N}, {CYCLES} cycles, "
          f"fd limit {soft}/{hard} ({note}), sockets in "
          f"{os.path.realpath(work + '/sock')}"
          f"{' (tmpfs)' if is_tmpfs(work + '/sock') else ''}")
    # Each volume holds 2 fds (image, listening socket); the daemon's own
    # (QMP, rings, the pool's epoll and event fds) are about 20.  The QMP
    # server's reserve only refuses new QMP clients, and ours is connected.
    if soft < 2 * N + 64:
        print(f"scale.py: an fd limit of {soft} allows about {(soft - 64) // 2} volumes, "
              f"not {N}: raise the hard limit (as root with CAP_SYS_RESOURCE: "
              f"prlimit/ulimit -Hn) or set N lower", file=sys.stderr)
        return 2
    q = QMP(qmp_path)

    start = proc_figures(pid)
    rows = [("start", None, start)]
    adds, removes = [], []
    for c in range(1, CYCLES + 1):
        t0 = time.monotonic()
        add_all(q, work)
        t_add = time.monotonic() - t0
        fig = proc_figures(pid)
        # Against the RSS at start, not after the previous remove: freed heap
        # is reused by the next cycle, which would hide what N exports cost.
        fig["per_export_kib"] = (fig["rss_kib"] - start["rss_kib"]) / N
        adds.append((t_add, fig))
        rows.append((f"cycle {c} after add", t_add, fig))

        t0 = time.monotonic()
        remove_all(q)
        t_rm = time.monotonic() - t0
        fig = proc_figures(pid)
        removes.append((t_rm, fig))
        rows.append((f"cycle {c} after remove", t_rm, fig))
    q.sock.close()

    print()
    print("| point | seconds | commands/s | threads | fds | RSS KiB | RSS/export KiB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, secs, fig in rows:
        ncmd = 3 * N
        sec = f"{secs:.2f}" if secs is not None else ""
        rate = f"{ncmd / secs:.0f}" if secs else ""
        per = f"{fig['per_export_kib']:.1f}" if "per_export_kib" in fig else ""
        print(f"| {name} | {sec} | {rate} | {fig['threads']} | {fig['fds']} | "
              f"{fig['rss_kib']} | {per} |")

    checks = []
    worst_add = max(t for t, _ in adds)
    checks.append((f"add {N} volumes in under {ADD_TARGET_S:.0f} s (slowest cycle {worst_add:.2f} s)",
                   worst_add < ADD_TARGET_S))
    peak = max(fig["threads"] for _, _, fig in rows)
    checks.append((f"at most 2 x {cpus} CPUs + 8 = {max_threads} threads (peak {peak})",
                   peak <= max_threads))
    worst_per = max(fig["per_export_kib"] for _, fig in adds)
    checks.append((f"under {RSS_PER_EXPORT_KIB} KiB RSS per export (worst cycle {worst_per:.1f} KiB)",
                   worst_per < RSS_PER_EXPORT_KIB))
    for kind, series in (("remove", removes), ("add", adds)):
        base = series[0][1]
        last = series[-1][1]
        t_ok = all(f["threads"] == base["threads"] for _, f in series)
        f_ok = all(f["fds"] == base["fds"] for _, f in series)
        drift = last["rss_kib"] - base["rss_kib"]
        checks.append((f"threads after each {kind} equal ("
                       + ", ".join(str(f["threads"]) for _, f in series) + ")", t_ok))
        checks.append((f"fds after each {kind} equal ("
                       + ", ".join(str(f["fds"]) for _, f in series) + ")", f_ok))
        checks.append((f"RSS after last {kind} within {RSS_TOL_KIB} KiB of the first "
                       f"({drift:+d} KiB)", drift <= RSS_TOL_KIB))
    print()
    for text, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    if daemon.poll() is not None:
        print(f"scale.py: hotblockd exited ({daemon.returncode})", file=sys.stderr)
        return 2
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (QMPError, OSError) as e:
        print(f"scale.py: {e}", file=sys.stderr)
        sys.exit(2)

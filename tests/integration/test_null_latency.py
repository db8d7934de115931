# SPDX-License-Identifier: GPL-2.0-or-later
"""null-co's latency-ns on an export's I/O thread: requests wait on the
thread's timers, as QEMU's null-co sleeps a coroutine, not each on a pool
thread of its own, and they take as long as asked."""
import os
import threading
import time

from hbtest.bench import bench

MiB = 1 << 20


def add_null_export(daemon, qmp, latency_ns, **kw):
    qmp.cmd("blockdev-add", {"driver": "null-co", "node-name": "n", "size": 64 * MiB,
                             "latency-ns": latency_ns, **kw})
    sock = daemon.export_dir / "n.sock"
    qmp.cmd("block-export-add", {"type": "vhost-user-blk", "id": "e", "node-name": "n",
                                 "writable": True,
                                 "addr": {"type": "unix", "path": str(sock)}})
    return sock


def threads_of(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def test_deep_queue_takes_no_thread_per_request(daemon, qmp):
    """32 requests held 200 ms each: the daemon's thread count stays as it
    was (before, each sat on a pool thread: 4 threads became 39)."""
    sock = add_null_export(daemon, qmp, 200 * 1000 * 1000)
    pid = daemon.proc.pid
    before = threads_of(pid)
    seen = []
    done = threading.Event()

    def sample():
        while not done.is_set():
            seen.append(threads_of(pid))
            time.sleep(0.02)

    t = threading.Thread(target=sample)
    t.start()
    try:
        _, out, _ = bench(sock, "--rw", "randread", "--bs", "4k", "--iodepth", 32,
                          "--count", 96, "--no-pattern")
    finally:
        done.set()
        t.join()
    assert out["errors"] == 0
    assert seen and max(seen) <= before + 1, (before, seen)
    # Each request took about the latency asked for, not less.
    assert out["lat_us"]["p50"] >= 200 * 1000
    assert out["lat_us"]["p50"] < 200 * 1000 * 3


def test_every_kind_of_request_waits(daemon, qmp):
    """Writes and reads, with read-zeroes too, complete with an OK status
    after the latency."""
    sock = add_null_export(daemon, qmp, 5 * 1000 * 1000, **{"read-zeroes": True})
    for rw in ("write", "randread"):
        _, out, _ = bench(sock, "--rw", rw, "--bs", "64k", "--iodepth", 8, "--count", 64,
                          "--no-pattern")
        assert out["errors"] == 0 and out["ioerr"] == 0
        assert out["lat_us"]["p50"] >= 5000

# SPDX-License-Identifier: GPL-2.0-or-later
"""Errors on the data path: a request that fails in the storage below an
export (ENOSPC from a full file system, EIO from a failing device) completes
with VIRTIO_BLK_S_IOERR, the daemon and its exports go on serving, and
BLOCK_IO_ERROR reaches the QMP clients, at most HB_EXPORT_IO_ERROR_RATE (10)
per second and export.

The full file system is a 1 MiB tmpfs under a sparse 8 MiB raw image (tests
run as root; without the right to mount, the tests say so and skip).  The
failing device is a file that qemu-storage-daemon exports over FUSE from a
blkdebug node that fails every read with EIO.

(qemu-storage-daemon 7.2 completes the same failed requests with IOERR but
sends no event: its vhost-user-blk export does not apply an error policy.
The members are those QEMU sends for a guest device with werror/rerror=report
whose drive is a node: device "", node-name.)"""
import errno
import math
import os
import subprocess
import time

import pytest

from hbtest.bench import bench
from hbtest.qsd import QemuStorageDaemon

MiB = 1 << 20
RATE = 10          # HB_EXPORT_IO_ERROR_RATE, export/io-error.h
IMAGE = 8 * MiB    # sparse, on a 1 MiB file system


def nospace_event(node):
    return {"device": "", "node-name": node, "operation": "write", "action": "report",
            "nospace": True, "reason": os.strerror(errno.ENOSPC)}


@pytest.fixture
def small_fs(tmp_path):
    """A 1 MiB tmpfs at tmp_path/fs, unmounted after the daemon has stopped
    (request it before `daemon`, so it is torn down after it)."""
    mnt = tmp_path / "fs"
    mnt.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill up (needs root; uid {os.getuid()}): "
                    f"{p.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=True)


def sparse_image(path, size=IMAGE):
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def export_file(qmp, tmp_path, path, node, eid):
    """A writable vhost-user-blk export @eid of a file node @node over @path: its socket."""
    sock = tmp_path / f"{eid}.sock"
    qmp.cmd("blockdev-add", {"driver": "file", "node-name": node, "filename": str(path)})
    qmp.cmd("block-export-add", {"type": "vhost-user-blk", "id": eid, "node-name": node,
                                 "addr": {"type": "unix", "path": str(sock)},
                                 "writable": True})
    return sock


def drain_events(qmp, name, settle=0.5):
    """Every @name event that arrived until @settle seconds after now."""
    time.sleep(settle)
    qmp.cmd("query-block-exports")          # reads what came before the reply
    got = [e for e in qmp.events if e["event"] == name]
    qmp.events = [e for e in qmp.events if e["event"] != name]
    return got


def test_enospc_fails_the_request_and_the_daemon_serves_on(small_fs, daemon, qmp, tmp_path):
    sock = export_file(qmp, tmp_path, sparse_image(small_fs / "disk.raw"), "f0", "e0")
    qmp.cmd("blockdev-add", {"driver": "null-co", "node-name": "n0", "size": 64 * MiB})
    other = tmp_path / "e1.sock"
    qmp.cmd("block-export-add", {"type": "vhost-user-blk", "id": "e1", "node-name": "n0",
                                 "addr": {"type": "unix", "path": str(other)},
                                 "writable": True})

    # 128 sequential 64 KiB writes over 8 MiB: the first MiB fits, the rest
    # does not.  Every request completes (no dropped connection: that would
    # be exit status 2); the failed ones with IOERR.
    rc, out, err = bench(sock, "--rw", "write", "--bs", "64k", "--count", 128,
                         "--iodepth", 4, check=False)
    assert rc == 1, err
    assert out["ops"] == 128
    assert 0 < out["errors"] < 128
    assert out["ioerr"] == out["errors"]

    ev = qmp.wait_event("BLOCK_IO_ERROR")
    assert ev["data"] == nospace_event("f0")

    # The daemon, this export and the other one all go on serving.
    assert daemon.proc.poll() is None
    assert [e["id"] for e in qmp.cmd("query-block-exports")] == ["e0", "e1"]
    _, out, _ = bench(sock, "--rw", "read", "--check", "--bs", "64k", "--size", "64k",
                      "--count", 1)
    assert out["errors"] == 0 and out["verify_errors"] == 0
    _, out, _ = bench(other, "--rw", "randrw", "--count", 1000)
    assert out["errors"] == 0
    # A flush has nothing to fail on tmpfs: only the writes were errors.
    _, out, _ = bench(sock, "--rw", "read", "--count", 16, "--flush")
    assert out["errors"] == 0


def test_rate_limit(small_fs, daemon, qmp, tmp_path):
    sock = export_file(qmp, tmp_path, sparse_image(small_fs / "disk.raw"), "f0", "e0")
    # Fill the file system, then hammer it for two seconds with writes
    # that mostly fail (the blocks written first still take writes).
    bench(sock, "--rw", "write", "--bs", "64k", "--count", 128, check=False)
    drain_events(qmp, "BLOCK_IO_ERROR")
    t0 = time.monotonic()
    rc, out, err = bench(sock, "--rw", "randwrite", "--bs", "4k", "--runtime", 2,
                         "--iodepth", 16, check=False)
    elapsed = time.monotonic() - t0
    assert rc == 1, err
    assert out["ioerr"] == out["errors"] > 1000
    events = drain_events(qmp, "BLOCK_IO_ERROR")
    # At most RATE in each second of the daemon's monotonic clock that the
    # run touched.
    assert 0 < len(events) <= RATE * (math.ceil(elapsed) + 1), (len(events), elapsed)
    assert all(e["data"] == nospace_event("f0") for e in events)

    # A new second has a new allowance: the same 112 failing writes again
    # (the first MiB is still there and takes its writes) are reported again,
    # at least RATE times, at most 2 * RATE should the run straddle seconds.
    time.sleep(1.1)
    rc, out, _ = bench(sock, "--rw", "write", "--bs", "64k", "--count", 128, check=False)
    assert out["ioerr"] == out["errors"] > RATE
    assert RATE <= len(drain_events(qmp, "BLOCK_IO_ERROR")) <= 2 * RATE


def test_eio_on_read(daemon, qmp, tmp_path):
    """A device that fails every read: qemu-storage-daemon's FUSE export of
    a blkdebug node injecting EIO, opened by hotblockd as a plain file."""
    if not os.path.exists("/dev/fuse"):
        pytest.skip("no /dev/fuse: the failing device is a FUSE file")
    base = sparse_image(tmp_path / "base.raw")
    dev = tmp_path / "failing.img"
    dev.touch()
    with QemuStorageDaemon(tmp_path) as qsd:
        qq = qsd.qmp()
        qq.cmd("blockdev-add", {
            "driver": "raw", "node-name": "bad",
            "file": {"driver": "blkdebug",
                     "image": {"driver": "file", "filename": str(base)},
                     "inject-error": [{"event": "read_aio", "iotype": "read",
                                       "errno": errno.EIO}]}})
        qq.cmd("block-export-add", {"type": "fuse", "id": "fz", "node-name": "bad",
                                    "mountpoint": str(dev), "writable": True})
        sock = export_file(qmp, tmp_path, dev, "f0", "e0")
        rc, out, err = bench(sock, "--rw", "randread", "--count", 50, "--iodepth", 4,
                             check=False)
        assert rc == 1, err
        assert out["ops"] == 50 and out["ioerr"] == out["errors"] == 50
        ev = qmp.wait_event("BLOCK_IO_ERROR")
        assert ev["data"] == {"device": "", "node-name": "f0", "operation": "read",
                              "action": "report", "nospace": False,
                              "reason": os.strerror(errno.EIO)}
        # Writes still work on that device: the export is not stopped.
        _, out, _ = bench(sock, "--rw", "randwrite", "--count", 50)
        assert out["errors"] == 0
        # Let go of the file before its FUSE export goes away.
        qmp.cmd("block-export-del", id="e0")
        qmp.wait_event("BLOCK_EXPORT_DELETED")
        qmp.cmd("blockdev-del", **{"node-name": "f0"})
        qq.cmd("block-export-del", id="fz")

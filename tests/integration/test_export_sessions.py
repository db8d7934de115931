# SPDX-License-Identifier: GPL-2.0-or-later
"""Several front-end sessions on one export (max-sessions, default 2): what
a live migration on one host needs, the destination QEMU connecting while
the source still is.  Each session has its own memory and rings; one that
breaks its ring loses only its own connection."""
import json

import pytest

from hbtest.bench import bench, start_bench
from hbtest.exports import export_args
from hbtest.images import raw_file

MiB = 1 << 20


def finish(proc, timeout=60):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return json.loads(out)


@pytest.fixture
def disk(qmp, tmp_path):
    img = raw_file(tmp_path / "d.raw", 64 * MiB)
    qmp.cmd("blockdev-add", {"driver": "file", "node-name": "f0", "filename": str(img)})
    return img


def test_two_sessions_served_at_once(daemon, qmp, disk, tmp_path):
    """Two front-ends write and verify through one export at the same time
    (the same patterns, so their overlapping writes agree): both are
    served, with no error and no wrong data."""
    sock = tmp_path / "e.sock"
    qmp.cmd("block-export-add", export_args("e0", "f0", sock, writable=True))
    a = start_bench(sock, tmp_path / "a", "--verify", "--runtime", "3", "--size", str(32 * MiB))
    b = start_bench(sock, tmp_path / "b", "--verify", "--runtime", "3", "--size", str(32 * MiB))
    info = qmp.cmd("query-block-exports")[0]
    assert info["connected"] and info["max-sessions"] == 2
    assert len(info["sessions"]) == 2
    for sess in info["sessions"]:
        assert sess["started-queues"] == 1 and not sess["dirty-log"]
        assert sess["features"] & (1 << 32)              # VIRTIO_F_VERSION_1
        assert sess["protocol-features"] & (1 << 9)      # CONFIG
    ra, rb = finish(a), finish(b)
    for r in (ra, rb):
        assert r["verify_errors"] == 0 and r["errors"] == 0 and r["ioerr"] == 0
        assert r["ops"] > 0


def test_idle_export_shows_no_session(daemon, qmp, disk, tmp_path):
    qmp.cmd("block-export-add", export_args("e0", "f0", tmp_path / "e.sock", **{"num-queues": 3}))
    info = qmp.cmd("query-block-exports")[0]
    assert not info["connected"] and info["num-queues"] == 3
    assert info.get("sessions", []) == []


def test_session_past_the_limit_is_refused_and_logged(daemon, qmp, disk, tmp_path):
    sock = tmp_path / "e.sock"
    qmp.cmd("block-export-add", export_args("e0", "f0", sock, writable=True))
    a = start_bench(sock, tmp_path / "a", "--runtime", "20", "--iodepth", "4")
    b = start_bench(sock, tmp_path / "b", "--runtime", "20", "--iodepth", "4")
    try:
        rc, _, err = bench(sock, "--count", 10, check=False)
        assert rc == 2, err
        assert ("export 'e0': refused a front-end connection: 2 sessions are already "
                "connected (max-sessions is 2)") in daemon.log()
        # the two sessions were not disturbed; safe delete refuses, hard ends both
        cls, desc = qmp.err("block-export-del", id="e0")
        assert "still in use" in desc
        qmp.cmd("block-export-del", id="e0", mode="hard")
        qmp.wait_event("BLOCK_EXPORT_DELETED")
        assert a.wait(timeout=30) == 2 and b.wait(timeout=30) == 2
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.kill()
                p.wait()


def test_slot_freed_by_a_hangup_is_reused(daemon, qmp, disk, tmp_path):
    sock = tmp_path / "e.sock"
    qmp.cmd("block-export-add", export_args("e0", "f0", sock, writable=True))
    a = start_bench(sock, tmp_path / "a", "--runtime", "20", "--iodepth", "4")
    try:
        for _ in range(5):       # the second slot, again and again
            bench(sock, "--count", 200)
        rc, _, _ = bench(sock, "--count", 10, check=False)
        assert rc == 0
    finally:
        a.kill()
        a.wait()
    bench(sock, "--count", 200)


def test_max_sessions_one_behaves_like_qsd(daemon, qmp, disk, tmp_path):
    sock = tmp_path / "e.sock"
    qmp.cmd("block-export-add", export_args("e0", "f0", sock, writable=True,
                                            **{"max-sessions": 1}))
    a = start_bench(sock, tmp_path / "a", "--runtime", "20", "--iodepth", "4")
    try:
        rc, _, _ = bench(sock, "--count", 10, check=False)
        assert rc == 2
        assert "1 session is already connected (max-sessions is 1)" in daemon.log()
    finally:
        a.kill()
        a.wait()


@pytest.mark.parametrize("value", [0, 9, -1])
def test_max_sessions_range(daemon, qmp, disk, tmp_path, value):
    sock = tmp_path / "e.sock"
    cls, desc = qmp.err("block-export-add", export_args("e0", "f0", sock,
                                                        **{"max-sessions": value}))
    assert (cls, desc) == ("GenericError", "max-sessions must be between 1 and 8")
    cls, desc = qmp.err("device_add", {"driver": "vhost-user-blk-pci", "drive": "f0",
                                       "id": "d0", "max-sessions": value})
    assert (cls, desc) == ("GenericError", "max-sessions must be between 1 and 8")
    assert qmp.cmd("query-block-exports") == []


@pytest.mark.parametrize("kind", ["loop", "truncate-memory"])
def test_broken_session_leaves_the_other_running(daemon, qmp, disk, tmp_path, kind):
    """A hostile front-end breaks its own ring: only its session goes; the
    other one goes on verifying its data without an error."""
    sock = tmp_path / "e.sock"
    qmp.cmd("block-export-add", export_args("e0", "f0", sock, writable=True))
    a = start_bench(sock, tmp_path / "a", "--verify", "--runtime", "3", "--size", str(16 * MiB))
    _, out, _ = bench(sock, "--evil", kind)
    assert out["dropped"]
    ra = finish(a)
    assert ra["verify_errors"] == 0 and ra["errors"] == 0 and ra["ops"] > 0
    bench(sock, "--count", 200)

# SPDX-License-Identifier: GPL-2.0-or-later
"""hotblock-bench --dirty-log: the front-end side of migration's dirty-page
logging (LOG_SHMFD, SET_LOG_BASE, VHOST_F_LOG_ALL, VHOST_VRING_F_LOG), against
qemu-storage-daemon, whose libvhost-user implements it, so that the client is
known right, and against hotblockd, whose every write to guest memory must be
marked for a migrated guest to see it."""
import pytest

from hbtest.bench import bench
from hbtest.qsd import QemuStorageDaemon

MiB = 1 << 20


def qsd_export(qsd, tmp_path, queues):
    """A writable raw file exported by @qsd over vhost-user-blk: its socket."""
    img = tmp_path / "disk.raw"
    with open(img, "wb") as f:
        f.truncate(64 * MiB)
    sock = tmp_path / "qsd-e0.sock"
    q = qsd.qmp()
    q.cmd("blockdev-add", {"driver": "file", "node-name": "f0", "filename": str(img)})
    q.cmd("block-export-add", {"type": "vhost-user-blk", "id": "e0", "node-name": "f0",
                               "addr": {"type": "unix", "path": str(sock)},
                               "writable": True, "num-queues": queues})
    q.close()
    return sock


def check_marks(sock, bs, env=None):
    """A verified random read/write run with logging on: everything the
    server wrote (read data, several pages per request at 64k; status
    bytes; used rings) is marked, and nothing the server never writes."""
    _, out, _ = bench(sock, "--rw", "randrw", "--verify", "--count", 4000,
                      "--queues", 2, "--iodepth", 16, "--bs", bs, "--dirty-log-check", env=env)
    assert out["dirty_log"] is True and out["errors"] == 0 and out["verify_errors"] == 0
    lc = out["dirty_log_check"]
    # 2 queues x 16 slots: status bytes, data and used rings all counted
    assert lc["checked"] >= 2 * 16 * (1 if bs == "4k" else 16)
    assert lc["missing"] == 0, lc
    assert lc["spurious"] == 0, lc


@pytest.mark.parametrize("bs", ["4k", "64k"])
def test_dirty_log_check_against_qsd(tmp_path, bs):
    with QemuStorageDaemon(tmp_path) as qsd:
        check_marks(qsd_export(qsd, tmp_path, 2), bs)


@pytest.mark.parametrize("bs", ["4k", "64k"])
def test_dirty_log_check_against_hotblockd(qmp, tmp_path, bs):
    """The status byte is the case that caught a bug: virtio-blk takes it
    off the last writable iovec, so walking the iovecs missed its page."""
    img = tmp_path / "disk.raw"
    with open(img, "wb") as f:
        f.truncate(64 * MiB)
    sock = tmp_path / "e0.sock"
    qmp.cmd("blockdev-add", {"driver": "file", "node-name": "f0", "filename": str(img)})
    qmp.cmd("block-export-add", {"type": "vhost-user-blk", "id": "e0", "node-name": "f0",
                                 "addr": {"type": "unix", "path": str(sock)},
                                 "writable": True, "num-queues": 2})
    check_marks(sock, bs)
    # the same without indirect descriptors: each buffer its own descriptor
    check_marks(sock, bs, env={"HB_BENCH_NO_INDIRECT": "1"})


def test_without_dirty_log_nothing_is_negotiated(tmp_path):
    """Off by default: features as before, no VHOST_F_LOG_ALL (bit 26)."""
    with QemuStorageDaemon(tmp_path) as qsd:
        sock = qsd_export(qsd, tmp_path, 1)
        _, info, _ = bench(sock, "--info")
        assert not info["features"] & (1 << 26)
        assert not info["protocol_features"] & (1 << 1)
        _, out, _ = bench(sock, "--rw", "randread", "--count", 1000)
        assert out["dirty_log"] is False and "dirty_log_check" not in out

# SPDX-License-Identifier: GPL-2.0-or-later
"""hotblock-img check -r leaks|all against qemu-img check -r on copies of
the same damaged images: the same repair lines, report, JSON and exit
status, images qemu-img check then finds clean, and guest data unchanged
(qemu-img compare with the image before the damage).  The damage is done
with Python on images qemu-img and qemu-io made: leaked clusters, a
refcount of 0 on a used cluster (only a rebuild repairs that), a refcount
too low on a cluster a snapshot shares, and a missing OFLAG_COPIED."""
import json
import os
import shutil
import struct

import pytest

from hbtest.images import hold
from hbtest.paths import HOTBLOCK_IMG
from hbtest.tools import run


class Qcow2:
    """Just enough of the on-disk format to damage an image on purpose."""

    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            h = f.read(104)
        self.cluster_bits = struct.unpack(">I", h[20:24])[0]
        self.l1_offset = struct.unpack(">Q", h[40:48])[0]
        self.reftable = struct.unpack(">Q", h[48:56])[0]

    def _u64(self, off, val=None):
        with open(self.path, "r+b") as f:
            f.seek(off)
            if val is None:
                return struct.unpack(">Q", f.read(8))[0]
            f.write(struct.pack(">Q", val))

    def refcount(self, cluster, val=None):
        block = self._u64(self.reftable) & ~511
        with open(self.path, "r+b") as f:
            f.seek(block + cluster * 2)
            if val is None:
                return struct.unpack(">H", f.read(2))[0]
            f.write(struct.pack(">H", val))

    def leak(self, *counts):
        """Grow the file by len(counts) clusters, each with a refcount."""
        n = os.path.getsize(self.path) >> self.cluster_bits
        os.truncate(self.path, (n + len(counts)) << self.cluster_bits)
        for i, c in enumerate(counts):
            self.refcount(n + i, c)

    def l2_entry(self, index, val=None):
        l2 = self._u64(self.l1_offset) & 0x00fffffffffffe00
        return self._u64(l2 + index * 8, val)

    def data_cluster(self, index):
        return (self.l2_entry(index) & 0x00fffffffffffe00) >> self.cluster_bits

    def set_dirty(self):
        with open(self.path, "r+b") as f:
            f.seek(72)
            bits = struct.unpack(">Q", f.read(8))[0]
            f.seek(72)
            f.write(struct.pack(">Q", bits | 1))

    def incompat(self):
        with open(self.path, "rb") as f:
            f.seek(72)
            return struct.unpack(">Q", f.read(8))[0]


@pytest.fixture
def clean(tmp_path):
    f = tmp_path / "clean.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", f, "16M")
    run("qemu-io", "-c", "write -P 7 0 256k", "-c", "write -P 9 8M 64k", f)
    return f


def damaged(tmp_path, clean, damage):
    """Two copies of @clean, damaged alike: (qemu-img's, hotblock-img's)."""
    copies = []
    for name in ("q.qcow2", "h.qcow2"):
        f = tmp_path / name
        shutil.copy(clean, f)
        damage(Qcow2(f))
        copies.append(f)
    return copies


def both_check(q, h, *args):
    return (run("qemu-img", "check", *args, q, check=False),
            run(HOTBLOCK_IMG, "check", *args, h, check=False))


def assert_same_report(rq, rh):
    assert rh.returncode == rq.returncode, rh.stderr
    assert rh.stdout == rq.stdout
    assert rh.stderr == rq.stderr.replace("qemu-img:", "hotblock-img:")


def assert_repaired(q, h, clean):
    assert run("qemu-img", "check", h, check=False).returncode == 0
    assert run("qemu-img", "compare", clean, h).returncode == 0
    assert run("qemu-img", "compare", q, h).returncode == 0


@pytest.mark.parametrize("mode", ["leaks", "all"])
def test_leaks(tmp_path, clean, mode):
    q, h = damaged(tmp_path, clean, lambda img: img.leak(1, 3))
    rq, rh = both_check(q, h)
    assert rq.returncode == rh.returncode == 3
    rq, rh = both_check(q, h, "-r", mode)
    assert_same_report(rq, rh)
    assert rh.returncode == 0
    assert "Repairing cluster" in rh.stderr
    assert "2 leaked clusters" in rh.stdout
    assert_repaired(q, h, clean)


def test_leaks_json(tmp_path, clean):
    q, h = damaged(tmp_path, clean, lambda img: img.leak(1, 1, 2))
    rq, rh = both_check(q, h, "-r", "leaks", "--output=json")
    assert rq.returncode == rh.returncode == 0
    jq, jh = json.loads(rq.stdout), json.loads(rh.stdout)
    jq["filename"] = jh["filename"] = "x"
    assert jh == jq
    assert jh["leaks-fixed"] == 3


def test_quiet(tmp_path, clean):
    q, h = damaged(tmp_path, clean, lambda img: img.leak(1))
    rq, rh = both_check(q, h, "-q", "-r", "leaks")
    assert rq.returncode == rh.returncode == 0
    assert rh.stdout == rq.stdout == ""
    assert_repaired(q, h, clean)


def zero_refcount(img):
    """A used data cluster with refcount 0, and a leak beside it."""
    img.refcount(img.data_cluster(0), 0)
    img.refcount(img.data_cluster(1), 2)


def test_refcount_zero_needs_all(tmp_path, clean):
    """-r leaks does not touch an image that needs a rebuild: it fails with
    qemu-img's words and leaves every byte as it was."""
    q, h = damaged(tmp_path, clean, zero_refcount)
    before = h.read_bytes()
    rq, rh = both_check(q, h, "-r", "leaks")
    assert_same_report(rq, rh)
    assert rh.returncode == 1
    assert "ERROR need to rebuild refcount structures" in rh.stderr
    assert h.read_bytes() == before


def test_refcount_zero_rebuilt(tmp_path, clean):
    q, h = damaged(tmp_path, clean, zero_refcount)
    rq, rh = both_check(q, h, "-r", "all")
    assert rh.returncode == rq.returncode == 0, rh.stderr
    assert rh.stdout == rq.stdout
    assert "Rebuilding refcount structure" in rh.stderr
    assert_repaired(q, h, clean)
    # The image stays usable for writing: qemu-io writes, and it checks clean.
    run("qemu-io", "-c", "write -P 3 4M 1M", h)
    assert run("qemu-img", "check", h, check=False).returncode == 0


def snapshot_too_low(img):
    """A cluster a snapshot shares (reference 2) with refcount 1."""
    img.refcount(img.data_cluster(0), 1)


@pytest.fixture
def with_snapshot(clean):
    run("qemu-img", "snapshot", "-c", "s1", clean)
    return clean


def test_refcount_too_low(tmp_path, with_snapshot):
    q, h = damaged(tmp_path, with_snapshot, snapshot_too_low)
    rq, rh = both_check(q, h)
    assert_same_report(rq, rh)
    assert rh.returncode == 2
    rq, rh = both_check(q, h, "-r", "leaks")     # not a leak: left as it is
    assert_same_report(rq, rh)
    assert rh.returncode == 2
    rq, rh = both_check(q, h, "-r", "all")
    assert_same_report(rq, rh)
    assert rh.returncode == 0
    assert_repaired(q, h, with_snapshot)
    assert Qcow2(h).refcount(Qcow2(h).data_cluster(0)) == 2


def test_oflag_copied(tmp_path, clean):
    """A data cluster of refcount 1 without OFLAG_COPIED: -r all sets it."""
    def drop_copied(img):
        img.l2_entry(0, img.l2_entry(0) & ~(1 << 63))
    q, h = damaged(tmp_path, clean, drop_copied)
    rq, rh = both_check(q, h)
    assert_same_report(rq, rh)
    assert rh.returncode == 2
    rq, rh = both_check(q, h, "-r", "all")
    assert_same_report(rq, rh)
    assert rh.returncode == 0
    assert Qcow2(h).l2_entry(0) >> 63 == 1
    assert_repaired(q, h, clean)


def test_dirty_bit_cleared(tmp_path, clean):
    """A dirty image (an unclean close) is repaired and marked clean, so
    that hotblockd and QEMU open it read-write again."""
    q, h = damaged(tmp_path, clean, lambda img: (img.leak(1), img.set_dirty()))
    rq, rh = both_check(q, h, "-r", "all")
    assert rh.returncode == rq.returncode == 0
    assert Qcow2(h).incompat() & 1 == 0
    assert Qcow2(q).incompat() & 1 == 0
    run(HOTBLOCK_IMG, "info", h)


def test_refusals(tmp_path, clean):
    raw = tmp_path / "r.raw"
    raw.write_bytes(b"\0" * 65536)
    for args, f in ((["-r", "foo"], clean), (["-r", "leaks", "-U"], clean),
                    (["-r", "all", "-f", "raw"], raw)):
        rq = run("qemu-img", "check", *args, f, check=False)
        rh = run(HOTBLOCK_IMG, "check", *args, f, check=False)
        assert rh.returncode == rq.returncode, (args, rh.stderr)
        assert rh.stderr.splitlines()[0] == rq.stderr.splitlines()[0].replace(
            "qemu-img:", "hotblock-img:")


def test_refused_while_in_use(tmp_path, clean):
    """A repair needs the image to itself: even a reader holding it
    (qemu-io -r) makes it fail, with qemu-img's lock error, changing nothing."""
    q, h = damaged(tmp_path, clean, lambda img: img.leak(1))
    before = h.read_bytes()
    p = hold(h, "-r")
    try:
        rh = run(HOTBLOCK_IMG, "check", "-r", "leaks", h, check=False)
        rq = run("qemu-img", "check", "-r", "leaks", h, check=False)
    finally:
        p.kill()
        p.wait(30)
    assert rh.returncode == rq.returncode == 1
    assert "lock" in rq.stderr and "lock" in rh.stderr
    assert rh.stderr.startswith(f"hotblock-img: Could not open '{h}': ")
    assert h.read_bytes() == before


@pytest.mark.parametrize("setup", [["write 0 64k"], ["write 0 64k", "write 1M 64k", "write 128k 64k"]],
                         ids=["one", "fragmented"])
@pytest.mark.parametrize("compressed", [False, True])
def test_allocation_line_as_qemu_img(tmp_path, setup, compressed):
    """The allocation line with qemu-img's fragmented and compressed shares."""
    img = tmp_path / "c.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", img, "4M")
    run("qemu-io", *[a for c in setup for a in ("-c", c)], img)
    if compressed:
        z = tmp_path / "z.qcow2"
        run("qemu-img", "convert", "-c", "-O", "qcow2", img, z)
        img = z
    rq = run("qemu-img", "check", img, check=False)
    rh = run(HOTBLOCK_IMG, "check", img, check=False)
    assert (rh.returncode, rh.stdout) == (rq.returncode, rq.stdout)
    jq = json.loads(run("qemu-img", "check", "--output=json", img, check=False).stdout)
    jh = json.loads(run(HOTBLOCK_IMG, "check", "--output=json", img, check=False).stdout)
    for k in ("allocated-clusters", "fragmented-clusters", "compressed-clusters"):
        assert jh.get(k) == jq.get(k), k


def test_allocation_counts_as_qemu_img(tmp_path):
    """Fragmentation is counted afresh in each L2 table, and zero-flagged
    clusters that keep their host cluster count as allocated, as in qemu-img."""
    img = tmp_path / "c.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=512", img, "1M")
    # 512-byte clusters: an L2 table maps 32k.  Written back to front, one zeroed in place.
    run("qemu-io", "-c", "write 40k 40k", "-c", "write 0 40k", "-c", "write -z 4k 512", img)
    rq = run("qemu-img", "check", img, check=False)
    rh = run(HOTBLOCK_IMG, "check", img, check=False)
    assert (rh.returncode, rh.stdout) == (rq.returncode, rq.stdout)

# SPDX-License-Identifier: GPL-2.0-or-later
"""qcow2 cache-size, l2-cache-size and refcount-cache-size: capped at what the
image can use and allocated when used, so a huge value costs neither memory
nor main-thread time at blockdev-add, and the data stays right."""
import struct
import time

import pytest

from hbtest.bench import DEFAULT_SEED, bench, pattern_word
from hbtest.images import qemu_img_to_raw
from hbtest.tools import run

MiB = 1 << 20
INT64_MAX = (1 << 63) - 1
OPTIONS = ["cache-size", "l2-cache-size", "refcount-cache-size"]


def vm_rss(pid):
    """The resident set size of process @pid in bytes (/proc/<pid>/status VmRSS)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def qcow2_image(path, size="16M", cluster_size="64k"):
    run("qemu-img", "create", "-q", "-f", "qcow2", "-o", f"cluster_size={cluster_size}",
        path, size)
    return path


def add_huge(daemon, qmp, name, img, opt):
    """blockdev-add of @img with @opt at INT64_MAX: within 1 s, under 16 MiB of RSS."""
    rss = vm_rss(daemon.proc.pid)
    t0 = time.monotonic()
    qmp.cmd("blockdev-add", **{"node-name": name, "driver": "qcow2", opt: INT64_MAX,
                               "file": {"driver": "file", "filename": str(img)}})
    took = time.monotonic() - t0
    grew = vm_rss(daemon.proc.pid) - rss
    assert took < 1.0, f"blockdev-add with {opt}={INT64_MAX} took {took:.2f} s"
    assert grew < 16 * MiB, f"blockdev-add with {opt}={INT64_MAX} grew RSS by {grew >> 20} MiB"
    return grew


@pytest.mark.security
@pytest.mark.parametrize("opt", OPTIONS)
def test_huge_cache_option_costs_nothing(daemon, qmp, tmp_path, opt):
    img = qcow2_image(tmp_path / "a.qcow2")
    add_huge(daemon, qmp, "q", img, opt)
    qmp.cmd("blockdev-del", **{"node-name": "q"})
    run("qemu-img", "check", img)


@pytest.mark.security
def test_six_nodes_with_huge_caches(daemon, qmp, tmp_path):
    """The finding's six nodes reached 3.1 GB; together they stay under 16 MiB."""
    rss = vm_rss(daemon.proc.pid)
    for i in range(6):
        img = qcow2_image(tmp_path / f"{i}.qcow2")
        add_huge(daemon, qmp, f"q{i}", img, OPTIONS[i % 3])
    grew = vm_rss(daemon.proc.pid) - rss
    assert grew < 16 * MiB, f"six nodes grew RSS by {grew >> 20} MiB"
    for i in range(6):
        qmp.cmd("blockdev-del", **{"node-name": f"q{i}"})


@pytest.mark.security
@pytest.mark.parametrize("opt", OPTIONS)
def test_huge_cache_data_verifies_across_resize(daemon, qmp, tmp_path, opt):
    """4 KiB clusters (an L2 table maps 2 MiB): the data written through an
    export before and after block_resize reads back, and qemu-img check is
    clean and sees the same bytes."""
    img = qcow2_image(tmp_path / "d.qcow2", cluster_size="4k")
    add_huge(daemon, qmp, "q", img, opt)
    sock = tmp_path / "q.sock"
    qmp.cmd("block-export-add", type="vhost-user-blk", id="e", **{"node-name": "q"},
            addr={"type": "unix", "path": str(sock)}, writable=True)
    _, out, _ = bench(sock, "--rw", "write", "--bs", "64k", "--count", 256, "--size", 16 * MiB,
                      "--verify", "--flush")
    assert out["errors"] == 0 and out["verify_errors"] == 0

    qmp.cmd("block_resize", **{"node-name": "q"}, size=64 * MiB)
    _, out, _ = bench(sock, "--rw", "read", "--bs", "64k", "--count", 256, "--size", 16 * MiB,
                      "--check")
    assert out["errors"] == 0 and out["verify_errors"] == 0
    _, out, _ = bench(sock, "--rw", "write", "--bs", "64k", "--count", 1024,
                      "--size", 64 * MiB, "--verify", "--flush")
    assert out["errors"] == 0 and out["verify_errors"] == 0
    _, out, _ = bench(sock, "--rw", "randrw", "--bs", "4k", "--iodepth", 16, "--count", 3000,
                      "--size", 64 * MiB, "--flush")
    assert out["errors"] == 0
    _, out, _ = bench(sock, "--rw", "read", "--bs", "64k", "--count", 1024, "--size", 64 * MiB,
                      "--check")
    assert out["errors"] == 0 and out["verify_errors"] == 0

    qmp.cmd("block-export-del", id="e")
    qmp.wait_event("BLOCK_EXPORT_DELETED")
    qmp.cmd("blockdev-del", **{"node-name": "q"})
    run("qemu-img", "check", img)
    raw = qemu_img_to_raw(img, tmp_path / "d.raw")
    assert len(raw) == 64 * MiB
    # Every byte holds the pattern: check the first word of each 4 KiB block.
    for off in range(0, len(raw), 4096):
        assert struct.unpack_from("<Q", raw, off)[0] == pattern_word(off, DEFAULT_SEED), off

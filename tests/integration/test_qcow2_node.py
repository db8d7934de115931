# SPDX-License-Identifier: GPL-2.0-or-later
"""The qcow2 driver as a block node: blockdev-add, backing chains, query, hotblock-img."""
import json
import os
import struct
import subprocess

import pytest

from hbtest.bench import bench
from hbtest.images import qemu_img_to_raw
from hbtest.paths import BENCH, HOTBLOCK_IMG
from hbtest.qmp import QMPError
from hbtest.tools import run


@pytest.fixture
def chain(tmp_path):
    """base.qcow2 <- mid.qcow2 (relative backing name) with distinct data."""
    base = tmp_path / "base.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", base, "8M")
    run("qemu-io", "-c", "write -P 0x22 0 8M", base)
    mid = tmp_path / "mid.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", mid)
    run("qemu-io", "-c", "write -P 0x33 1M 100k", "-c", "write -z 2M 64k", mid)
    return base, mid


def test_hotblock_img_reads_backing_chain(tmp_path, chain):
    _, mid = chain
    ref = qemu_img_to_raw(mid, tmp_path / "ref.raw")
    run(HOTBLOCK_IMG, "convert", "-O", "raw", mid, tmp_path / "out.raw")
    assert (tmp_path / "out.raw").read_bytes() == ref


def test_hotblock_img_writes_qcow2(tmp_path, chain):
    _, mid = chain
    src = tmp_path / "src.raw"
    src.write_bytes(qemu_img_to_raw(mid, tmp_path / "ref.raw"))
    dst = tmp_path / "new.qcow2"
    run(HOTBLOCK_IMG, "create", "-f", "qcow2", "-o", "cluster_size=4096", dst, "8M")
    run(HOTBLOCK_IMG, "convert", "-n", "-O", "qcow2", src, dst)
    assert run("qemu-img", "check", dst).returncode == 0
    assert qemu_img_to_raw(dst, tmp_path / "back.raw") == src.read_bytes()


def test_hotblock_img_info_format_specific(tmp_path):
    img = tmp_path / "a.qcow2"
    run(HOTBLOCK_IMG, "create", "-f", "qcow2", "-o", "cluster_size=4096,compat=0.10", img, "1M")
    info = json.loads(run(HOTBLOCK_IMG, "info", "--output=json", img).stdout)
    spec = info["format-specific"]
    assert spec["type"] == "qcow2"
    assert spec["data"]["compat"] == "0.10"
    assert spec["data"]["refcount-bits"] == 16
    assert spec["data"]["cluster-size"] == 4096
    assert info["virtual-size"] == 1 << 20


def test_blockdev_add_backing_variants(daemon, qmp, tmp_path, chain):
    base, mid = chain
    # Backing from the header (relative to the image).
    qmp.cmd("blockdev-add", **{"node-name": "m1"}, driver="qcow2",
            file={"driver": "file", "filename": str(mid)}, **{"read-only": True})
    nodes = {n["node-name"]: n for n in qmp.cmd("query-named-block-nodes")}
    spec = nodes["m1"]["image"]["format-specific"]
    assert spec["type"] == "qcow2" and spec["data"]["compat"] == "1.1"
    assert spec["data"]["refcount-bits"] == 16 and spec["data"]["corrupt"] is False
    # Backing by node name, and null (no backing: unallocated reads zeroes).
    qmp.cmd("blockdev-add", **{"node-name": "b"}, driver="qcow2",
            file={"driver": "file", "filename": str(base)}, **{"read-only": True})
    qmp.cmd("blockdev-add", **{"node-name": "m2"}, driver="qcow2", backing="b",
            file={"driver": "file", "filename": str(mid)}, **{"read-only": True})
    qmp.cmd("blockdev-add", **{"node-name": "m3"}, driver="qcow2", backing=None,
            file={"driver": "file", "filename": str(mid)}, **{"read-only": True})
    # A node in use as a backing child cannot be deleted.
    with pytest.raises(QMPError) as e:
        qmp.cmd("blockdev-del", **{"node-name": "b"})
    assert "busy" in e.value.desc
    for n in ("m3", "m2", "m1", "b"):
        qmp.cmd("blockdev-del", **{"node-name": n})


def test_blockdev_add_errors(daemon, qmp, tmp_path):
    img = tmp_path / "a.qcow2"
    run(HOTBLOCK_IMG, "create", "-f", "qcow2", img, "1M")
    raw = bytearray(img.read_bytes())
    raw[72:80] = struct.pack(">Q", 2)       # the corrupt bit
    bad = tmp_path / "bad.qcow2"
    bad.write_bytes(raw)
    with pytest.raises(QMPError) as e:
        qmp.cmd("blockdev-add", **{"node-name": "x"}, driver="qcow2",
                file={"driver": "file", "filename": str(bad)})
    assert "corrupt" in e.value.desc
    # Read-only is allowed and reports the bit.
    qmp.cmd("blockdev-add", **{"node-name": "x"}, driver="qcow2", **{"read-only": True},
            file={"driver": "file", "filename": str(bad)})
    node = [n for n in qmp.cmd("query-named-block-nodes") if n["node-name"] == "x"][0]
    assert node["image"]["format-specific"]["data"]["corrupt"] is True
    qmp.cmd("blockdev-del", **{"node-name": "x"})

    notq = tmp_path / "plain.raw"
    notq.write_bytes(b"\0" * 65536)
    with pytest.raises(QMPError) as e:
        qmp.cmd("blockdev-add", **{"node-name": "y"}, driver="qcow2",
                file={"driver": "file", "filename": str(notq)})
    assert "not in qcow2 format" in e.value.desc

    # A missing backing file: the error names it; nothing is left behind.
    ov = tmp_path / "ov.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", "-b", "gone.qcow2", "-F", "qcow2",
        "-u", ov, "1M")
    with pytest.raises(QMPError) as e:
        qmp.cmd("blockdev-add", **{"node-name": "z"}, driver="qcow2",
                file={"driver": "file", "filename": str(ov)})
    assert "backing" in e.value.desc
    names = [n["node-name"] for n in qmp.cmd("query-named-block-nodes")]
    assert names == []


@pytest.mark.parametrize("cs,queues,direct", [("4096", 2, False), ("65536", 4, False),
                                              ("4096", 2, True)])
def test_export_concurrent_writes_check_clean(daemon, qmp, tmp_path, cs, queues, direct):
    """Several vhost-user queues (I/O threads) allocating and reading a qcow2 node."""
    img = tmp_path / "v.qcow2"
    run(HOTBLOCK_IMG, "create", "-f", "qcow2", "-o", f"cluster_size={cs}", img, "32M")
    qmp.cmd("blockdev-add", **{"node-name": "q"}, driver="qcow2",
            file={"driver": "file", "filename": str(img), "cache": {"direct": direct}})
    sock = tmp_path / "q.sock"
    qmp.cmd("block-export-add", type="vhost-user-blk", id="e", **{"node-name": "q"},
            addr={"type": "unix", "path": str(sock)}, writable=True,
            **{"num-queues": queues})
    for rw, extra in (("randwrite", ["--verify"]), ("randrw", []), ("write", ["--verify"])):
        _, out, _ = bench(sock, "--rw", rw, "--bs", "4k", "--iodepth", "16",
                          "--queues", queues, "--count", "3000", "--flush", *extra,
                          timeout=120)
        assert out["errors"] == 0 and out["verify_errors"] == 0
    qmp.cmd("block-export-del", id="e")
    qmp.wait_event("BLOCK_EXPORT_DELETED")
    qmp.cmd("blockdev-del", **{"node-name": "q"})
    assert run("qemu-img", "check", img).returncode == 0
    # What the guest saw is what qemu-img sees.
    raw = qemu_img_to_raw(img, tmp_path / "ref.raw")
    assert len(raw) == 32 << 20


@pytest.mark.parametrize("opts", ["cluster_size=512,refcount_bits=1,compat=1.1",
                                  "cluster_size=65536,compat=0.10",
                                  "cluster_size=2M,refcount_bits=64"])
def test_node_reads_qemu_images(tmp_path, opts):
    img = tmp_path / "a.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", "-o", opts, img, "8M")
    run("qemu-io", "-c", "write -P 0xab 1000 100k", "-c", "write -P 0x11 5M 1M",
        "-c", "write -z 6M 64k", img)
    ref = qemu_img_to_raw(img, tmp_path / "ref.raw")
    run(HOTBLOCK_IMG, "convert", "-O", "raw", img, tmp_path / "out.raw")
    assert (tmp_path / "out.raw").read_bytes() == ref


def test_node_reads_compressed(tmp_path):
    src = tmp_path / "src.raw"
    src.write_bytes((os.urandom(200000) + b"xyz" * 300000).ljust(4 << 20, b"\0"))
    img = tmp_path / "c.qcow2"
    run("qemu-img", "convert", "-c", "-O", "qcow2", src, img)
    run(HOTBLOCK_IMG, "convert", "-O", "raw", img, tmp_path / "out.raw")
    assert (tmp_path / "out.raw").read_bytes() == src.read_bytes()


def test_sigkill_daemon_during_guest_writes(daemon_factory, tmp_path):
    """hotblockd killed while a guest allocates: the image has at worst leaks."""
    import random
    import signal
    import time
    img = tmp_path / "k.qcow2"
    run(HOTBLOCK_IMG, "create", "-f", "qcow2", "-o", "cluster_size=4096", img, "64M")
    rnd = random.Random(7)
    for it in range(4):
        d = daemon_factory()
        q = d.qmp()
        q.cmd("blockdev-add", **{"node-name": "q"}, driver="qcow2",
              file={"driver": "file", "filename": str(img)})
        sock = tmp_path / f"k{it}.sock"
        q.cmd("block-export-add", type="vhost-user-blk", id="e", **{"node-name": "q"},
              addr={"type": "unix", "path": str(sock)}, writable=True, **{"num-queues": 2})
        b = subprocess.Popen([BENCH, str(sock), "--write-ok", "--rw", "randrw", "--bs", "4k",
                              "--iodepth", "16", "--queues", "2", "--runtime", "10",
                              "--flush", "--seed", str(it)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rnd.uniform(0.2, 0.6))
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait()
        b.kill()
        b.wait()
        p = run("qemu-img", "check", img, check=False)
        assert p.returncode in (0, 3), p.stdout + p.stderr

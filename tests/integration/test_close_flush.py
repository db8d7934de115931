# SPDX-License-Identifier: GPL-2.0-or-later
"""No acknowledged write is lost when the daemon stops or a node is closed.

A front-end writes blocks through a writable export and sends no FLUSH, as a
guest does in its last seconds before a host maintenance stop.  Then the
daemon is stopped, or the graph torn down, every way an operator does it.
Afterwards every acknowledged block must read back through QEMU's own tools
and `qemu-img check` must be clean.  qemu-storage-daemon, on the same steps,
must agree.  (Issue: acknowledged qcow2 writes vanished on quit, SIGTERM and
blockdev-del, because nodes were never closed at exit and close did not
reach the qcow2 caches in every case.)"""
import json
import os
import signal
import struct
import subprocess
import time

import pytest

from hbtest.bench import bench, pattern_word
from hbtest.images import raw_file
from hbtest.luks import PASS, master_key_via_cryptsetup, seed_graph, xts
from hbtest.paths import HOTBLOCKD
from hbtest.qsd import QemuStorageDaemon
from hbtest.tools import run

MiB = 1 << 20
SEED = 0xD15C
# 20 random 4 KiB writes over a 4 GiB disk: each allocates a cluster, and
# they spread over several L2 tables, so every block needs its L2 entry and
# its refcount written back to be reachable after exit.
BS = 4096
BLOCKS = 20
SIZE = 4096 * MiB
M64 = (1 << 64) - 1


def written_offsets():
    """The offsets hotblock-bench --rw randwrite --seed SEED writes (one queue):
    its xorshift64 stream, as in tools/hotblock-bench.c."""
    x = (SEED * 2654435761 + 1) & M64
    offs = []
    for _ in range(BLOCKS):
        x ^= (x << 13) & M64
        x ^= x >> 7
        x ^= (x << 17) & M64
        offs.append((x % (SIZE // BS)) * BS)
    return sorted(set(offs))


# ---- the volumes ----

def make_volume(tmp, fmt):
    """Create the images for @fmt; return (the graph as blockdev-add argument
    lists, bottom first; the node to export; how to read the plaintext)."""
    if fmt == "raw":
        img = raw_file(tmp / "disk.raw", SIZE)
        graph = [{"node-name": "s", "driver": "file", "filename": str(img)},
                 {"node-name": "top", "driver": "raw", "file": "s"}]
        return graph, "top", {"fmt": "raw", "img": img}
    if fmt == "qcow2":
        img = tmp / "disk.qcow2"
        run("qemu-img", "create", "-f", "qcow2", img, str(SIZE))
        graph = [{"node-name": "s", "driver": "file", "filename": str(img)},
                 {"node-name": "top", "driver": "qcow2", "file": "s"}]
        return graph, "top", {"fmt": "qcow2", "img": img}
    # The canonical graph: LUKS with a detached header over a qcow2 payload.
    graph, hdr, payload = seed_graph(tmp, SIZE)
    return graph, "libvirt-3-format", {"fmt": "luks-detached", "img": payload, "hdr": hdr}


def write_blocks(sock):
    """BLOCKS random writes of BS bytes, each acknowledged, no FLUSH."""
    _, res, _ = bench(sock, "--rw", "randwrite", "--bs", BS, "--count", BLOCKS,
                      "--iodepth", 4, "--seed", SEED, "--size", SIZE)
    assert res["errors"] == 0 and res["ops"] == BLOCKS


def read_blocks(tmp, vol, offsets):
    """Each written block as QEMU's tools read it, decrypted if need be."""
    if vol["fmt"] == "raw":
        src = vol["img"]
    else:
        src = tmp / "readback.raw"
        if src.exists():
            src.unlink()
        run("qemu-img", "convert", "-f", "qcow2", "-O", "raw", vol["img"], src)
    key = master_key_via_cryptsetup(tmp, vol["hdr"]) if "hdr" in vol else None
    with open(src, "rb") as f:
        for off in offsets:
            f.seek(off)
            data = f.read(BS)
            if key:
                data = xts(key, data, off // 512, encrypt=False)
            yield off, data


def blocks_lost(tmp, vol):
    """How many of the acknowledged blocks do not read back."""
    lost = 0
    for off, data in read_blocks(tmp, vol, written_offsets()):
        words = struct.unpack(f"<{BS // 8}Q", data)
        if any(w != pattern_word(off + 8 * i, SEED) for i, w in enumerate(words)):
            lost += 1
    return lost


def check_clean(vol, log=""):
    """qemu-img check finds nothing, the image is not left marked dirty, and
    the daemon (whose stderr is @log) reported no failed write-back."""
    assert "writing data back on close failed" not in log, log
    if vol["fmt"] == "raw":
        return
    r = run("qemu-img", "check", vol["img"], check=False)
    assert r.returncode == 0, f"qemu-img check: {r.stdout}{r.stderr}"
    assert "No errors were found" in r.stdout, r.stdout
    with open(vol["img"], "rb") as f:
        f.seek(72)   # incompatible_features; bit 0: dirty
        assert int.from_bytes(f.read(8), "big") & 1 == 0, "image left dirty"


# ---- the servers ----

def build_graph(qmp, graph, fmt):
    if fmt == "luks-detached":
        qmp.cmd("object-add", **{"qom-type": "secret"}, id="sec0", data=PASS)
    for args in graph:
        qmp.cmd("blockdev-add", args)


def delete_graph(qmp, graph):
    for args in reversed(graph):
        qmp.cmd("blockdev-del", **{"node-name": args["node-name"]})


def wait_exit(proc, timeout=60):
    return proc.wait(timeout)


def export_add(qmp, node, sock):
    qmp.cmd("block-export-add", type="vhost-user-blk", id="e0",
            **{"node-name": node}, writable=True,
            addr={"type": "unix", "path": str(sock)})


def stop_hotblockd(how, d, qmp, graph):
    """Stop the daemon (or tear the graph down, then kill it) per @how."""
    if how == "sigterm":
        assert d.stop(signal.SIGTERM) == 0, d.log()
    elif how == "sigint":
        assert d.stop(signal.SIGINT) == 0, d.log()
    elif how == "double-sigterm":
        # A second signal while the shutdown writes back must not cut it
        # short (SIGKILL is the operator's way to abandon): sent once the
        # SHUTDOWN event says the first is being handled.
        d.proc.send_signal(signal.SIGTERM)
        qmp.wait_event("SHUTDOWN")
        d.proc.send_signal(signal.SIGTERM)
        d.proc.send_signal(signal.SIGINT)
        assert wait_exit(d.proc) == 0, d.log()
        d.stop()
    elif how == "quit":
        qmp.cmd("quit")
        assert wait_exit(d.proc) == 0, d.log()
        d.stop()
    elif how == "export-del":
        qmp.cmd("block-export-del", id="e0")
        qmp.wait_event("BLOCK_EXPORT_DELETED")
        delete_graph(qmp, graph)
        assert d.stop(signal.SIGKILL) == -signal.SIGKILL
    elif how == "device-del":
        qmp.cmd("device_del", id="vdisk0")
        qmp.wait_event("DEVICE_DELETED")
        delete_graph(qmp, graph)
        assert d.stop(signal.SIGKILL) == -signal.SIGKILL
    else:
        raise AssertionError(how)


FORMATS = ["raw", "qcow2", "luks-detached"]
PATHS = ["sigterm", "sigint", "double-sigterm", "quit", "export-del", "device-del"]


@pytest.mark.parametrize("how", PATHS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_hotblockd_stop_keeps_acknowledged_writes(daemon_factory, tmp_path, fmt, how):
    graph, top, vol = make_volume(tmp_path, fmt)
    d = daemon_factory()
    qmp = d.qmp()
    build_graph(qmp, graph, fmt)
    if how == "device-del":
        qmp.cmd("device_add", driver="virtio-blk-pci", drive=top, id="vdisk0")
        sock = d.export_dir / "vdisk0.sock"
    else:
        sock = tmp_path / "e0.sock"
        export_add(qmp, top, sock)
    write_blocks(sock)
    stop_hotblockd(how, d, qmp, graph)
    assert blocks_lost(tmp_path, vol) == 0
    check_clean(vol, d.log())


@pytest.mark.parametrize("fmt", FORMATS)
def test_daemonized_sigterm_keeps_acknowledged_writes(tmp_path, fmt):
    """--daemonize with the graph on the command line: the daemon's own
    child closes the nodes when it exits."""
    graph, top, vol = make_volume(tmp_path, fmt)
    sock, pidfile = tmp_path / "e0.sock", tmp_path / "hb.pid"
    argv = [HOTBLOCKD, "--daemonize", "--pidfile", str(pidfile)]
    if fmt == "luks-detached":
        argv += ["--object", json.dumps({"qom-type": "secret", "id": "sec0", "data": PASS})]
    for args in graph:
        argv += ["--blockdev", json.dumps(args)]
    argv += ["--export", json.dumps({"type": "vhost-user-blk", "id": "e0", "node-name": top,
                                     "addr": {"type": "unix", "path": str(sock)},
                                     "writable": True})]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    pid = int(pidfile.read_text())
    try:
        write_blocks(sock)
    finally:
        os.kill(pid, signal.SIGTERM)
    # Not a child of ours: the pidfile goes only after every node closed.
    deadline = time.monotonic() + 60
    while pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not pidfile.exists(), "the daemon did not finish its shutdown"
    assert blocks_lost(tmp_path, vol) == 0
    check_clean(vol)


def test_luks_over_inline_qcow2_closed_with_last_reference(daemon_factory, tmp_path):
    """Nodes opened inline belong to their parent alone: deleting the parent
    drops the last reference, and that close must write the qcow2 back."""
    _, _, vol = make_volume(tmp_path, "luks-detached")
    d = daemon_factory()
    qmp = d.qmp()
    qmp.cmd("object-add", **{"qom-type": "secret"}, id="sec0", data=PASS)
    qmp.cmd("blockdev-add", **{"node-name": "top"}, driver="luks", **{"key-secret": "sec0"},
            file={"driver": "qcow2", "file": {"driver": "file", "filename": str(vol["img"])}},
            header={"driver": "file", "filename": str(vol["hdr"])})
    sock = tmp_path / "e0.sock"
    export_add(qmp, "top", sock)
    write_blocks(sock)
    qmp.cmd("block-export-del", id="e0")
    qmp.wait_event("BLOCK_EXPORT_DELETED")
    qmp.cmd("blockdev-del", **{"node-name": "top"})
    assert d.stop(signal.SIGKILL) == -signal.SIGKILL
    assert blocks_lost(tmp_path, vol) == 0
    check_clean(vol, d.log())


# ---- qemu-storage-daemon on the same steps: the reference must agree ----

QSD_PATHS = ["sigterm", "quit", "export-del"]


@pytest.mark.parametrize("how", QSD_PATHS)
@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_qsd_agrees(tmp_path, fmt, how):
    graph, top, vol = make_volume(tmp_path, fmt)
    with QemuStorageDaemon(tmp_path) as qsd:
        proc = qsd.proc
        qmp = qsd.qmp()
        build_graph(qmp, graph, fmt)
        sock = tmp_path / "e0.sock"
        export_add(qmp, top, sock)
        write_blocks(sock)
        if how == "sigterm":
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0
        elif how == "quit":
            qmp.cmd("quit")
            assert proc.wait(60) == 0
        else:
            qmp.cmd("block-export-del", id="e0")
            qmp.wait_event("BLOCK_EXPORT_DELETED")
            delete_graph(qmp, graph)
            proc.kill()
            proc.wait()
        qmp.close()
    assert blocks_lost(tmp_path, vol) == 0
    check_clean(vol)

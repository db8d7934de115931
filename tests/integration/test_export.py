# SPDX-License-Identifier: GPL-2.0-or-later
"""vhost-user-blk exports over QMP, driven by hotblock-bench as the front-end."""
import json
import os
import socket
import struct
import subprocess
import time

import pytest

from hbtest.bench import DEFAULT_SEED, bench, export_info, pattern_word, start_bench
from hbtest.exports import export_args
from hbtest.paths import BENCH, HOTBLOCKD
from hbtest.qmp import QMP

MiB = 1 << 20


def assert_pattern(path, off, length, seed=DEFAULT_SEED):
    with open(path, "rb") as f:
        f.seek(off)
        data = f.read(length)
    words = struct.unpack(f"<{length // 8}Q", data)
    for i, w in enumerate(words):
        assert w == pattern_word(off + 8 * i, seed), f"mismatch at {off + 8 * i}"


def add_file_node(qmp, path, name="f0", size=16 * MiB, read_only=False):
    with open(path, "wb") as f:
        f.truncate(size)
    qmp.cmd("blockdev-add", {"driver": "file", "node-name": name, "filename": str(path),
                             "read-only": read_only})


def test_export_null_and_query(daemon, qmp, tmp_path):
    qmp.cmd("blockdev-add", {"driver": "null-co", "node-name": "n0", "size": 64 * MiB})
    sock = tmp_path / "n0.sock"
    qmp.cmd("block-export-add", export_args("e0", "n0", sock, writable=True))
    assert qmp.cmd("query-block-exports") == [
        {"id": "e0", "type": "vhost-user-blk", "node-name": "n0", "shutting-down": False,
         "connected": False, "num-queues": min(os.cpu_count(), 16), "max-sessions": 2}]
    i = export_info(sock)
    assert i["capacity"] == 64 * MiB and i["blk_size"] == 512 and not i["read_only"]
    assert i["serial"] == "e0"
    _, out, _ = bench(sock, "--rw", "randrw", "--count", 5000, "--iodepth", 16)
    assert out["ops"] == 5000 and out["errors"] == 0
    qmp.cmd("block-export-del", id="e0")
    ev = qmp.wait_event("BLOCK_EXPORT_DELETED")
    assert ev["data"] == {"id": "e0"}
    assert qmp.cmd("query-block-exports") == []
    assert not sock.exists()


def test_write_verify_and_independent_check(daemon, qmp, tmp_path):
    img = tmp_path / "disk.raw"
    add_file_node(qmp, img)
    sock = tmp_path / "d.sock"
    qmp.cmd("block-export-add", export_args("e0", "f0", sock, writable=True))
    _, out, _ = bench(sock, "--rw", "randwrite", "--verify", "--count", 3000, "--bs", "4k")
    assert out["verify_errors"] == 0 and out["errors"] == 0
    # sequential pattern from offset 0, then read the file behind the daemon's back
    bench(sock, "--rw", "write", "--count", 64, "--bs", "64k", "--iodepth", 8, "--flush")
    assert_pattern(img, 0, 64 * 64 * 1024)
    # and reconnect: a new front-end reads what the previous one wrote
    _, out, _ = bench(sock, "--rw", "randread", "--check", "--size", 4 * MiB, "--count", 2000)
    assert out["verify_errors"] == 0
    # a wrong seed must be noticed (the check can fail)
    rc, out, _ = bench(sock, "--rw", "read", "--check", "--size", MiB, "--count", 16,
                       "--seed", 7, check=False)
    assert rc == 1 and out["verify_errors"] == 16


def test_multiqueue_and_block_size(daemon, qmp, tmp_path):
    img = tmp_path / "disk.raw"
    add_file_node(qmp, img)
    sock = tmp_path / "mq.sock"
    qmp.cmd("block-export-add", export_args("mq", "f0", sock, writable=True,
                                            **{"num-queues": 2, "logical-block-size": 4096,
                                               "iothreads": 2}))
    i = export_info(sock)
    assert i["num_queues"] == 2 and i["max_queues"] == 2 and i["blk_size"] == 4096
    _, out, _ = bench(sock, "--queues", 2, "--rw", "randwrite", "--verify", "--count", 4000)
    assert out["verify_errors"] == 0 and out["errors"] == 0
    rc, _, err = bench(sock, "--queues", 3, "--count", 10, check=False)
    assert rc == 2 and "queues" in err
    # 512-byte requests on a 4k device are refused per request
    rc, out, _ = bench(sock, "--bs", 512, "--count", 10, check=False)
    assert rc == 1 and out["errors"] == 10


def test_read_only_export(daemon, qmp, tmp_path):
    img = tmp_path / "disk.raw"
    add_file_node(qmp, img)
    sock = tmp_path / "ro.sock"
    qmp.cmd("block-export-add", export_args("ro", "f0", sock))
    i = export_info(sock)
    assert i["read_only"]
    bench(sock, "--rw", "randread", "--count", 500)
    rc, out, _ = bench(sock, "--rw", "randwrite", "--count", 100, check=False)
    assert rc == 1 and out["errors"] == 100
    with open(img, "rb") as f:
        assert f.read(MiB) == bytes(MiB)


def test_export_errors(daemon, qmp, tmp_path):
    qmp.cmd("blockdev-add", {"driver": "null-co", "node-name": "n0", "size": MiB})
    sock = tmp_path / "e.sock"
    qmp.cmd("block-export-add", export_args("e0", "n0", sock))
    cls, desc = qmp.err("block-export-add", export_args("e0", "n0", tmp_path / "x.sock"))
    assert "already in use" in desc
    cls, desc = qmp.err("block-export-add", export_args("e1", "nope", tmp_path / "y.sock"))
    assert "nope" in desc
    cls, desc = qmp.err("block-export-add", export_args("e2", "n0", sock))
    assert "in use" in desc
    cls, desc = qmp.err("block-export-add", export_args("e3", "n0", tmp_path / "z.sock",
                                                        **{"num-queues": 0}))
    assert "num-queues" in desc
    cls, desc = qmp.err("block-export-add", export_args("e3", "n0", tmp_path / "z.sock",
                                                        **{"logical-block-size": 1000}))
    assert "logical-block-size" in desc
    cls, desc = qmp.err("block-export-add", export_args("e3", "n0", tmp_path / "z.sock",
                                                        bogus=1))
    assert "bogus" in desc
    cls, desc = qmp.err("block-export-del", id="nope")
    assert desc == "Export 'nope' is not found"
    # the exported node cannot go away under the export
    cls, desc = qmp.err("blockdev-del", {"node-name": "n0"})
    assert "busy" in desc or "in use" in desc
    ro = tmp_path / "ro.raw"
    add_file_node(qmp, ro, name="r0", read_only=True)
    cls, desc = qmp.err("block-export-add", export_args("e4", "r0", tmp_path / "w.sock",
                                                        writable=True))
    assert "read-only" in desc
    assert [e["id"] for e in qmp.cmd("query-block-exports")] == ["e0"]


def test_safe_and_hard_delete_while_connected(daemon, qmp, tmp_path):
    qmp.cmd("blockdev-add", {"driver": "null-co", "node-name": "n0", "size": 64 * MiB})
    sock = tmp_path / "c.sock"
    qmp.cmd("block-export-add", export_args("e0", "n0", sock, writable=True,
                                            **{"max-sessions": 1}))
    proc = start_bench(sock, tmp_path / "ready", "--runtime", 20, "--iodepth", 4)
    try:
        # with max-sessions 1, a second front-end is turned away while the first is served
        rc, _, _ = bench(sock, "--count", 10, check=False)
        assert rc == 2
        cls, desc = qmp.err("block-export-del", id="e0")
        assert "still in use" in desc
        t0 = time.monotonic()
        qmp.cmd("block-export-del", id="e0", mode="hard")
        assert time.monotonic() - t0 < 10
        qmp.wait_event("BLOCK_EXPORT_DELETED")
        assert proc.wait(timeout=30) == 2
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # the id and the node are free again
    qmp.cmd("block-export-add", export_args("e0", "n0", sock))
    qmp.cmd("block-export-del", id="e0")


def test_safe_delete_right_after_the_front_end_left(daemon, qmp, tmp_path):
    """A front-end that has just exited is gone for block-export-del, even if
    the daemon's I/O thread has not turned to its hangup yet (this raced:
    "export 'e' still in use", about 1 run in 25 of a qcow2 test on a busy
    machine)."""
    qmp.cmd("blockdev-add", {"driver": "null-co", "node-name": "n0", "size": 64 * MiB})
    sock = tmp_path / "r.sock"
    for i in range(40):
        qmp.cmd("block-export-add", export_args("e", "n0", sock, writable=True))
        # Much guest memory (64 x 1 MiB buffers): unmapping it at the hangup
        # takes the daemon a while, which is when the command used to come.
        bench(sock, "--rw", "write", "--bs", "1M", "--count", 64, "--iodepth", 64)
        qmp.cmd("block-export-del", id="e")
        qmp.wait_event("BLOCK_EXPORT_DELETED")


def test_device_add_seed_step(daemon, qmp, tmp_path):
    img = tmp_path / "disk.raw"
    add_file_node(qmp, img)
    qmp.cmd("device_add", {"driver": "virtio-blk-pci", "drive": "f0", "id": "virtio-disk2"})
    sock = daemon.export_dir / "virtio-disk2.sock"
    assert sock.exists()
    assert qmp.cmd("query-block-exports")[0]["id"] == "virtio-disk2"
    i = export_info(sock)
    assert not i["read_only"] and i["serial"] == "virtio-disk2"
    _, out, _ = bench(sock, "--rw", "randwrite", "--verify", "--count", 1000)
    assert out["verify_errors"] == 0
    qmp.cmd("device_del", id="virtio-disk2")
    ev = qmp.wait_event("DEVICE_DELETED")
    assert ev["data"]["device"] == "virtio-disk2"
    assert ev["data"]["path"] == "/machine/peripheral/virtio-disk2"
    assert not sock.exists()
    assert qmp.cmd("query-block-exports") == []
    cls, desc = qmp.err("device_del", id="virtio-disk2")
    assert cls == "DeviceNotFound"


def test_device_del_refuses_while_a_vm_is_connected(daemon, qmp, tmp_path):
    """Pulling the disk from a running VM stalls its I/O and then its own
    unplug: device_del refuses; the VM lets go first, or mode=hard forces."""
    qmp.cmd("blockdev-add", {"driver": "null-co", "node-name": "n0", "size": 64 * MiB})
    qmp.cmd("device_add", {"driver": "vhost-user-blk-pci", "drive": "n0", "id": "vd0"})
    sock = daemon.export_dir / "vd0.sock"
    proc = start_bench(sock, tmp_path / "ready", "--runtime", 20, "--iodepth", 4)
    try:
        cls, desc = qmp.err("device_del", id="vd0")
        assert (cls, desc) == ("GenericError", "Device 'vd0' is in use by a connected VM: "
                               "unplug it from the VM first, or force it with "
                               "block-export-del (mode=hard)")
        assert sock.exists() and qmp.cmd("query-block-exports")[0]["id"] == "vd0"
        assert not any(e["event"] == "DEVICE_DELETED" for e in qmp.events)
        qmp.cmd("block-export-del", id="vd0", mode="hard")
        assert qmp.wait_event("DEVICE_DELETED")["data"]["device"] == "vd0"
        assert proc.wait(timeout=30) == 2
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # once the VM has let go, device_del works
    qmp.cmd("device_add", {"driver": "vhost-user-blk-pci", "drive": "n0", "id": "vd1"})
    bench(daemon.export_dir / "vd1.sock", "--count", 100)
    qmp.cmd("device_del", id="vd1")
    assert qmp.wait_event("DEVICE_DELETED")["data"]["device"] == "vd1"


def test_default_queue_count_is_the_cpu_count(daemon, qmp, tmp_path):
    """QEMU asks for one queue per vCPU unless told otherwise: by default an
    export offers as many as the host has CPUs (at most 16)."""
    qmp.cmd("blockdev-add", {"driver": "null-co", "node-name": "n0", "size": MiB})
    sock = tmp_path / "e.sock"
    qmp.cmd("block-export-add", export_args("e0", "n0", sock))
    i = export_info(sock)
    assert i["num_queues"] == i["max_queues"] == min(os.cpu_count(), 16)
    qmp.cmd("device_add", {"driver": "vhost-user-blk-pci", "drive": "n0", "id": "vd0"})
    i = export_info(daemon.export_dir / "vd0.sock")
    assert i["num_queues"] == min(os.cpu_count(), 16)


def test_device_add_options_and_errors(daemon, qmp, tmp_path):
    qmp.cmd("blockdev-add", {"driver": "null-co", "node-name": "n0", "size": 8 * MiB})
    qmp.cmd("device_add", {"driver": "vhost-user-blk-pci", "drive": "n0", "id": "d1",
                           "num-queues": 2, "serial": "SER-1", "read-only": True,
                           "logical-block-size": 4096})
    i = export_info(daemon.export_dir / "d1.sock")
    assert i["num_queues"] == 2 and i["serial"] == "SER-1" and i["read_only"]
    assert i["blk_size"] == 4096
    cls, desc = qmp.err("device_add", {"driver": "e1000", "drive": "n0", "id": "d2"})
    assert "not a valid device model" in desc
    cls, desc = qmp.err("device_add", {"driver": "virtio-blk-pci", "id": "d2"})
    assert "drive" in desc
    cls, desc = qmp.err("device_add", {"driver": "virtio-blk-pci", "drive": "zz", "id": "d2"})
    assert "zz" in desc
    cls, desc = qmp.err("device_add", {"driver": "virtio-blk-pci", "drive": "n0", "id": "d1"})
    assert "Duplicate" in desc
    cls, desc = qmp.err("device_add", {"driver": "virtio-blk-pci", "drive": "n0", "id": "d3",
                                       "socket": str(daemon.export_dir / "d1.sock")})
    assert "in use" in desc
    cls, desc = qmp.err("device_add", {"driver": "virtio-blk-pci", "drive": "n0", "id": "d3",
                                       "num-queues": "2"})
    assert "num-queues" in desc
    # a block-export-add export is not a device
    qmp.cmd("block-export-add", export_args("e9", "n0", tmp_path / "e9.sock"))
    cls, desc = qmp.err("device_del", id="e9")
    assert cls == "DeviceNotFound"
    qmp.cmd("device_del", id="d1")
    qmp.wait_event("DEVICE_DELETED")


def test_device_add_without_export_dir(tmp_path):
    """Started without --export-dir: device_add needs an explicit socket."""
    qmp_path = tmp_path / "q.sock"
    proc = subprocess.Popen([HOTBLOCKD, "--qmp", str(qmp_path)], stderr=subprocess.PIPE)
    try:
        c = QMP(str(qmp_path))
        c.cmd("blockdev-add", {"driver": "null-co", "node-name": "n0"})
        cls, desc = c.err("device_add", {"driver": "virtio-blk-pci", "drive": "n0", "id": "d"})
        assert "export-dir" in desc
        c.cmd("device_add", {"driver": "virtio-blk-pci", "drive": "n0", "id": "d",
                             "socket": str(tmp_path / "d.sock")})
        assert export_info(tmp_path / "d.sock")["capacity"] > 0
        c.close()
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0


def test_export_on_command_line(daemon_factory, tmp_path):
    img = tmp_path / "cl.raw"
    with open(img, "wb") as f:
        f.truncate(4 * MiB)
    sock = tmp_path / "cl.sock"
    d = daemon_factory(
        "--blockdev", json.dumps({"driver": "file", "filename": str(img), "node-name": "f0"}),
        "--export", f"type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,"
                    f"addr.path={sock},writable=on,num-queues=2")
    i = export_info(sock)
    assert i["capacity"] == 4 * MiB and i["num_queues"] == 2
    bench(sock, "--rw", "write", "--count", 16, "--bs", "64k", "--flush")
    assert_pattern(img, 0, 16 * 65536)
    assert d.qmp().cmd("query-block-exports")[0]["id"] == "e0"


def test_hostile_front_end_drops_only_itself(daemon, qmp, tmp_path):
    qmp.cmd("blockdev-add", {"driver": "null-co", "node-name": "n0", "size": MiB})
    sock = tmp_path / "h.sock"
    qmp.cmd("block-export-add", export_args("e0", "n0", sock, writable=True))
    garbage = [
        b"\xff" * 12,                                        # bad version
        struct.pack("<III", 1, 1, 100000),                   # oversized
        struct.pack("<III", 8, 1, 8) + struct.pack("<II", 99, 128),  # vring index
        struct.pack("<III", 77, 1, 0),                       # unknown request
        struct.pack("<III", 2, 1, 8),                        # truncated, then hang up
    ]
    for g in garbage:
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(sock))
        s.sendall(g)
        s.shutdown(socket.SHUT_WR)
        s.settimeout(10)
        try:
            assert s.recv(100) == b""       # the daemon hangs up on us
        except ConnectionResetError:
            pass
        s.close()
    # the export still serves a well-behaved front-end, and QMP still answers
    bench(sock, "--count", 1000)
    assert qmp.cmd("query-block-exports")[0]["id"] == "e0"


def test_many_exports_busy_while_qmp_stays_responsive(daemon, qmp, tmp_path):
    """Three exports under load at once (one with two queues on a single I/O
    thread): every client gets its data right and QMP answers promptly."""
    procs = []
    for i in range(3):
        img = tmp_path / f"m{i}.raw"
        add_file_node(qmp, img, name=f"m{i}", size=8 * MiB)
        extra = {"num-queues": 2, "iothreads": 1} if i == 0 else {}
        qmp.cmd("block-export-add", export_args(f"m{i}", f"m{i}", tmp_path / f"m{i}.sock",
                                                writable=True, **extra))
    for i in range(3):
        args = [BENCH, str(tmp_path / f"m{i}.sock"), "--write-ok", "--rw", "randwrite", "--verify",
                "--count", "20000", "--json"]
        if i == 0:
            args += ["--queues", "2"]
        procs.append(subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    worst = 0.0
    while any(p.poll() is None for p in procs):
        t0 = time.monotonic()
        assert len(qmp.cmd("query-block-exports")) == 3
        worst = max(worst, time.monotonic() - t0)
        time.sleep(0.02)
    for p in procs:
        out, err = p.communicate()
        assert p.returncode == 0, err
        assert json.loads(out)["verify_errors"] == 0
    assert worst < 1.0, f"QMP took {worst:.3f}s under export load"


@pytest.mark.parametrize("kind,dropped,status", [
    ("loop", True, None), ("oob-addr", True, None), ("wrap-addr", True, None),
    ("nested-indirect", True, None), ("bad-head", True, None), ("avail-jump", True, None),
    ("no-status", True, None), ("sector-oob", False, 1), ("unknown-type", False, 2),
    # The front-end truncates the memory it shared: SIGBUS in the daemon unless guarded.
    ("truncate-memory", True, None),
])
def test_hostile_guest_rings(daemon, qmp, tmp_path, kind, dropped, status):
    """What a hostile guest can put in a ring: a broken ring drops that one
    connection, a bad request gets an error status; the export then serves
    the next front-end and QMP is unaffected."""
    qmp.cmd("blockdev-add", {"driver": "null-co", "node-name": "n0", "size": MiB})
    sock = tmp_path / "g.sock"
    qmp.cmd("block-export-add", export_args("e0", "n0", sock, writable=True))
    _, out, _ = bench(sock, "--evil", kind)
    assert out["dropped"] == dropped
    if status is not None:
        assert out["status"] == status
    bench(sock, "--count", 2000)
    assert qmp.cmd("query-block-exports")[0]["id"] == "e0"


def test_export_on_inherited_fd(tmp_path):
    """addr.type=fd: a listening socket handed down by the parent (systemd
    socket activation, libvirt)."""
    path = tmp_path / "inherited.sock"
    lsock = socket.socket(socket.AF_UNIX)
    lsock.bind(str(path))
    lsock.listen(4)
    fd = lsock.fileno()
    qmp_path = tmp_path / "q.sock"
    proc = subprocess.Popen(
        [HOTBLOCKD, "--qmp", str(qmp_path),
         "--blockdev", json.dumps({"driver": "null-co", "node-name": "n0", "size": MiB}),
         "--export", f"type=vhost-user-blk,id=e0,node-name=n0,addr.type=fd,addr.str={fd}"],
        pass_fds=[fd], stderr=subprocess.PIPE)
    lsock.close()
    try:
        c = QMP(str(qmp_path))
        assert export_info(path)["capacity"] == MiB
        bench(path, "--count", 1000)
        cls, desc = c.err("block-export-add", {"type": "vhost-user-blk", "id": "e1",
                                               "node-name": "n0",
                                               "addr": {"type": "fd", "str": "x"}})
        assert "x" in desc
        c.close()
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0

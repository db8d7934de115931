# SPDX-License-Identifier: GPL-2.0-or-later
"""block_resize: QEMU's command on file, raw, luks and qcow2 nodes, its
errors, and what an export's front-end sees afterwards."""
import json
import os

from hbtest.bench import bench
from hbtest.graph import names
from hbtest.images import raw_file
from hbtest.luks import PASS
from hbtest.paths import HOTBLOCK_IMG
from hbtest.tools import run

MiB = 1 << 20
SECRET = f"secret,id=sec0,data={PASS}"


def node(qmp, name):
    return [n for n in qmp.cmd("query-named-block-nodes") if n["node-name"] == name][0]


def bench_result(sock, *args):
    return bench(sock, *args)[1]


def test_file_grows_and_shrinks(daemon, qmp, tmp_path):
    img = raw_file(tmp_path / "f.raw", MiB)
    qmp.cmd("blockdev-add", driver="file", **{"node-name": "f"}, filename=str(img))
    assert qmp.cmd("block_resize", **{"node-name": "f"}, size=3 * MiB) == {}
    assert os.path.getsize(img) == 3 * MiB
    assert node(qmp, "f")["image"]["virtual-size"] == 3 * MiB
    qmp.cmd("block_resize", **{"node-name": "f"}, size=MiB // 2)
    assert os.path.getsize(img) == MiB // 2
    assert node(qmp, "f")["image"]["virtual-size"] == MiB // 2


def test_raw_over_file_follows_offset(daemon, qmp, tmp_path):
    img = raw_file(tmp_path / "r.raw", 2 * MiB)
    qmp.cmd("blockdev-add", driver="raw", **{"node-name": "r"}, offset=4096,
            file={"driver": "file", "filename": str(img)})
    qmp.cmd("block_resize", **{"node-name": "r"}, size=4 * MiB)
    assert os.path.getsize(img) == 4 * MiB + 4096
    assert node(qmp, "r")["image"]["virtual-size"] == 4 * MiB


def test_errors_change_nothing(daemon, qmp, tmp_path):
    img = raw_file(tmp_path / "e.raw", MiB)
    qmp.cmd("blockdev-add", driver="raw", **{"node-name": "fixed"}, size=MiB // 2,
            file={"driver": "file", "filename": str(img)})
    qmp.cmd("blockdev-add", driver="null-co", **{"node-name": "null"}, size=MiB)
    ro = raw_file(tmp_path / "ro.raw", MiB)
    qmp.cmd("blockdev-add", driver="file", **{"node-name": "ro"}, filename=str(ro),
            **{"read-only": True})
    before = sorted(names(qmp))
    cases = [
        ({"node-name": "nope", "size": MiB}, "DeviceNotFound",
         "Cannot find device='' nor node-name='nope'"),
        ({"device": "drive0", "size": MiB}, "DeviceNotFound",
         "Cannot find device='drive0' nor node-name=''"),
        ({"node-name": "null", "size": -1}, "GenericError",
         "Parameter 'size' expects a >0 size"),
        ({"node-name": "fixed", "size": 2 * MiB}, "GenericError",
         "Cannot resize fixed-size raw disks"),
        ({"node-name": "null", "size": 2 * MiB}, "GenericError",
         "Image format driver does not support resize"),
    ]
    for args, cls, desc in cases:
        assert qmp.err("block_resize", args) == (cls, desc), args
    cls, desc = qmp.err("block_resize", {"node-name": "ro", "size": 2 * MiB})
    assert (cls, desc) == ("GenericError", "Block node is read-only")
    assert os.path.getsize(img) == MiB and os.path.getsize(ro) == MiB
    assert sorted(names(qmp)) == before
    # The temporary resize user is gone: the nodes can be deleted.
    for n in ("fixed", "null", "ro"):
        qmp.cmd("blockdev-del", **{"node-name": n})


def test_parent_that_forbids_resize(daemon, qmp, tmp_path):
    """A format on a file does not share RESIZE on it, as in QEMU: the file
    cannot be resized under the qcow2."""
    img = tmp_path / "p.qcow2"
    run(HOTBLOCK_IMG, "create", "-f", "qcow2", img, "1M")
    qmp.cmd("blockdev-add", driver="file", **{"node-name": "pf"}, filename=str(img))
    qmp.cmd("blockdev-add", driver="qcow2", **{"node-name": "pq"}, file="pf")
    size = os.path.getsize(img)
    cls, desc = qmp.err("block_resize", {"node-name": "pf", "size": 8 * MiB})
    assert cls == "GenericError" and "an unnamed block device" in desc and "resize" in desc, desc
    assert os.path.getsize(img) == size


def test_luks_attached_grows_payload(daemon, qmp, tmp_path):
    img = tmp_path / "l.luks"
    run(HOTBLOCK_IMG, "create", "--object", SECRET, "-f", "luks",
        "-o", "key-secret=sec0,iter-time=10", img, "1M")
    header = os.path.getsize(img) - MiB
    qmp.cmd("object-add", **{"qom-type": "secret", "id": "sec0", "data": PASS})
    qmp.cmd("blockdev-add", driver="luks", **{"node-name": "l", "key-secret": "sec0"},
            file={"driver": "file", "filename": str(img)})
    cls, desc = qmp.err("block_resize", {"node-name": "l", "size": 2 * MiB + 100})
    assert "multiple of 512" in desc
    qmp.cmd("block_resize", **{"node-name": "l"}, size=2 * MiB)
    assert os.path.getsize(img) == header + 2 * MiB
    assert node(qmp, "l")["image"]["virtual-size"] == 2 * MiB
    # qemu-img agrees on the new size.
    out = run("qemu-img", "info", "--output=json", "--object", SECRET, "--image-opts",
              f"driver=luks,key-secret=sec0,file.filename={img}").stdout
    assert json.loads(out)["virtual-size"] == 2 * MiB


def test_exported_node_new_clients_see_new_capacity(daemon, qmp, tmp_path):
    """The export reads its node's length again: requests past the old end
    work, and a front-end connecting later sees the new capacity.  (A front-
    end that is connected hears of it through BACKEND_REQ: tests/e2e.)"""
    img = raw_file(tmp_path / "x.raw", 4 * MiB)
    sock = tmp_path / "x.sock"
    qmp.cmd("blockdev-add", driver="file", **{"node-name": "x"}, filename=str(img))
    qmp.cmd("block-export-add", {"type": "vhost-user-blk", "id": "ex", "node-name": "x",
                                 "writable": True, "addr": {"type": "unix", "path": str(sock)}})

    assert bench_result(sock, "--info")["capacity"] == 4 * MiB
    qmp.cmd("block_resize", **{"node-name": "x"}, size=8 * MiB)
    assert bench_result(sock, "--info")["capacity"] == 8 * MiB
    r = bench_result(sock, "--rw", "randwrite", "--verify", "--count", 2000, "--size", 8 * MiB)
    assert r["errors"] == 0 and r["verify_errors"] == 0
    qmp.cmd("block_resize", **{"node-name": "x"}, size=2 * MiB)
    assert bench_result(sock, "--info")["capacity"] == 2 * MiB


def test_detached_luks_over_qcow2_grows_the_qcow2(daemon, qmp, tmp_path):
    """The canonical volume (detached LUKS header, qcow2 payload) grows by
    resizing its luks node; data written before stays, qemu-img agrees."""
    hdr = tmp_path / "hdr.img"
    qcow = tmp_path / "payload.qcow2"
    run(HOTBLOCK_IMG, "create", "--object", SECRET, "-f", "luks",
        "-o", "key-secret=sec0,detached-header=true,iter-time=10", hdr)
    run(HOTBLOCK_IMG, "create", "-f", "qcow2", qcow, "1M")
    qmp.cmd("object-add", **{"qom-type": "secret", "id": "sec0", "data": PASS})
    qmp.cmd("blockdev-add", driver="luks", **{"node-name": "vol", "key-secret": "sec0"},
            header={"driver": "file", "filename": str(hdr)},
            file={"driver": "qcow2", "node-name": "q",
                  "file": {"driver": "file", "filename": str(qcow)}})
    sock = tmp_path / "vol.sock"
    qmp.cmd("block-export-add", {"type": "vhost-user-blk", "id": "ev", "node-name": "vol",
                                 "writable": True, "addr": {"type": "unix", "path": str(sock)}})

    r = bench_result(sock, "--rw", "write", "--verify", "--count", 256, "--size", MiB)
    assert r["verify_errors"] == 0
    qmp.cmd("block_resize", **{"node-name": "vol"}, size=64 * MiB)
    assert node(qmp, "q")["image"]["virtual-size"] == 64 * MiB
    assert bench_result(sock, "--info")["capacity"] == 64 * MiB
    # The first MiB still holds what was written before the grow.
    r = bench_result(sock, "--rw", "read", "--check", "--count", 256, "--size", MiB)
    assert r["errors"] == 0 and r["verify_errors"] == 0
    r = bench_result(sock, "--rw", "randwrite", "--verify", "--count", 2000, "--size", 64 * MiB)
    assert r["errors"] == 0 and r["verify_errors"] == 0
    qmp.cmd("block-export-del", id="ev")
    qmp.wait_event("BLOCK_EXPORT_DELETED")
    qmp.cmd("blockdev-del", **{"node-name": "vol"})
    out = json.loads(run("qemu-img", "info", "--output=json", "-U", qcow).stdout)
    assert out["virtual-size"] == 64 * MiB
    run("qemu-img", "check", qcow)

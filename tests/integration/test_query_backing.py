# SPDX-License-Identifier: GPL-2.0-or-later
"""Backing chains in query-named-block-nodes and hotblock-img info, compared
field by field with qemu-storage-daemon and qemu-img on the same images."""
import json
import os

import pytest

from hbtest.paths import HOTBLOCK_IMG
from hbtest.qsd import QemuStorageDaemon
from hbtest.tools import run

# Members hotblock fills from its own drivers' query code; compared elsewhere.
NOT_COMPARED = {"format-specific", "actual-size"}


@pytest.fixture
def chain3(tmp_path):
    """base.qcow2 <- mid.qcow2 <- top.qcow2, relative names, made by qemu-img."""
    run("qemu-img", "create", "-q", "-f", "qcow2", "base.qcow2", "4M", cwd=tmp_path)
    run("qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2",
        "mid.qcow2", cwd=tmp_path)
    run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=4096",
        "-b", "mid.qcow2", "-F", "qcow2", "top.qcow2", cwd=tmp_path)
    run("qemu-io", "-c", "write -P 0x11 0 64k", tmp_path / "base.qcow2")
    run("qemu-io", "-c", "write -P 0x22 64k 64k", tmp_path / "mid.qcow2")
    return tmp_path / "top.qcow2"


def name(filename):
    """json: pseudo-filenames compare as data (QEMU spaces and orders them
    its own way); plain names as they are."""
    if filename.startswith("json:"):
        return json.loads(filename[5:])
    return filename


def strip(info):
    """ImageInfo without the members not compared, recursively."""
    out = {k: v for k, v in info.items() if k not in NOT_COMPARED}
    out["filename"] = name(out["filename"])
    if "backing-image" in out:
        out["backing-image"] = strip(out["backing-image"])
    return out


def qsd_query(tmp_path, blockdev, flat=None):
    """query-named-block-nodes from qemu-storage-daemon after blockdev-add."""
    with QemuStorageDaemon(tmp_path) as qsd:
        q = qsd.qmp()
        q.cmd("blockdev-add", **blockdev)
        args = {} if flat is None else {"flat": flat}
        nodes = q.cmd("query-named-block-nodes", **args)
        q.cmd("blockdev-del", **{"node-name": blockdev["node-name"]})
        q.close()
    return {n["node-name"]: n for n in nodes}


def top_blockdev(top, **extra):
    return dict({"node-name": "top", "driver": "qcow2", "read-only": True,
                 "file": {"driver": "file", "filename": str(top)}}, **extra)


def compare_device(ours, ref):
    assert name(ours["file"]) == name(ref["file"])
    for key in ("ro", "drv", "backing_file", "backing_file_depth", "encrypted"):
        assert ours.get(key) == ref.get(key), key
    assert strip(ours["image"]) == strip(ref["image"])


def test_query_header_chain_matches_qemu(tmp_path, chain3, qmp):
    ref = qsd_query(tmp_path, top_blockdev(chain3))["top"]
    qmp.cmd("blockdev-add", **top_blockdev(chain3))
    ours = {n["node-name"]: n for n in qmp.cmd("query-named-block-nodes")}["top"]
    compare_device(ours, ref)
    # The part that matters spelled out, so a shared mistake cannot hide.
    assert ours["file"] == str(chain3)
    assert ours["backing_file"] == str(tmp_path / "mid.qcow2")
    assert ours["backing_file_depth"] == 2
    img = ours["image"]
    assert img["cluster-size"] == 4096 and img["dirty-flag"] is False
    assert img["backing-filename"] == "mid.qcow2"
    assert img["full-backing-filename"] == str(tmp_path / "mid.qcow2")
    assert img["backing-filename-format"] == "qcow2"
    mid = img["backing-image"]
    assert mid["filename"] == str(tmp_path / "mid.qcow2")
    assert mid["cluster-size"] == 65536
    assert mid["backing-image"]["filename"] == str(tmp_path / "base.qcow2")
    assert "backing-image" not in mid["backing-image"]
    assert "backing-filename" not in mid["backing-image"]


def test_query_flat(tmp_path, chain3, qmp, daemon):
    ref = qsd_query(tmp_path, top_blockdev(chain3), flat=True)["top"]
    qmp.cmd("blockdev-add", **top_blockdev(chain3))
    nodes = {n["node-name"]: n for n in qmp.cmd("query-named-block-nodes", flat=True)}
    ours = nodes["top"]
    compare_device(ours, ref)
    assert "backing-image" not in ours["image"]
    assert ours["backing_file_depth"] == 0


def test_query_backing_by_node_name_and_null(tmp_path, chain3, qmp):
    mid = tmp_path / "mid.qcow2"
    # The header's file by node name is no override: plain file name.
    qmp.cmd("blockdev-add", **{"node-name": "m"}, driver="qcow2", **{"read-only": True},
            file={"driver": "file", "filename": str(mid)})
    qmp.cmd("blockdev-add", **top_blockdev(chain3, backing="m"))
    nodes = {n["node-name"]: n for n in qmp.cmd("query-named-block-nodes")}
    assert nodes["top"]["file"] == str(chain3)
    assert nodes["top"]["backing_file"] == str(mid)
    assert nodes["top"]["backing_file_depth"] == 2
    qmp.cmd("blockdev-del", **{"node-name": "top"})
    # Another backing file than the header's: the filename says so.
    base = tmp_path / "base.qcow2"
    qmp.cmd("blockdev-add", **{"node-name": "b"}, driver="qcow2", **{"read-only": True},
            file={"driver": "file", "filename": str(base)}, backing=None)
    qmp.cmd("blockdev-add", **top_blockdev(chain3, backing="b"))
    nodes = {n["node-name"]: n for n in qmp.cmd("query-named-block-nodes")}
    top = nodes["top"]
    assert top["file"].startswith("json:")
    assert json.loads(top["file"][5:])["backing"]["file"]["filename"] == str(base)
    assert top["backing_file"] == str(base) and top["backing_file_depth"] == 1
    assert top["image"]["backing-filename"] == "mid.qcow2"  # still the header's
    qmp.cmd("blockdev-del", **{"node-name": "top"})
    # backing: null over a header that names one.
    ref = qsd_query(tmp_path, top_blockdev(chain3, backing=None))["top"]
    qmp.cmd("blockdev-add", **top_blockdev(chain3, backing=None))
    ours = {n["node-name"]: n for n in qmp.cmd("query-named-block-nodes")}["top"]
    compare_device(ours, ref)
    assert name(ours["file"])["backing"] is None
    assert "backing_file" not in ours and ours["backing_file_depth"] == 0


def test_img_info_chain_matches_qemu_img(tmp_path, chain3):
    for name in ("top.qcow2", str(chain3)):
        ref = json.loads(run("qemu-img", "info", "--output=json", "--backing-chain", name,
                             cwd=tmp_path).stdout)
        ours = json.loads(run(HOTBLOCK_IMG, "info", "--output=json", "--backing-chain",
                              name, cwd=tmp_path).stdout)
        assert [strip(i) for i in ours] == [strip(i) for i in ref]
        ref1 = json.loads(run("qemu-img", "info", "--output=json", name,
                              cwd=tmp_path).stdout)
        ours1 = json.loads(run(HOTBLOCK_IMG, "info", "--output=json", name,
                               cwd=tmp_path).stdout)
        assert strip(ours1) == strip(ref1)


def human_lines(text):
    keep = ("image:", "file format:", "virtual size:", "cluster_size:", "backing file")
    return [line for line in text.splitlines() if line.startswith(keep) or line == ""]


def test_img_info_human_backing_lines(tmp_path, chain3):
    ref = run("qemu-img", "info", "--backing-chain", "top.qcow2", cwd=tmp_path).stdout
    ours = run(HOTBLOCK_IMG, "info", "--backing-chain", "top.qcow2", cwd=tmp_path).stdout
    assert human_lines(ours) == human_lines(ref)
    assert "backing file: mid.qcow2\nbacking file format: qcow2\n" in ours
    ours = run(HOTBLOCK_IMG, "info", str(chain3)).stdout
    assert f"backing file: mid.qcow2 (actual path: {tmp_path}/mid.qcow2)\n" in ours


def test_img_info_without_backing_chain_needs_no_backing_file(tmp_path, chain3):
    """qemu-img info does not open the backing file; neither does hotblock-img."""
    os.rename(tmp_path / "mid.qcow2", tmp_path / "gone.qcow2")
    ref = json.loads(run("qemu-img", "info", "--output=json", chain3).stdout)
    ours = json.loads(run(HOTBLOCK_IMG, "info", "--output=json", chain3).stdout)
    assert strip(ours) == strip(ref)
    assert run(HOTBLOCK_IMG, "info", "--backing-chain", chain3, check=False).returncode == 1

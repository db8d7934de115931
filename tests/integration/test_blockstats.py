# SPDX-License-Identifier: GPL-2.0-or-later
"""query-blockstats and block-latency-histogram-set, in QEMU 7.2's shapes.

An export is the counterpart of QEMU's BlockBackend: its entry counts the
requests its front-ends sent (device: the export id; qdev too for device_add
exports), over its node's entry (wr_highest_offset, the file below as
"parent").  With query-nodes every node of the graph has an entry with what
the node layer keeps: wr_highest_offset."""
import pytest

from hbtest.bench import bench
from hbtest.exports import export_args
from hbtest.images import raw_file

MiB = 1 << 20

COUNTERS = ["rd_bytes", "wr_bytes", "unmap_bytes", "rd_operations", "wr_operations",
            "flush_operations", "unmap_operations", "rd_total_time_ns", "wr_total_time_ns",
            "flush_total_time_ns", "unmap_total_time_ns", "wr_highest_offset",
            "rd_merged", "wr_merged", "unmap_merged",
            "failed_rd_operations", "failed_wr_operations", "failed_flush_operations",
            "failed_unmap_operations", "invalid_rd_operations", "invalid_wr_operations",
            "invalid_flush_operations", "invalid_unmap_operations"]


def export(qmp, tmp_path, eid, node):
    sock = tmp_path / f"{eid}.sock"
    qmp.cmd("block-export-add", export_args(eid, node, sock, writable=True))
    return sock


@pytest.fixture
def raw_export(qmp, tmp_path):
    """A raw node r0 over a file node f0 (8 MiB), exported as e0: its socket."""
    img = raw_file(tmp_path / "disk.raw", 8 * MiB)
    qmp.cmd("blockdev-add", {"driver": "file", "node-name": "f0", "filename": str(img)})
    qmp.cmd("blockdev-add", {"driver": "raw", "node-name": "r0", "file": "f0"})
    return export(qmp, tmp_path, "e0", "r0")


def test_fresh_export_shape(daemon, qmp, raw_export):
    [s] = qmp.cmd("query-blockstats")
    assert s["device"] == "e0" and s["node-name"] == "r0" and "qdev" not in s
    st = s["stats"]
    for k in COUNTERS:
        assert st[k] == 0, k
    assert "idle_time_ns" not in st            # nothing completed yet
    assert st["timed_stats"] == []
    assert st["account_invalid"] is False and st["account_failed"] is True
    assert not any(k.endswith("_latency_histogram") for k in st)
    assert s["parent"]["node-name"] == "f0"
    assert "device" not in s["parent"] and "parent" not in s["parent"]


def test_counts_requests(daemon, qmp, raw_export):
    _, out, _ = bench(raw_export, "--rw", "write", "--bs", "4k", "--count", 300,
                      "--size", 4 * MiB, "--flush")
    assert out["errors"] == 0
    _, out, _ = bench(raw_export, "--rw", "randread", "--bs", "8k", "--count", 500,
                      "--iodepth", 8)
    assert out["errors"] == 0
    [s] = qmp.cmd("query-blockstats")
    st = s["stats"]
    assert st["wr_operations"] == 300 and st["wr_bytes"] == 300 * 4096
    assert st["rd_operations"] == 500 and st["rd_bytes"] == 500 * 8192
    assert st["flush_operations"] == 1
    assert st["rd_total_time_ns"] > 0 and st["wr_total_time_ns"] > 0
    assert st["failed_rd_operations"] == st["failed_wr_operations"] == 0
    assert 0 <= st["idle_time_ns"] < 60 * 10**9
    # The sequential writes reached 300 * 4 KiB: the export's node and the file below.
    assert st["wr_highest_offset"] == 300 * 4096
    assert s["parent"]["stats"]["wr_highest_offset"] == 300 * 4096
    assert s["parent"]["stats"]["wr_operations"] == 0  # nodes count no requests


def test_query_nodes(daemon, qmp, raw_export, tmp_path):
    qmp.cmd("blockdev-add", {"driver": "null-co", "node-name": "n0", "size": 8 * MiB})
    bench(raw_export, "--rw", "write", "--bs", "64k", "--count", 2)
    got = qmp.cmd("query-blockstats", {"query-nodes": True})
    assert [s["node-name"] for s in got] == ["f0", "r0", "n0"]
    by = {s["node-name"]: s for s in got}
    assert all("device" not in s for s in got)
    assert by["r0"]["stats"]["wr_highest_offset"] == 128 * 1024
    assert by["r0"]["parent"]["node-name"] == "f0"
    assert by["f0"]["stats"]["wr_highest_offset"] == 128 * 1024
    assert "parent" not in by["f0"]
    assert by["r0"]["stats"]["account_failed"] is False
    assert by["r0"]["stats"]["wr_operations"] == 0
    assert by["n0"]["stats"]["wr_highest_offset"] == 0
    # Without query-nodes: only exports.
    assert [s["device"] for s in qmp.cmd("query-blockstats", {"query-nodes": False})] == ["e0"]


def test_device_add_has_qdev(daemon, qmp):
    qmp.cmd("blockdev-add", {"driver": "null-co", "node-name": "n0", "size": 8 * MiB})
    qmp.cmd("device_add", {"driver": "vhost-user-blk-pci", "drive": "n0", "id": "vd0"})
    [s] = qmp.cmd("query-blockstats")
    assert (s["device"], s["qdev"], s["node-name"]) == ("vd0", "vd0", "n0")


def bins(st, kind):
    return st[f"{kind}_latency_histogram"]["bins"]


def test_latency_histogram(daemon, qmp, raw_export):
    qmp.cmd("block-latency-histogram-set", {"id": "e0", "boundaries": [1000, 10**9]})
    qmp.cmd("block-latency-histogram-set", {"id": "e0", "boundaries-write": [5 * 10**9]})
    bench(raw_export, "--rw", "read", "--count", 100, "--flush")
    bench(raw_export, "--rw", "write", "--count", 50)
    st = qmp.cmd("query-blockstats")[0]["stats"]
    assert st["rd_latency_histogram"]["boundaries"] == [1000, 10**9]
    assert sum(bins(st, "rd")) == 100 and len(bins(st, "rd")) == 3
    assert bins(st, "rd")[2] == 0               # nothing took a second
    assert st["wr_latency_histogram"] == {"boundaries": [5 * 10**9], "bins": [50, 0]}
    assert sum(bins(st, "flush")) == 1

    # Without boundaries: every histogram goes.
    qmp.cmd("block-latency-histogram-set", {"id": "e0"})
    st = qmp.cmd("query-blockstats")[0]["stats"]
    assert not any(k.endswith("_latency_histogram") for k in st)


@pytest.mark.parametrize("args,text", [
    ({"boundaries": [10, 10]}, "Device 'e0' set read boundaries fail"),
    ({"boundaries-read": [0, 10]}, "Device 'e0' set read boundaries fail"),
    ({"boundaries-write": [10, 5]}, "Device 'e0' set write boundaries fail"),
    ({"boundaries-read": [1], "boundaries-flush": [3, 2]},
     "Device 'e0' set flush boundaries fail"),
])
def test_histogram_bad_boundaries_change_nothing(daemon, qmp, raw_export, args, text):
    qmp.cmd("block-latency-histogram-set", {"id": "e0", "boundaries-read": [7]})
    assert qmp.err("block-latency-histogram-set", dict(args, id="e0")) == ("GenericError", text)
    st = qmp.cmd("query-blockstats")[0]["stats"]
    assert st["rd_latency_histogram"]["boundaries"] == [7]
    assert "wr_latency_histogram" not in st and "flush_latency_histogram" not in st


def test_histogram_unknown_device(daemon, qmp):
    assert qmp.err("block-latency-histogram-set", {"id": "nope", "boundaries": [1]}) == \
        ("DeviceNotFound", "Device 'nope' not found")
    assert qmp.err("block-latency-histogram-set", {"id": "nope", "boundaries": [-1]})[0] == \
        "GenericError"

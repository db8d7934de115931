# SPDX-License-Identifier: GPL-2.0-or-later
"""I/O limits: throttle-group objects (QEMU's ThrottleLimits, shared by
every throttle node naming the group, changed at run time with qom-set) and
the throttle filter driver on the asynchronous path.

These check behaviour, roughly: the figures within 5% are the benchmarks'
(bench/throttle.py), not a test's on a shared CI machine."""
import json
import time

import pytest

from hbtest.bench import bench, start_bench

MiB = 1 << 20


def export(qmp, tmp_path, eid, node, **extra):
    sock = tmp_path / f"{eid}.sock"
    qmp.cmd("block-export-add", dict({"type": "vhost-user-blk", "id": eid, "node-name": node,
                                      "addr": {"type": "unix", "path": str(sock)},
                                      "writable": True}, **extra))
    return sock


def throttled(qmp, tmp_path, name, group, eid):
    """A null-co node under a throttle node @name of @group, exported as @eid."""
    qmp.cmd("blockdev-add", {"driver": "throttle", "node-name": name, "throttle-group": group,
                             "file": {"driver": "null-co", "size": 64 * MiB}})
    return export(qmp, tmp_path, eid, name)


def iops(sock, seconds=2, *args):
    _, out, _ = bench(sock, "--rw", "randread", "--runtime", seconds, "--iodepth", 8, *args)
    assert out["errors"] == 0
    return out["iops"]


def test_iops_limit_applies(daemon, qmp, tmp_path):
    qmp.cmd("object-add", {"qom-type": "throttle-group", "id": "tg0",
                           "limits": {"iops-total": 200}})
    sock = throttled(qmp, tmp_path, "t0", "tg0", "e0")
    got = iops(sock)
    # 2 s at 200/s, plus the burst of 20 the bucket lets through at once.
    assert 150 < got < 260, got


def test_bps_limit_and_iops_size(daemon, qmp, tmp_path):
    qmp.cmd("object-add", {"qom-type": "throttle-group", "id": "tg0",
                           "limits": {"bps-read": 4 * MiB}})
    sock = throttled(qmp, tmp_path, "t0", "tg0", "e0")
    _, out, _ = bench(sock, "--rw", "randread", "--bs", "64k", "--runtime", 2)
    assert 3 * MiB < out["iops"] * 65536 < 5.5 * MiB, out["iops"]
    # Writes are not limited by a read limit.
    _, out, _ = bench(sock, "--rw", "randwrite", "--bs", "64k", "--runtime", 1, "--no-pattern")
    assert out["iops"] * 65536 > 20 * MiB, out["iops"]
    # iops-size: a 64 KiB request counts as 16 operations of 4 KiB.
    qmp.cmd("qom-set", {"path": "tg0", "property": "limits",
                        "value": {"bps-read": 0, "iops-read": 320, "iops-size": 4096}})
    _, out, _ = bench(sock, "--rw", "randread", "--bs", "64k", "--runtime", 2)
    assert 12 < out["iops"] < 30, out["iops"]


def test_group_is_shared(daemon, qmp, tmp_path):
    qmp.cmd("object-add", {"qom-type": "throttle-group", "id": "tg0",
                           "limits": {"iops-total": 300}})
    a = throttled(qmp, tmp_path, "ta", "tg0", "ea")
    b = throttled(qmp, tmp_path, "tb", "tg0", "eb")
    pa = start_bench(a, tmp_path / "ra", "--rw", "randread", "--runtime", 3, "--iodepth", 8)
    pb = start_bench(b, tmp_path / "rb", "--rw", "randread", "--runtime", 3, "--iodepth", 8)
    ra = json.loads(pa.communicate(timeout=30)[0])
    rb = json.loads(pb.communicate(timeout=30)[0])
    total = ra["iops"] + rb["iops"]
    # Together within the group's 300/s (each got a share).
    assert 200 < total < 400, (ra["iops"], rb["iops"])
    assert ra["iops"] > 30 and rb["iops"] > 30


def test_qom_set_changes_limits_at_run_time(daemon, qmp, tmp_path):
    qmp.cmd("object-add", {"qom-type": "throttle-group", "id": "tg0",
                           "limits": {"iops-total": 100}})
    sock = throttled(qmp, tmp_path, "t0", "tg0", "e0")
    assert iops(sock) < 160
    proc = start_bench(sock, tmp_path / "ready", "--rw", "randread", "--runtime", 3,
                       "--iodepth", 8)
    time.sleep(0.5)
    # Raised while requests wait: they see it within the recheck time.
    qmp.cmd("qom-set", {"path": "/objects/tg0", "property": "limits",
                        "value": {"iops-total": 2000}})
    out = json.loads(proc.communicate(timeout=30)[0])
    assert out["iops"] > 600, out["iops"]
    lim = qmp.cmd("qom-get", {"path": "tg0", "property": "limits"})
    assert lim["iops-total"] == 2000 and lim["bps-total"] == 0
    assert lim["iops-total-max-length"] == 1 and lim["iops-size"] == 0
    assert len(lim) == 19
    # Unlimited again: fast.
    qmp.cmd("qom-set", {"path": "tg0", "property": "limits", "value": {"iops-total": 0}})
    assert iops(sock, 1) > 2000


def test_qom_set_merges(daemon, qmp):
    qmp.cmd("object-add", {"qom-type": "throttle-group", "id": "tg0",
                           "limits": {"iops-read": 100, "bps-write": 1000000}})
    qmp.cmd("qom-set", {"path": "tg0", "property": "limits",
                        "value": {"iops-read": 50, "iops-read-max": 80,
                                  "iops-read-max-length": 4}})
    lim = qmp.cmd("qom-get", {"path": "tg0", "property": "limits"})
    assert (lim["iops-read"], lim["iops-read-max"], lim["iops-read-max-length"],
            lim["bps-write"]) == (50, 80, 4, 1000000)


def test_burst(daemon, qmp, tmp_path):
    # 50/s, bursts of 500/s for 1 s: about 500 at once, then 50/s.
    qmp.cmd("object-add", {"qom-type": "throttle-group", "id": "tg0",
                           "limits": {"iops-total": 50, "iops-total-max": 500}})
    sock = throttled(qmp, tmp_path, "t0", "tg0", "e0")
    _, out, _ = bench(sock, "--rw", "randread", "--count", 400, "--iodepth", 8)
    assert out["iops"] > 200, out["iops"]          # within the burst
    got = iops(sock, 2)
    assert got < 200, got                        # the burst is spent


BAD = [
    ({"iops-total": 10, "iops-read": 5},
     "bps/iops/max total values and read/write values cannot be used at the same time"),
    ({"iops-size": 4096}, "iops size requires an iops value to be set"),
    ({"bps-total": -1}, "bps/iops/max values must be within [0, 1000000000000000]"),
    ({"iops-total": 10, "iops-total-max-length": 0}, "the burst length cannot be 0"),
    ({"iops-total": 10, "iops-total-max-length": 2}, "burst length set without burst rate"),
    ({"iops-total-max": 10}, "bps_max/iops_max require corresponding bps/iops values"),
    ({"iops-total": 10, "iops-total-max": 5}, "bps_max/iops_max cannot be lower than bps/iops"),
    ({"bps-total": 10, "bps-total-max": 10, "bps-total-max-length": 1 << 33},
     "bps-total-max-length value must be in the range [0, 4294967295]"),
]


@pytest.mark.parametrize("limits,text", BAD)
def test_bad_limits(daemon, qmp, limits, text):
    assert qmp.err("object-add", {"qom-type": "throttle-group", "id": "tg0",
                                  "limits": limits}) == ("GenericError", text)
    # Nothing was made: the id is free.
    qmp.cmd("object-add", {"qom-type": "throttle-group", "id": "tg0"})
    # qom-set of the same limits onto none fails alike and changes nothing.
    assert qmp.err("qom-set", {"path": "tg0", "property": "limits", "value": limits}) == \
        ("GenericError", text)
    lim = qmp.cmd("qom-get", {"path": "tg0", "property": "limits"})
    assert all(v == (1 if k.endswith("-length") else 0) for k, v in lim.items()), lim


def test_errors(daemon, qmp, tmp_path):
    assert qmp.err("blockdev-add", {"driver": "throttle", "node-name": "t0",
                                    "throttle-group": "nope",
                                    "file": {"driver": "null-co"}}) == \
        ("GenericError", "Throttle group 'nope' does not exist")
    # The inline child was not left behind.
    assert qmp.cmd("query-named-block-nodes") == []
    qmp.cmd("object-add", {"qom-type": "throttle-group", "id": "tg0"})
    qmp.cmd("blockdev-add", {"driver": "throttle", "node-name": "t0", "throttle-group": "tg0",
                             "file": {"driver": "null-co"}})
    assert qmp.err("object-del", {"id": "tg0"}) == \
        ("GenericError", "object 'tg0' is in use, can not be deleted")
    assert qmp.err("qom-get", {"path": "/objects/nope", "property": "limits"}) == \
        ("DeviceNotFound", "Device '/objects/nope' not found")
    assert qmp.err("qom-set", {"path": "tg0", "property": "colour", "value": 1}) == \
        ("GenericError", "Property 'throttle-group.colour' not found")
    assert qmp.err("qom-set", {"path": "tg0", "property": "limits",
                               "value": {"iops-total": "many"}})[0] == "GenericError"
    # Object ids are one namespace, secrets included.
    qmp.cmd("object-add", {"qom-type": "secret", "id": "s0", "data": "x"})
    for qom_type, oid in (("throttle-group", "s0"), ("iothread", "s0"), ("secret", "tg0")):
        assert qmp.err("object-add", {"qom-type": qom_type, "id": oid, "data": "x"}
                       if qom_type == "secret" else {"qom-type": qom_type, "id": oid}) == \
            ("GenericError", f"attempt to add duplicate property '{oid}' to object "
                             "(type 'container')")
    assert qmp.err("qom-get", {"path": "s0", "property": "limits"}) == \
        ("GenericError", "Property 'secret.limits' cannot be read or set in hotblock")
    qmp.cmd("blockdev-del", {"node-name": "t0"})
    qmp.cmd("object-del", {"id": "tg0"})
    assert qmp.err("qom-get", {"path": "tg0", "property": "limits"})[0] == "DeviceNotFound"


def test_data_passes_through(daemon, qmp, tmp_path):
    """Over a file, through a group without limits: every write reads back."""
    img = tmp_path / "disk.raw"
    with open(img, "wb") as f:
        f.truncate(16 * MiB)
    qmp.cmd("object-add", {"qom-type": "throttle-group", "id": "tg0"})
    qmp.cmd("blockdev-add", {"driver": "throttle", "node-name": "t0", "throttle-group": "tg0",
                             "file": {"driver": "file", "filename": str(img)}})
    sock = export(qmp, tmp_path, "e0", "t0")
    _, out, _ = bench(sock, "--rw", "randrw", "--verify", "--count", 2000, "--size", 16 * MiB)
    assert out["errors"] == 0 and out["verify_errors"] == 0
    info = {n["node-name"]: n for n in qmp.cmd("query-named-block-nodes")}
    assert info["t0"]["drv"] == "throttle"


@pytest.mark.parametrize("keyval", [False, True])
def test_state_file_keeps_limits_set_at_run_time(daemon_factory, tmp_path, keyval):
    state = tmp_path / "state.json"
    args = ["--state-file", str(state)]
    if keyval:
        # The legacy flat form, which the recorded limits must replace.
        args += ["--object", "throttle-group,id=tg0,x-iops-total=100"]
    d = daemon_factory(*args)
    q = d.qmp()
    if not keyval:
        q.cmd("object-add", {"qom-type": "throttle-group", "id": "tg0",
                             "limits": {"iops-total": 100}})
    q.cmd("blockdev-add", {"driver": "throttle", "node-name": "t0", "throttle-group": "tg0",
                           "file": {"driver": "null-co"}})
    q.cmd("qom-set", {"path": "/objects/tg0", "property": "limits",
                      "value": {"iops-total": 300, "bps-read": 1000000}})
    want = q.cmd("qom-get", {"path": "tg0", "property": "limits"})
    d.proc.kill()
    d.proc.wait()
    d.stderr.close()

    d2 = daemon_factory("--state-file", str(state))
    q2 = d2.qmp()
    assert q2.cmd("qom-get", {"path": "tg0", "property": "limits"}) == want
    assert [n["node-name"] for n in q2.cmd("query-named-block-nodes")][-1] == "t0"


def test_legacy_flat_properties(daemon, qmp):
    qmp.cmd("object-add", {"qom-type": "throttle-group", "id": "tg0",
                           "x-iops-total": 100, "x-iops-total-max": 200,
                           "x-iops-total-max-length": 3, "x-bps-read": 5000,
                           "x-iops-size": 4096})
    lim = qmp.cmd("qom-get", {"path": "tg0", "property": "limits"})
    assert (lim["iops-total"], lim["iops-total-max"], lim["iops-total-max-length"],
            lim["bps-read"], lim["iops-size"]) == (100, 200, 3, 5000, 4096)
    # Flat members override @limits' members; the result is checked as a whole.
    qmp.cmd("object-add", {"qom-type": "throttle-group", "id": "tg1",
                           "limits": {"iops-total": 10, "bps-total": 99},
                           "x-iops-total": 20})
    lim = qmp.cmd("qom-get", {"path": "tg1", "property": "limits"})
    assert (lim["iops-total"], lim["bps-total"]) == (20, 99)
    assert qmp.err("object-add", {"qom-type": "throttle-group", "id": "tg2",
                                  "limits": {"iops-read": 10}, "x-iops-total": 20}) == \
        ("GenericError", "bps/iops/max total values and read/write values"
                         " cannot be used at the same time")
    assert qmp.err("object-add", {"qom-type": "throttle-group", "id": "tg2",
                                  "x-iops-size": 512})[1] == \
        "iops size requires an iops value to be set"


def test_deleting_a_throttled_export_does_not_wait_for_its_queue(daemon, qmp, tmp_path):
    """32 requests queued at 10/s would take 3 s to pass; while the export is
    deleted they go at once (QEMU lifts limits while it drains), so the
    command returns promptly, and the main loop with it."""
    qmp.cmd("object-add", {"qom-type": "throttle-group", "id": "tg0",
                           "limits": {"iops-total": 10}})
    sock = throttled(qmp, tmp_path, "t0", "tg0", "e0")
    proc = start_bench(sock, tmp_path / "ready", "--rw", "randread", "--runtime", 20,
                       "--iodepth", 32)
    try:
        time.sleep(1)
        t0 = time.monotonic()
        qmp.cmd("block-export-del", {"id": "e0", "mode": "hard"})
        assert time.monotonic() - t0 < 1.5
    finally:
        proc.kill()
        proc.wait()
    t0 = time.monotonic()
    qmp.cmd("blockdev-del", {"node-name": "t0"})
    assert time.monotonic() - t0 < 1.5
    # The next user of the group pays for the queue that went early, as in
    # QEMU (about 3 s), but not for what the ring took while it drained.
    qmp.cmd("blockdev-add", {"driver": "throttle", "node-name": "t1", "throttle-group": "tg0",
                             "file": {"driver": "null-co"}})
    sock = export(qmp, tmp_path, "e1", "t1")
    t0 = time.monotonic()
    _, out, _ = bench(sock, "--rw", "randread", "--count", 8, "--iodepth", 1)
    assert out["errors"] == 0
    assert time.monotonic() - t0 < 8


def test_throttled_ring_does_not_hold_its_thread(daemon, qmp, tmp_path):
    """A volume far over its limit (1 request a second, 32 queued) shares one
    iothread with an unthrottled neighbour.  Its ring leaves the requests the
    limit holds in the ring and lets the thread go, so the neighbour is
    served at once; a ring that kept its queue in flight would hold the
    thread until the queue had passed (tens of seconds)."""
    qmp.cmd("object-add", {"qom-type": "iothread", "id": "io0"})
    qmp.cmd("object-add", {"qom-type": "throttle-group", "id": "tg0",
                           "limits": {"iops-total": 1}})
    qmp.cmd("blockdev-add", {"driver": "throttle", "node-name": "t0", "throttle-group": "tg0",
                             "file": {"driver": "null-co", "size": 64 * MiB}})
    qmp.cmd("blockdev-add", {"driver": "null-co", "node-name": "n0", "size": 64 * MiB})
    limited = export(qmp, tmp_path, "e0", "t0", iothread="io0", **{"num-queues": 1})
    neighbour = export(qmp, tmp_path, "e1", "n0", iothread="io0", **{"num-queues": 1})
    proc = start_bench(limited, tmp_path / "ready", "--rw", "randread", "--runtime", 30,
                       "--iodepth", 32)
    try:
        time.sleep(1.5)     # the limited ring is full and over its limit
        t0 = time.monotonic()
        _, out, _ = bench(neighbour, "--rw", "randread", "--count", 2000, "--iodepth", 8)
        assert out["errors"] == 0
        assert time.monotonic() - t0 < 10
    finally:
        proc.kill()
        proc.wait()
    qmp.cmd("block-export-del", {"id": "e0", "mode": "hard"})

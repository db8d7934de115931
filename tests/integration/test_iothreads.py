# SPDX-License-Identifier: GPL-2.0-or-later
"""I/O threads: iothread objects shared by exports, query-iothreads, the
default pool (exports start no threads of their own)."""
import os

import pytest

from hbtest.bench import bench
from hbtest.exports import export_args
from hbtest.qmp import QMPError

MiB = 1 << 20


def threads(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    raise AssertionError("no Threads: line")


def thread_cpu_ns(pid, tid):
    """Time thread @tid of @pid has run, in ns (schedstat): /proc/.../stat
    counts 10 ms ticks, and 20000 null-co requests can take less than one."""
    with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
        return int(f.read().split()[0])


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def error_desc(qmp, cmd, args):
    with pytest.raises(QMPError) as e:
        qmp.cmd(cmd, args)
    return e.value.desc


def test_object_add_and_query(daemon, qmp):
    qmp.cmd("object-add", {"qom-type": "iothread", "id": "io0", "poll-max-ns": 1000})
    qmp.cmd("object-add", {"qom-type": "iothread", "id": "io1"})
    info = qmp.cmd("query-iothreads")
    assert [i["id"] for i in info] == ["io0", "io1"]
    for i in info:
        assert set(i) == {"id", "thread-id", "poll-max-ns", "poll-grow", "poll-shrink",
                          "aio-max-batch"}
        assert os.path.isdir(f"/proc/{daemon.proc.pid}/task/{i['thread-id']}")
        assert i["poll-grow"] == i["poll-shrink"] == i["aio-max-batch"] == 0
    assert info[0]["poll-max-ns"] == 1000 and info[1]["poll-max-ns"] == 32768
    assert info[0]["thread-id"] != info[1]["thread-id"]
    qmp.cmd("object-del", id="io1")
    assert [i["id"] for i in qmp.cmd("query-iothreads")] == ["io0"]
    assert not os.path.isdir(f"/proc/{daemon.proc.pid}/task/{info[1]['thread-id']}")


@pytest.mark.parametrize("prop", ["poll-grow", "poll-shrink", "aio-max-batch"])
def test_unimplemented_properties_refused(daemon, qmp, prop):
    desc = error_desc(qmp, "object-add", {"qom-type": "iothread", "id": "io0", prop: 2})
    assert prop in desc and "not supported" in desc
    assert qmp.cmd("query-iothreads") == []
    qmp.cmd("object-add", {"qom-type": "iothread", "id": "io0", prop: 0})


def test_bad_ids(daemon, qmp):
    qmp.cmd("object-add", {"qom-type": "iothread", "id": "io0"})
    desc = error_desc(qmp, "object-add", {"qom-type": "iothread", "id": "io0"})
    assert "duplicate" in desc
    desc = error_desc(qmp, "object-add", {"qom-type": "secret", "id": "io0", "data": "x"})
    assert "duplicate" in desc
    desc = error_desc(qmp, "object-add", {"qom-type": "iothread", "id": "0bad"})
    assert desc == "Parameter 'id' expects an identifier"
    desc = error_desc(qmp, "object-add", {"qom-type": "iothread", "id": "neg",
                                          "poll-max-ns": -1})
    assert "poll-max-ns" in desc


def test_export_on_iothread(daemon, qmp, tmp_path):
    pid = daemon.proc.pid
    qmp.cmd("object-add", {"qom-type": "iothread", "id": "io0", "poll-max-ns": 0})
    tid = qmp.cmd("query-iothreads")[0]["thread-id"]
    qmp.cmd("blockdev-add", {"driver": "null-co", "node-name": "n0", "size": 64 * MiB})
    sock = tmp_path / "e0.sock"
    qmp.cmd("block-export-add", export_args("e0", "n0", sock, writable=True, iothread="io0"))
    before = thread_cpu_ns(pid, tid)
    _, out, _ = bench(sock, "--rw", "randrw", "--count", 20000, "--iodepth", 16)
    assert out["ops"] == 20000 and out["errors"] == 0
    after = thread_cpu_ns(pid, tid)
    assert after > before, "the kicks were not handled on io0"
    desc = error_desc(qmp, "object-del", {"id": "io0"})
    assert "in use" in desc and "io0" in desc
    qmp.cmd("block-export-del", id="e0")
    qmp.wait_event("BLOCK_EXPORT_DELETED")
    qmp.cmd("object-del", id="io0")
    assert not os.path.isdir(f"/proc/{pid}/task/{tid}")


def test_queues_spread_over_iothreads(daemon, qmp, tmp_path):
    for i in range(2):
        qmp.cmd("object-add", {"qom-type": "iothread", "id": f"io{i}"})
    qmp.cmd("blockdev-add", {"driver": "null-co", "node-name": "n0", "size": 64 * MiB})
    sock = tmp_path / "e0.sock"
    qmp.cmd("block-export-add", export_args("e0", "n0", sock, writable=True,
                                            **{"num-queues": 4, "x-iothreads": ["io0", "io1"]}))
    _, out, _ = bench(sock, "--rw", "randread", "--count", 8000, "--iodepth", 8,
                      "--queues", 4)
    assert out["ops"] == 8000 and out["errors"] == 0
    for i in range(2):
        assert "in use" in error_desc(qmp, "object-del", {"id": f"io{i}"})
    desc = error_desc(qmp, "block-export-add", export_args(
        "e1", "n0", tmp_path / "e1.sock", iothread="io0", **{"x-iothreads": ["io1"]}))
    assert "cannot be used together" in desc
    qmp.cmd("block-export-del", id="e0")
    qmp.cmd("object-del", id="io0")
    qmp.cmd("object-del", id="io1")


def test_unknown_iothread(daemon, qmp, tmp_path):
    qmp.cmd("blockdev-add", {"driver": "null-co", "node-name": "n0", "size": MiB})
    sock = tmp_path / "e0.sock"
    desc = error_desc(qmp, "block-export-add", export_args("e0", "n0", sock, iothread="x"))
    assert desc == 'iothread "x" not found'
    desc = error_desc(qmp, "block-export-add", export_args(
        "e0", "n0", sock, **{"x-iothreads": ["x"]}))
    assert desc == 'iothread "x" not found'
    assert qmp.cmd("query-block-exports") == []
    assert not sock.exists()
    # The node is free again: the failed exports took nothing.
    qmp.cmd("blockdev-del", **{"node-name": "n0"})


def test_iothread_on_command_line(daemon_factory, tmp_path):
    d = daemon_factory("--object", "iothread,id=io0,poll-max-ns=0",
                       "--blockdev", "null-co,node-name=n0,size=1048576",
                       "--export", f"vhost-user-blk,id=e0,node-name=n0,iothread=io0,"
                                   f"addr.type=unix,addr.path={tmp_path}/e0.sock")
    qmp = d.qmp()
    info = qmp.cmd("query-iothreads")
    assert [(i["id"], i["poll-max-ns"]) for i in info] == [("io0", 0)]
    _, out, _ = bench(tmp_path / "e0.sock", "--rw", "randread", "--count", 1000)
    assert out["errors"] == 0
    assert "in use" in error_desc(qmp, "object-del", {"id": "io0"})


def test_many_exports_share_threads(daemon, qmp, tmp_path):
    pid = daemon.proc.pid
    n = 200
    limit = 2 * os.cpu_count() + 8
    base_threads, base_fds = threads(pid), fds(pid)
    for i in range(n):
        qmp.cmd("blockdev-add", {"driver": "null-co", "node-name": f"n{i}", "size": MiB})
        qmp.cmd("block-export-add", export_args(f"e{i}", f"n{i}", tmp_path / f"e{i}.sock"))
    assert threads(pid) <= limit, f"{threads(pid)} threads for {n} exports"
    # Every export still serves: spot-check a few.
    for i in (0, n // 2, n - 1):
        _, out, _ = bench(tmp_path / f"e{i}.sock", "--rw", "randread", "--count", 500)
        assert out["errors"] == 0
    loaded_fds = fds(pid)
    assert loaded_fds - base_fds <= 3 * n
    for i in range(n):
        qmp.cmd("block-export-del", id=f"e{i}")
        qmp.cmd("blockdev-del", **{"node-name": f"n{i}"})
    # The default pool stays (it is shared); nothing of the exports does.
    assert threads(pid) <= limit
    assert fds(pid) <= base_fds + 2 * os.cpu_count() + 4
    # And a second round leaks nothing more.
    after_first = fds(pid), threads(pid), rss_kib(pid)
    for i in range(n):
        qmp.cmd("blockdev-add", {"driver": "null-co", "node-name": f"n{i}", "size": MiB})
        qmp.cmd("block-export-add", export_args(f"e{i}", f"n{i}", tmp_path / f"e{i}.sock"))
    for i in range(n):
        qmp.cmd("block-export-del", id=f"e{i}")
        qmp.cmd("blockdev-del", **{"node-name": f"n{i}"})
    assert fds(pid) == after_first[0]
    assert threads(pid) == after_first[1]
    # Under ASan freed memory sits in its quarantine (256 MiB by default), so
    # RSS says nothing about leaks there; LeakSanitizer checks those at exit.
    if "ASAN_OPTIONS" not in os.environ:
        assert rss_kib(pid) < after_first[2] + 8 * 1024

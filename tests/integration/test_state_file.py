# SPDX-License-Identifier: GPL-2.0-or-later
"""--state-file: every graph change is recorded (atomically, no plaintext
secret), and a daemon started on the file rebuilds the graph, or refuses to
start at all."""
import json
import os
import signal
import stat
import subprocess

import pytest

from hbtest.bench import bench
from hbtest.exports import export_args
from hbtest.images import raw_file
from hbtest.paths import HOTBLOCKD
from hbtest.secrets import encrypted_secret_args

MiB = 1 << 20


def raw(path, size=16 * MiB):
    return str(raw_file(path, size))


def items(path):
    with open(path) as f:
        doc = json.load(f)
    assert doc["hotblock-state"] == 1
    return [(i["execute"], i["arguments"]) for i in doc["items"]]


def graph(qmp):
    nodes = sorted((n["node-name"], n["drv"], n.get("active", True))
                   for n in qmp.cmd("query-named-block-nodes"))
    exports = sorted((e["id"], e["node-name"]) for e in qmp.cmd("query-block-exports"))
    return nodes, exports


def kill9(d):
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait()
    d.stderr.close()


def test_graph_is_recorded_and_rebuilt(daemon_factory, tmp_path):
    state = tmp_path / "state.json"
    key = tmp_path / "key"
    key.write_text("not-in-the-state-file")
    a = raw(tmp_path / "a.raw")
    b = raw(tmp_path / "b.raw")
    d = daemon_factory("--state-file", str(state))
    q = d.qmp()
    assert items(state) == []                      # written at startup
    q.cmd("object-add", {"qom-type": "secret", "id": "s0", "file": str(key)})
    q.cmd("object-add", {"qom-type": "iothread", "id": "io0"})
    q.cmd("blockdev-add", {"driver": "file", "node-name": "fa", "filename": a})
    q.cmd("blockdev-add", {"driver": "raw", "node-name": "ra", "file": "fa"})
    q.cmd("blockdev-add", {"driver": "file", "node-name": "fb", "filename": b})
    q.cmd("blockdev-add", {"driver": "null-co", "node-name": "gone", "size": MiB})
    q.cmd("blockdev-del", {"node-name": "gone"})
    sock = tmp_path / "e.sock"
    q.cmd("block-export-add", export_args("e0", "ra", sock, writable=True, iothread="io0"))
    q.cmd("device_add", {"driver": "vhost-user-blk-pci", "drive": "fb", "id": "vd0"})
    assert [e for e, _ in items(state)] == ["object-add", "object-add", "blockdev-add",
                                            "blockdev-add", "blockdev-add",
                                            "block-export-add", "device_add"]
    assert "not-in-the-state-file" not in state.read_text()
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o600
    assert not os.path.exists(str(state) + ".new")
    bench(sock, "--rw", "write", "--count", 200)
    before = graph(q)
    kill9(d)

    d2 = daemon_factory("--state-file", str(state))
    q2 = d2.qmp()
    assert graph(q2) == before
    assert [o["id"] for o in q2.cmd("query-iothreads")] == ["io0"]
    _, out, _ = bench(sock, "--rw", "read", "--check", "--count", 200)
    assert out["verify_errors"] == 0
    bench(d2.export_dir / "vd0.sock", "--count", 100)
    assert "graph rebuilt from state file" in d2.log()


def test_active_state_is_recorded(daemon_factory, tmp_path):
    state = tmp_path / "state.json"
    img = raw(tmp_path / "a.raw")
    d = daemon_factory("--state-file", str(state))
    q = d.qmp()
    q.cmd("blockdev-add", {"driver": "file", "node-name": "fa", "filename": img,
                           "active": False})
    assert items(state)[0][1]["active"] is False
    q.cmd("blockdev-set-active", {"node-name": "fa", "active": True})
    assert items(state)[0][1]["active"] is True
    q.cmd("blockdev-set-active", {"active": False})
    kill9(d)
    d2 = daemon_factory("--state-file", str(state))
    assert graph(d2.qmp())[0] == [("fa", "file", False)]


def test_plain_secrets_are_refused_encrypted_ones_recorded(daemon_factory, tmp_path):
    state = tmp_path / "state.json"
    d = daemon_factory("--state-file", str(state))
    q = d.qmp()
    cls, desc = q.err("object-add", {"qom-type": "secret", "id": "s0", "data": "hunter2"})
    assert (cls, desc) == ("GenericError", "Secret 's0' cannot be recorded in the state file "
                           "in the clear: give it with 'file', or encrypted with 'keyid' and 'iv'")
    assert "s0" not in [o["name"] for o in q.cmd("qom-list", path="/objects")]
    assert "hunter2" not in state.read_text()
    # libvirt's scheme: a master key from a file, the secret AES-encrypted under it
    master, args = encrypted_secret_args(tmp_path, "s1", b"hunter3")
    q.cmd("object-add", {"qom-type": "secret", "id": "mk", "file": str(master),
                         "format": "base64"})
    q.cmd("object-add", args)
    assert "hunter3" not in state.read_text()
    kill9(d)
    d2 = daemon_factory("--state-file", str(state))
    ids = [o["name"] for o in d2.qmp().cmd("qom-list", path="/objects")]
    assert "mk" in ids and "s1" in ids


def test_command_line_graph_is_recorded_then_the_file_rules(daemon_factory, tmp_path):
    state = tmp_path / "state.json"
    img = raw(tmp_path / "a.raw")
    d = daemon_factory("--state-file", str(state),
                       "--blockdev", f"driver=file,node-name=fa,filename={img}")
    assert items(state) == [("blockdev-add", {"driver": "file", "node-name": "fa",
                                              "filename": img})]
    d.stop()
    # the file exists: graph options on the command line too are refused
    p = subprocess.run([HOTBLOCKD, "--state-file", str(state),
                        "--blockdev", f"driver=file,node-name=fa,filename={img}"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and "cannot be given too" in p.stderr
    d2 = daemon_factory("--state-file", str(state))
    assert graph(d2.qmp())[0] == [("fa", "file", True)]


@pytest.mark.parametrize("content,text", [
    ("{not json", "is corrupt"),
    ('{"items": []}', "not a hotblock state file"),
    ('{"hotblock-state": 7, "items": []}', "version 7 is not supported"),
    ('{"hotblock-state": 1, "items": [{"execute": "quit", "arguments": {}}]}',
     "item 1 is not a recorded"),
])
def test_corrupt_state_file_starts_nothing(tmp_path, content, text):
    state = tmp_path / "state.json"
    state.write_text(content)
    p = subprocess.run([HOTBLOCKD, "--qmp", str(tmp_path / "q.sock"), "--state-file",
                        str(state)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and text in p.stderr, p.stderr
    assert not (tmp_path / "q.sock").exists()
    assert state.read_text() == content        # left for the operator to look at


def test_failing_item_leaves_no_half_built_graph(daemon_factory, tmp_path):
    state = tmp_path / "state.json"
    a = raw(tmp_path / "a.raw")
    b = raw(tmp_path / "b.raw")
    d = daemon_factory("--state-file", str(state))
    q = d.qmp()
    q.cmd("blockdev-add", {"driver": "file", "node-name": "fa", "filename": a})
    sock = tmp_path / "e.sock"
    q.cmd("block-export-add", export_args("e0", "fa", sock, writable=True))
    q.cmd("blockdev-add", {"driver": "file", "node-name": "fb", "filename": b})
    d.stop()
    os.unlink(b)
    p = subprocess.run([HOTBLOCKD, "--state-file", str(state)], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 1
    assert f"item 3 (blockdev-add)" in p.stderr and "No such file" in p.stderr, p.stderr
    assert not sock.exists()                    # the export made before it is gone
    # and a.raw is not locked any more: qemu-io may write it
    w = subprocess.run(["qemu-io", "-f", "raw", "-c", "write 0 4k", a], capture_output=True,
                       text=True)
    assert w.returncode == 0, w.stderr


def test_state_file_write_failure_is_logged_and_retried(daemon_factory, tmp_path):
    """A change the file cannot take (here its new copy cannot be made) is
    logged; the next change writes the whole list again."""
    state = tmp_path / "state.json"
    d = daemon_factory("--state-file", str(state))
    q = d.qmp()
    blocker = tmp_path / "state.json.new"
    blocker.mkdir()                                # open() of it fails: EISDIR
    q.cmd("blockdev-add", {"driver": "null-co", "node-name": "n0", "size": MiB})
    assert "state file not updated after blockdev-add" in d.log()
    assert items(state) == []
    blocker.rmdir()
    q.cmd("blockdev-add", {"driver": "null-co", "node-name": "n1", "size": MiB})
    assert [a["node-name"] for _, a in items(state)] == ["n0", "n1"]


def test_deletions_that_would_break_the_replay_are_refused(daemon_factory, tmp_path):
    """A secret a recorded node names, or a parent whose inline child is
    used elsewhere, cannot go while a state file is kept: the list left
    behind could not be replayed.  Without a state file both are allowed."""
    state = tmp_path / "state.json"
    key = tmp_path / "key"
    key.write_text("abc123")
    img = raw(tmp_path / "a.raw")
    d = daemon_factory("--state-file", str(state))
    q = d.qmp()
    q.cmd("object-add", {"qom-type": "secret", "id": "s0", "file": str(key)})
    q.cmd("blockdev-add", {"driver": "null-co", "node-name": "n0", "size": MiB})
    q.cmd("blockdev-add", {"driver": "raw", "node-name": "top",
                           "file": {"driver": "file", "node-name": "f0", "filename": img}})
    sock = tmp_path / "e.sock"
    q.cmd("block-export-add", export_args("e0", "f0", sock))
    cls, desc = q.err("blockdev-del", {"node-name": "top"})
    assert desc == ("Node 'f0', defined inside 'top', is still used by export:e0: delete "
                    "that first (the state file could not be replayed)")
    q.cmd("block-export-del", id="e0")
    q.cmd("blockdev-del", {"node-name": "top"})
    # a secret named by a recorded item (here the master key of another secret)
    master, args = encrypted_secret_args(tmp_path, "s1", b"pw", master_id="mk")
    q.cmd("object-add", {"qom-type": "secret", "id": "mk", "file": str(master),
                         "format": "base64"})
    q.cmd("object-add", args)
    cls, desc = q.err("object-del", id="mk")
    assert desc == ("Secret 'mk' is still named by object:s1 in the state file: delete "
                    "that first (the file could not be replayed without it)")
    q.cmd("object-del", id="s1")
    q.cmd("object-del", id="mk")
    kill9(d)
    d2 = daemon_factory("--state-file", str(state))
    assert graph(d2.qmp())[0] == [("n0", "null-co", True)]

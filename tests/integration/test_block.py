# SPDX-License-Identifier: GPL-2.0-or-later
"""blockdev-add / blockdev-del / query-named-block-nodes against the real daemon.

Every failing command is followed by a check that the graph (as
query-named-block-nodes shows it) and the daemon's open files (as
/proc/<pid>/fd shows them) are exactly as before.
"""
import fcntl
import os
import struct
import subprocess
import time

import pytest

from hbtest.daemon import Daemon
from hbtest.graph import expect_error, fds, names
from hbtest.tools import require, run


@pytest.fixture
def img(tmp_path):
    p = tmp_path / "disk.img"
    with open(p, "wb") as f:
        f.truncate(1 << 20)
    return str(p)


def test_add_query_del(daemon, qmp, img):
    qmp.cmd("blockdev-add", driver="file", **{"node-name": "f"}, filename=img)
    qmp.cmd("blockdev-add", driver="raw", **{"node-name": "r"}, file="f")
    qmp.cmd("blockdev-add", driver="null-co", **{"node-name": "n"}, size=4096)
    info = {n["node-name"]: n for n in qmp.cmd("query-named-block-nodes", flat=True)}
    assert list(info) == ["f", "r", "n"]
    assert info["f"]["drv"] == "file" and info["f"]["file"] == img
    assert info["r"]["image"]["virtual-size"] == 1 << 20
    assert info["r"]["image"]["format"] == "raw"
    assert info["r"]["ro"] is False
    assert info["n"]["image"]["virtual-size"] == 4096
    assert info["f"]["cache"] == {"writeback": True, "direct": False, "no-flush": False}
    assert img in fds(daemon)
    expect_error(daemon, qmp, "blockdev-del", {"node-name": "f"},
                 "Node 'f' is busy: node is used as file of 'r'")
    qmp.cmd("blockdev-del", **{"node-name": "r"})
    qmp.cmd("blockdev-del", **{"node-name": "f"})
    qmp.cmd("blockdev-del", **{"node-name": "n"})
    assert names(qmp) == []
    assert img not in fds(daemon)


def test_inline_children_and_auto_names(daemon, qmp, img):
    qmp.cmd("blockdev-add", driver="raw", **{"node-name": "r"},
            file={"driver": "file", "filename": img})
    ns = names(qmp)
    assert ns[1] == "r" and ns[0].startswith("#block")
    expect_error(daemon, qmp, "blockdev-del", {"node-name": ns[0]},
                 f"Node '{ns[0]}' is busy: node is used as file of 'r'")
    qmp.cmd("blockdev-del", **{"node-name": "r"})
    assert names(qmp) == []
    assert img not in fds(daemon)


def test_errors_leave_graph_unchanged(daemon, qmp, img, tmp_path):
    qmp.cmd("blockdev-add", driver="file", **{"node-name": "f"}, filename=img)
    expect_error(daemon, qmp, "blockdev-add",
                 {"driver": "raw", "node-name": "r", "file": "nope"},
                 "Cannot find device='' nor node-name='nope'")
    expect_error(daemon, qmp, "blockdev-add",
                 {"driver": "file", "node-name": "f", "filename": img},
                 "Duplicate nodes with node-name='f'")
    expect_error(daemon, qmp, "blockdev-add",
                 {"driver": "file", "filename": img},
                 "'node-name' must be specified for the root node")
    missing = str(tmp_path / "missing.img")
    expect_error(daemon, qmp, "blockdev-add",
                 {"driver": "file", "node-name": "m", "filename": missing},
                 f"Could not open '{missing}': No such file or directory")
    # Inline child opened, then the parent fails: the child's fd is closed.
    expect_error(daemon, qmp, "blockdev-add",
                 {"driver": "raw", "node-name": "w", "size": 1 << 30,
                  "file": {"driver": "file", "filename": img}},
                 lambda d: d.startswith("The sum of offset (0) and size (1073741824)"))
    expect_error(daemon, qmp, "blockdev-add",
                 {"driver": "raw", "node-name": "same",
                  "file": {"driver": "file", "node-name": "same", "filename": img}},
                 "Duplicate nodes with node-name='same'")
    expect_error(daemon, qmp, "blockdev-add",
                 {"driver": "null-co", "node-name": "9bad"},
                 "Invalid node-name: '9bad'")
    expect_error(daemon, qmp, "blockdev-add",
                 {"driver": "raw", "node-name": "fs", "force-share": True, "file": "f"},
                 "force-share=on can only be used with read-only images")
    expect_error(daemon, qmp, "blockdev-del", {"node-name": "ghost"},
                 "Failed to find node with node-name='ghost'")
    # One writer per node: the second raw writer is refused.
    qmp.cmd("blockdev-add", driver="raw", **{"node-name": "w1"}, file="f")
    expect_error(daemon, qmp, "blockdev-add",
                 {"driver": "raw", "node-name": "w2", "file": "f"},
                 lambda d: d.startswith("Permission conflict on node 'f'"))
    # Schema validation comes first.
    expect_error(daemon, qmp, "blockdev-add",
                 {"driver": "raw", "node-name": "x"},
                 "Parameter 'file' is missing")
    expect_error(daemon, qmp, "blockdev-add",
                 {"driver": "floppy", "node-name": "x"},
                 "Parameter 'driver' does not accept value 'floppy'")


def test_read_only_and_locking_between_nodes(daemon, qmp, img):
    qmp.cmd("blockdev-add", driver="file", **{"node-name": "f"}, filename=img,
            **{"read-only": True})
    expect_error(daemon, qmp, "blockdev-add",
                 {"driver": "raw", "node-name": "r", "file": "f"},
                 "Block node is read-only")
    qmp.cmd("blockdev-add", driver="raw", **{"node-name": "r"}, file="f",
            **{"read-only": True})
    assert qmp.cmd("query-named-block-nodes")[1]["ro"] is True


def test_image_locking_between_daemons(daemon, qmp, img, tmp_path):
    qmp.cmd("blockdev-add", driver="raw", **{"node-name": "r"},
            file={"driver": "file", "filename": img})
    (tmp_path / "second").mkdir()
    other = Daemon(tmp_path / "second")
    try:
        q2 = other.qmp()
        expect_error(other, q2, "blockdev-add",
                     {"driver": "raw", "node-name": "r",
                      "file": {"driver": "file", "filename": img}},
                     'Failed to get "write" lock')
        qmp.cmd("blockdev-del", **{"node-name": "r"})
        q2.cmd("blockdev-add", driver="raw", **{"node-name": "r"},
               file={"driver": "file", "filename": img})
    finally:
        assert other.stop() == 0


def test_blockdev_on_command_line(daemon_factory, img):
    d = daemon_factory("--blockdev", f"driver=file,node-name=f,filename={img}",
                       "--blockdev", '{"driver":"raw","node-name":"r","file":"f"}')
    q = d.qmp()
    assert names(q) == ["f", "r"]


QEMU_IO = "qemu-io"


def start_qemu_io(path, *opts):
    """A qemu-io that holds @path open (for writing unless -r) until killed."""
    require(QEMU_IO)
    p = subprocess.Popen([QEMU_IO, *opts, "-c", "sleep 100000", path],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    # qemu-io takes its locks while opening; wait until it holds them.
    deadline = time.monotonic() + 10
    while 100 not in held_lock_bytes(path) and time.monotonic() < deadline:
        assert p.poll() is None, p.stderr.read()
        time.sleep(0.02)
    assert p.poll() is None, p.stderr.read()
    return p


F_OFD_GETLK = 36


def held_lock_bytes(path):
    """QEMU's lock bytes (100+i: uses perm i, 200+i: unshares it) others hold."""
    fd = os.open(path, os.O_RDONLY)
    try:
        held = []
        for b in list(range(100, 104)) + list(range(200, 204)):
            fl = struct.pack("hhqqi", fcntl.F_WRLCK, 0, b, 1, 0)
            t = struct.unpack("hhqqi", fcntl.fcntl(fd, F_OFD_GETLK, fl))[0]
            if t != fcntl.F_UNLCK:
                held.append(b)
        return held
    finally:
        os.close(fd)


def test_image_locking_against_qemu_io(daemon, qmp, img):
    qio = start_qemu_io(img, "-f", "raw")
    try:
        qmp.cmd("blockdev-add", driver="file", **{"node-name": "f"}, filename=img)
        # qemu-io holds the "write" permission byte; a writer of ours
        # refuses to share write, so it cannot come in beside it.
        expect_error(daemon, qmp, "blockdev-add",
                     {"driver": "raw", "node-name": "r", "file": "f"},
                     'Failed to get shared "write" lock')
        # Neither can a read-only one (it does not tolerate writers either).
        expect_error(daemon, qmp, "blockdev-add",
                     {"driver": "raw", "node-name": "r", "file": "f", "read-only": True},
                     'Failed to get shared "write" lock')
        # force-share: read beside the writer, as qemu-img -U does.
        qmp.cmd("blockdev-add", driver="raw", **{"node-name": "r", "read-only": True,
                "force-share": True}, file="f")
        qmp.cmd("blockdev-del", **{"node-name": "r"})
        qmp.cmd("blockdev-del", **{"node-name": "f"})
        # locking=off ignores it.
        qmp.cmd("blockdev-add", driver="raw", **{"node-name": "nolock"},
                file={"driver": "file", "filename": img, "locking": "off"})
        qmp.cmd("blockdev-del", **{"node-name": "nolock"})
    finally:
        qio.kill()
        qio.wait()

    # And the other way round: we hold it, qemu-io is refused.
    qmp.cmd("blockdev-add", driver="raw", **{"node-name": "r"},
            file={"driver": "file", "filename": img})
    r = run(QEMU_IO, "-f", "raw", "-c", "read 0 512", img, check=False)
    assert r.returncode != 0
    assert 'Failed to get "write" lock' in r.stdout + r.stderr
    # The very bytes QEMU uses: read and write in use, write and resize
    # not shared.
    assert held_lock_bytes(img) == [100, 101, 201, 203]
    # Reading beside our writer is fine.
    r = run(QEMU_IO, "-r", "-f", "raw", "-c", "read 0 512", img, check=False)
    assert r.returncode == 0, r.stderr
    qmp.cmd("blockdev-del", **{"node-name": "r"})
    assert held_lock_bytes(img) == []
    r = run(QEMU_IO, "-f", "raw", "-c", "write 0 512", img, check=False)
    assert r.returncode == 0, r.stderr

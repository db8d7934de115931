# SPDX-License-Identifier: GPL-2.0-or-later
"""Export ids, socket files and the export directory, as a host must be able
to trust them: ids are QEMU identifiers (they name socket files), sockets
are 0600 whatever the umask, device_del removes only the socket it made,
and an export directory other users could write to is refused."""
import os
import socket
import stat
import subprocess
import time

import pytest

from hbtest.daemon import wait_qmp_greeting
from hbtest.paths import HOTBLOCKD

pytestmark = pytest.mark.security

MiB = 1 << 20
BAD_IDS = ["../escape", "a b", "x\ny", "t\tab", "$(id)", "*", "linkdir/x", "-lead", "1abc", ""]


@pytest.fixture
def node(qmp):
    qmp.cmd("blockdev-add", {"driver": "null-co", "node-name": "n0", "size": MiB})
    return "n0"


@pytest.mark.parametrize("bad", BAD_IDS)
def test_device_add_refuses_bad_ids(daemon, qmp, node, tmp_path, bad):
    (daemon.export_dir / "linkdir").symlink_to(tmp_path)
    cls, desc = qmp.err("device_add", {"driver": "virtio-blk-pci", "drive": node, "id": bad})
    assert cls == "GenericError"
    assert desc in ("Parameter 'id' expects an identifier", "Parameter 'id' is missing"), desc
    assert qmp.cmd("query-block-exports") == []
    # nothing was made anywhere: not beside the export dir, not through the link
    assert not (tmp_path / "escape.sock").exists()
    assert not (tmp_path / "x.sock").exists()
    assert sorted(os.listdir(daemon.export_dir)) == ["linkdir"]


@pytest.mark.parametrize("bad", ["../x", "a/b", "a b"])
def test_block_export_add_refuses_bad_ids(daemon, qmp, node, tmp_path, bad):
    cls, desc = qmp.err("block-export-add", {"type": "vhost-user-blk", "id": bad,
                                             "node-name": node,
                                             "addr": {"type": "unix",
                                                      "path": str(tmp_path / "e.sock")}})
    assert desc == "Invalid block export id"
    assert not (tmp_path / "e.sock").exists()


def test_good_ids_still_work(daemon, qmp, node):
    for good in ("virtio-disk2", "a.b_c-d", "Z9"):
        qmp.cmd("device_add", {"driver": "virtio-blk-pci", "drive": node, "id": good})
        assert (daemon.export_dir / f"{good}.sock").exists()
        qmp.cmd("device_del", id=good)
        qmp.wait_event("DEVICE_DELETED")


def wait_for(p, path, timeout=30):
    wait_qmp_greeting(p, path, timeout)


def start_with_umask(tmp_path, mask, *args):
    """hotblockd under @mask; returns the Popen and its QMP socket path."""
    qmp_path = tmp_path / "qmp.sock"
    p = subprocess.Popen([HOTBLOCKD, "--qmp", str(qmp_path), *args],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         preexec_fn=lambda: os.umask(mask))
    wait_for(p, qmp_path)
    return p, qmp_path


def test_sockets_are_0600_under_umask_000(tmp_path):
    from hbtest.qmp import QMP
    exports = tmp_path / "exports"
    p, qmp_path = start_with_umask(tmp_path, 0, "--export-dir", str(exports))
    try:
        q = QMP(str(qmp_path))
        q.cmd("blockdev-add", {"driver": "null-co", "node-name": "n0", "size": MiB})
        q.cmd("device_add", {"driver": "virtio-blk-pci", "drive": "n0", "id": "v0"})
        q.cmd("block-export-add", {"type": "vhost-user-blk", "id": "e1", "node-name": "n0",
                                   "addr": {"type": "unix", "path": str(tmp_path / "e1.sock")}})
        for path in (exports / "v0.sock", tmp_path / "e1.sock"):
            mode = os.stat(path).st_mode
            assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600, oct(mode)
        assert stat.S_IMODE(os.stat(exports).st_mode) == 0o700
        q.close()
    finally:
        p.terminate()
        assert p.wait(30) == 0


def test_device_del_leaves_an_impostor_alone(daemon, qmp, node, tmp_path):
    qmp.cmd("device_add", {"driver": "virtio-blk-pci", "drive": node, "id": "v0"})
    ours = daemon.export_dir / "v0.sock"
    # Someone renames their own socket over ours (possible only where the
    # directory lets them: here we do it as the owner, to test the check).
    imp = socket.socket(socket.AF_UNIX)
    imp.bind(str(tmp_path / "impostor.sock"))
    os.rename(tmp_path / "impostor.sock", ours)
    qmp.cmd("device_del", id="v0")
    qmp.wait_event("DEVICE_DELETED")
    assert ours.exists(), "device_del removed a socket it did not make"
    imp.close()


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702])
def test_export_dir_open_to_others_is_refused(tmp_path, mode):
    exports = tmp_path / "exports"
    exports.mkdir()
    os.chmod(exports, mode)
    r = subprocess.run([HOTBLOCKD, "--export-dir", str(exports), "--qmp",
                        str(tmp_path / "q.sock")], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "writable by other users" in r.stderr and "--allow-insecure-export-dir" in r.stderr, \
        r.stderr


def test_export_dir_not_ours_is_refused(tmp_path):
    exports = tmp_path / "exports"
    exports.mkdir(mode=0o700)
    os.chown(exports, 12345, 12345)
    r = subprocess.run([HOTBLOCKD, "--export-dir", str(exports), "--qmp",
                        str(tmp_path / "q.sock")], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "not owned by this user" in r.stderr, r.stderr


def test_insecure_export_dir_allowed_with_a_warning(tmp_path):
    exports = tmp_path / "exports"
    exports.mkdir()
    os.chmod(exports, 0o777)
    p = subprocess.Popen([HOTBLOCKD, "--export-dir", str(exports), "--allow-insecure-export-dir",
                          "--qmp", str(tmp_path / "q.sock")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for(p, tmp_path / "q.sock")
    p.terminate()
    assert p.wait(30) == 0
    assert "warning: export directory" in p.stderr.read()


def test_fd_address_must_be_a_listening_socket(daemon, qmp, tmp_path):
    """addr.type=fd names an inherited listening socket; any other daemon fd
    (here: the image file a node has open) is refused and left alone —
    before, it was taken over and closed, and the next blockdev-add reused
    its number, so the node's I/O went to another image."""
    img = tmp_path / "d0.img"
    img.write_bytes(b"\0" * MiB)
    qmp.cmd("blockdev-add", {"driver": "file", "node-name": "d0", "filename": str(img)})
    fds = {int(n): os.readlink(f"/proc/{daemon.proc.pid}/fd/{n}")
           for n in os.listdir(f"/proc/{daemon.proc.pid}/fd")}
    img_fd = [n for n, t in fds.items() if t == str(img)][0]
    cls, desc = qmp.err("block-export-add", {"type": "vhost-user-blk", "id": "e0",
                                             "node-name": "d0",
                                             "addr": {"type": "fd", "str": str(img_fd)}})
    assert desc == f"File descriptor named '{img_fd}' is not a listening socket"
    assert os.readlink(f"/proc/{daemon.proc.pid}/fd/{img_fd}") == str(img)


def test_fd_address_must_be_inherited(daemon, qmp, tmp_path):
    """A listening socket of the daemon's own (here: the QMP listener) is
    not an inherited one: taking it over would close it on failure and
    leave the main loop polling a dead descriptor."""
    qmp.cmd("blockdev-add", {"driver": "null-co", "node-name": "n0", "size": MiB})
    fds = {int(n): os.readlink(f"/proc/{daemon.proc.pid}/fd/{n}")
           for n in os.listdir(f"/proc/{daemon.proc.pid}/fd")}
    sockets = [n for n, t in fds.items() if t.startswith("socket:")]
    for fd in sockets:
        cls, desc = qmp.err("block-export-add", {"type": "vhost-user-blk", "id": "e0",
                                                 "node-name": "n0",
                                                 "addr": {"type": "fd", "str": str(fd)}})
        assert desc in (f"File descriptor named '{fd}' has not been found",
                        f"File descriptor named '{fd}' is not a listening socket"), desc
    from hbtest.qmp import QMP
    other = QMP(daemon.qmp_path)               # the QMP listener still works
    assert other.cmd("query-version")
    other.close()

# SPDX-License-Identifier: GPL-2.0-or-later
"""Sockets libvirt's QEMU can use: owner, group and mode of the QMP and
export sockets and of the export dir, from the command line, per export
and in device_add.  A client running as another user (nobody, standing in
for libvirt-qemu) connects when the daemon is configured as the docs say,
and is refused with the defaults."""
import os
import pwd
import grp
import shutil
import stat
import subprocess
import tempfile

import pytest

from hbtest.exports import export_args
from hbtest.paths import HOTBLOCKD

MiB = 1 << 20

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")

NOBODY = pwd.getpwnam("nobody").pw_uid
NOGROUP = grp.getgrnam("nogroup").gr_gid

CONNECT = "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); print('ok')"


def connect_as_nobody(path):
    """Whether user nobody, group nogroup and no others, can connect to the
    UNIX socket @path."""
    p = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                        "/usr/bin/python3", "-c", CONNECT, str(path)],
                       capture_output=True, text=True, timeout=30)
    return p.returncode == 0, p.stderr


@pytest.fixture
def public_dir():
    """A directory other users may traverse (pytest's tmp dirs are 0700)."""
    d = tempfile.mkdtemp(prefix="hb-perms-", dir="/tmp")
    os.chmod(d, 0o711)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def mode_of(path):
    st = os.stat(path)
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid


def test_libvirt_style_setup_lets_the_qemu_user_connect(daemon_factory, public_dir):
    exports = os.path.join(public_dir, "exports")
    d = daemon_factory("--export-dir", exports, "--export-dir-mode", "0711",
                       "--export-socket-owner", "nobody")
    q = d.qmp()
    q.cmd("blockdev-add", {"driver": "null-co", "node-name": "n0", "size": MiB})
    q.cmd("device_add", {"driver": "vhost-user-blk-pci", "drive": "n0", "id": "vd0"})
    sock = os.path.join(exports, "vd0.sock")
    assert mode_of(exports)[0] == 0o711
    assert mode_of(sock) == (0o600, NOBODY, 0)
    ok, err = connect_as_nobody(sock)
    assert ok, err


def test_defaults_keep_other_users_out(daemon_factory, public_dir):
    exports = os.path.join(public_dir, "exports")
    d = daemon_factory("--export-dir", exports, "--export-dir-mode", "0711")
    q = d.qmp()
    q.cmd("blockdev-add", {"driver": "null-co", "node-name": "n0", "size": MiB})
    q.cmd("device_add", {"driver": "vhost-user-blk-pci", "drive": "n0", "id": "vd0"})
    sock = os.path.join(exports, "vd0.sock")
    assert mode_of(sock) == (0o600, 0, 0)
    ok, err = connect_as_nobody(sock)
    assert not ok and "Permission denied" in err


def test_per_export_settings_override_the_defaults(daemon_factory, public_dir):
    d = daemon_factory("--export-socket-owner", "nobody", "--export-socket-mode", "0600")
    q = d.qmp()
    q.cmd("blockdev-add", {"driver": "null-co", "node-name": "n0", "size": MiB})
    sock = os.path.join(public_dir, "e.sock")
    # after startup: the sandbox is on, and still allows the chown
    q.cmd("block-export-add", export_args("e0", "n0", sock, **{
        "socket-owner": "0", "socket-group": "nogroup", "socket-mode": "0660"}))
    assert mode_of(sock) == (0o660, 0, NOGROUP)
    ok, err = connect_as_nobody(sock)
    assert ok, err           # through the group: nobody's group is nogroup here
    q.cmd("device_add", {"driver": "vhost-user-blk-pci", "drive": "n0", "id": "vd1",
                         "socket": os.path.join(public_dir, "d.sock"), "socket-mode": "0666"})
    assert mode_of(os.path.join(public_dir, "d.sock")) == (0o666, NOBODY, 0)
    ok, err = connect_as_nobody(os.path.join(public_dir, "d.sock"))
    assert ok, err


@pytest.mark.parametrize("member,value,text", [
    ("socket-owner", "no-such-user-x", "socket: unknown user 'no-such-user-x'"),
    ("socket-group", "no-such-group-x", "socket: unknown group 'no-such-group-x'"),
    ("socket-mode", "0999", "socket: '0999' must be an octal mode between 0 and 0777"),
    ("socket-mode", "01777", "socket: '01777' must be an octal mode between 0 and 0777"),
])
def test_bad_settings_leave_nothing(daemon, qmp, tmp_path, member, value, text):
    qmp.cmd("blockdev-add", {"driver": "null-co", "node-name": "n0", "size": MiB})
    sock = tmp_path / "e.sock"
    cls, desc = qmp.err("block-export-add", export_args("e0", "n0", sock, **{member: value}))
    assert (cls, desc) == ("GenericError", text)
    assert not sock.exists() and qmp.cmd("query-block-exports") == []
    cls, desc = qmp.err("device_add", {"driver": "vhost-user-blk-pci", "drive": "n0",
                                       "id": "vd0", member: value})
    assert desc == text
    assert not (daemon.export_dir / "vd0.sock").exists()


def test_qmp_socket_settings(daemon_factory, public_dir):
    path = os.path.join(public_dir, "qmp.sock")
    d = daemon_factory("--qmp", path, "--qmp-socket-group", "nogroup",
                       "--qmp-socket-mode", "0660", qmp=False)
    d.qmp_path = path
    d.wait_listening()
    assert mode_of(path) == (0o660, 0, NOGROUP)
    ok, err = connect_as_nobody(path)
    assert ok, err


@pytest.mark.parametrize("args,text", [
    (["--export-dir-mode", "0770"], "--export-dir-mode 0770 would let other users write"),
    (["--export-dir-group", "no-such-group-x"], "--export-dir-*: unknown group"),
    (["--qmp-socket-mode", "rw"], "--qmp-socket-*: 'rw' must be an octal mode"),
    (["--export-socket-owner", "no-such-user-x"], "--export-socket-*: unknown user"),
])
def test_bad_command_line_settings(tmp_path, args, text):
    p = subprocess.run([HOTBLOCKD, "--qmp", str(tmp_path / "q.sock"),
                        "--export-dir", str(tmp_path / "ex"), *args],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and text in p.stderr, p.stderr


def test_export_dir_group_and_mode(daemon_factory, public_dir):
    exports = os.path.join(public_dir, "exports")
    daemon_factory("--export-dir", exports, "--export-dir-group", "nogroup",
                   "--export-dir-mode", "0750")
    assert mode_of(exports) == (0o750, 0, NOGROUP)

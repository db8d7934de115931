# SPDX-License-Identifier: GPL-2.0-or-later
"""hotblockd under systemd, without systemd as PID 1: the two protocols are
spoken to it directly.  Readiness: NOTIFY_SOCKET names a datagram socket
the test binds; READY=1 (with MAINPID) comes once the startup graph exists
and QMP accepts, STOPPING=1 on SIGTERM.  Socket activation: a listening
socket passed as fd 3 with LISTEN_FDS/LISTEN_PID (a shell that sets
LISTEN_PID=$$ and execs the daemon, or systemd-socket-activate) serves QMP.
The units in systemd/ pass `systemd-analyze verify`, and the daemon runs
under as much of their hardening as can be had without systemd.
"""
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from contextlib import contextmanager

import pytest

from hbtest.bench import bench, export_info
from hbtest.daemon import wait_qmp_greeting
from hbtest.luks import PASS, qemu_img_create_luks
from hbtest.paths import HOTBLOCKD, REPO, build_path
from hbtest.qmp import QMP

MiB = 1 << 20
# prctl(2): refuse mappings that are writable and executable, as MemoryDenyWriteExecute=.
PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1
NULL_NODE = json.dumps({"driver": "null-co", "node-name": "n0", "size": MiB})


def notify_socket(addr):
    """A datagram socket bound at @addr (a path, or b"\\0name" for an abstract one)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(addr)
    s.settimeout(60)
    return s


def recv_notice(sock, proc, timeout=60):
    """The next datagram on @sock, failing if @proc exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(0.2)
        try:
            return dict(line.split("=", 1) for line in sock.recv(4096).decode().split("\n"))
        except socket.timeout:
            if proc.poll() is not None:
                pytest.fail(f"hotblockd exited {proc.returncode} before notifying")
    pytest.fail("no notice from hotblockd")


def start(args, env=None, **kw):
    full_env = dict(os.environ, **(env or {}))
    for var in ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
        if env is None or var not in env:
            full_env.pop(var, None)
    return subprocess.Popen([HOTBLOCKD, *args], env=full_env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, **kw)


@contextmanager
def reaped(proc):
    """@proc, killed on the way out if a failed test left it running."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def test_ready_after_startup_and_stopping_on_sigterm(tmp_path):
    notify = notify_socket(str(tmp_path / "notify"))
    qmp_path = str(tmp_path / "qmp.sock")
    export_sock = tmp_path / "e0.sock"
    proc = start(["--qmp", qmp_path, "--blockdev", NULL_NODE,
                  "--export", f"vhost-user-blk,id=e0,node-name=n0,addr.type=unix,"
                              f"addr.path={export_sock}"],
                 env={"NOTIFY_SOCKET": str(tmp_path / "notify")})
    with reaped(proc):
        msg = recv_notice(notify, proc)
        assert msg == {"READY": "1", "MAINPID": str(proc.pid)}
        # Ready means serving: the first connection is greeted, the graph is there.
        c = QMP(qmp_path, timeout=5)
        assert [n["node-name"] for n in c.cmd("query-named-block-nodes")] == ["n0"]
        assert [e["id"] for e in c.cmd("query-block-exports")] == ["e0"]
        assert export_sock.is_socket()
        c.close()
        proc.send_signal(signal.SIGTERM)
        assert recv_notice(notify, proc) == {"STOPPING": "1"}
        assert proc.wait(30) == 0


def test_ready_on_abstract_socket_and_stopping_on_quit(tmp_path):
    name = f"hotblock-test-{uuid.uuid4().hex}"
    notify = notify_socket(b"\0" + name.encode())
    qmp_path = str(tmp_path / "qmp.sock")
    proc = start(["--qmp", qmp_path], env={"NOTIFY_SOCKET": "@" + name})
    with reaped(proc):
        assert recv_notice(notify, proc)["READY"] == "1"
        c = QMP(qmp_path)
        c.cmd("quit")
        assert recv_notice(notify, proc) == {"STOPPING": "1"}
        assert proc.wait(30) == 0


def test_no_ready_when_startup_fails(tmp_path):
    notify = notify_socket(str(tmp_path / "notify"))
    proc = start(["--qmp", str(tmp_path / "qmp.sock"),
                  "--blockdev", "driver=file,node-name=n0,filename=" + str(tmp_path / "none")],
                 env={"NOTIFY_SOCKET": str(tmp_path / "notify")})
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and "--blockdev" in err
    notify.settimeout(0.2)
    with pytest.raises(socket.timeout):
        notify.recv(4096)


def test_daemonize_ready_names_the_child(tmp_path):
    notify = notify_socket(str(tmp_path / "notify"))
    pidfile = tmp_path / "pid"
    proc = start(["--qmp", str(tmp_path / "qmp.sock"), "--pidfile", str(pidfile), "--daemonize"],
                 env={"NOTIFY_SOCKET": str(tmp_path / "notify")})
    assert proc.wait(30) == 0
    proc.stderr.close()
    msg = recv_notice(notify, proc)
    child = int(pidfile.read_text())
    try:
        assert msg == {"READY": "1", "MAINPID": str(child)}
    finally:
        os.kill(child, signal.SIGTERM)
    assert recv_notice(notify, proc) == {"STOPPING": "1"}


@pytest.mark.parametrize("value, why", [
    ("relative/path", "neither an absolute path nor"),
    ("@", "length of a socket address"),
    ("/" + "x" * 200, "length of a socket address"),
])
def test_bad_notify_socket_is_refused(tmp_path, value, why):
    proc = start(["--qmp", str(tmp_path / "qmp.sock")], env={"NOTIFY_SOCKET": value})
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "NOTIFY_SOCKET" in err and why in err


def listening(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.listen(16)
    return s


def activate(args, socks, pid="$$", fds=None, names=None):
    """hotblockd @args with the descriptors of @socks as fds 3, 4, ... and
    LISTEN_FDS (default: their count), LISTEN_PID (default: the daemon's own
    pid, as the shell that execs it sets it) and LISTEN_FDNAMES (if @names)."""
    srcs = [s if isinstance(s, int) else s.fileno() for s in socks]
    targets = list(range(3, 3 + len(srcs)))

    def move_fds():
        # Up out of the way first: a source may sit on another's target number.
        high = [os.dup(fd) for fd in srcs]
        for fd, target in zip(high, targets):
            os.dup2(fd, target)
            os.close(fd)

    env = {"LISTEN_FDS": str(len(srcs) if fds is None else fds)}
    if names is not None:
        env["LISTEN_FDNAMES"] = names
    shell = f'LISTEN_PID={pid} exec "$0" "$@"'
    full_env = dict(os.environ, **env)
    full_env.pop("NOTIFY_SOCKET", None)
    return subprocess.Popen(["/bin/sh", "-c", shell, HOTBLOCKD, *args], env=full_env,
                            preexec_fn=move_fds, pass_fds=targets,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read()
    proc.stderr.close()
    return proc.returncode, err


def test_socket_activation_serves_qmp(tmp_path):
    path = tmp_path / "activated.sock"
    lsock = listening(path)
    # A client that connects before the daemon runs waits in the backlog.
    early = socket.socket(socket.AF_UNIX)
    early.connect(str(path))
    proc = activate(["--blockdev", NULL_NODE], [lsock])
    lsock.close()
    try:
        early.settimeout(30)
        assert b"QMP" in early.recv(4096)
        early.close()
        c = QMP(str(path))
        assert [n["node-name"] for n in c.cmd("query-named-block-nodes")] == ["n0"]
        c.close()
    finally:
        rc, err = stop(proc)
    assert rc == 0, err
    # The socket file is the service manager's: it stays.
    assert path.is_socket()


def test_socket_activation_with_names_and_export_fd(tmp_path):
    """Named "qmp": QMP; another name: left for an export's addr.type=fd."""
    qmp_sock = listening(tmp_path / "qmp.sock")
    exp_sock = listening(tmp_path / "disk.sock")
    proc = activate(["--blockdev", NULL_NODE,
                     "--export", "vhost-user-blk,id=e0,node-name=n0,addr.type=fd,addr.str=4"],
                    [qmp_sock, exp_sock], names="qmp:disk0")
    qmp_sock.close()
    exp_sock.close()
    try:
        c = QMP(str(tmp_path / "qmp.sock"))
        assert [e["id"] for e in c.cmd("query-block-exports")] == ["e0"]
        # fd 3 serves QMP: no export can take it.
        cls, desc = c.err("block-export-add", {"type": "vhost-user-blk", "id": "e1",
                                               "node-name": "n0",
                                               "addr": {"type": "fd", "str": "3"}})
        assert "'3'" in desc
        c.close()
    finally:
        rc, err = stop(proc)
    assert rc == 0
    assert "fd 4 ('disk0') is left for an export (addr.type=fd,addr.str=4)" in err


def test_socket_activation_beside_qmp_option(tmp_path):
    lsock = listening(tmp_path / "activated.sock")
    proc = activate(["--qmp", str(tmp_path / "own.sock")], [lsock], names="qmp")
    lsock.close()
    try:
        for p in ("activated.sock", "own.sock"):
            QMP(str(tmp_path / p)).close()
    finally:
        rc, err = stop(proc)
    assert rc == 0, err
    assert not (tmp_path / "own.sock").exists()


def test_socket_activation_for_another_pid_is_ignored(tmp_path):
    """LISTEN_PID names another process: the fds are not ours to serve."""
    lsock = listening(tmp_path / "activated.sock")
    own = str(tmp_path / "own.sock")
    proc = activate(["--qmp", own], [lsock], pid=str(os.getpid()))
    lsock.close()
    try:
        wait_qmp_greeting(proc, own)
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(1)
            s.connect(str(tmp_path / "activated.sock"))   # into the backlog
            with pytest.raises(socket.timeout):
                s.recv(1)
    finally:
        rc, err = stop(proc)
    assert rc == 0, err


@pytest.mark.parametrize("kind, why", [
    ("file", "fd 3 ('unknown') is not a socket"),
    ("bound", "fd 3 ('unknown') is not a listening socket (the socket unit needs Accept=no)"),
    ("connected", "fd 3 ('unknown') is not a listening socket"),
    ("datagram", "fd 3 ('unknown') is not a stream socket"),
])
def test_socket_activation_refuses_what_is_not_a_listener(tmp_path, kind, why):
    keep = []
    if kind == "file":
        f = open(tmp_path / "plain", "w")
        keep.append(f)
        fd = f.fileno()
    elif kind == "bound":
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(tmp_path / "bound.sock"))
        keep.append(s)
        fd = s.fileno()
    elif kind == "connected":
        a, b = socket.socketpair()
        keep += [a, b]
        fd = a.fileno()
    else:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        keep.append(s)
        fd = s.fileno()
    proc = activate([], [fd])
    for k in keep:
        k.close()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert f"hotblockd: socket activation: {why}" in err


@pytest.mark.parametrize("fds, names, why", [
    ("2", None, "fd 4 ('unknown') is not open (LISTEN_FDS is 2)"),
    ("x", None, "LISTEN_FDS 'x' is not a number of descriptors"),
    ("1", "qmp:extra", "LISTEN_FDNAMES 'qmp:extra' has 2 names for 1 descriptors"),
])
def test_socket_activation_bad_variables(tmp_path, fds, names, why):
    lsock = listening(tmp_path / "activated.sock")
    proc = activate([], [lsock], fds=fds, names=names)
    lsock.close()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert f"hotblockd: socket activation: {why}" in err


def test_systemd_socket_activate(tmp_path):
    """The same through systemd's own activator (package systemd)."""
    tool = shutil.which("systemd-socket-activate")
    if not tool:
        pytest.skip("systemd-socket-activate is not installed (Debian package systemd)")
    path = tmp_path / "qmp.sock"
    proc = subprocess.Popen([tool, "--listen", str(path), "--fdname", "qmp", HOTBLOCKD,
                             "--blockdev", NULL_NODE],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        # The activator listens first and starts the daemon on the first client.
        c = QMP(str(path))
        assert [n["node-name"] for n in c.cmd("query-named-block-nodes")] == ["n0"]
        c.close()
    finally:
        rc, err = stop(proc)
    assert rc == 0, err



def test_units_verify(tmp_path):
    """systemd-analyze verify on the units as installed (ExecStart pointed at
    this build, as verify wants the program to exist)."""
    tool = shutil.which("systemd-analyze")
    if not tool:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    service = open(build_path("systemd", "hotblockd.service")).read()
    lines = [f"ExecStart={HOTBLOCKD}" + line.split("hotblockd", 1)[1]
             if line.startswith("ExecStart=") else line for line in service.splitlines()]
    (tmp_path / "hotblockd.service").write_text("\n".join(lines) + "\n")
    shutil.copy(os.path.join(REPO, "systemd", "hotblockd.socket"), tmp_path)
    r = subprocess.run([tool, "verify", "--man=no",
                        str(tmp_path / "hotblockd.service"), str(tmp_path / "hotblockd.socket")],
                       capture_output=True, text=True, timeout=120)
    # verify may note things outside the units (the host's own units): only
    # lines naming ours count.
    ours = [line for line in (r.stdout + r.stderr).splitlines() if "hotblockd" in line]
    assert r.returncode == 0 and not ours, r.stdout + r.stderr



def test_unit_leaves_block_devices_open():
    """A node may be a block device: the unit must not close device nodes
    (PrivateDevices=, DeviceAllow=, DevicePolicy=, or ProtectClock=, which
    implies DeviceAllow=char-rtc and so closes all the others)."""
    closing = ("PrivateDevices=", "DeviceAllow=", "DevicePolicy=", "ProtectClock=")
    lines = open(build_path("systemd", "hotblockd.service")).read().splitlines()
    assert [line for line in lines if line.startswith(closing)] == []

# The hardening of systemd/hotblockd.service that can be reproduced without
# systemd as PID 1, run by a shell in new mount and network namespaces
# (unshare): the tree read-only but for one directory (ProtectSystem=strict,
# ReadWritePaths=), /home and /root hidden (ProtectHome=), no network but
# loopback (PrivateNetwork=), no new privileges and the unit's capability
# bounding set (setpriv), umask 0077 (UMask=), and PR_SET_MDWE, which the
# kernel keeps across exec: what MemoryDenyWriteExecute= forbids.  Not
# reproduced: the seccomp filters of RestrictAddressFamilies=,
# SystemCallArchitectures=, LockPersonality=, RestrictNamespaces=,
# RestrictRealtime=, RestrictSUIDSGID= (hotblockd's own allow-list is
# narrower: AF_UNIX sockets only, no personality, unshare, setns or
# sched_setscheduler), the Protect*= of /proc and /sys, PrivateTmp=.
HARDEN = r'''
set -eu
rw=$1; shift
mount --bind "$rw" "$rw"
for m in $(findmnt -rno TARGET | sort -r); do
    case $m in
    /proc|/proc/*|/sys|/sys/*|/dev|/dev/*|"$rw") ;;
    *) mount -o remount,bind,ro "$m" ;;
    esac
done
for d in /home /root; do
    [ -d $d ] && mount -t tmpfs -o ro,mode=0755 tmpfs $d
done
umask 0077
LISTEN_PID=$$ exec setpriv --no-new-privs --bounding-set=-all,$CAPS -- "$@"
'''


# capability.h's numbers of the capabilities the unit may keep.
CAP_BITS = {"chown": 0, "dac_override": 1, "fowner": 3, "ipc_lock": 14}


def unit_capabilities():
    """The unit's CapabilityBoundingSet= as setpriv's +cap list."""
    for line in open(build_path("systemd", "hotblockd.service")):
        if line.startswith("CapabilityBoundingSet="):
            caps = line.split("=", 1)[1].split()
            return ",".join("+" + c.lower().removeprefix("cap_") for c in caps)
    pytest.fail("no CapabilityBoundingSet= in hotblockd.service")


def test_hardened_run(tmp_path):
    """Socket activation, readiness, a LUKS image unlocked by a secret from
    a LoadCredential=-like directory, I/O through an export and run-time QMP
    commands, under the unit's restrictions."""
    for tool in ("unshare", "setpriv", "findmnt", "qemu-img"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed")
    if subprocess.run(["unshare", "--mount", "--net", "true"]).returncode:
        pytest.skip("cannot make mount and network namespaces here (not root?)")
    rw = tmp_path / "rw"                   # as ReadWritePaths=/StateDirectory=
    rw.mkdir()
    creds = tmp_path / "credentials"       # as $CREDENTIALS_DIRECTORY
    creds.mkdir()
    (creds / "disk0.key").write_text(PASS)
    (creds / "disk0.key").chmod(0o400)
    creds.chmod(0o500)
    img = rw / "disk0.luks"
    p = qemu_img_create_luks(str(img), "4M", f"secret,id=sec0,data={PASS}",
                             "key-secret=sec0,iter-time=10")
    assert p.returncode == 0, p.stderr
    qmp_path = tmp_path / "qmp.sock"       # as hotblockd.socket's, in read-only /run
    lsock = listening(qmp_path)
    notify = notify_socket(str(tmp_path / "notify"))
    export = rw / "exports" / "e0.sock"

    def mdwe():
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0):
            raise OSError(ctypes.get_errno(), "PR_SET_MDWE")
        os.dup2(lsock.fileno(), 3)

    env = dict(os.environ, CAPS=unit_capabilities(), LISTEN_FDS="1", LISTEN_FDNAMES="qmp",
               NOTIFY_SOCKET=str(tmp_path / "notify"))
    proc = subprocess.Popen(
        ["unshare", "--mount", "--net", "--", "sh", "-c", HARDEN, "harden", str(rw),
         HOTBLOCKD, "--export-dir", str(rw / "exports"),
         "--object", f"secret,id=sec0,file={creds}/disk0.key",
         "--blockdev", f"driver=file,node-name=f0,filename={img}",
         "--blockdev", "driver=luks,node-name=n0,file=f0,key-secret=sec0",
         "--export", f"vhost-user-blk,id=e0,node-name=n0,writable=on,addr.type=unix,"
                     f"addr.path={export}"],
        env=env, preexec_fn=mdwe, pass_fds=[3], stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)
    lsock.close()
    with reaped(proc):
        try:
            msg = recv_notice(notify, proc)
        except BaseException:
            proc.kill()
            pytest.fail(proc.stderr.read())
        assert msg == {"READY": "1", "MAINPID": str(proc.pid)}   # the shell exec'd it
        status = dict(line.split(":", 1) for line in open(f"/proc/{proc.pid}/status"))
        assert status["NoNewPrivs"].strip() == "1"
        assert int(status["CapBnd"], 16) == sum(1 << CAP_BITS[c] for c in
                                                unit_capabilities().replace("+", "").split(","))
        mounts = [line.split() for line in open(f"/proc/{proc.pid}/mountinfo")]
        assert "ro" in next(m[5].split(",") for m in mounts if m[4] == "/")
        assert "rw" in next(m[5].split(",") for m in mounts if m[4] == str(rw))
        _, out, _ = bench(export, "--rw", "randwrite", "--count", 500, "--verify", "--flush")
        assert out["verify_errors"] == 0
        c = QMP(str(qmp_path))
        # Run time, under hotblockd's own sandbox too: new nodes and exports.
        c.cmd("blockdev-add", {"driver": "null-co", "node-name": "n1", "size": MiB})
        c.cmd("device_add", {"driver": "vhost-user-blk-pci", "drive": "n1", "id": "e1"})
        assert export_info(rw / "exports" / "e1.sock")["capacity"] == MiB
        c.cmd("device_del", {"id": "e1"})
        c.close()
        proc.send_signal(signal.SIGTERM)
        assert recv_notice(notify, proc) == {"STOPPING": "1"}
        assert proc.wait(30) == 0, proc.stderr.read()


def test_under_systemd_run(tmp_path):
    """Where PID 1 is systemd: a transient Type=notify service starts (systemd-run
    returns once READY=1 came), serves QMP, and stops cleanly."""
    if not os.path.isdir("/run/systemd/system") or not shutil.which("systemd-run"):
        pytest.skip("PID 1 is not systemd here: the protocols are tested directly above")
    unit = f"hotblock-test-{uuid.uuid4().hex[:12]}"
    qmp_path = tmp_path / "qmp.sock"
    r = subprocess.run(["systemd-run", f"--unit={unit}", "--property=Type=notify",
                        "--property=TimeoutStartSec=60", HOTBLOCKD, "--qmp", str(qmp_path)],
                       capture_output=True, text=True, timeout=120)
    try:
        assert r.returncode == 0, r.stderr
        c = QMP(str(qmp_path), timeout=5)
        assert c.cmd("query-version")["package"].startswith("hotblock ")
        c.close()
    finally:
        subprocess.run(["systemctl", "stop", unit], timeout=120)
    assert not qmp_path.exists()

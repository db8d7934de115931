# SPDX-License-Identifier: GPL-2.0-or-later
"""hotblockd's command line and lifecycle: sockets, signals, quit, pidfile,
--daemonize, QSD's --chardev/--monitor spelling, startup errors."""
import os
import signal
import socket
import stat
import subprocess
import time

import pytest

from hbtest.daemon import (cpu_ticks_in_one_second, start_with_nofile, unix_clients,
                           wait_qmp_greeting)
from hbtest.paths import HOTBLOCKD, build_path
from hbtest.qmp import QMP


def wait_gone(pid, timeout=10):
    """Wait for a daemonized hotblockd (not our child) to exit; kill and fail if not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    pytest.fail("daemon did not exit on quit")


def run(*args, timeout=30):
    return subprocess.run([HOTBLOCKD, *args], capture_output=True, text=True, timeout=timeout)


def test_version_and_help():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("hotblockd ")
    r = run("--help")
    assert r.returncode == 0 and "--qmp PATH" in r.stdout


def test_unknown_option_fails():
    r = run("--frobnicate")
    assert r.returncode != 0 and "frobnicate" in r.stderr


def test_socket_mode_0600(daemon):
    st = os.stat(daemon.qmp_path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_shutdown_is_graceful(daemon, sig):
    q = daemon.qmp()
    daemon.proc.send_signal(sig)
    ev = q.wait_event("SHUTDOWN", timeout=10)
    assert ev["data"]["reason"] == "host-signal"
    assert daemon.proc.wait(10) == 0
    assert not os.path.exists(daemon.qmp_path)


def test_quit_removes_sockets(daemon_factory, tmp_path):
    second = str(tmp_path / "second.sock")
    d = daemon_factory("--qmp", second)
    q = d.qmp()
    assert q.cmd("quit") == {}
    assert d.proc.wait(10) == 0
    assert not os.path.exists(d.qmp_path) and not os.path.exists(second)


def test_stale_socket_replaced(tmp_path, daemon_factory):
    path = tmp_path / "qmp.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.close()          # a socket file with nobody listening
    assert path.exists()
    d = daemon_factory()
    assert d.qmp().cmd("query-version")


def test_live_socket_is_an_error(daemon, tmp_path):
    r = run("--qmp", daemon.qmp_path)
    assert r.returncode == 1
    assert "in use" in r.stderr
    assert daemon.qmp().cmd("query-version")   # the first daemon is untouched


def test_qsd_chardev_monitor_spelling(tmp_path, daemon_factory):
    path = str(tmp_path / "qsd.sock")
    d = daemon_factory("--chardev", f"socket,id=mon0,path={path},server=on,wait=off",
                       "--monitor", "chardev=mon0", qmp=False)
    q = QMP(path)
    assert q.cmd("query-version")
    q.close()


def test_pidfile_locked_and_removed(tmp_path, daemon_factory):
    pidfile = tmp_path / "hb.pid"
    d = daemon_factory("--pidfile", str(pidfile))
    assert int(pidfile.read_text()) == d.proc.pid
    r = run("--qmp", str(tmp_path / "other.sock"), "--pidfile", str(pidfile))
    assert r.returncode == 1 and "pid file" in r.stderr
    assert not (tmp_path / "other.sock").exists()
    d.proc.send_signal(signal.SIGTERM)
    assert d.proc.wait(10) == 0
    assert not pidfile.exists()


def test_daemonize(tmp_path):
    sock, pidfile = str(tmp_path / "d.sock"), tmp_path / "d.pid"
    r = run("--daemonize", "--qmp", sock, "--pidfile", str(pidfile))
    assert r.returncode == 0, r.stderr
    # the parent returned only once the socket listens
    assert os.path.exists(sock)
    pid = int(pidfile.read_text())
    q = QMP(sock)
    assert q.cmd("query-version")
    q.cmd("quit")
    wait_gone(pid)
    assert not os.path.exists(sock) and not pidfile.exists()


def test_daemonize_reports_startup_error(tmp_path):
    r = run("--daemonize", "--qmp", str(tmp_path / "no" / "such" / "dir.sock"))
    assert r.returncode != 0
    assert "dir.sock" in r.stderr


def test_startup_error_exits_nonzero(tmp_path):
    r = run("--qmp", str(tmp_path / "a.sock"), "--blockdev", "driver=nope,node-name=x")
    assert r.returncode == 1
    assert r.stderr.startswith("hotblockd: --blockdev: ")
    assert not (tmp_path / "a.sock").exists()


def test_hotblock_qmp_tool_against_daemon(daemon):
    tool = build_path("tools", "hotblock-qmp")
    r = subprocess.run([tool, daemon.qmp_path, '{"execute":"query-version"}'],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and '"package"' in r.stdout


def test_fd_exhaustion_does_not_spin(tmp_path):
    """Out of fds, the accept loop must wait, not poll a pending client at
    full CPU, and must take clients again once fds are free."""
    sock = str(tmp_path / "q.sock")
    p = start_with_nofile(tmp_path, 48, "--qmp", sock)
    clients = []
    try:
        wait_qmp_greeting(p, sock)
        # Fill the daemon's fd table; the last connects wait in the backlog.
        clients = unix_clients(sock, 60)
        time.sleep(0.3)
        used = cpu_ticks_in_one_second(p.pid)
        assert used < 30, f"accept loop spins out of fds: {used} ticks in 1 s"
        # Clients past the fds kept for exports were told so and closed;
        # once fds are free, a new client gets its greeting.
        last = clients[-1]
        last.settimeout(5)
        assert b"Too many open files" in last.recv(4096)
        for s in clients[:30]:
            s.close()
        time.sleep(0.2)
        fresh = unix_clients(sock, 1)[0]
        clients.append(fresh)
        fresh.settimeout(5)
        assert b'"QMP"' in fresh.recv(4096)
    finally:
        for s in clients:
            s.close()
        p.send_signal(signal.SIGTERM)
        assert p.wait(10) == 0
    assert "ERROR: AddressSanitizer" not in (tmp_path / "err").read_text()


def test_daemonize_relative_paths_cleaned_up(tmp_path):
    """--daemonize changes to /; sockets and the pidfile given relative to
    the starting directory must still be removed at exit."""
    r = subprocess.run([HOTBLOCKD, "--daemonize", "--qmp", "rel.sock",
                        "--pidfile", "rel.pid"], capture_output=True, text=True,
                       timeout=30, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    pid = int((tmp_path / "rel.pid").read_text())
    assert os.readlink(f"/proc/{pid}/cwd") == "/"    # it left the directory
    q = QMP(str(tmp_path / "rel.sock"))
    q.cmd("quit")
    wait_gone(pid)
    assert not (tmp_path / "rel.sock").exists()
    assert not (tmp_path / "rel.pid").exists()

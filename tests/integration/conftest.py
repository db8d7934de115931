# SPDX-License-Identifier: GPL-2.0-or-later
"""Fixtures that start the real hotblockd on a real socket.

The build directory comes from $HB_BUILD_DIR (default: <repo>/build); the
Makefile sets it.  Every test gets its own temporary directory, socket and
daemon; the daemon is stopped (SIGTERM) and must exit 0 at teardown, and its
stderr is kept for the failure report.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from qmp_client import QMP, QMPError  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.abspath(os.environ.get("HB_BUILD_DIR", os.path.join(REPO, "build")))


def build_path(*parts):
    return os.path.join(BUILD, *parts)


HOTBLOCKD = build_path("daemon", "hotblockd")
BENCH = build_path("tools", "hotblock-bench")


def bench(sock, *args, check=True, timeout=60):
    """hotblock-bench --json on export socket @sock: (returncode, result, stderr)."""
    p = subprocess.run([BENCH, str(sock), "--json", *map(str, args)],
                       capture_output=True, text=True, timeout=timeout)
    if check:
        assert p.returncode == 0, f"hotblock-bench failed ({p.returncode}): {p.stderr}{p.stdout}"
    out = json.loads(p.stdout) if p.stdout.strip() else None
    return p.returncode, out, p.stderr


def qemu_img_create_luks(img, size, secret, opts="", attempts=20):
    """qemu-img create -f luks, retried: qemu-img 7.2 times its PBKDF2 with
    the thread's CPU clock and on this VM fails about two runs in five with
    "Unable to get accurate CPU usage", at any iter-time.  Twenty attempts
    make a spurious failure (0.4^20) practically impossible.  Returns the
    last CompletedProcess; the caller asserts on it."""
    argv = ["qemu-img", "create", "-q", "-f", "luks", "--object", secret,
            "-o", opts, str(img), str(size)]
    for _ in range(attempts):
        p = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if p.returncode == 0 or "accurate CPU usage" not in p.stderr:
            break
    return p


class Daemon:
    def __init__(self, tmp_path, args=(), qmp=True, wait=True):
        self.tmp = tmp_path
        self.qmp_path = str(tmp_path / "qmp.sock")
        self.export_dir = tmp_path / "exports"
        self.export_dir.mkdir(exist_ok=True)
        self.stderr_path = tmp_path / "hotblockd.stderr"
        argv = [HOTBLOCKD]
        if qmp:
            argv += ["--qmp", self.qmp_path]
        argv += ["--export-dir", str(self.export_dir)]
        argv += list(args)
        self.argv = argv
        self.stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=self.stderr)
        self.clients = []
        if qmp and wait:
            self.wait_listening()

    def wait_listening(self, timeout=60):
        # The file appears at bind(), before listen(): wait for a real connect.
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hotblockd exited {self.proc.returncode}: {self.log()}")
            # Connects succeed into the listen backlog while startup options
            # still run; the greeting comes only from the running main loop.
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.settimeout(max(0.1, deadline - time.monotonic()))
                    s.connect(self.qmp_path)
                    if s.recv(1):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("hotblockd did not listen")
            time.sleep(0.02)

    def qmp(self, negotiate=True):
        c = QMP(self.qmp_path, negotiate=negotiate)
        self.clients.append(c)
        return c

    def log(self):
        if not self.stderr.closed:
            self.stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def stop(self, sig=signal.SIGTERM, timeout=30):
        for c in self.clients:
            c.close()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        self.stderr.close()
        return rc


@pytest.fixture
def daemon_factory(tmp_path):
    started = []

    def start(*args, **kw):
        d = Daemon(tmp_path, args=args, **kw)
        started.append(d)
        return d

    yield start
    for d in started:
        if d.proc.poll() is None:
            rc = d.stop()
            assert rc == 0, f"hotblockd exited {rc} at teardown: {d.log()}"
        # Sanitizer builds: any report fails the test that caused it.
        log = d.log()
        assert "ERROR: AddressSanitizer" not in log, log
        assert "ERROR: LeakSanitizer" not in log, log
        assert "runtime error:" not in log, log


@pytest.fixture
def daemon(daemon_factory):
    return daemon_factory()


@pytest.fixture
def qmp(daemon):
    return daemon.qmp()

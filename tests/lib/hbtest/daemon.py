# SPDX-License-Identifier: GPL-2.0-or-later
"""One real hotblockd on a real socket, in a test's temporary directory.

Its stderr is kept in the directory for the failure report; stop() sends
SIGTERM (or @sig) and returns the exit status."""
import resource
import signal
import socket
import subprocess
import time

from hbtest.paths import HOTBLOCKD
from hbtest.qmp import QMP


def wait_qmp_greeting(proc, path, timeout=60, log=lambda: ""):
    """Wait until hotblockd @proc serves QMP on @path from its main loop.

    The socket file appears at bind(), before listen(), and connects succeed
    into the listen backlog while startup options still run (before the
    signal handlers are installed): only the greeting says the main loop
    runs."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"hotblockd exited {proc.returncode}: {log()}")
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(max(0.1, deadline - time.monotonic()))
                s.connect(str(path))
                if s.recv(1):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("hotblockd did not listen")
        time.sleep(0.02)


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
        wait_qmp_greeting(self.proc, self.qmp_path, timeout, log=self.log)

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


def _cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])   # utime + stime


def cpu_ticks_in_one_second(pid):
    """CPU clock ticks process @pid uses over the next second."""
    before = _cpu_ticks(pid)
    time.sleep(1.0)
    return _cpu_ticks(pid) - before


def start_with_nofile(tmp_path, nofile, *args):
    """hotblockd @args under RLIMIT_NOFILE @nofile, its stderr in tmp_path/err:
    a bare Popen for the tests that use up its fds themselves."""
    def low_nofile():
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    with open(tmp_path / "err", "wb") as err:
        return subprocess.Popen([HOTBLOCKD, *args], stdout=subprocess.DEVNULL, stderr=err,
                                preexec_fn=low_nofile)


def unix_clients(path, n):
    """@n connections to the unix socket @path (the last may wait in its backlog)."""
    clients = []
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        clients.append(s)
    return clients

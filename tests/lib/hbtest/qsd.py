# SPDX-License-Identifier: GPL-2.0-or-later
"""qemu-storage-daemon, the reference the daemon's answers are checked against."""
import subprocess
import time

from hbtest.qmp import QMP
from hbtest.tools import require


class QemuStorageDaemon:
    """qemu-storage-daemon with its QMP monitor on @tmp/qsd.sock and its
    stderr in @tmp/qsd.log.  As a context manager: stopped at the end
    (SIGTERM, then SIGKILL) if still running."""

    def __init__(self, tmp, timeout=30):
        require("qemu-storage-daemon")
        self.monitor = tmp / "qsd.sock"
        self.log_path = tmp / "qsd.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                ["qemu-storage-daemon", "--chardev",
                 f"socket,path={self.monitor},server=on,wait=off,id=m", "--monitor", "chardev=m"],
                stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + timeout
        while not self.monitor.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"qemu-storage-daemon did not start: {self.log()}")
            time.sleep(0.02)

    def qmp(self):
        return QMP(str(self.monitor), repeated_greeting_ok=True)

    def log(self):
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

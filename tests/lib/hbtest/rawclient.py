# SPDX-License-Identifier: GPL-2.0-or-later
"""A QMP client that sends without waiting for replies, to overlap a slow
command (key derivation) with another client's requests."""
import json
import socket
import time


class RawClient:
    """A QMP client that sends without waiting, to overlap commands."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(60)
        self.s.connect(str(path))
        self.buf = b""
        assert "QMP" in self.recv()
        self.send({"execute": "qmp_capabilities"})
        assert self.recv() == {"return": {}}

    def send(self, msg):
        self.s.sendall(json.dumps(msg).encode() + b"\n")

    def recv(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            assert chunk, "connection closed"
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def pending(self):
        self.s.setblocking(False)
        try:
            chunk = self.s.recv(65536)
            self.buf += chunk
        except BlockingIOError:
            pass
        finally:
            self.s.setblocking(True)
            self.s.settimeout(60)
        return b"\n" in self.buf


def served_while_pending(a, qmp):
    """query-version on @qmp, again and again, until RawClient @a has a reply
    waiting: (how many were answered, the slowest answer in seconds)."""
    served, worst = 0, 0.0
    while not a.pending():
        t0 = time.monotonic()
        assert qmp.cmd("query-version")
        worst = max(worst, time.monotonic() - t0)
        served += 1
        time.sleep(0.02)
    return served, worst

# SPDX-License-Identifier: GPL-2.0-or-later
"""A small synchronous QMP client for tests: no dependency beyond the stdlib."""
import json
import socket
import time


class QMPError(Exception):
    def __init__(self, reply):
        super().__init__(f"{reply['error']['class']}: {reply['error']['desc']}")
        self.reply = reply
        self.cls = reply["error"]["class"]
        self.desc = reply["error"]["desc"]


class QMP:
    """One QMP connection. `cmd` raises QMPError on an error reply; `raw`
    returns whatever reply comes back; events are queued in `events`."""

    def __init__(self, path, negotiate=True, timeout=30, repeated_greeting_ok=False):
        # repeated_greeting_ok: skip a second {"QMP": ...} greeting where a
        # reply is expected.  Only for peers (qemu-storage-daemon, which was
        # seen in CI to greet twice when connected to early in its start-up);
        # hotblockd must greet exactly once, so its tests never set this.
        self.repeated_greeting_ok = repeated_greeting_ok
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError, BlockingIOError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.buf = b""
        self.events = []
        self.greeting = self.recv()
        if negotiate:
            self.cmd("qmp_capabilities")

    def send_raw(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def recv(self):
        """The next JSON object from the server (event or reply)."""
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("QMP connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def recv_reply(self):
        while True:
            msg = self.recv()
            if "event" in msg:
                self.events.append(msg)
                continue
            if "QMP" in msg and self.repeated_greeting_ok:
                continue
            return msg

    def raw(self, execute, arguments=None, **extra):
        req = {"execute": execute}
        if arguments is not None:
            req["arguments"] = arguments
        req.update(extra)
        self.send_raw(json.dumps(req) + "\n")
        return self.recv_reply()

    def cmd(self, execute, arguments=None, **kwargs):
        if kwargs:
            arguments = dict(arguments or {}, **kwargs)
        reply = self.raw(execute, arguments)
        if "error" in reply:
            raise QMPError(reply)
        return reply["return"]

    def err(self, execute, arguments=None, **kwargs):
        """Run a command that must fail; return (class, desc)."""
        if kwargs:
            arguments = dict(arguments or {}, **kwargs)
        reply = self.raw(execute, arguments)
        assert "error" in reply, f"{execute} unexpectedly succeeded: {reply}"
        return reply["error"]["class"], reply["error"]["desc"]

    def wait_event(self, name, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            for i, ev in enumerate(self.events):
                if ev["event"] == name:
                    return self.events.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {name} event")
            self.sock.settimeout(left)
            try:
                msg = self.recv()
            finally:
                self.sock.settimeout(30)
            if "event" in msg:
                self.events.append(msg)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

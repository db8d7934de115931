# SPDX-License-Identifier: GPL-2.0-or-later
"""hotblock-qmp, the operator's command-line QMP client, against the real daemon
(and, for protocol failures the daemon never produces, a tiny fake server)."""
import json
import os
import socket
import subprocess
import threading

from hbtest.paths import build_path

TOOL = build_path("tools", "hotblock-qmp")


def run(*args, stdin=None, timeout=30):
    return subprocess.run([TOOL, *args], input=stdin, capture_output=True,
                          text=True, timeout=timeout)


def lines(out):
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_single_json_command(daemon):
    r = run(daemon.qmp_path, '{"execute":"query-version"}')
    assert r.returncode == 0, r.stderr
    (reply,) = lines(r.stdout)
    assert isinstance(reply["return"]["qemu"]["major"], int)
    assert reply["return"]["package"].startswith("hotblock")
    assert r.stderr == ""


def test_shorthand_command(daemon):
    r = run(daemon.qmp_path, "query-version")
    assert r.returncode == 0, r.stderr
    assert "qemu" in lines(r.stdout)[0]["return"]


def test_id_is_echoed(daemon):
    r = run(daemon.qmp_path, '{"execute":"query-version","id":{"n":[1,"x"]}}')
    assert r.returncode == 0
    assert lines(r.stdout)[0]["id"] == {"n": [1, "x"]}


def test_error_reply_exits_1(daemon):
    r = run(daemon.qmp_path, '{"execute":"no-such-command"}')
    assert r.returncode == 1
    (reply,) = lines(r.stdout)
    assert reply["error"]["class"] == "CommandNotFound"
    assert "no-such-command" in reply["error"]["desc"]
    # The daemon is unaffected.
    assert daemon.qmp().cmd("query-version")


def test_unknown_argument_exits_1(daemon):
    r = run(daemon.qmp_path, "query-version", "bogus=1")
    assert r.returncode == 1
    err = lines(r.stdout)[0]["error"]
    assert err["class"] == "GenericError"
    assert "bogus" in err["desc"]


def test_pretty(daemon):
    r = run("--pretty", daemon.qmp_path, "query-version")
    assert r.returncode == 0
    out = r.stdout
    assert out.startswith("{\n  \"return\": {\n")
    assert len(out.splitlines()) > 3
    assert "qemu" in json.loads(out)["return"]


def test_big_reply(daemon):
    r = run(daemon.qmp_path, "query-qmp-schema")
    assert r.returncode == 0, r.stderr
    schema = lines(r.stdout)[0]["return"]
    assert any(e.get("name") == "query-version" for e in schema)


def test_stdin_mode(daemon):
    script = "\n".join([
        '{"execute":"query-version"}',
        "",
        "# a comment",
        "query-commands",
        '  {"execute":"query-version","id":7}  ',
    ]) + "\n"
    r = run(daemon.qmp_path, stdin=script)
    assert r.returncode == 0, r.stderr
    replies = lines(r.stdout)
    assert len(replies) == 3
    assert "qemu" in replies[0]["return"]
    assert any(c["name"] == "query-version" for c in replies[1]["return"])
    assert replies[2]["id"] == 7


def test_stdin_mode_failures_exit_1_and_continue(daemon):
    script = "\n".join([
        '{"execute":"nope"}',
        "not=a command=line",
        '{"execute":',
        "query-version",  # no final newline: still sent
    ])
    r = run(daemon.qmp_path, stdin=script)
    assert r.returncode == 1
    replies = lines(r.stdout)
    assert len(replies) == 2
    assert replies[0]["error"]["class"] == "CommandNotFound"
    assert "qemu" in replies[1]["return"]
    assert "line 2" in r.stderr and "line 3" in r.stderr


def test_stdin_mode_empty_input(daemon):
    r = run(daemon.qmp_path, stdin="")
    assert r.returncode == 0
    assert r.stdout == ""


def test_quit_with_events(daemon):
    r = run("--events", daemon.qmp_path, stdin="quit\n")
    assert r.returncode == 0, r.stderr
    msgs = lines(r.stdout)
    assert msgs[0] == {"return": {}}
    ev = [m for m in msgs if "event" in m]
    assert [e["event"] for e in ev] == ["SHUTDOWN"]
    assert set(ev[0]["timestamp"]) == {"seconds", "microseconds"}
    assert daemon.proc.wait(30) == 0


def test_events_not_printed_without_flag(daemon):
    r = run(daemon.qmp_path, "quit")
    assert r.returncode == 0, r.stderr
    assert lines(r.stdout) == [{"return": {}}]
    assert daemon.proc.wait(30) == 0


def test_bad_socket_path(tmp_path):
    r = run(str(tmp_path / "missing.sock"), "query-version")
    assert r.returncode == 2
    assert "cannot connect" in r.stderr
    assert r.stdout == ""


def test_usage_errors(daemon):
    assert run().returncode == 2
    r = run(daemon.qmp_path, "{bad json")
    assert r.returncode == 2 and "invalid JSON" in r.stderr
    r = run(daemon.qmp_path, "[1]")
    assert r.returncode == 2
    r = run(daemon.qmp_path, "query-version", "noequals")
    assert r.returncode == 2 and "noequals" in r.stderr
    r = run("--timeout", "abc", daemon.qmp_path, "query-version")
    assert r.returncode == 2
    r = run("--frob", daemon.qmp_path)
    assert r.returncode == 2 and "--frob" in r.stderr
    assert run("--help").returncode == 0


class FakeServer:
    """A UNIX server that greets (or not) and then never answers."""

    def __init__(self, path, greeting):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(1)
        self.greeting = greeting
        self.conns = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        self.conns.append(conn)
        if self.greeting is not None:
            conn.sendall(self.greeting)

    def close(self):
        for c in self.conns:
            c.close()
        self.sock.close()


def test_timeout_waiting_for_reply(tmp_path):
    path = str(tmp_path / "fake.sock")
    greeting = json.dumps({"QMP": {"version": {}, "capabilities": []}})
    srv = FakeServer(path, (greeting + "\n").encode())
    try:
        r = run("--timeout", "0.5", path, "query-version", timeout=10)
    finally:
        srv.close()
    assert r.returncode == 2
    assert "timed out" in r.stderr


def test_not_a_qmp_server(tmp_path):
    path = str(tmp_path / "fake.sock")
    srv = FakeServer(path, b"hello, I am not QMP\n")
    try:
        r = run("--timeout", "5", path, "query-version", timeout=10)
    finally:
        srv.close()
    assert r.returncode == 2
    assert "hotblock-qmp:" in r.stderr


def test_tool_is_built():
    assert os.access(TOOL, os.X_OK), TOOL

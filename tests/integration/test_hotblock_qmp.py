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
        '{"execute": nope}',   # balanced, so it ends here: invalid JSON
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


def test_multi_line_json(daemon):
    """The docs' indented examples paste as they are: balanced braces end a command."""
    script = ('{ "execute": "query-version",\n'
              '  "id": "a" }\n'
              '{\n  "execute": "blockdev-add", "id": "x{[\\"",\n  "arguments": {\n'
              '    "driver": "null-co", "node-name": "n0",\n'
              '    "size": 4096 } }\n'
              'query-named-block-nodes flat:=true\n')
    r = run(daemon.qmp_path, stdin=script)
    assert r.returncode == 0, r.stderr
    out = lines(r.stdout)
    assert len(out) == 3 and out[0]["id"] == "a"
    assert out[1] == {"return": {}, "id": 'x{["'}
    assert [n["node-name"] for n in out[2]["return"]] == ["n0"]


def test_unclosed_brace_names_its_line(daemon):
    r = run(daemon.qmp_path, stdin='query-version\n\n{ "execute": "query-version",\n'
                                   '  "arguments": {}\n')
    assert r.returncode == 1
    assert len(lines(r.stdout)) == 1
    assert r.stderr == ("hotblock-qmp: line 3: this JSON command never ends: "
                        "the input ended with a '{' or '[' not closed\n")


def test_replayed_log_with_capabilities(daemon):
    """A libvirt log starts with qmp_capabilities: accepted without a word."""
    script = ('{"execute":"qmp_capabilities","id":"libvirt-1"}\n'
              '{"execute":"query-version","id":"libvirt-2"}\n')
    r = run(daemon.qmp_path, stdin=script)
    assert r.returncode == 0 and r.stderr == ""
    assert [m["id"] for m in lines(r.stdout)] == ["libvirt-2"]
    r = run(daemon.qmp_path, "qmp_capabilities")
    assert r.returncode == 0 and r.stdout == r.stderr == ""


def test_verbose_echoes_what_is_sent(daemon):
    r = run("-v", daemon.qmp_path, "query-version")
    assert r.returncode == 0
    assert json.loads(r.stderr) == {"execute": "query-version"}
    r = run("--verbose", daemon.qmp_path, stdin="blockdev-del node-name=x.y\n")
    assert json.loads(r.stderr.splitlines()[0]) == {
        "execute": "blockdev-del", "arguments": {"node-name": "x.y"}}


def test_version():
    for flag in ("--version", "-V"):
        r = run(flag)
        assert r.returncode == 0 and r.stdout.startswith("hotblock-qmp version ")


def test_typed_short_forms_from_the_schema(daemon):
    """key=value takes the type query-qmp-schema gives the member: integers
    (with size suffixes), booleans, through flat unions and dotted nesting;
    strings stay strings even when they look like numbers."""
    img = daemon.tmp / "t.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(img), "1M"], check=True)
    r = run("-v", daemon.qmp_path, "blockdev-add", "driver=null-co", "node-name=n1",
            "size=1G", "read-only=on")
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stderr)["arguments"] == {
        "driver": "null-co", "node-name": "n1", "size": 1 << 30, "read-only": True}
    script = (f"blockdev-add driver=qcow2 node-name=1024 file.driver=file "
              f"file.filename={img} lazy-refcounts=off cache-size=65536\n"
              "blockdev-add driver=null-co node-name=n3 size:=4096 read-only:=false\n"
              "query-named-block-nodes flat=true\n")
    r = run("-v", daemon.qmp_path, stdin=script)
    sent = [json.loads(x) for x in r.stderr.splitlines()]
    assert sent[0]["arguments"] == {
        "driver": "qcow2", "node-name": "1024", "lazy-refcounts": False, "cache-size": 65536,
        "file": {"driver": "file", "filename": str(img)}}
    assert sent[1]["arguments"]["size"] == 4096 and sent[2]["arguments"] == {"flat": True}
    out = lines(r.stdout)
    assert "Invalid node-name" in out[0]["error"]["desc"]   # a string, as typed
    assert out[1] == {"return": {}}


def test_typed_short_form_wrong_kind(daemon):
    r = run(daemon.qmp_path, stdin="blockdev-add driver=null-co node-name=n2 size=abc\n"
                                   "query-version\n")
    assert r.returncode == 1
    assert r.stderr == ("hotblock-qmp: line 1: argument 'size': 'abc' is not a number "
                        "(the schema's type is 'int'; use size:=JSON for any value)\n")
    assert "qemu" in lines(r.stdout)[0]["return"]
    r = run(daemon.qmp_path, "blockdev-add", "driver=null-co", "node-name=n2", "read-only=maybe")
    assert r.returncode == 2 and "'maybe' is not a boolean (on/off, true/false)" in r.stderr

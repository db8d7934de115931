# SPDX-License-Identifier: GPL-2.0-or-later
"""QMP protocol behaviour of hotblockd: greeting, negotiation, request rules,
errors with QEMU's classes and texts, framing, limits, concurrency."""
import json
import os
import socket
import time

import pytest

from hbtest.qmp import QMP


def test_greeting_shape(daemon):
    q = daemon.qmp(negotiate=False)
    g = q.greeting["QMP"]
    assert set(g["version"]["qemu"]) == {"major", "minor", "micro"}
    assert g["version"]["package"].startswith("hotblock ")
    assert g["capabilities"] == ["oob"]


def test_commands_refused_before_negotiation(daemon):
    q = daemon.qmp(negotiate=False)
    assert q.err("query-version") == (
        "CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'")
    # even an unknown command gets the negotiation error first
    assert q.err("no-such-command")[0] == "CommandNotFound"
    assert q.cmd("qmp_capabilities") == {}
    assert q.cmd("query-version")["package"].startswith("hotblock")


def test_second_negotiation_refused(qmp):
    cls, desc = qmp.err("qmp_capabilities")
    assert cls == "CommandNotFound"
    assert "already complete" in desc


def test_capabilities_oob_enable(daemon):
    q = daemon.qmp(negotiate=False)
    assert q.cmd("qmp_capabilities", {"enable": ["oob"]}) == {}
    reply = json.loads(json.dumps(q.raw("query-version")))
    assert "return" in reply


def test_capabilities_bad_enable(daemon):
    q = daemon.qmp(negotiate=False)
    assert q.err("qmp_capabilities", {"enable": ["nope"]}) == (
        "GenericError", "Parameter 'enable[0]' does not accept value 'nope'")
    # still in negotiation mode
    assert q.err("query-version")[0] == "CommandNotFound"


@pytest.mark.parametrize("ident", [1, "abc", [1, {"x": None}], {"a": 1}, None, 2.5, True])
def test_id_echoed_any_type(qmp, ident):
    qmp.send_raw(json.dumps({"execute": "query-version", "id": ident}) + "\n")
    r = qmp.recv_reply()
    assert r["id"] == ident and "return" in r
    qmp.send_raw(json.dumps({"execute": "nope", "id": ident}) + "\n")
    r = qmp.recv_reply()
    assert r["id"] == ident and r["error"]["class"] == "CommandNotFound"


def test_unknown_command(qmp):
    assert qmp.err("frobnicate") == ("CommandNotFound", "The command frobnicate has not been found")


@pytest.mark.parametrize("raw,desc", [
    ('{"exec": "query-version"}', "QMP input member 'exec' is unexpected"),
    ('{"arguments": {}}', "QMP input lacks member 'execute'"),
    ('{"execute": 42}', "QMP input member 'execute' must be a string"),
    ('{"execute": "query-version", "arguments": [1]}', "QMP input member 'arguments' must be an object"),
    ('[1, 2]', "QMP input must be a JSON object"),
    ('"just a string"', "QMP input must be a JSON object"),
    ('42', "QMP input must be a JSON object"),
])
def test_malformed_requests(qmp, raw, desc):
    qmp.send_raw(raw + "\n")
    r = qmp.recv_reply()
    assert r["error"] == {"class": "GenericError", "desc": desc}
    assert qmp.cmd("query-version")  # the session keeps working


def test_json_parse_error(qmp):
    qmp.send_raw('{"execute": query-version}\n')
    r = qmp.recv_reply()
    assert r["error"]["class"] == "GenericError"
    assert r["error"]["desc"].startswith("JSON parse error, ")
    qmp.send_raw('}\n')
    r = qmp.recv_reply()
    assert r["error"]["desc"].startswith("JSON parse error, ")
    assert qmp.cmd("query-version")


def test_argument_validation(qmp):
    assert qmp.err("query-version", {"x": 1}) == ("GenericError", "Parameter 'x' is unexpected")
    assert qmp.err("qmp_capabilities", {}) [0] == "CommandNotFound"
    # wrong types against the schema: enable must be a list
    q2 = QMP(qmp.sock.getpeername(), negotiate=False)
    try:
        assert q2.err("qmp_capabilities", {"enable": "oob"}) == (
            "GenericError", "Invalid parameter type for 'enable', expected: array")
    finally:
        q2.close()


def test_several_commands_in_one_write(qmp):
    qmp.send_raw('{"execute":"query-version","id":1}{"execute":"query-version","id":2}\n'
                 '{"execute":"query-commands","id":3}')
    ids = [qmp.recv_reply()["id"] for _ in range(3)]
    assert ids == [1, 2, 3]


def test_one_command_over_many_writes(qmp):
    text = json.dumps({"execute": "query-version", "id": "split"}, indent=2)
    for ch in text:
        qmp.send_raw(ch)
    qmp.send_raw("\n")
    r = qmp.recv_reply()
    assert r["id"] == "split" and "return" in r


def test_query_commands_lists_core(qmp):
    names = {c["name"] for c in qmp.cmd("query-commands")}
    assert {"qmp_capabilities", "query-version", "query-commands",
            "query-qmp-schema", "quit"} <= names


def test_query_qmp_schema(qmp):
    schema = qmp.cmd("query-qmp-schema")
    by_name = {e["name"]: e for e in schema}
    cmds = {c["name"] for c in qmp.cmd("query-commands")}
    # every command is introspectable, with resolvable arg and return types
    for c in cmds:
        info = by_name[c]
        assert info["meta-type"] == "command"
        assert info["arg-type"] in by_name and info["ret-type"] in by_name
    assert by_name["SHUTDOWN"]["meta-type"] == "event"
    ver = by_name[by_name["query-version"]["ret-type"]]
    assert {m["name"] for m in ver["members"]} == {"qemu", "package"}
    for e in schema:
        assert e["meta-type"] in ("builtin", "enum", "array", "object", "alternate",
                                  "command", "event")


def test_overlong_request_gets_error(qmp):
    big = '{"execute":"query-version","arguments":{"x":"' + "a" * (5 << 20) + '"}}\n'
    qmp.sock.sendall(big.encode())
    r = qmp.recv_reply()
    assert r["error"]["desc"] == "JSON parse error, token too long"
    assert qmp.cmd("query-version")


def test_deep_nesting_gets_error(qmp):
    qmp.send_raw("[" * 2000 + "]" * 2000 + "\n")
    r = qmp.recv_reply()
    assert r["error"]["desc"] == "JSON parse error, nesting too deep"
    assert qmp.cmd("query-version")


def test_flooding_client_does_not_hurt_others(daemon):
    victim = daemon.qmp()
    flooder = socket.socket(socket.AF_UNIX)
    flooder.connect(daemon.qmp_path)
    flooder.setblocking(False)
    req = b'{"execute":"query-qmp-schema"}\n' * 200
    sent = 0
    deadline = time.monotonic() + 5
    # never read: the daemon must stop reading from it, not stall the others
    while time.monotonic() < deadline and sent < 50 << 20:
        try:
            sent += flooder.send(req)
        except BlockingIOError:
            break
        except (BrokenPipeError, ConnectionResetError):
            break
    t0 = time.monotonic()
    assert victim.cmd("query-version")
    assert time.monotonic() - t0 < 2
    flooder.close()
    assert victim.cmd("query-version")


def test_two_concurrent_clients(daemon):
    a, b = daemon.qmp(), daemon.qmp()
    a.send_raw('{"execute":"query-version","id":"a"}\n')
    b.send_raw('{"execute":"query-version","id":"b"}\n')
    assert b.recv_reply()["id"] == "b"
    assert a.recv_reply()["id"] == "a"


def test_disconnect_mid_command_harms_nothing(daemon):
    for _ in range(20):
        s = socket.socket(socket.AF_UNIX)
        s.connect(daemon.qmp_path)
        s.sendall(b'{"execute":"qmp_capabilities"}{"execute":"query-qmp-schema"}')
        s.close()
        s = socket.socket(socket.AF_UNIX)
        s.connect(daemon.qmp_path)
        s.sendall(b'{"execute":"qmp_capab')   # half a command
        s.close()
    q = daemon.qmp()
    assert q.cmd("query-version")


def test_exec_oob_refused_cleanly(qmp):
    qmp.send_raw('{"exec-oob":"query-version","id":7}\n')
    r = qmp.recv_reply()
    assert r["error"]["class"] == "GenericError" and r["id"] == 7
    assert qmp.cmd("query-version")


def test_events_go_to_every_negotiated_session(daemon):
    a, b = daemon.qmp(), daemon.qmp()
    unneg = daemon.qmp(negotiate=False)
    a.cmd("quit")
    for c in (a, b):
        ev = c.wait_event("SHUTDOWN", timeout=10)
        assert ev["data"] == {"guest": False, "reason": "host-qmp-quit"}
        assert set(ev["timestamp"]) == {"seconds", "microseconds"}
        assert abs(ev["timestamp"]["seconds"] - time.time()) < 60
    # the un-negotiated session got no event, only the close
    unneg.sock.settimeout(10)
    with pytest.raises(ConnectionError):
        while True:
            m = unneg.recv()
            assert "event" not in m
    assert daemon.proc.wait(10) == 0


def _rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_negotiated_flooder_is_bounded(daemon_factory, monkeypatch):
    """A negotiated client pipelining big replies without reading must cost
    the daemon about HB_QMP_OUT_PAUSE, not one read's worth of replies each
    (query-qmp-schema answers ~15 KiB to a 31-byte request)."""
    # Sanitizer builds: freed memory must not stay resident, or RSS lies.
    opts = os.environ.get("ASAN_OPTIONS", "")
    monkeypatch.setenv("ASAN_OPTIONS", (opts + ":" if opts else "") + "quarantine_size_mb=0")
    daemon = daemon_factory()
    victim = daemon.qmp()
    flooder = socket.socket(socket.AF_UNIX)
    flooder.connect(daemon.qmp_path)
    f = flooder.makefile("rb")
    f.readline()
    flooder.sendall(b'{"execute":"qmp_capabilities"}\n')
    f.readline()
    flooder.setblocking(False)
    req = b'{"execute":"query-qmp-schema"}' * 2000
    base = _rss_kib(daemon.proc.pid)
    sent = 0
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and sent < len(req):
        try:
            sent += flooder.send(req[sent:])
        except BlockingIOError:
            time.sleep(0.01)
    time.sleep(0.3)
    grown = _rss_kib(daemon.proc.pid) - base
    t0 = time.monotonic()
    assert victim.cmd("query-version")
    assert time.monotonic() - t0 < 1
    assert grown < 4 << 10, f"daemon grew {grown} KiB for one non-reading client"
    # Held-back requests are served once it reads: every one, in order.
    flooder.setblocking(True)
    flooder.settimeout(20)
    for _ in range(2000):
        assert "return" in json.loads(f.readline())
    flooder.close()
    assert victim.cmd("query-version")

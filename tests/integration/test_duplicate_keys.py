# SPDX-License-Identifier: GPL-2.0-or-later
"""Duplicate JSON keys are refused as QEMU 7.2 refuses them ("JSON parse
error, duplicate key"), on the QMP socket and on the command line: with
json-glib's last-one-wins, {"execute":"query-version","execute":"quit"}
quit the daemon, behind any proxy that filtered on the first "execute"."""
import subprocess

import pytest

from hbtest.paths import HOTBLOCKD

pytestmark = pytest.mark.security


def test_duplicate_execute_does_not_run(daemon, qmp):
    qmp.send_raw('{"execute":"query-version","execute":"quit"}\n')
    r = qmp.recv_reply()
    assert r["error"] == {"class": "GenericError", "desc": "JSON parse error, duplicate key"}
    # The daemon did not quit and the session goes on.
    assert daemon.proc.poll() is None
    assert qmp.cmd("query-version")["package"].startswith("hotblock")


def test_duplicate_nested_and_escaped(daemon, qmp, tmp_path):
    img = tmp_path / "a.img"
    img.write_bytes(b"\0" * 65536)
    for text in (
        '{"execute":"blockdev-add","arguments":{"driver":"file","node-name":"a",'
        '"filename":"%s","filename":"/etc/shadow"}}' % img,
        '{"execute":"blockdev-add","arguments":{"driver":"raw","node-name":"b",'
        '"file":{"driver":"file","filename":"%s","\\u0066ilename":"/x"}}}' % img,
    ):
        qmp.send_raw(text + "\n")
        r = qmp.recv_reply()
        assert r["error"]["desc"] == "JSON parse error, duplicate key", r
    assert qmp.cmd("query-named-block-nodes") == []


def test_duplicate_key_on_command_line(tmp_path):
    r = subprocess.run([HOTBLOCKD, "--blockdev",
                        '{"driver":"null-co","node-name":"n","node-name":"m"}'],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "JSON parse error, duplicate key" in r.stderr, r.stderr

# SPDX-License-Identifier: GPL-2.0-or-later
"""hotblock-qmp as an interactive shell, driven through a pty (pexpect):
prompt, multi-line JSON, tab completion from the schema, history, events
shown as they arrive, end of input."""
import os

import pytest

from hbtest.exports import export_args
from hbtest.paths import build_path

try:
    import pexpect
except ImportError:     # a missing oracle fails, never skips (hbtest/tools.py)
    pexpect = None

TOOL = build_path("tools", "hotblock-qmp")


@pytest.fixture
def shell(daemon, tmp_path):
    if pexpect is None:
        pytest.fail("pexpect (Debian package python3-pexpect) is not installed, and this "
                    "test needs it to drive a pty: run `make test-deps`", pytrace=False)
    env = dict(os.environ, HOME=str(tmp_path), TERM="dumb")
    p = pexpect.spawn(TOOL, [daemon.qmp_path], env=env, encoding="utf-8", timeout=15)
    p.expect_exact("(QMP) ")
    yield p
    if p.isalive():
        p.terminate(force=True)


def end(p):
    p.sendeof()
    p.expect(pexpect.EOF)
    p.wait()
    return p.exitstatus


def test_prompt_reply_and_exit(shell):
    shell.sendline("query-version")
    shell.expect('"package":"hotblock ')
    shell.expect_exact("(QMP) ")
    assert end(shell) == 0


def test_multi_line_json_prompts_for_more(shell):
    shell.sendline('{ "execute": "query-version",')
    shell.expect_exact("... ")
    shell.sendline('  "id": 7 }')
    shell.expect('"id":7')
    shell.expect_exact("(QMP) ")
    assert end(shell) == 0


def test_tab_completes_commands_and_members(shell):
    shell.send("query-ver\t")
    shell.expect_exact("query-version ")
    shell.send("\r")
    shell.expect('"package"')
    shell.send("blockdev-add driver=null-co node-name=t0 si\t")
    shell.expect_exact("size=")
    shell.send("1M read-o\t")
    shell.expect_exact("read-only=")
    shell.send("on\r")
    shell.expect_exact('{"return":{}}')
    shell.sendline("query-named-block-nodes flat=on")
    shell.expect('"node-name":"t0","ro":true')
    assert end(shell) == 0


def test_history_and_line_editing(shell, tmp_path):
    shell.sendline("query-version")
    shell.expect('"package"')
    shell.send("\x1b[A")               # Up: the last command again
    shell.expect_exact("query-version")
    shell.send("\x01nope-\r")          # Ctrl-A, insert at the start
    shell.expect("CommandNotFound")
    assert end(shell) == 1             # a command failed
    assert "query-version" in (tmp_path / ".hotblock-qmp_history").read_text()


def test_events_arrive_marked(shell, daemon, tmp_path):
    shell.sendline("blockdev-add driver=null-co node-name=e0 size=1M")
    shell.expect_exact('{"return":{}}')
    args = export_args("x0", "e0", tmp_path / "x.sock")
    shell.sendline(f"block-export-add type=vhost-user-blk id=x0 node-name=e0 "
                   f"addr.type=unix addr.path={args['addr']['path']}")
    shell.expect_exact('{"return":{}}')
    shell.sendline("block-export-del id=x0")
    shell.expect_exact('event: {"event":"BLOCK_EXPORT_DELETED"')
    shell.expect_exact("(QMP) ")
    assert end(shell) == 0

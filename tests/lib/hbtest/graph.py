# SPDX-License-Identifier: GPL-2.0-or-later
"""The block graph as query-named-block-nodes shows it, and the files the
daemon holds open (/proc/<pid>/fd): a failing command must leave both
exactly as they were."""
import os


def fds(daemon):
    d = f"/proc/{daemon.proc.pid}/fd"
    out = []
    for n in os.listdir(d):
        try:
            out.append(os.readlink(os.path.join(d, n)))
        except FileNotFoundError:
            pass
    return sorted(t for t in out if not t.startswith(("socket:", "anon_inode:", "pipe:")))


def snapshot(daemon, qmp):
    return qmp.cmd("query-named-block-nodes"), fds(daemon)


def expect_error(daemon, qmp, cmd, args, desc, cls="GenericError"):
    before = snapshot(daemon, qmp)
    c, d = qmp.err(cmd, args)
    assert c == cls
    if callable(desc):
        assert desc(d), d
    else:
        assert d == desc
    assert snapshot(daemon, qmp) == before
    return d


def image_locks(img):
    """The lock bytes every process holds on @img, from /proc/locks."""
    ino = os.stat(img).st_ino
    with open("/proc/locks") as f:
        return sorted(" ".join(line.split()[1:]) for line in f
                      if line.split()[5].endswith(f":{ino}"))


def names(qmp):
    return [n["node-name"] for n in qmp.cmd("query-named-block-nodes")]

# SPDX-License-Identifier: GPL-2.0-or-later
"""QMP clients cannot starve the daemon of file descriptors: each socket
serves at most --max-qmp-clients sessions (default 128), one more is told
why and disconnected, and clients never take the descriptors kept for
exports, so the operator can still add and serve disks."""
import json
import os
import resource
import socket
import subprocess
import time

import pytest

from hbtest.daemon import wait_qmp_greeting
from hbtest.paths import BENCH, HOTBLOCKD
from hbtest.qmp import QMP

pytestmark = pytest.mark.security

MiB = 1 << 20


def connect(path):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(str(path))
    return s


def first_line(s):
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    return buf


def start(tmp_path, *args, preexec=None):
    qmp_path = tmp_path / "qmp.sock"
    p = subprocess.Popen([HOTBLOCKD, "--qmp", str(qmp_path),
                          "--export-dir", str(tmp_path / "exports"), *args],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         preexec_fn=preexec)
    wait_qmp_greeting(p, qmp_path, 30)
    return p, qmp_path


def stop(p):
    p.terminate()
    assert p.wait(30) == 0


def test_client_limit_per_socket(tmp_path):
    p, path = start(tmp_path, "--max-qmp-clients", "3")
    try:
        time.sleep(0.3)     # the daemon notices that start()'s probe client went
        held = [connect(path) for _ in range(3)]
        for s in held:
            assert b'"QMP"' in first_line(s)
        extra = connect(path)
        msg = json.loads(first_line(extra))
        assert msg["error"]["desc"] == \
            "Too many QMP clients on this socket (limit 3): connection refused"
        assert extra.recv(1) == b""          # and then closed
        held.pop().close()
        time.sleep(0.1)
        q = QMP(str(path))                   # a place is free again
        assert q.cmd("query-version")
        q.close()
        for s in held:
            s.close()
    finally:
        stop(p)


def test_max_qmp_clients_option_checked(tmp_path):
    r = subprocess.run([HOTBLOCKD, "--max-qmp-clients", "0", "--qmp", str(tmp_path / "q")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "--max-qmp-clients expects a number" in r.stderr


def test_fd_reserve_kept_for_exports(tmp_path):
    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (100, 100))
    p, path = start(tmp_path, "--max-qmp-clients", "1000", preexec=low_limit)
    held, refused = [], 0
    try:
        for _ in range(110):
            s = connect(path)
            line = first_line(s)
            if b'"QMP"' in line:
                held.append(s)
            else:
                assert b"Too many open files" in line, line
                refused += 1
                s.close()
        assert refused > 0 and len(held) < 90
        # The operator's own client still gets in once one idle client goes,
        # and a disk can still be added and served.
        held.pop().close()
        time.sleep(0.1)
        q = QMP(str(path))
        q.cmd("blockdev-add", {"driver": "null-co", "node-name": "n0", "size": MiB})
        q.cmd("device_add", {"driver": "virtio-blk-pci", "drive": "n0", "id": "v0"})
        r = subprocess.run([BENCH, str(tmp_path / "exports" / "v0.sock"), "--info", "--json"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        q.close()
    finally:
        for s in held:
            s.close()
        stop(p)

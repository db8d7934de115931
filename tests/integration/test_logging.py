# SPDX-License-Identifier: GPL-2.0-or-later
"""The daemon's log: one line per QMP client and command (never its
secrets), per front-end connect and drop (with the reason), per refusal
and I/O error; --log-level, --log-file reopened on SIGHUP (which no longer
stops the daemon), and priority prefixes when stderr is the journal."""
import os
import re
import signal
import subprocess
import time

import pytest

from hbtest.bench import bench
from hbtest.exports import export_args
from hbtest.paths import HOTBLOCKD
from hbtest.tools import require

MiB = 1 << 20
SECRET = "s3cr3t-Value-4711"


def wait_for(pred, timeout=10):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_qmp_clients_and_commands_are_logged_without_secrets(daemon, qmp):
    assert "return" in qmp.raw("object-add", {"qom-type": "secret", "id": "sec0", "data": SECRET},
                               id="add-1")
    qmp.err("blockdev-add", {"driver": "file", "node-name": "x", "filename": "/nonexistent"})
    m = re.search(r'QMP client (\d+): object-add \(id "add-1"\): ok', daemon.log())
    assert m, daemon.log()
    n = m.group(1)
    qmp.close()
    wait_for(lambda: f"QMP client {n} disconnected" in daemon.log())
    log = daemon.log()
    assert f"QMP client {n} connected" in log
    assert f"QMP client {n}: blockdev-add (id -): GenericError" in log
    assert f"QMP client {n} disconnected" in log
    assert SECRET not in log
    # every line has a timestamp, the pid and a level
    line = next(l for l in log.splitlines() if "object-add" in l)
    assert f"hotblockd[{daemon.proc.pid}]: info: " in line and line[:4].isdigit()


def test_front_ends_are_logged_with_the_reason_they_left(daemon, qmp, tmp_path):
    qmp.cmd("blockdev-add", {"driver": "null-co", "node-name": "n0", "size": MiB})
    sock = tmp_path / "e.sock"
    qmp.cmd("block-export-add", export_args("e0", "n0", sock, writable=True))
    bench(sock, "--count", 100)
    wait_for(lambda: "front-end disconnected" in daemon.log())
    log = daemon.log()
    assert "export 'e0': front-end connected (1 of at most 2 sessions)" in log
    assert "export 'e0': front-end disconnected: it hung up" in log
    _, out, _ = bench(sock, "--evil", "loop")
    assert out["dropped"]
    wait_for(lambda: "broken by a malformed request" in daemon.log())
    assert "export 'e0': front-end disconnected: ring 0 broken by a malformed request" \
        in daemon.log()


def test_queue_count_refusal_names_the_export(daemon, qmp, tmp_path):
    """QEMU wanting more queues than the export has hangs up after
    GET_QUEUE_NUM and says so only on its side: the daemon's log names
    the export and the fix."""
    qemu = require("qemu-system-x86_64")
    qmp.cmd("blockdev-add", {"driver": "null-co", "node-name": "n0", "size": MiB})
    sock = tmp_path / "e.sock"
    qmp.cmd("block-export-add", export_args("e0", "n0", sock, writable=True,
                                            **{"num-queues": 1}))
    p = subprocess.run([qemu, "-accel", "tcg", "-nodefaults", "-display", "none", "-S",
                        "-m", "64M", "-object", "memory-backend-memfd,id=mem,size=64M,share=on",
                        "-machine", "pc,memory-backend=mem",
                        "-chardev", f"socket,id=c0,path={sock}",
                        "-device", "vhost-user-blk-pci,chardev=c0,num-queues=4"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "maximum number of queues" in p.stderr, p.stderr
    wait_for(lambda: "queue count" in daemon.log())
    assert ("export 'e0': the front-end hung up right after reading the queue count (1)"
            in daemon.log())


def test_log_level(daemon_factory, tmp_path):
    d = daemon_factory("--log-level", "warning")
    q = d.qmp()
    q.cmd("query-block-exports")
    q.close()
    time.sleep(0.2)
    assert "QMP client" not in d.log()
    p = subprocess.run([HOTBLOCKD, "--log-level", "chatty"], capture_output=True, text=True)
    assert p.returncode == 1
    assert "Unknown log level 'chatty' (error, warning, info or debug)" in p.stderr


def test_log_file_is_reopened_on_sighup(daemon_factory, tmp_path):
    log = tmp_path / "hb.log"
    d = daemon_factory("--log-file", str(log))
    q = d.qmp()
    q.raw("query-block-exports", id="before")
    wait_for(lambda: log.exists() and '"before"' in log.read_text())
    assert "QMP client" not in d.log()           # not on stderr any more
    os.rename(log, tmp_path / "hb.log.1")         # what logrotate does
    d.proc.send_signal(signal.SIGHUP)
    wait_for(log.exists)
    q.raw("query-block-exports", id="after")      # the daemon goes on serving
    wait_for(lambda: '"after"' in log.read_text())
    assert "log file reopened" in log.read_text()
    assert '"after"' not in (tmp_path / "hb.log.1").read_text()
    assert d.proc.poll() is None


def test_bad_log_file_is_an_error(tmp_path):
    p = subprocess.run([HOTBLOCKD, "--log-file", str(tmp_path / "no" / "such" / "dir.log")],
                       capture_output=True, text=True)
    assert p.returncode == 1 and "Cannot open log file" in p.stderr


def test_journal_gets_priority_prefixes(tmp_path):
    """Under systemd, stderr is the journal (JOURNAL_STREAM names it): lines
    carry "<N>" priorities and no timestamp of their own."""
    errf = tmp_path / "journal"
    qmp_path = tmp_path / "q.sock"
    with open(errf, "wb") as f:
        st = os.fstat(f.fileno())
        env = dict(os.environ, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
        p = subprocess.Popen([HOTBLOCKD, "--qmp", str(qmp_path)], stderr=f,
                             stdout=subprocess.DEVNULL, env=env)
    try:
        wait_for(qmp_path.exists)
        import socket
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(qmp_path))
        s.recv(4096)
        s.close()
        wait_for(lambda: "disconnected" in errf.read_text())
        lines = errf.read_text().splitlines()
        assert "<6>QMP client 1 connected" in lines, lines
        assert "<6>QMP client 1 disconnected" in lines, lines
    finally:
        p.terminate()
        p.wait(timeout=30)


def test_io_errors_are_logged(daemon, qmp, tmp_path):
    """A write the storage fails: the guest sees IOERR, the log a line."""
    # a 1 MiB tmpfs: writes past its space fail with ENOSPC
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        img = mnt / "d.raw"
        with open(img, "wb") as f:
            f.truncate(8 * MiB)
        qmp.cmd("blockdev-add", {"driver": "file", "node-name": "f0", "filename": str(img)})
        sock = tmp_path / "e.sock"
        qmp.cmd("block-export-add", export_args("e0", "f0", sock, writable=True))
        bench(sock, "--rw", "write", "--bs", "64k", "--size", str(4 * MiB), "--count", 64,
              check=False)
        wait_for(lambda: "failed" in daemon.log())
        assert "node 'f0': write failed: No space left on device (the guest got an I/O error)" \
            in daemon.log()
        qmp.cmd("block-export-del", id="e0")
        qmp.wait_event("BLOCK_EXPORT_DELETED")
        qmp.cmd("blockdev-del", {"node-name": "f0"})
    finally:
        subprocess.run(["umount", "-l", str(mnt)])

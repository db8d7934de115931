# SPDX-License-Identifier: GPL-2.0-or-later
"""Exports under resource exhaustion: out of fds, the export's listener must
back off instead of spinning its I/O thread, and serve again afterwards."""
import signal
import socket
import time

from hbtest.bench import export_info
from hbtest.daemon import cpu_ticks_in_one_second, start_with_nofile, unix_clients


def test_export_accept_backs_off_when_out_of_fds(tmp_path):
    qmp_sock, vsock = str(tmp_path / "q.sock"), str(tmp_path / "v.sock")
    # 28 fds: the QMP server keeps a quarter (7) from its clients, and the
    # export takes up to 8 sessions, so its own accepts run out of fds.
    p = start_with_nofile(
        tmp_path, 28, "--qmp", qmp_sock,
        "--blockdev", "driver=null-co,node-name=n0,size=1048576",
        "--export", f"type=vhost-user-blk,id=e0,node-name=n0,addr.type=unix,addr.path={vsock},"
                    "max-sessions=8")
    qmp_clients, export_clients = [], []
    try:
        for _ in range(300):
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(qmp_sock)
                    if s.recv(1):
                        break
            except OSError:
                time.sleep(0.02)
        # Use up the daemon's fds with QMP clients, then knock on the export.
        qmp_clients = unix_clients(qmp_sock, 40)
        time.sleep(0.3)
        export_clients = unix_clients(vsock, 12)
        time.sleep(0.3)
        used = cpu_ticks_in_one_second(p.pid)
        assert used < 30, f"export listener spins out of fds: {used} ticks in 1 s"
        # It did run out (accept4 failed), and said so once, not per try.
        log = (tmp_path / "err").read_text()
        assert log.count("export 'e0': cannot accept a front-end (Too many open files); "
                         "trying again every 100 ms") == 1, log
        for s in qmp_clients + export_clients:
            s.close()
        qmp_clients, export_clients = [], []
        # fds are free again: a real front-end gets the device
        deadline = time.monotonic() + 10
        while True:
            try:
                i = export_info(vsock)
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert i["capacity"] == 1048576
    finally:
        for s in qmp_clients + export_clients:
            s.close()
        p.send_signal(signal.SIGTERM)
        assert p.wait(15) == 0
    assert "ERROR: AddressSanitizer" not in (tmp_path / "err").read_text()

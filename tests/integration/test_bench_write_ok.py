# SPDX-License-Identifier: GPL-2.0-or-later
"""hotblock-bench writes to an export only when told --write-ok: an export is
somebody's disk.  --info is the safe check."""
import subprocess

import pytest

from hbtest.exports import export_args
from hbtest.paths import BENCH

MiB = 1 << 20


@pytest.fixture
def disk(daemon, tmp_path):
    img = tmp_path / "d.raw"
    img.write_bytes(b"\x5a" * (4 * MiB))
    q = daemon.qmp()
    q.cmd("blockdev-add", driver="file", **{"node-name": "f0"}, filename=str(img))
    sock = tmp_path / "e.sock"
    q.cmd("block-export-add", export_args("e0", "f0", sock, writable=True))
    return sock, img


def bench(*args):
    return subprocess.run([BENCH, *map(str, args)], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("args,what", [
    (["--rw", "write"], "--rw write"),
    (["--rw", "randwrite", "--count", "10"], "--rw randwrite"),
    (["--rw", "randrw", "--count", "10"], "--rw randrw"),
    (["--verify", "--count", "10"], "--rw randread --verify"),
    (["--evil", "bad-desc"], "--evil"),
])
def test_writes_refused_without_write_ok(disk, args, what):
    sock, img = disk
    r = bench(sock, *args)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == (f"hotblock-bench: {what} may overwrite the disk behind the socket; "
                        "add --write-ok if its data may be destroyed (--info checks an "
                        "export without writing)\n")
    assert img.read_bytes() == b"\x5a" * (4 * MiB)


def test_reads_and_info_need_nothing(disk):
    sock, img = disk
    assert bench(sock, "--info").returncode == 0
    assert bench(sock, "--rw", "randread", "--count", "100").returncode == 0
    assert bench(sock, "--rw", "read", "--count", "100").returncode == 0
    assert img.read_bytes() == b"\x5a" * (4 * MiB)


def test_write_ok_writes(disk):
    sock, img = disk
    r = bench(sock, "--write-ok", "--rw", "randwrite", "--verify", "--count", "200", "--json")
    assert r.returncode == 0, r.stderr
    assert img.read_bytes() != b"\x5a" * (4 * MiB)


def test_version_and_help():
    r = bench("--version")
    assert r.returncode == 0 and r.stdout.startswith("hotblock-bench version ")
    assert "--write-ok" in bench("--help").stdout

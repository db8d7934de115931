# SPDX-License-Identifier: GPL-2.0-or-later
"""The asynchronous data path: the aio option (io_uring, threads, native),
the fallback when the kernel refuses io_uring, per-thread rings under the
sandbox, and data integrity through exports at depth over O_DIRECT."""
import os
import subprocess
import tempfile

import pytest

from hbtest.bench import bench
from hbtest.paths import BUILD, HOTBLOCKD
from hbtest.qmp import QMPError

MiB = 1 << 20
IO_URING_SYSCTL = "/proc/sys/kernel/io_uring_disabled"


def on_tmpfs(path):
    out = subprocess.run(["stat", "-f", "-c", "%T", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return out.strip() == "tmpfs"


@pytest.fixture
def disk_dir(tmp_path):
    """A directory on a file system with O_DIRECT (tmpfs has none)."""
    if not on_tmpfs(tmp_path):
        yield tmp_path
        return
    d = tempfile.mkdtemp(prefix="hb-aio-", dir=BUILD)
    yield type(tmp_path)(d)
    subprocess.run(["rm", "-rf", d], check=True)


def make_raw(path, size=64 * MiB):
    with open(path, "wb") as f:
        f.truncate(size)
    return str(path)


def add_file(qmp, name, path, **kw):
    args = {"driver": "file", "node-name": name, "filename": path}
    args.update(kw)
    qmp.cmd("blockdev-add", args)


def node_info(qmp, name):
    return next(n for n in qmp.cmd("query-named-block-nodes") if n["node-name"] == name)


def error_desc(qmp, cmd, args):
    with pytest.raises(QMPError) as e:
        qmp.cmd(cmd, args)
    return e.value.desc


def uring_fds(pid):
    """The io_uring instances the process holds (anon inodes in /proc/PID/fd)."""
    return len(uring_completions(pid))


def uring_completions(pid):
    """For each io_uring instance of the process, how many completions it
    has posted (CqTail in /proc/PID/fdinfo)."""
    tails = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") != "anon_inode:[io_uring]":
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                for line in f:
                    if line.startswith("CqTail:"):
                        tails.append(int(line.split()[1]))
        except OSError:
            pass
    return tails


def seccomp_mode(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Seccomp:"):
                return int(line.split()[1])
    return 0


def test_aio_default_and_explicit(qmp, disk_dir):
    img = make_raw(disk_dir / "a.img")
    add_file(qmp, "dflt", img)
    add_file(qmp, "thr", img, aio="threads", locking="off")
    add_file(qmp, "uring", img, aio="io_uring", locking="off")
    add_file(qmp, "native", img, aio="native", cache={"direct": True}, locking="off")
    assert node_info(qmp, "dflt")["aio"] == "io_uring"
    assert node_info(qmp, "thr")["aio"] == "threads"
    assert node_info(qmp, "uring")["aio"] == "io_uring"
    # aio=native is io_uring here, and says so
    assert node_info(qmp, "native")["aio"] == "io_uring"


def test_aio_native_needs_direct(qmp, disk_dir):
    img = make_raw(disk_dir / "n.img")
    desc = error_desc(qmp, "blockdev-add", {"driver": "file", "node-name": "n",
                                            "filename": img, "aio": "native"})
    assert desc == ("aio=native was specified, but it requires cache.direct=on, "
                    "which was not specified.")
    assert all(n["node-name"] != "n" for n in qmp.cmd("query-named-block-nodes"))


@pytest.mark.parametrize("aio", ["io_uring", "threads"])
@pytest.mark.parametrize("fmt", ["raw", "raw-window"])
def test_direct_export_verifies_at_depth(daemon, qmp, disk_dir, aio, fmt):
    """32 requests in flight on an O_DIRECT file: every block reads back."""
    img = make_raw(disk_dir / "d.img", 128 * MiB)
    node = {"driver": "raw", "node-name": "d",
            "file": {"driver": "file", "filename": img, "aio": aio,
                     "cache": {"direct": True}}}
    if fmt == "raw-window":
        node.update(offset=MiB, size=64 * MiB)
    qmp.cmd("blockdev-add", node)
    sock = daemon.export_dir / "d.sock"
    qmp.cmd("block-export-add", {"type": "vhost-user-blk", "id": "e", "node-name": "d",
                                 "writable": True,
                                 "addr": {"type": "unix", "path": str(sock)}})
    for rw, bs in (("randwrite", "4k"), ("randwrite", "64k"), ("write", "1M")):
        _, out, _ = bench(sock, "--rw", rw, "--bs", bs, "--iodepth", 32,
                          "--count", 2000 if bs == "4k" else 300, "--verify",
                          "--size", 64 * MiB)
        assert out["errors"] == 0 and out["verify_errors"] == 0
    done = sum(uring_completions(daemon.proc.pid))
    if aio == "io_uring":
        # the requests went through a ring, under the seccomp sandbox
        assert seccomp_mode(daemon.proc.pid) == 2
        assert done >= 2000
    else:
        assert done == 0


def test_unaligned_guest_block_size_over_direct(daemon, qmp, disk_dir):
    """A 512-byte logical block size on a 4k O_DIRECT file: read-modify-write
    through the pool, interleaved with aligned asynchronous writes."""
    img = make_raw(disk_dir / "u.img", 64 * MiB)
    qmp.cmd("blockdev-add", {"driver": "raw", "node-name": "u",
                             "file": {"driver": "file", "filename": img,
                                      "cache": {"direct": True}}})
    sock = daemon.export_dir / "u.sock"
    qmp.cmd("block-export-add", {"type": "vhost-user-blk", "id": "e", "node-name": "u",
                                 "writable": True, "logical-block-size": 512,
                                 "addr": {"type": "unix", "path": str(sock)}})
    for bs in ("512", "4k", "1536"):
        bench(sock, "--rw", "randwrite", "--bs", bs, "--iodepth", 16, "--count", 1500,
              "--verify", "--size", 8 * MiB)


@pytest.fixture
def io_uring_disabled():
    """kernel.io_uring_disabled=2 for the test (Linux 6.6+, root)."""
    if not os.path.exists(IO_URING_SYSCTL):
        pytest.skip("this kernel has no kernel.io_uring_disabled sysctl")
    if os.geteuid() != 0:
        pytest.skip("setting kernel.io_uring_disabled needs root")
    with open(IO_URING_SYSCTL) as f:
        old = f.read().strip()
    with open(IO_URING_SYSCTL, "w") as f:
        f.write("2")
    yield
    with open(IO_URING_SYSCTL, "w") as f:
        f.write(old)


def test_fallback_when_kernel_refuses(io_uring_disabled, daemon_factory, disk_dir):
    d = daemon_factory()
    q = d.qmp()
    log = d.log()
    assert log.count("io_uring is not available") == 1, log
    assert "Operation not permitted" in log
    img = make_raw(disk_dir / "f.img")
    add_file(q, "f", img)
    assert node_info(q, "f")["aio"] == "threads"
    # asked for explicitly: a clear error, nothing added
    desc = error_desc(q, "blockdev-add", {"driver": "file", "node-name": "g",
                                          "filename": img, "aio": "io_uring",
                                          "locking": "off"})
    assert desc == ("Unable to use io_uring: failed to init linux io_uring ring: "
                    "Operation not permitted")
    # and the data path works on the pool
    q.cmd("blockdev-add", {"driver": "raw", "node-name": "r", "file": "f"})
    sock = d.export_dir / "f.sock"
    q.cmd("block-export-add", {"type": "vhost-user-blk", "id": "e", "node-name": "r",
                               "writable": True,
                               "addr": {"type": "unix", "path": str(sock)}})
    bench(sock, "--rw", "randwrite", "--bs", "4k", "--iodepth", 8, "--count", 500,
          "--verify", "--size", 8 * MiB)
    assert uring_fds(d.proc.pid) == 0


def test_rings_are_made_before_the_sandbox(daemon, qmp, disk_dir):
    """Every ring exists from startup (one per CPU and two more), before any
    export: the sandbox then has no io_uring_setup.  Exports and iothread
    objects added later use them; more I/O threads than rings still work,
    on the pool."""
    rings = uring_fds(daemon.proc.pid)
    assert rings == os.cpu_count() + 2
    img = make_raw(disk_dir / "s.img", 64 * MiB)
    qmp.cmd("blockdev-add", {"driver": "raw", "node-name": "s",
                             "file": {"driver": "file", "filename": img,
                                      "cache": {"direct": True}}})
    n_io = rings + 2
    for i in range(n_io):
        qmp.cmd("object-add", {"qom-type": "iothread", "id": f"io{i}"})
    for i in range(n_io):
        sock = daemon.export_dir / f"s{i}.sock"
        qmp.cmd("block-export-add", {"type": "vhost-user-blk", "id": f"e{i}",
                                     "node-name": "s", "writable": True,
                                     "iothread": f"io{i}",
                                     "addr": {"type": "unix", "path": str(sock)}})
        bench(sock, "--rw", "randwrite", "--bs", "4k", "--iodepth", 8, "--count", 200,
              "--verify", "--size", 8 * MiB)
    assert uring_fds(daemon.proc.pid) == rings      # none made after startup
    assert sum(1 for t in uring_completions(daemon.proc.pid) if t) == rings


def test_io_uring_rings_option(daemon_factory, disk_dir):
    """--io-uring-rings sets how many rings startup makes; a bad count is refused."""
    d = daemon_factory("--io-uring-rings", "5")
    assert uring_fds(d.proc.pid) == 5
    d.stop()
    r = subprocess.run([HOTBLOCKD, "--io-uring-rings", "0"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode != 0
    assert "--io-uring-rings expects a number from 1 to 1024" in r.stderr

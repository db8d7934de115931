# SPDX-License-Identifier: GPL-2.0-or-later
"""qcow2 format core against qemu-img/qemu-io: interop, differential, crash, threads, malformed.

These drive build/block/qcow2/qcow2-stress, a test program over the very
code the qcow2 driver runs (block/qcow2/qcow2-*.c), with the image file
and backing chain opened through plain file descriptors.  The daemon-level
tests (blockdev-add of qcow2 nodes, query) are in test_qcow2_node.py.
"""
import os
import random
import signal
import struct
import subprocess
import time

import pytest

from hbtest.images import qemu_img_to_raw
from hbtest.paths import build_path
from hbtest.tools import run

STRESS = build_path("block", "qcow2", "qcow2-stress")


def stress(*args, check=True):
    return run(STRESS, *args, check=check)


def qemu_check(img):
    """qemu-img check exit code: 0 clean, 2 corruptions, 3 leaks."""
    return run("qemu-img", "check", img, check=False)


def assert_clean(img):
    p = qemu_check(img)
    assert p.returncode == 0, p.stdout + p.stderr


def fill_with_qemu_io(img, cs):
    run("qemu-io", "-c", "write -P 0xab 1000 100k", "-c", "write -P 0x11 5M 1M",
        "-c", f"write -z 6M {max(cs, 65536)}", "-c", "write -P 0x5a 7340032 513",
        "-c", "discard 5M 64k", img)


GEOMETRIES = [
    ("512", "16", "1.1"), ("4096", "1", "1.1"), ("4096", "64", "1.1"),
    ("65536", "16", "1.1"), ("65536", "16", "0.10"), ("65536", "8", "1.1"),
    ("2M", "32", "1.1"), ("16384", "2", "1.1"), ("1024", "4", "1.1"),
]
# The differential runs on fewer geometries (each is a few hundred ms).
WRITE_GEOMETRIES = [GEOMETRIES[i] for i in (0, 2, 4, 6, 7)]


@pytest.mark.parametrize("cs,rb,compat", GEOMETRIES)
def test_read_qemu_images(tmp_path, cs, rb, compat):
    img = tmp_path / "a.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", "-o",
        f"cluster_size={cs},refcount_bits={rb},compat={compat}", img, "8M")
    fill_with_qemu_io(img, 65536)
    ref = qemu_img_to_raw(img, tmp_path / "ref.raw")
    stress("dump", img, tmp_path / "out.raw")
    assert open(tmp_path / "out.raw", "rb").read() == ref


@pytest.mark.parametrize("cs,rb,compat", WRITE_GEOMETRIES)
def test_write_qemu_images_differential(tmp_path, cs, rb, compat):
    """Random writes/zeroes/discards on a qemu-made image vs a raw reference."""
    img = tmp_path / "a.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", "-o",
        f"cluster_size={cs},refcount_bits={rb},compat={compat}", img, "8M")
    fill_with_qemu_io(img, 65536)
    ref = tmp_path / "ref.raw"
    qemu_img_to_raw(img, ref)
    stress("diff", img, ref, 11, 400)
    assert_clean(img)
    assert qemu_img_to_raw(img, tmp_path / "back.raw") == open(ref, "rb").read()


@pytest.mark.parametrize("fmt", ["qcow2", "raw"])
def test_backing_chain(tmp_path, fmt):
    base = tmp_path / "base.img"
    run("qemu-img", "create", "-q", "-f", fmt, base, "8M")
    run("qemu-io", "-f", fmt, "-c", "write -P 0x22 0 8M", base)
    mid = tmp_path / "mid.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.img", "-F", fmt, mid)
    run("qemu-io", "-c", "write -P 0x33 1M 100k", "-c", "write -z 2M 64k", mid)
    top = tmp_path / "top.qcow2"
    # Shorter than its backing: the tail of the backing must not show.
    run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=4096",
        "-b", str(mid), "-F", "qcow2", top, "7M")
    run("qemu-io", "-c", "write -P 0x44 3000 5000", top)
    ref = qemu_img_to_raw(top, tmp_path / "ref.raw")
    stress("dump", top, tmp_path / "out.raw")
    assert open(tmp_path / "out.raw", "rb").read() == ref
    # Partial-cluster writes copy the rest of the cluster up from the chain.
    stress("diff", top, tmp_path / "ref.raw", 5, 800)
    assert_clean(top)
    assert qemu_img_to_raw(top, tmp_path / "back.raw") == open(tmp_path / "ref.raw", "rb").read()
    assert_clean(mid)


@pytest.mark.parametrize("cs", ["4096", "65536", "2M"])
def test_compressed_clusters(tmp_path, cs):
    src = tmp_path / "src.raw"
    rnd = random.Random(4)
    data = bytes(rnd.getrandbits(8) for _ in range(300000)) + b"hello\n" * 400000
    data = data.ljust(8 << 20, b"\0")
    src.write_bytes(data)
    img = tmp_path / "c.qcow2"
    run("qemu-img", "convert", "-c", "-O", "qcow2", "-o", f"cluster_size={cs}", src, img)
    info = run("qemu-img", "check", img).stdout
    assert "compressed" in info
    stress("dump", img, tmp_path / "out.raw")
    assert open(tmp_path / "out.raw", "rb").read() == data
    # Small reads, some straddling clusters, through the inflated-cluster cache.
    for chunk in (4096, 1000):
        stress("dump", img, tmp_path / "small.raw", chunk)
        assert open(tmp_path / "small.raw", "rb").read() == data
    # Overwriting compressed clusters decompresses, rewrites and frees them.
    stress("diff", img, src, 6, 800)
    assert_clean(img)
    assert qemu_img_to_raw(img, tmp_path / "back.raw") == src.read_bytes()


@pytest.mark.parametrize("opts", ["", "cluster_size=512", "cluster_size=2M",
                                  "compat=0.10", "refcount_bits=1",
                                  "refcount_bits=64,cluster_size=4096"])
def test_hotblock_created_images(tmp_path, opts):
    img = tmp_path / "h.qcow2"
    stress("create", img, 32 << 20, opts)
    assert_clean(img)
    p = stress("check", img)
    assert "corruptions=0 leaks=0" in p.stdout
    ref = tmp_path / "ref.raw"
    run("qemu-img", "create", "-q", "-f", "raw", ref, "32M")
    stress("diff", img, ref, 21, 600)
    assert_clean(img)
    assert stress("check", img).returncode == 0
    assert qemu_img_to_raw(img, tmp_path / "back.raw") == ref.read_bytes()


def test_create_with_backing(tmp_path):
    base = tmp_path / "base.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", base, "8M")
    run("qemu-io", "-c", "write -P 0x22 0 8M", base)
    ov = tmp_path / "ov.qcow2"
    stress("create", ov, -1, "backing_file=base.qcow2,backing_fmt=qcow2")
    info = run("qemu-img", "info", ov).stdout
    assert "backing file: base.qcow2" in info and "virtual size: 8 MiB" in info
    stress("dump", ov, tmp_path / "out.raw")
    assert open(tmp_path / "out.raw", "rb").read() == b"\x22" * (8 << 20)


def test_create_errors(tmp_path):
    img = tmp_path / "x.qcow2"
    p = stress("create", img, 1 << 20, "cluster_size=1000", check=False)
    assert p.returncode == 1 and "power of two" in p.stderr
    assert not img.exists()
    p = stress("create", img, 1 << 20, "compat=0.10,refcount_bits=8", check=False)
    assert p.returncode == 1 and "compat" in p.stderr
    p = stress("create", img, 1 << 20, "preallocation=sparse", check=False)
    assert p.returncode == 1 and "does not accept value 'sparse'" in p.stderr
    stress("create", img, 1 << 20, "lazy_refcounts=on,compression_type=zlib")
    assert "lazy refcounts: true" in run("qemu-img", "info", img).stdout
    assert_clean(img)


def test_check_counts_like_qemu_img(tmp_path):
    img = tmp_path / "h.qcow2"
    stress("create", img, 8 << 20, "cluster_size=65536")
    run("qemu-io", "-c", "write -P 1 0 128k", img)
    raw = bytearray(img.read_bytes())
    rt_off = struct.unpack(">Q", raw[48:56])[0]
    rb_off = struct.unpack(">Q", raw[rt_off:rt_off + 8])[0]
    # A leak: refcount 1 on a cluster (at the end of the file) nobody references.
    n = len(raw) // 65536
    leak = bytearray(raw) + bytes(65536)
    struct.pack_into(">H", leak, rb_off + 2 * n, 1)
    (tmp_path / "leak.qcow2").write_bytes(leak)
    assert qemu_check(tmp_path / "leak.qcow2").returncode == 3
    p = stress("check", tmp_path / "leak.qcow2", check=False)
    assert p.returncode == 3 and "leaks=1 " in p.stdout and f"Leaked cluster {n} " in p.stdout
    # A corruption: a referenced data cluster whose refcount is 0.
    bad = bytearray(raw)
    used = [i for i in range(len(raw) // 65536)
            if struct.unpack(">H", raw[rb_off + 2 * i:rb_off + 2 * i + 2])[0] == 1]
    struct.pack_into(">H", bad, rb_off + 2 * used[-1], 0)
    (tmp_path / "bad.qcow2").write_bytes(bad)
    assert qemu_check(tmp_path / "bad.qcow2").returncode == 2
    p = stress("check", tmp_path / "bad.qcow2", check=False)
    assert p.returncode == 2 and "corruptions=0" not in p.stdout


@pytest.mark.parametrize("cs", ["512", "4096", "65536"])
def test_threads(tmp_path, cs):
    """Threads writing, zeroing, discarding and flushing interleaved clusters."""
    img = tmp_path / "t.qcow2"
    stress("create", img, 16 << 20, f"cluster_size={cs}")
    stress("threads", img, 3, 4, 3000)
    assert_clean(img)


@pytest.mark.parametrize("cs,backing", [("512", False), ("4096", False), ("65536", False),
                                        ("65536", True)])
def test_crash_sigkill(tmp_path, cs, backing):
    """SIGKILL a writer at random points; no corruption, flushed writes survive."""
    img = tmp_path / "c.qcow2"
    opts = f"cluster_size={cs}"
    if backing:
        base = tmp_path / "base.qcow2"
        run("qemu-img", "create", "-q", "-f", "qcow2", base, "4M")
        run("qemu-io", "-c", "write -P 0x5c 0 4M", base)
        opts += ",backing_file=base.qcow2,backing_fmt=qcow2"
    stress("create", img, 4 << 20, opts)
    rnd = random.Random(int(cs) + backing)
    for it in range(12):
        base_raw = tmp_path / "base.raw"
        stress("dump", img, base_raw)
        log = tmp_path / f"log{it}"
        seed = rnd.randrange(1 << 30)
        w = subprocess.Popen([STRESS, "writer", str(img), str(seed), str(log)],
                             stderr=subprocess.PIPE)
        time.sleep(rnd.uniform(0.02, 0.25))
        w.send_signal(signal.SIGKILL)
        _, err = w.communicate()
        assert w.returncode == -signal.SIGKILL, err
        p = qemu_check(img)
        assert p.returncode in (0, 3), p.stdout + p.stderr
        assert stress("check", img, check=False).returncode in (0, 3)
        stress("verify", img, seed, log, base_raw)


def corrupt(src, dst, offset, data):
    raw = bytearray(src.read_bytes())
    raw[offset:offset + len(data)] = data
    dst.write_bytes(raw)
    return dst


@pytest.mark.parametrize("what,offset,data,message", [
    ("version", 4, struct.pack(">I", 4), "Unsupported qcow2 version 4"),
    ("cluster_bits", 20, struct.pack(">I", 30), "unsupported cluster size"),
    ("size", 24, struct.pack(">Q", 1 << 62), "image size too large"),
    ("crypt", 32, struct.pack(">I", 1), "encryption is not supported"),
    ("l1_size", 36, struct.pack(">I", 0), "L1 table is too small"),
    ("l1_huge", 36, struct.pack(">I", 1 << 30), "L1 table too large"),
    ("l1_offset", 40, struct.pack(">Q", 12345), "L1 table offset is not cluster aligned"),
    ("l1_past_eof", 40, struct.pack(">Q", 1 << 40), "beyond the end of the file"),
    ("rt_offset", 48, struct.pack(">Q", 0), "overlaps the header"),
    ("rt_clusters", 56, struct.pack(">I", 1 << 28), "reference count table size"),
    ("incompat", 72, struct.pack(">Q", 1 << 9), "incompatible bits 0x200"),
    ("data_file", 72, struct.pack(">Q", 1 << 2), "external data files"),
    ("extl2", 72, struct.pack(">Q", 1 << 4), "extended L2"),
    ("refcount_order", 96, struct.pack(">I", 7), "entry width too large"),
    ("header_length", 100, struct.pack(">I", 99), "invalid header length"),
])
def test_malformed_headers(tmp_path, what, offset, data, message):
    img = tmp_path / "h.qcow2"
    stress("create", img, 8 << 20)
    bad = corrupt(img, tmp_path / "bad.qcow2", offset, data)
    p = stress("dump", bad, tmp_path / "out.raw", check=False)
    assert p.returncode == 1, p.stderr
    assert message in p.stderr


def test_corrupt_bit_read_only(tmp_path):
    img = tmp_path / "h.qcow2"
    stress("create", img, 8 << 20)
    run("qemu-io", "-c", "write -P 7 0 64k", img)
    bad = corrupt(img, tmp_path / "bad.qcow2", 72, struct.pack(">Q", 2))
    stress("dump", bad, tmp_path / "out.raw")   # read-only works
    assert open(tmp_path / "out.raw", "rb").read(65536) == b"\x07" * 65536
    ref = tmp_path / "ref.raw"
    ref.write_bytes(b"")
    p = stress("diff", bad, ref, 1, 10, check=False)
    assert p.returncode == 1 and "corrupt; cannot be opened read/write" in p.stderr


def test_tables_pointing_into_metadata(tmp_path):
    """L1/L2 entries pointing at metadata or past EOF: reads fail cleanly, writes never land there."""
    img = tmp_path / "h.qcow2"
    stress("create", img, 8 << 20, "cluster_size=65536")
    run("qemu-io", "-c", "write -P 1 0 64k", img)
    raw = img.read_bytes()
    l1_off = struct.unpack(">Q", raw[40:48])[0]
    l2_off = struct.unpack(">Q", raw[l1_off:l1_off + 8])[0] & 0x00fffffffffffe00
    rt_off = struct.unpack(">Q", raw[48:56])[0]
    # Data cluster 0 mapped onto the reference table, marked owned.
    bad = corrupt(img, tmp_path / "bad.qcow2", l2_off,
                  struct.pack(">Q", rt_off | (1 << 63)))
    before = bad.read_bytes()
    p = stress("write", bad, 512, 4096, 0x77, check=False)
    assert p.returncode == 1 and "Input/output error" in p.stderr
    after = bad.read_bytes()
    assert after[rt_off:rt_off + 65536] == before[rt_off:rt_off + 65536]
    # Like QEMU, the image is now marked corrupt: read-only until repaired.
    assert struct.unpack(">Q", after[72:80])[0] & 2
    assert after[80:] == before[80:]
    p = stress("write", bad, 1 << 20, 4096, 0x77, check=False)
    assert p.returncode == 1 and "corrupt" in p.stderr
    # L1 entry past the end of the file: reads as zeroes or fails, never crashes.
    bad2 = corrupt(img, tmp_path / "bad2.qcow2", l1_off,
                   struct.pack(">Q", (1 << 40) | (1 << 63)))
    p = stress("dump", bad2, tmp_path / "out.raw", check=False)
    assert p.returncode in (0, 1) and p.returncode >= 0


def test_random_header_and_table_fuzz(tmp_path):
    """Flip random bytes in the metadata; opening, reading and writing never crash."""
    img = tmp_path / "h.qcow2"
    stress("create", img, 4 << 20, "cluster_size=4096")
    run("qemu-io", "-c", "write -P 1 0 1M", "-c", "write -P 2 2M 300k", img)
    orig = img.read_bytes()
    rnd = random.Random(99)
    ref = tmp_path / "ref.raw"
    for i in range(60):
        raw = bytearray(orig)
        for _ in range(rnd.randint(1, 8)):
            pos = rnd.choice([rnd.randrange(0, 120), rnd.randrange(0, 5 * 4096)])
            raw[pos] = rnd.randrange(256)
        bad = tmp_path / "f.qcow2"
        bad.write_bytes(raw)
        p = stress("dump", bad, tmp_path / "out.raw", check=False)
        assert p.returncode in (0, 1), (i, p.returncode, p.stderr)
        ref.write_bytes(b"\0" * (4 << 20))
        p = stress("diff", bad, ref, i, 40, check=False)
        assert p.returncode in (0, 1), (i, p.returncode, p.stderr)


@pytest.mark.parametrize("opts,grows", [("cluster_size=512", True),
                                        ("cluster_size=512,refcount_bits=64", True),
                                        ("cluster_size=4096,refcount_bits=64", False)])
def test_large_write_grows_refcount_table(tmp_path, opts, grows):
    """One big write: runs of clusters between refcount blocks, table growth, no waste."""
    img = tmp_path / "g.qcow2"
    stress("create", img, 16 << 20, opts)
    rt_before = struct.unpack(">QI", img.read_bytes()[48:60])
    stress("write", img, 0, 16 << 20, 7)
    rt_after = struct.unpack(">QI", img.read_bytes()[48:60])
    assert (rt_after != rt_before) == grows
    assert_clean(img)
    assert os.path.getsize(img) < (16 << 20) * 1.2
    ref = tmp_path / "ref.raw"
    ref.write_bytes(b"\x07" * (16 << 20))
    stress("diff", img, ref, 8, 300)
    assert_clean(img)
    assert qemu_img_to_raw(img, tmp_path / "back.raw") == ref.read_bytes()


def test_refcount_table_loops_refused_for_writing(tmp_path):
    img = tmp_path / "h.qcow2"
    stress("create", img, 64 << 20, "cluster_size=4096")
    raw = bytearray(img.read_bytes())
    rt_off = struct.unpack(">Q", raw[48:56])[0]
    rb0 = raw[rt_off:rt_off + 8]
    # Two reference table entries naming the same refcount block.
    raw[rt_off + 8:rt_off + 16] = rb0
    (tmp_path / "loop.qcow2").write_bytes(raw)
    p = stress("write", tmp_path / "loop.qcow2", 0, 4096, 1, check=False)
    assert p.returncode == 1 and "shares offset" in p.stderr
    stress("dump", tmp_path / "loop.qcow2", tmp_path / "out.raw")  # read-only is fine
    # A refcount block on top of the reference table itself.
    raw2 = bytearray(img.read_bytes())
    raw2[rt_off:rt_off + 8] = struct.pack(">Q", rt_off)
    (tmp_path / "self.qcow2").write_bytes(raw2)
    p = stress("write", tmp_path / "self.qcow2", 0, 4096, 1, check=False)
    assert p.returncode == 1 and "refcount block 0 is invalid" in p.stderr


def test_internal_snapshots_read_only(tmp_path):
    img = tmp_path / "s.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", img, "8M")
    run("qemu-io", "-c", "write -P 1 0 1M", img)
    run("qemu-img", "snapshot", "-c", "one", img)
    run("qemu-io", "-c", "write -P 2 512k 1M", img)
    run("qemu-img", "snapshot", "-c", "two", img)
    run("qemu-io", "-c", "write -P 3 3M 64k", img)
    ref = qemu_img_to_raw(img, tmp_path / "ref.raw")
    stress("dump", img, tmp_path / "out.raw")
    assert (tmp_path / "out.raw").read_bytes() == ref
    p = stress("check", img)
    assert "corruptions=0 leaks=0" in p.stdout
    p = stress("write", img, 0, 512, 9, check=False)
    assert p.returncode == 1 and "snapshots" in p.stderr


def test_discard_passthrough_frees_space(tmp_path):
    img = tmp_path / "d.qcow2"
    stress("create", img, 16 << 20, "cluster_size=65536")
    stress("write", img, 0, 16 << 20, 3)
    used = os.stat(img).st_blocks * 512
    stress("discard", img, 1 << 20, 12 << 20)
    assert os.stat(img).st_blocks * 512 < used - (10 << 20)
    assert_clean(img)
    data = qemu_img_to_raw(img, tmp_path / "out.raw")
    assert data == b"\x03" * (1 << 20) + bytes(12 << 20) + b"\x03" * (3 << 20)
    # Freed clusters are reused by later writes.
    size = os.path.getsize(img)
    stress("write", img, 2 << 20, 4 << 20, 4)
    assert os.path.getsize(img) == size
    assert_clean(img)

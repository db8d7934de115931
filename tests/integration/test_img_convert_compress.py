# SPDX-License-Identifier: GPL-2.0-or-later
"""hotblock-img convert -c: compressed qcow2 output that qemu-img (check,
compare, info, map) reads as one of its own, through -m/-W/-p and -B; the
images read back through hotblock-img and hotblockd; qemu-img's refusals."""
import json
import random

import pytest

from hbtest.bench import bench
from hbtest.paths import HOTBLOCK_IMG, build_path
from hbtest.tools import run

STRESS = build_path("block", "qcow2", "qcow2-stress")
MiB = 1 << 20
# Not a multiple of any cluster size above 512: the last cluster is partial.
SIZE = 6 * MiB + 1536


def img(*args, **kw):
    return run(HOTBLOCK_IMG, *args, check=False, **kw)


def qemu_json(*args):
    return json.loads(run("qemu-img", *args, "--output=json").stdout)


def make_source(path, size=SIZE, seed=1):
    """Compressible text, noise and zeroes in 256 KiB pieces, then a text tail."""
    rnd = random.Random(seed)
    out = bytearray()
    while len(out) < size:
        kind = len(out) // (256 << 10) % 3
        if kind == 0:
            line = b"line %d of some compressible text\n" % rnd.randrange(1000)
            out += (line * ((256 << 10) // len(line) + 1))[:256 << 10]
        elif kind == 1:
            out += rnd.randbytes(256 << 10)
        else:
            out += bytes(256 << 10)
    path.write_bytes(bytes(out[:size]))
    return path


@pytest.fixture
def src(tmp_path):
    return make_source(tmp_path / "src.raw")


def assert_as_qemu_reads_it(image, source):
    """qemu-img check clean with compressed clusters, compare equal, and
    hotblock-img's check, info and map agreeing with qemu-img's."""
    q = run("qemu-img", "check", image, check=False)
    assert q.returncode == 0, q.stdout + q.stderr
    chk = qemu_json("check", image)
    assert chk["compressed-clusters"] > 0
    assert "leaks" not in chk and "corruptions" not in chk
    assert run("qemu-img", "compare", source, image, check=False).returncode == 0
    assert img("compare", source, image).returncode == 0
    h = img("check", image)
    assert h.returncode == 0 and h.stdout == q.stdout.replace("qemu-img", "hotblock-img")
    hi = json.loads(img("info", "--output=json", image).stdout)
    qi = qemu_json("info", image)
    for k in ("virtual-size", "cluster-size", "actual-size"):
        assert hi[k] == qi[k], k
    assert hi["format-specific"]["data"]["compression-type"] == "zlib"
    hm = img("map", "--output=json", image).stdout
    assert hm == run("qemu-img", "map", "--output=json", image).stdout
    return chk


@pytest.mark.parametrize("cs", ["512", "4k", "64k", "2M"])
def test_compressed_qcow2(tmp_path, src, cs):
    out, plain = tmp_path / "c.qcow2", tmp_path / "p.qcow2"
    r = img("convert", "-c", "-O", "qcow2", "-o", f"cluster_size={cs}", src, out)
    assert r.returncode == 0, r.stderr
    chk = assert_as_qemu_reads_it(out, src)
    # The noise third is stored as it is, the text third compressed, zeroes
    # not at all (a 2M cluster holds some of each).
    assert chk["allocated-clusters"] < chk["total-clusters"] or cs == "2M"
    extents = qemu_json("map", out)
    compressed = [e for e in extents if e["data"] and "offset" not in e]
    assert compressed and sum(e["length"] for e in compressed) >= 2 * MiB
    assert img("convert", "-O", "qcow2", "-o", f"cluster_size={cs}", src, plain).returncode == 0
    assert out.stat().st_size < plain.stat().st_size * 0.7


def test_layout_as_qemu_img(tmp_path, src):
    """In order (-m 1), streams are packed where qemu-img packs them."""
    h, q = tmp_path / "h.qcow2", tmp_path / "q.qcow2"
    assert img("convert", "-c", "-m", "1", "-O", "qcow2", src, h).returncode == 0
    run("qemu-img", "convert", "-c", "-O", "qcow2", src, q)
    assert qemu_json("map", h) == qemu_json("map", q)
    hc, qc = qemu_json("check", h), qemu_json("check", q)
    for k in ("image-end-offset", "allocated-clusters", "compressed-clusters"):
        assert hc[k] == qc[k], k


@pytest.mark.parametrize("args", [["-m", "1"], ["-m", "16", "-W"], ["-m", "4"],
                                  ["-p", "-S", "0"], ["-o", "compression_type=zlib,compat=0.10"],
                                  ["-o", "refcount_bits=1,cluster_size=4k"],
                                  # O_DIRECT: byte-granular streams go through read-modify-write
                                  ["-t", "none", "-W", "-o", "cluster_size=512"]])
def test_options(tmp_path, src, args):
    out = tmp_path / "c.qcow2"
    r = img("convert", "-c", *args, "-O", "qcow2", src, out)
    assert r.returncode == 0, r.stderr
    assert_as_qemu_reads_it(out, src)
    if "-p" in args:
        assert "(100.00/100%)" in r.stdout


def test_backing_file(tmp_path):
    base, top = tmp_path / "base.qcow2", tmp_path / "top.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", base, "16M")
    run("qemu-io", "-c", "write -P 1 0 8M", base)
    run("qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", top)
    run("qemu-io", "-c", "write -P 2 1M 64k", "-c", "write -z 2M 64k", top)
    out = tmp_path / "out.qcow2"
    r = img("convert", "-c", "-B", "base.qcow2", "-F", "qcow2", "-O", "qcow2", top, out,
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert run("qemu-img", "compare", top, out).returncode == 0
    assert run("qemu-img", "check", out).returncode == 0
    chk = qemu_json("check", out)
    # What differs from the backing file: one compressed cluster, one of zeroes.
    assert chk["compressed-clusters"] == 1
    ext = [e for e in qemu_json("map", out) if e["depth"] == 0]
    assert [(e["start"], e["zero"]) for e in ext] == [(MiB, False), (2 * MiB, True)]


def test_overwritten_and_freed(tmp_path, src):
    """Random writes over the packed streams (the qcow2 core the daemon runs)
    free them: refcounts stay right, the data matches a raw reference."""
    out = tmp_path / "c.qcow2"
    assert img("convert", "-c", "-O", "qcow2", "-o", "cluster_size=4k", src, out).returncode == 0
    run(STRESS, "diff", out, src, 9, 600)
    assert run("qemu-img", "check", out).returncode == 0
    assert run("qemu-img", "compare", "-f", "qcow2", "-F", "raw", out, src).returncode == 0


def test_hotblockd_reads_and_writes(daemon, qmp, tmp_path, src):
    """A compressed image exported by hotblockd: a guest reads and writes it."""
    out = tmp_path / "c.qcow2"
    assert img("convert", "-c", "-O", "qcow2", src, out).returncode == 0
    qmp.cmd("blockdev-add", **{"node-name": "q"}, driver="qcow2",
            file={"driver": "file", "filename": str(out)})
    sock = tmp_path / "q.sock"
    qmp.cmd("block-export-add", type="vhost-user-blk", id="e", **{"node-name": "q"},
            addr={"type": "unix", "path": str(sock)}, writable=True)
    _, res, _ = bench(sock, "--rw", "randrw", "--bs", "4k", "--count", "2000", "--verify",
                      "--flush", timeout=120)
    assert res["errors"] == 0 and res["verify_errors"] == 0
    qmp.cmd("block-export-del", id="e")
    qmp.wait_event("BLOCK_EXPORT_DELETED")
    qmp.cmd("blockdev-del", **{"node-name": "q"})
    assert run("qemu-img", "check", out).returncode == 0


@pytest.mark.parametrize("args", [["-O", "raw"], ["-O", "qcow2", "-o", "preallocation=metadata"],
                                  ["-O", "qcow2", "-o", "encrypt.format=luks"]])
def test_refused_as_qemu_img(tmp_path, src, args):
    q = run("qemu-img", "convert", "-c", *args, src, tmp_path / "q.img", check=False)
    h = img("convert", "-c", *args, src, tmp_path / "h.img")
    assert q.returncode == h.returncode == 1
    assert h.stderr.replace("hotblock-img", "qemu-img") == q.stderr
    assert not (tmp_path / "h.img").exists()


def test_existing_target(tmp_path, src):
    """-n: a raw target is refused; a qcow2 one is filled once, and then
    refused (its clusters hold data), as by qemu-img."""
    raw = tmp_path / "t.raw"
    run("qemu-img", "create", "-q", "-f", "raw", raw, "8M")
    for tool in ("qemu-img", HOTBLOCK_IMG):
        r = run(tool, "convert", "-c", "-n", "-O", "raw", src, raw, check=False)
        assert r.returncode == 1 and "Compression not supported for this file format" in r.stderr
    small = make_source(tmp_path / "s.raw", 4 * MiB)
    tgt = tmp_path / "t.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", tgt, "4M")
    assert img("convert", "-c", "-n", "-O", "qcow2", small, tgt).returncode == 0
    assert_as_qemu_reads_it(tgt, small)
    r = img("convert", "-c", "-n", "-O", "qcow2", small, tgt)
    assert r.returncode == 1 and "Input/output error" in r.stderr


def test_zstd_refused(tmp_path, src):
    out = tmp_path / "z.qcow2"
    r = img("convert", "-c", "-O", "qcow2", "-o", "compression_type=zstd", src, out)
    assert r.returncode == 1
    assert "Compression type 'zstd' is not supported" in r.stderr
    assert not out.exists()


@pytest.mark.parametrize("compress", [[], ["-c"]], ids=["plain", "compressed"])
@pytest.mark.parametrize("cs", ["512", "64k"])
def test_source_not_sector_aligned(tmp_path, compress, cs):
    """A source of 512 * n + 65 bytes: the new qcow2 image is rounded up to
    a sector as qemu-img makes it (QEMU would read a finer size rounded
    down), and its last cluster is compressed whole."""
    source = make_source(tmp_path / "odd.raw", SIZE + 65)
    h, q = tmp_path / "h.qcow2", tmp_path / "q.qcow2"
    r = img("convert", *compress, "-O", "qcow2", "-o", f"cluster_size={cs}", source, h)
    assert r.returncode == 0, r.stderr
    run("qemu-img", "convert", *compress, "-O", "qcow2", "-o", f"cluster_size={cs}", source, q)
    assert qemu_json("info", h)["virtual-size"] == qemu_json("info", q)["virtual-size"]
    assert run("qemu-img", "compare", source, h, check=False).returncode == 0
    assert run("qemu-img", "check", h, check=False).returncode == 0

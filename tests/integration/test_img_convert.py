# SPDX-License-Identifier: GPL-2.0-or-later
"""hotblock-img convert's qemu-img options: -S (sparse runs), -B/-F (a backing
file for the new image), -t/-T (cache modes), -m (chunks copied at once)
and -W (written as read); their refusals in qemu-img's words.  -c is in
test_img_convert_compress.py."""
import json
import os

import pytest

from hbtest.paths import HOTBLOCK_IMG
from hbtest.tools import run


def img(*args, **kw):
    return run(HOTBLOCK_IMG, *args, check=False, **kw)


@pytest.fixture
def src(tmp_path):
    f = tmp_path / "d.raw"
    run("qemu-img", "create", "-q", "-f", "raw", f, "16M")
    run("qemu-io", "-f", "raw", "-c", "write 0 1M", "-c", "write 5M 100k", f)
    return f


def allocated(f):
    return os.stat(f).st_blocks * 512


def test_sparse_size(tmp_path, src):
    full, sparse = tmp_path / "full.raw", tmp_path / "sparse.raw"
    assert img("convert", "-S", "0", "-O", "raw", src, full).returncode == 0
    assert img("convert", "-S", "64k", "-O", "raw", src, sparse).returncode == 0
    assert allocated(full) >= 16 << 20
    assert allocated(sparse) < 2 << 20
    for f in (full, sparse):
        assert run("qemu-img", "compare", "-f", "raw", "-F", "raw", src, f).returncode == 0


def test_qcow2_target_is_sparse(tmp_path, src):
    h, q = tmp_path / "h.qcow2", tmp_path / "q.qcow2"
    assert img("convert", "-O", "qcow2", src, h).returncode == 0
    run("qemu-img", "convert", "-O", "qcow2", src, q)
    assert run("qemu-img", "compare", src, h).returncode == 0
    hi = json.loads(run("qemu-img", "check", "--output=json", h).stdout)
    qi = json.loads(run("qemu-img", "check", "--output=json", q).stdout)
    assert hi["allocated-clusters"] == qi["allocated-clusters"]


def test_backing_file(tmp_path):
    base, top = tmp_path / "base.qcow2", tmp_path / "top.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", base, "16M")
    run("qemu-io", "-c", "write -P 1 0 8M", base)
    run("qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", top)
    run("qemu-io", "-c", "write -P 2 1M 64k", top)
    out = tmp_path / "out.qcow2"
    r = img("convert", "-B", "base.qcow2", "-F", "qcow2", "-O", "qcow2", top, out, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert run("qemu-img", "compare", top, out).returncode == 0
    info = json.loads(run("qemu-img", "info", "--output=json", out).stdout)
    assert info["backing-filename"] == "base.qcow2"
    assert info["backing-filename-format"] == "qcow2"
    chk = json.loads(run("qemu-img", "check", "--output=json", out).stdout)
    assert chk["allocated-clusters"] == 1    # only what differs from the backing file
    q = run("qemu-img", "convert", "-B", "base.qcow2", "-O", "qcow2", top, tmp_path / "q.qcow2",
            check=False, cwd=tmp_path)
    h = img("convert", "-B", "base.qcow2", "-O", "qcow2", top, tmp_path / "h.qcow2", cwd=tmp_path)
    assert q.returncode == h.returncode == 1
    assert h.stderr.replace("hotblock-img", "qemu-img") == q.stderr
    assert not (tmp_path / "h.qcow2").exists()


@pytest.mark.parametrize("args", [["-t", "none"], ["-T", "none"], ["-t", "unsafe"],
                                  ["-t", "writethrough", "-T", "directsync"],
                                  ["-W"], ["-m", "16"], ["-m", "1"], ["-m", "4", "-W"]])
def test_accepted_tuning(tmp_path, src, args):
    out = tmp_path / "o.raw"
    r = img("convert", *args, "-O", "raw", src, out)
    assert r.returncode == 0, r.stderr
    assert run("qemu-img", "compare", "-f", "raw", "-F", "raw", src, out).returncode == 0


@pytest.mark.parametrize("args", [["-S", "3"], ["-S", "32M"], ["-m", "0"], ["-m", "17"],
                                  ["-t", "bogus"], ["-T", "bogus"]])
def test_refused_as_qemu_img(tmp_path, src, args):
    q = run("qemu-img", "convert", *args, "-O", "raw", src, tmp_path / "q.raw", check=False)
    h = img("convert", *args, "-O", "raw", src, tmp_path / "h.raw")
    assert q.returncode == h.returncode == 1
    assert h.stderr.replace("hotblock-img", "qemu-img") == q.stderr
    assert not (tmp_path / "h.raw").exists()


def null_src(latency_ms):
    """16 MiB of null-co whose every read takes @latency_ms: 16 chunks."""
    return ('json:{"driver":"null-co","size":16777216,"read-zeroes":true,'
            f'"latency-ns":{latency_ms * 1000000}}}')


@pytest.mark.parametrize("extra", [[], ["-W"]], ids=["in-order", "out-of-order"])
def test_parallel_copiers_are_real(tmp_path, extra):
    """16 chunks whose reads take 20 ms each: one copier needs 320 ms at
    least; eight need about 40 (the bound leaves room for a loaded machine)."""
    import time

    took = {}
    for m in ("1", "8"):
        out = tmp_path / f"o{m}.raw"
        t0 = time.monotonic()
        r = img("convert", "-m", m, *extra, "-O", "raw", null_src(20), out)
        took[m] = time.monotonic() - t0
        assert r.returncode == 0, r.stderr
        assert out.stat().st_size == 16 << 20
    assert took["1"] >= 0.32
    assert took["8"] < took["1"] / 2, took

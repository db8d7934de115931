# SPDX-License-Identifier: GPL-2.0-or-later
"""hotblock-img create against qemu-img create (Debian 12's 7.2): -b/-F/-u,
a backing file without its format refused, an overlay over a missing
backing file refused, -q, per-command --help."""
import json

import pytest

from hbtest.paths import HOTBLOCK_IMG
from hbtest.tools import run


def img(*args, **kw):
    return run(HOTBLOCK_IMG, *args, check=False, **kw)


def qimg(*args, **kw):
    return run("qemu-img", *args, check=False, **kw)


@pytest.fixture
def base(tmp_path):
    f = tmp_path / "base.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", f, "8M")
    return f


def tail(stderr, prog):
    """stderr without the program name, for comparing the two tools' texts."""
    assert stderr.startswith(prog + ": ")
    return stderr[len(prog) + 2:].rstrip("\n")


@pytest.mark.parametrize("args", [
    ["-f", "qcow2", "-b", "base.qcow2", "top.qcow2"],
    ["-f", "qcow2", "-o", "backing_file=base.qcow2", "top.qcow2"],
    ["-f", "qcow2", "-b", "missing.qcow2", "-F", "qcow2", "top.qcow2"],
    ["-f", "qcow2", "-b", "missing.qcow2", "-F", "qcow2", "top.qcow2", "1M"],
    ["-f", "qcow2", "-u", "-b", "missing.qcow2", "-F", "qcow2", "top.qcow2"],
    ["-f", "raw", "-b", "base.qcow2", "-F", "qcow2", "top.qcow2", "1M"],
    ["-f", "qcow2", "-b", "plain.raw", "-F", "qcow2", "top.qcow2"],
])
def test_refused_as_qemu_img(tmp_path, base, args):
    (tmp_path / "plain.raw").write_bytes(b"\0" * 65536)
    q = qimg("create", *args, cwd=tmp_path)
    h = img("create", *args, cwd=tmp_path)
    assert q.returncode == h.returncode == 1
    # qemu-img ends "Detected format of qcow2." without a newline; where it
    # leaves the backing file unnamed ("Image is not in qcow2 format"),
    # hotblock-img names it.
    ref = tail(q.stderr, "qemu-img")
    if "plain.raw" in args:
        ref = ref.replace("top.qcow2: ", "top.qcow2: Could not open 'plain.raw': ", 1)
    assert tail(h.stderr, "hotblock-img") == ref
    assert h.stdout == ""
    assert not (tmp_path / "top.qcow2").exists()


def test_backing_with_format(tmp_path, base):
    q = qimg("create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "q.qcow2", cwd=tmp_path)
    h = img("create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "h.qcow2", cwd=tmp_path)
    assert q.returncode == h.returncode == 0, h.stderr
    assert h.stdout == q.stdout.replace("q.qcow2", "h.qcow2")
    qi = json.loads(qimg("info", "--output=json", tmp_path / "q.qcow2").stdout)
    hi = json.loads(qimg("info", "--output=json", tmp_path / "h.qcow2").stdout)
    for k in ("virtual-size", "backing-filename", "backing-filename-format",
              "full-backing-filename", "cluster-size"):
        assert hi[k] == qi[k], k
    assert run("qemu-img", "check", tmp_path / "h.qcow2").returncode == 0


def test_backing_relative_to_the_overlay(tmp_path, base):
    (tmp_path / "sub").mkdir()
    h = img("create", "-q", "-f", "qcow2", "-b", "../base.qcow2", "-F", "qcow2",
            tmp_path / "sub" / "top.qcow2")
    assert h.returncode == 0 and h.stdout == "", h.stderr
    assert json.loads(run("qemu-img", "info", "--output=json", "--backing-chain",
                          tmp_path / "sub" / "top.qcow2").stdout)[1]["filename"].endswith(
        "sub/../base.qcow2")


def test_backing_raw_view_takes_its_size(tmp_path, base):
    """-F raw over a qcow2 file: the size is the file's length, rounded up to
    a whole sector as qemu-img rounds every size."""
    for tool, name in ((img, "h.qcow2"), (qimg, "q.qcow2")):
        assert tool("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "raw", name,
                    cwd=tmp_path).returncode == 0
    sizes = [json.loads(qimg("info", "--output=json", tmp_path / n).stdout)["virtual-size"]
             for n in ("h.qcow2", "q.qcow2")]
    assert sizes[0] == sizes[1] == ((tmp_path / "base.qcow2").stat().st_size + 511) // 512 * 512


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_size_rounded_up_to_sectors(tmp_path, fmt):
    for tool, name in ((img, "h"), (qimg, "q")):
        assert tool("create", "-q", "-f", fmt, tmp_path / name, "1000").returncode == 0
    sizes = [json.loads(qimg("info", "--output=json", tmp_path / n).stdout)["virtual-size"]
             for n in ("h", "q")]
    assert sizes == [1024, 1024]


def test_unsafe_over_missing_backing(tmp_path):
    args = ["-f", "qcow2", "-u", "-b", "missing.qcow2", "-F", "qcow2"]
    assert qimg("create", *args, "q.qcow2", "1M", cwd=tmp_path).returncode == 0
    h = img("create", *args, "h.qcow2", "1M", cwd=tmp_path)
    assert h.returncode == 0, h.stderr
    info = json.loads(qimg("info", "-U", "--output=json", tmp_path / "h.qcow2").stdout)
    assert info["backing-filename"] == "missing.qcow2" and info["virtual-size"] == 1 << 20


def test_quiet(tmp_path, base):
    h = img("create", "-q", "-f", "raw", tmp_path / "r.raw", "1M")
    assert h.returncode == 0 and h.stdout == h.stderr == ""
    h = img("check", "-q", base)
    assert h.returncode == 0 and h.stdout == h.stderr == ""
    h = img("convert", "-q", "-p", "-O", "raw", base, tmp_path / "c.raw")
    assert h.returncode == 0 and h.stdout == h.stderr == ""


@pytest.mark.parametrize("cmd", ["create", "info", "check", "convert", "resize", "compare", "dd",
                                 "measure", "snapshot"])
def test_per_command_help(cmd):
    h = img(cmd, "--help")
    assert h.returncode == 0
    assert h.stdout.startswith(f"usage: hotblock-img {cmd} ")
    assert h.stdout.count("usage:") == 1


@pytest.mark.parametrize("fmt", ["raw", "qcow2", "luks"])
def test_options_help(fmt):
    h = img("create", "-f", fmt, "-o", "help")
    q = qimg("create", "-f", fmt, "-o", "help")
    assert h.returncode == q.returncode == 0
    assert h.stdout.splitlines()[0] == q.stdout.splitlines()[0] == f"Supported {fmt} options:"
    assert h.stdout.endswith("\nThe protocol level may support further options.\n"
                             "Specify the target filename to include those options.\n")
    ours = {line.split()[0] for line in h.stdout.splitlines()[1:] if line.startswith("  ")}
    theirs = {line.split()[0] for line in q.stdout.splitlines()[1:] if line.startswith("  ")}
    if fmt in ("raw", "luks"):  # preallocation is the file protocol's option in QEMU
        ours.discard("preallocation=<str>")
    ours.discard("detached-header=<bool")     # hotblock's; QEMU 7.2 has none
    # hotblock's LUKS2 options (format=luks2 and its KDF knobs)
    ours -= {"format=<str>", "pbkdf=<str>", "pbkdf-memory=<num>", "pbkdf-parallel=<num>",
             "sector-size=<num>"}
    assert ours <= theirs
    assert "size=<size>" in ours


@pytest.mark.parametrize("mode", ["falloc", "full"])
def test_raw_preallocation(tmp_path, mode):
    f = tmp_path / "p.raw"
    h = img("create", "-q", "-f", "raw", "-o", f"preallocation={mode}", f, "1M")
    assert h.returncode == 0, h.stderr
    assert f.stat().st_size == 1 << 20 and f.stat().st_blocks * 512 >= 1 << 20
    assert f.read_bytes() == b"\0" * (1 << 20)


@pytest.mark.parametrize("mode", ["metadata", "bogus"])
def test_raw_preallocation_refused(tmp_path, mode):
    args = ["create", "-f", "raw", "-o", f"preallocation={mode}", "p.raw", "1M"]
    (tmp_path / "q").mkdir()
    q = qimg(*args, cwd=tmp_path / "q")
    h = img(*args, cwd=tmp_path)
    assert q.returncode == h.returncode == 1
    assert tail(h.stderr, "hotblock-img") == tail(q.stderr, "qemu-img")
    assert not (tmp_path / "p.raw").exists()     # (qemu-img leaves an empty one)


@pytest.mark.parametrize("args", [
    ["-f", "raw", "t.img", "1000"],
    ["-f", "raw", "t.img", "1.5M"],
    ["-f", "raw", "-o", "preallocation=falloc", "t.img", "1M"],
    ["-f", "raw", "-o", "preallocation=bogus", "t.img", "1M"],
    ["-f", "raw", "-o", "size=4k", "t.img"],
    ["-f", "qcow2", "t.img", "1M"],
    ["-f", "qcow2", "-o", "cluster_size=4k,lazy_refcounts=on,compat=1.1", "t.img", "1M"],
    ["-f", "qcow2", "-o", "lazy_refcounts=true,compat=v3", "t.img", "1M"],
    ["-f", "qcow2", "-o", "size=2M", "t.img"],
    ["-f", "qcow2", "-o", "size=2M", "t.img", "3M"],
    ["-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "t.img"],
    ["-f", "qcow2", "-u", "-b", "nonexist.qcow2", "-F", "qcow2", "t.img", "1G"],
    ["-f", "qcow2", "-o", "preallocation=metadata,refcount_bits=8", "t.img", "1M"],
    ["-f", "qcow2", "-o", "extended_l2=off,compression_type=zlib,compat=0.10", "t.img", "1M"],
    ["-f", "qcow2", "-o", "foo=bar", "t.img", "1M"],
    ["-f", "qcow2", "-o", "cluster_size=3000", "t.img", "1M"],
    ["-f", "qcow2", "/nonexistent/t.img", "1M"],
    ["-f", "raw", "-o", "backing_fmt=qcow2", "t.img", "1M"],
    ["-f", "raw", "-b", "base.qcow2", "-F", "qcow2", "t.img", "1M"],
    ["-f", "raw", "t.img"],
    ["-f", "qcow2", "-o", "lazy_refcounts=on", "t.img"],
])
def test_formatting_line_as_qemu_img(tmp_path, base, args):
    """The "Formatting ..." line is qemu-img's: printed before the image is
    made (so also when making it fails), with every option the format
    knows that was given or has a default, in qemu-img's order; an option
    the format does not know is refused before it."""
    q = qimg("create", *args, cwd=tmp_path)
    (tmp_path / "t.img").unlink(missing_ok=True)
    h = img("create", *args, cwd=tmp_path)
    assert h.returncode == q.returncode, h.stderr
    assert h.stdout == q.stdout
    if q.returncode:
        assert tail(h.stderr, "hotblock-img") == tail(q.stderr, "qemu-img")


def test_formats_qemu_has_are_named(tmp_path):
    h = img("create", "-f", "vmdk", "t.vmdk", "1M", cwd=tmp_path)
    assert h.returncode == 1
    assert h.stdout == ""
    assert "does not create vmdk images" in h.stderr
    assert not (tmp_path / "t.vmdk").exists()

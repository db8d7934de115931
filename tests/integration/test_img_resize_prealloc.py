# SPDX-License-Identifier: GPL-2.0-or-later
"""hotblock-img resize --preallocation= against qemu-img 7.2 doing the same
on a copy: raw (off, falloc, full), qcow2 (off, metadata, falloc, full;
64 KiB and 512-byte clusters, growth not a multiple of the cluster size),
luks (the file's modes), over a longer backing file; the images' maps,
check, virtual size, disk usage and data; the refusals byte for byte,
leaving the image as it was."""
import hashlib
import json
import os
import re
import resource
import signal

import pytest

from hbtest.images import map_ranges
from hbtest.luks import qemu_img_create_luks
from hbtest.paths import HOTBLOCK_IMG
from hbtest.tools import run

SECRET = "secret,id=s0,data=hunter2"
GROWTH = 1000 * 1024      # +1000K: 15.6 clusters of 64 KiB, 2000 of 512 bytes



def texts(tool, r):
    """(status, stdout, stderr) of @r with the program's name as PROG, and
    without the file name hotblock-img puts after it where qemu-img names
    none: the texts are otherwise qemu-img's, byte for byte."""
    err = r.stderr.replace(os.path.basename(str(tool)), "PROG")
    if tool != "qemu-img":
        # A path, or an --image-opts/json: spec, as the file was named.
        err = re.sub(r"^PROG: (/|driver=|json:)[^\n]*?: (?=[A-Z])", "PROG: ", err, count=1)
    return (r.returncode, r.stdout, err)

def tool_run(tool, *args, **kw):
    return run(tool, *args, check=False, **kw)


def map_json(path, *opts):
    return json.loads(run("qemu-img", "map", "--output=json", *opts, str(path)).stdout)


def vsize(path, *opts):
    return json.loads(run("qemu-img", "info", "-U", "--output=json", *opts,
                          str(path)).stdout)["virtual-size"]


def allocated(path):
    return os.stat(path).st_blocks * 512


def ranges(extents):
    """What is allocated, whatever the host offsets (qemu-img moves a partly
    used old last cluster next to the new ones, and keeps a cluster spare
    for an L2 table it may not need; hotblock does neither)."""
    return map_ranges(extents)


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pair(tmp_path, orig):
    """Copies of @orig for qemu-img (q) and hotblock-img (h)."""
    suffix = orig.suffix
    q, h = tmp_path / f"q{suffix}", tmp_path / f"h{suffix}"
    for f in (q, h):
        run("cp", "--sparse=always", orig, f)
    return q, h


def resize_both(q, h, *args):
    """The same resize by each tool; both succeed with the same output."""
    rq = tool_run("qemu-img", "resize", *args[:-1], q, args[-1])
    rh = tool_run(HOTBLOCK_IMG, "resize", *args[:-1], h, args[-1])
    assert rq.returncode == 0, rq.stderr
    assert (rh.returncode, rh.stdout, rh.stderr) == (0, rq.stdout, ""), rh.stderr


def assert_mode_meaning(mode, before, after, growth):
    """Disk usage: off and metadata leave the new data a hole; falloc and
    full hold at least as many bytes as the image grew."""
    if mode in ("off", "metadata"):
        assert after - before <= growth // 4, (mode, before, after)
    else:
        assert after - before >= growth, (mode, before, after)


@pytest.mark.parametrize("growth", ["+1000K", "+1000"])
@pytest.mark.parametrize("mode", ["off", "falloc", "full"])
def test_raw(tmp_path, mode, growth):
    orig = tmp_path / "orig.raw"
    run("qemu-img", "create", "-q", "-f", "raw", orig, "1M")
    run("qemu-io", "-f", "raw", "-c", "write -P 0x11 0 300k", "-c", "write -P 0x12 1020k 4k",
        orig)
    q, h = pair(tmp_path, orig)
    before = allocated(h)
    resize_both(q, h, "-f", "raw", f"--preallocation={mode}", growth)

    assert os.path.getsize(h) == os.path.getsize(q) > os.path.getsize(orig)
    assert map_json(h, "-f", "raw") == map_json(q, "-f", "raw")
    grown = os.path.getsize(h) - os.path.getsize(orig)
    assert_mode_meaning(mode, before, allocated(h), grown // 4096 * 4096)
    # The old data as it was, the new part zeroes (qemu-img compare checks
    # the longer image's tail reads as zeroes).
    c = run("qemu-img", "compare", "-f", "raw", "-F", "raw", orig, h, check=False)
    assert c.returncode == 0, c.stdout


def qcow2_original(tmp_path, cluster, old, written):
    """A qcow2 image of @old bytes, with data at its start and, if
    @written, in its last cluster (so that the old end lies inside an
    allocated cluster); else the last cluster is unallocated."""
    orig = tmp_path / "orig.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", "-o", f"cluster_size={cluster}", orig, old)
    size = vsize(orig)
    cmds = ["-c", "write -P 0x11 0 300k"]
    if written:
        cmds += ["-c", f"write -P 0x12 {size - 4096} 4096"]
    run("qemu-io", *cmds, orig)
    return orig


@pytest.mark.parametrize("written", [True, False], ids=["tail-written", "tail-empty"])
@pytest.mark.parametrize("old", ["1M", "1000K"])
@pytest.mark.parametrize("cluster", ["64k", "512"])
@pytest.mark.parametrize("mode", ["off", "metadata", "falloc", "full"])
def test_qcow2(tmp_path, mode, cluster, old, written):
    orig = qcow2_original(tmp_path, cluster, old, written)
    q, h = pair(tmp_path, orig)
    before = allocated(h)
    resize_both(q, h, f"--preallocation={mode}", f"+{GROWTH}")

    assert vsize(h) == vsize(q) == vsize(orig) + GROWTH
    ch = run("qemu-img", "check", h, check=False)
    assert ch.returncode == 0 and "No errors were found on the image." in ch.stdout, ch.stdout
    # The same clusters allocated (present/data), whatever their host place.
    mh, mq = map_json(h), map_json(q)
    assert ranges(mh) == ranges(mq)
    if mode != "off":
        # Everything from the old end on is allocated.
        last = ranges(mh)[-1]
        assert last[2] == (True, True) and last[0] <= vsize(orig) < last[0] + last[1] == vsize(h)
        new = [e for e in mh if e["start"] + e["length"] > vsize(orig)]
        assert all(e["data"] for e in new)
        if mode == "full":
            # Zeroes written (falloc's reserved blocks may or may not
            # count as data, depending on the file system: not checked).
            assert not any(e["zero"] for e in new)
    assert_mode_meaning(mode, before, allocated(h), GROWTH)
    c = run("qemu-img", "compare", orig, h, check=False)
    assert c.returncode == 0, c.stdout

    # Data goes where it was preallocated, and the image stays clean.
    end = vsize(h) - 512
    run("qemu-io", "-c", f"write -P 0x5a {end} 512", h)
    io = run("qemu-io", "-c", f"read -P 0x5a {end} 512", "-c", "read -P 0x11 0 300k", h)
    assert "Pattern verification failed" not in io.stdout
    assert run("qemu-img", "check", h, check=False).returncode == 0
    if mode != "off":
        assert ranges(map_json(h)) == ranges(mh)


@pytest.mark.parametrize("mode", ["off", "metadata", "falloc", "full"])
def test_qcow2_over_longer_backing_file(tmp_path, mode):
    """The backing file reaches past the old size: the old area still
    shows it, the new area reads as zeroes (preallocated clusters hide
    it), allocated as qemu-img allocates it."""
    base = tmp_path / "base.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", base, "2M")
    run("qemu-io", "-c", "write -P 0x22 0 2M", base)
    orig = tmp_path / "orig.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", orig,
        "1000K")
    q, h = pair(tmp_path, orig)
    resize_both(q, h, f"--preallocation={mode}", "+2M")
    io = run("qemu-io", "-c", "read -P 0x22 0 1000K", "-c", "read -P 0 1000K 2M", h)
    assert "Pattern verification failed" not in io.stdout
    assert run("qemu-img", "check", h, check=False).returncode == 0
    if mode != "off":
        # hotblock leaves clusters past the backing file unallocated when
        # not preallocating (they read as zeroes anyway); qemu-img zeroes them.
        assert ranges(map_json(h)) == ranges(map_json(q))


@pytest.mark.parametrize("mode", ["off", "metadata", "falloc", "full"])
def test_qcow2_v2_over_longer_backing_file(tmp_path, mode):
    """Version 2 has no zero flag: refused unless falloc or full hide the
    backing file behind new clusters, as qemu-img does."""
    base = tmp_path / "base.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", base, "2M")
    run("qemu-io", "-c", "write -P 0x22 0 2M", base)
    orig = tmp_path / "orig.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "compat=0.10", "-b", "base.qcow2",
        "-F", "qcow2", orig, "1M")
    q, h = pair(tmp_path, orig)
    rq = tool_run("qemu-img", "resize", f"--preallocation={mode}", q, "+2M")
    rh = tool_run(HOTBLOCK_IMG, "resize", f"--preallocation={mode}", h, "+2M")
    assert rh.returncode == rq.returncode
    if rq.returncode:
        assert vsize(h) == vsize(orig)
        if mode != "off":
            assert texts(HOTBLOCK_IMG, rh)[2] == texts("qemu-img", rq)[2]
    else:
        io = run("qemu-io", "-c", "read -P 0x22 0 1M", "-c", "read -P 0 1M 2M", h)
        assert "Pattern verification failed" not in io.stdout
        assert ranges(map_json(h)) == ranges(map_json(q))
    assert run("qemu-img", "check", h, check=False).returncode == 0


@pytest.fixture(scope="module")
def luks_image(tmp_path_factory):
    f = tmp_path_factory.mktemp("luks") / "orig.luks"
    p = qemu_img_create_luks(f, "1M", SECRET, "key-secret=s0,iter-time=10")
    assert p.returncode == 0, p.stderr
    return f


def luks_opts(path):
    return ["--object", SECRET, "--image-opts",
            f"driver=luks,key-secret=s0,file.filename={path}"]


@pytest.mark.parametrize("mode", ["off", "metadata", "falloc", "full"])
def test_luks(tmp_path, luks_image, mode):
    """The file under luks takes the mode, as with qemu-img (which refuses
    metadata with the file's text)."""
    q, h = pair(tmp_path, luks_image)
    before = allocated(h)
    out = []
    for tool, f in (("qemu-img", q), (HOTBLOCK_IMG, h)):
        r = tool_run(tool, "resize", f"--preallocation={mode}", *luks_opts(f), f"+{GROWTH}")
        out.append(texts(tool, r))
    assert out[0] == out[1]
    if mode == "metadata":
        assert out[1][0] == 1 and digest(h) == digest(luks_image)
        return
    assert os.path.getsize(h) == os.path.getsize(q) == os.path.getsize(luks_image) + GROWTH
    assert_mode_meaning(mode, before, allocated(h), GROWTH)
    assert abs(allocated(h) - allocated(q)) <= 4096


def refusal_image(tmp_path, fmt):
    f = tmp_path / f"x.{fmt}"
    run("qemu-img", "create", "-q", "-f", fmt, f, "2M")
    return f


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
@pytest.mark.parametrize("args", [
    ["--preallocation=bogus", "+1M"],
    ["--preallocation=", "+1M"],
    ["--preallocation=FULL", "+1M"],
    ["--preallocation=full", "2M"],                         # not growing
    ["--preallocation=falloc", "-1M"],                      # shrinking, no --shrink
    ["--preallocation=metadata", "--shrink", "1M"],
    ["--preallocation=full", "--shrink", "2M"],
    ["--preallocation=off", "-1M"],                         # the --shrink rule
], ids=lambda a: " ".join(a))
def test_refusals(tmp_path, fmt, args):
    """qemu-img's texts byte for byte, and the image untouched."""
    f = refusal_image(tmp_path, fmt)
    before = digest(f)
    out = []
    for tool in ("qemu-img", HOTBLOCK_IMG):
        r = tool_run(tool, "resize", "-f", fmt, *args[:-1], f, "--", args[-1])
        out.append(texts(tool, r))
        assert digest(f) == before
    assert out[0] == out[1]
    assert out[1][0] == 1 and out[1][2]


def test_refusal_raw_metadata(tmp_path):
    f = refusal_image(tmp_path, "raw")
    out = []
    for tool in ("qemu-img", HOTBLOCK_IMG):
        r = tool_run(tool, "resize", "-f", "raw", "--preallocation=metadata", f, "+1M")
        out.append(texts(tool, r))
        assert os.path.getsize(f) == 2 << 20
    assert out[0] == out[1] == (1, "", "PROG: Unsupported preallocation mode: metadata\n")


def test_bad_mode_checked_before_opening(tmp_path):
    missing = tmp_path / "missing.qcow2"
    out = [tool_run(t, "resize", "--preallocation=sparse", missing, "+1M") for t in
           ("qemu-img", HOTBLOCK_IMG)]
    assert out[0].stderr == out[1].stderr.replace("hotblock-img", "qemu-img") == \
        "qemu-img: Invalid preallocation mode 'sparse'\n"


def test_help_names_the_option():
    r = run(HOTBLOCK_IMG, "resize", "--help")
    assert "[--preallocation=PREALLOC] [--shrink] FILENAME [+ | -]SIZE" in r.stdout


def file_size_limit():
    """The child may write files up to 4 MiB: past that ftruncate,
    fallocate and write fail with EFBIG (SIGXFSZ ignored), as on a file
    system that cannot hold the file."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4 << 20, 4 << 20))


@pytest.mark.parametrize("fmt,mode", [("raw", "falloc"), ("raw", "full"), ("qcow2", "metadata"),
                                      ("qcow2", "falloc"), ("qcow2", "full")])
def test_file_cannot_grow(tmp_path, fmt, mode):
    """The file cannot hold the grown image: qemu-img's text, and the image
    as it was (qemu-img's metadata mode leaves it with refcounts past the
    end of the file; hotblock leaves it untouched)."""
    orig = refusal_image(tmp_path, fmt)
    q, h = pair(tmp_path, orig)
    out = []
    for tool, f in (("qemu-img", q), (HOTBLOCK_IMG, h)):
        r = tool_run(tool, "resize", "-f", fmt, f"--preallocation={mode}", f, "+8M",
                     preexec_fn=file_size_limit)
        out.append(texts(tool, r))
    assert out[0] == out[1]
    assert out[1][0] == 1 and "File too large" in out[1][2]
    assert digest(h) == digest(orig)

# SPDX-License-Identifier: GPL-2.0-or-later
"""hotblock-img resize --preallocation= against qemu-img 7.2 doing the same
on a copy: raw (off, falloc, full), luks (the file's modes); the images'
maps, sizes, disk usage and data; the refusals byte for byte, leaving the
image as it was."""
import hashlib
import json
import os

import pytest

from hbtest.luks import qemu_img_create_luks
from hbtest.paths import HOTBLOCK_IMG
from hbtest.tools import run

SECRET = "secret,id=s0,data=hunter2"
GROWTH = 1000 * 1024      # +1000K: 15.6 clusters of 64 KiB, 2000 of 512 bytes


def tool_run(tool, *args, **kw):
    return run(tool, *args, check=False, **kw)


def map_json(path, *opts):
    return json.loads(run("qemu-img", "map", "--output=json", *opts, str(path)).stdout)


def vsize(path, *opts):
    return json.loads(run("qemu-img", "info", "-U", "--output=json", *opts,
                          str(path)).stdout)["virtual-size"]


def allocated(path):
    return os.stat(path).st_blocks * 512


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
        out.append((r.returncode, r.stdout, r.stderr.replace(os.path.basename(tool), "PROG")))
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
        out.append((r.returncode, r.stdout, r.stderr.replace(os.path.basename(tool), "PROG")))
        assert digest(f) == before
    assert out[0] == out[1]
    assert out[1][0] == 1 and out[1][2]


def test_refusal_raw_metadata(tmp_path):
    f = refusal_image(tmp_path, "raw")
    out = []
    for tool in ("qemu-img", HOTBLOCK_IMG):
        r = tool_run(tool, "resize", "-f", "raw", "--preallocation=metadata", f, "+1M")
        out.append((r.returncode, r.stdout, r.stderr.replace(os.path.basename(tool), "PROG")))
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

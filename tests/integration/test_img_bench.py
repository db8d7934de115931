# SPDX-License-Identifier: GPL-2.0-or-later
"""hotblock-img bench against qemu-img bench: the same report (times
aside), the same requests (a write run with --pattern leaves byte for byte
the image qemu-img's leaves: offsets, steps, the wrap at the end), the same
refusals, and a queue depth that is real: requests to a null-co node that
takes 10 ms each finish DEPTH at a time."""
import re

import pytest

from hbtest.paths import HOTBLOCK_IMG
from hbtest.tools import run

TIME = re.compile(r"in [0-9.]+ seconds")


def both(*args):
    return [run(t, "bench", *args, check=False) for t in ("qemu-img", HOTBLOCK_IMG)]


def same_report(q, h):
    assert q.returncode == h.returncode == 0, h.stderr
    assert TIME.sub("in T seconds", h.stdout) == TIME.sub("in T seconds", q.stdout)


@pytest.mark.parametrize("args", [
    ["-c", "1000"],
    ["-w", "-c", "1000", "-d", "4", "-s", "64k", "-S", "128k", "-o", "1M", "--pattern=0x5a",
     "--flush-interval=100"],
    ["-w", "-c", "50", "-s", "4k", "-S", "30M", "--pattern=7"],      # wraps around
    ["-w", "-c", "10", "--flush-interval=64", "--no-drain", "--pattern=1"],
    ["-w", "-c", "300", "-d", "1", "-s", "512", "-S", "1000", "--pattern=9"],
    ["-c", "100", "-i", "threads"], ["-c", "100", "-i", "native", "-t", "none"],
    ["-c", "100", "-n", "-t", "none"], ["-c", "100", "-i", "io_uring"],
    ["-q", "-w", "-c", "20", "--pattern=3"],
])
@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_same_requests(tmp_path, args, fmt):
    imgs = []
    for name in ("q", "h"):
        f = tmp_path / f"{name}.{fmt}"
        run("qemu-img", "create", "-q", "-f", fmt, f, "64M")
        imgs.append(f)
    q = run("qemu-img", "bench", "-f", fmt, *args, imgs[0])
    h = run(HOTBLOCK_IMG, "bench", "-f", fmt, *args, imgs[1])
    if "-q" in args:    # qemu-img 7.2 prints its report even with -q; hotblock is quiet
        assert h.stdout == "" and q.stdout.startswith("Sending")
    else:
        same_report(q, h)
    if fmt == "raw":
        assert imgs[1].read_bytes() == imgs[0].read_bytes()
    else:
        assert run("qemu-img", "compare", *imgs).returncode == 0


def null(latency_ms):
    return ('json:{"driver":"null-co","size":1048576,'
            f'"latency-ns":{latency_ms * 1000000}}}')


@pytest.mark.parametrize("aio", ["io_uring", "threads"])
def test_depth_is_real(aio):
    """16 requests of 10 ms: one at a time they take 160 ms at least; eight
    at a time about 20 ms (the bound leaves room for a loaded machine)."""
    def seconds(depth):
        r = run(HOTBLOCK_IMG, "bench", "-i", aio, "-c", "16", "-d", str(depth), null(10))
        return float(re.search(r"in ([0-9.]+) seconds", r.stdout).group(1))
    assert seconds(1) >= 0.16
    assert seconds(8) < 0.1


@pytest.mark.parametrize("args", [
    ["-c", "x"], ["-d", "x"], ["-s", "x"], ["-S", "x"], ["-o", "x"],
    ["--pattern=300"], ["-w", "--flush-interval=x"], ["-w", "--flush-interval=8"],
    ["--flush-interval=64"], ["-i", "foo"], ["-i", "native"], ["-w", "-U"],
])
def test_refusals(tmp_path, args):
    f = tmp_path / "r.raw"
    run("qemu-img", "create", "-q", "-f", "raw", f, "1M")
    before = f.read_bytes()
    q, h = both("-f", "raw", *args, f)
    assert q.returncode == h.returncode == 1
    assert h.stdout == ""
    assert h.stderr.splitlines()[0] == q.stderr.splitlines()[0].replace("qemu-img",
                                                                        "hotblock-img")
    assert f.read_bytes() == before


def test_depth_zero_refused(tmp_path):
    """qemu-img 7.2 hangs on -d 0; hotblock-img refuses it as it refuses -d x."""
    r = run(HOTBLOCK_IMG, "bench", "-d", "0", null(0), check=False, timeout=30)
    assert r.returncode == 1
    assert r.stderr == "hotblock-img: Invalid queue depth specified\n"


def test_past_the_end(tmp_path):
    f = tmp_path / "r.raw"
    run("qemu-img", "create", "-q", "-f", "raw", f, "1M")
    q, h = both("-f", "raw", "-c", "10", "-o", "2M", f)
    assert q.returncode == h.returncode == 1
    assert h.stdout == q.stdout
    assert h.stderr == f"hotblock-img: {f}: Failed request: Input/output error\n"

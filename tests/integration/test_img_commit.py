# SPDX-License-Identifier: GPL-2.0-or-later
"""hotblock-img commit against qemu-img commit on two copies of the same
three-image chain: default (into the backing file, top emptied), -d, -b
into the bottom or the middle, -p, -q, -r.  Every image of both chains must
read the same afterwards (qemu-img compare), the base must read as the top
did before, qemu-img check must find each clean, and qemu-img map must
report the same extents (data, zeroes, depth), host offsets aside: where a
freed cluster is reused is the allocator's choice."""
import json

import pytest

from hbtest.images import hold
from hbtest.paths import HOTBLOCK_IMG
from hbtest.tools import run


def make_chain(d, p):
    """p0 (4M) <- p1 (4M) <- p2 (8M): overlapping data, zeroes, growth."""
    c = [d / f"{p}{i}.qcow2" for i in range(3)]
    run("qemu-img", "create", "-q", "-f", "qcow2", c[0], "4M")
    run("qemu-io", "-c", "write -P 1 0 1M", c[0])
    run("qemu-img", "create", "-q", "-f", "qcow2", "-b", c[0].name, "-F", "qcow2", c[1])
    run("qemu-io", "-c", "write -P 2 512k 1M", c[1])
    run("qemu-img", "create", "-q", "-f", "qcow2", "-b", c[1].name, "-F", "qcow2", c[2], "8M")
    run("qemu-io", "-c", "write -P 3 1M 1M", "-c", "write -z 0 64k", "-c", "write -P 4 6M 64k",
        c[2])
    return c


def extents(img):
    """qemu-img map's extents without host offsets, neighbours that then
    say the same thing joined."""
    out = []
    for e in json.loads(run("qemu-img", "map", "--output=json", img).stdout):
        e.pop("offset", None)
        if out and all(out[-1][k] == e[k] for k in ("depth", "present", "zero", "data")):
            out[-1]["length"] += e["length"]
        else:
            out.append(e)
    return out


@pytest.mark.parametrize("args", [[], ["-d"], ["-b", "0"], ["-b", "1"], ["-p"], ["-q"],
                                  ["-r", "64M"]])
def test_commit_as_qemu_img(tmp_path, args):
    q, h = make_chain(tmp_path, "q"), make_chain(tmp_path, "h")
    before = tmp_path / "before.raw"
    run("qemu-img", "convert", "-O", "raw", q[2], before)
    qa = [q[int(a)].name if a.isdigit() else a for a in args]
    ha = [h[int(a)].name if a.isdigit() else a for a in args]
    rq = run("qemu-img", "commit", *qa, q[2], cwd=tmp_path)
    rh = run(HOTBLOCK_IMG, "commit", *ha, h[2], cwd=tmp_path)
    if "-p" not in args:    # progress steps differ; the last line is the same
        assert rh.stdout == rq.stdout
    assert rh.stdout.endswith("" if "-q" in args else "Image committed.\n")
    base = h[int(args[1])] if args[:1] == ["-b"] else h[1]
    assert run("qemu-img", "compare", before, base).returncode == 0
    for i in range(3):
        assert run("qemu-img", "compare", q[i], h[i]).returncode == 0
        assert run("qemu-img", "check", h[i], check=False).returncode == 0
        if "-r" not in args:    # qemu-img's own result varies with -r's timing
            assert extents(h[i]) == extents(q[i])
        assert json.loads(run("qemu-img", "info", "--output=json", h[i]).stdout)[
            "virtual-size"] == json.loads(run("qemu-img", "info", "--output=json",
                                              q[i]).stdout)["virtual-size"]


def test_refusals(tmp_path):
    h = make_chain(tmp_path, "h")
    for args, img in ((["-r", "x"], h[2]), ([], h[0]), (["-b", "nonexist"], h[2])):
        rq = run("qemu-img", "commit", *args, img, check=False, cwd=tmp_path)
        before = [c.read_bytes() for c in h]
        rh = run(HOTBLOCK_IMG, "commit", *args, img, check=False, cwd=tmp_path)
        assert rh.returncode == rq.returncode == 1
        assert rh.stderr.splitlines()[0] == rq.stderr.splitlines()[0].replace(
            "qemu-img", "hotblock-img")
        assert [c.read_bytes() for c in h] == before


def test_refused_while_base_in_use(tmp_path):
    """The base is written: a VM holding it makes the commit fail, before
    anything is written."""
    h = make_chain(tmp_path, "h")
    p = hold(h[1])
    try:
        before = [c.read_bytes() for c in h]
        r = run(HOTBLOCK_IMG, "commit", h[2], check=False)
    finally:
        p.kill()
        p.wait(30)
    assert r.returncode == 1 and "lock" in r.stderr
    assert [c.read_bytes() for c in h] == before

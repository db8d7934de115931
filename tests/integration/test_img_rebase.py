# SPDX-License-Identifier: GPL-2.0-or-later
"""hotblock-img rebase against qemu-img rebase on copies of the same
images: safe mode (to another backing file, or to none with -b ""), -u,
-F and -p.  Compared: the guest's data (qemu-img compare, also with the
image before the rebase), the backing fields of qemu-img info, every
extent of qemu-img map (so the same clusters were copied in), and a clean
qemu-img check.  Refusals change nothing."""
import json
import shutil
import struct

import pytest

from hbtest.images import hold
from hbtest.paths import HOTBLOCK_IMG
from hbtest.tools import run


def qemu_io(img, *cmds):
    args = ["qemu-io"]
    for c in cmds:
        args += ["-c", c]
    run(*args, img)


@pytest.fixture
def chain(tmp_path):
    """old (4M of 1s) <- top (a little of its own); new: half like old."""
    old, new, top = (tmp_path / n for n in ("old.qcow2", "new.qcow2", "top.qcow2"))
    run("qemu-img", "create", "-q", "-f", "qcow2", old, "4M")
    qemu_io(old, "write -P 1 0 4M")
    run("qemu-img", "create", "-q", "-f", "qcow2", new, "3M")
    qemu_io(new, "write -P 1 0 1M", "write -P 2 1M 1M", "write -P 1 1536k 4k")
    run("qemu-img", "create", "-q", "-f", "qcow2", "-b", "old.qcow2", "-F", "qcow2", top, "6M")
    qemu_io(top, "write -P 9 3M 64k", "write -z 256k 64k")
    return top


def info(img):
    j = json.loads(run("qemu-img", "info", "--output=json", img).stdout)
    return {k: v for k, v in j.items() if "backing" in k}


def both(chain, *args):
    """Rebase a copy each with qemu-img and hotblock-img: (q, h, results)."""
    q, h = chain.with_name("q.qcow2"), chain.with_name("h.qcow2")
    shutil.copy(chain, q)
    shutil.copy(chain, h)
    rq = run("qemu-img", "rebase", *args, q, check=False)
    rh = run(HOTBLOCK_IMG, "rebase", *args, h, check=False)
    return q, h, rq, rh


def assert_same_result(chain, q, h, rq, rh, safe=True):
    assert rq.returncode == rh.returncode == 0, rh.stderr
    assert rh.stderr == rq.stderr == ""
    assert info(h) == info(q)
    assert run("qemu-img", "compare", q, h, check=False).returncode == 0
    if safe:    # the guest sees the disk it saw before
        assert run("qemu-img", "compare", chain, h, check=False).returncode == 0
    mq = run("qemu-img", "map", "--output=json", q).stdout
    mh = run("qemu-img", "map", "--output=json", h).stdout
    assert mh == mq
    assert run("qemu-img", "check", h, check=False).returncode == 0


@pytest.mark.parametrize("args", [["-b", "new.qcow2", "-F", "qcow2"],
                                  ["-b", ""], ["-b", "", "-F", "qcow2"],
                                  ["-b", "old.qcow2", "-F", "qcow2"]])
def test_safe(chain, args):
    q, h, rq, rh = both(chain, *args)
    assert_same_result(chain, q, h, rq, rh)
    if args[1] == "":
        assert "backing-filename" not in info(h)


@pytest.mark.parametrize("args", [["-u", "-b", "new.qcow2", "-F", "qcow2"], ["-u", "-b", ""]])
def test_unsafe(chain, args):
    """-u rewrites the header only: no data is copied, the old backing file
    need not exist any more."""
    chain.with_name("old.qcow2").rename(chain.with_name("gone.qcow2"))
    q, h, rq, rh = both(chain, *args)
    assert rq.returncode == rh.returncode == 0, rh.stderr
    assert info(h) == info(q)
    assert h.read_bytes()[65536:] == chain.read_bytes()[65536:]


def test_relative_name_from_another_directory(chain, tmp_path):
    """-b is relative to the image's directory, and stored as given."""
    other = tmp_path / "elsewhere"
    other.mkdir()
    q, h = chain.with_name("q.qcow2"), chain.with_name("h.qcow2")
    shutil.copy(chain, q)
    shutil.copy(chain, h)
    rq = run("qemu-img", "rebase", "-b", "new.qcow2", "-F", "qcow2", q, cwd=other)
    rh = run(HOTBLOCK_IMG, "rebase", "-b", "new.qcow2", "-F", "qcow2", h, cwd=other)
    assert_same_result(chain, q, h, rq, rh)
    assert info(h)["backing-filename"] == "new.qcow2"


def test_raw_backing_and_progress(chain):
    raw = chain.with_name("new.raw")
    with open(raw, "wb") as f:
        f.truncate(5 << 20)
        f.write(b"\x01" * (1 << 20))
    q, h, rq, rh = both(chain, "-p", "-b", "new.raw", "-F", "raw")
    assert_same_result(chain, q, h, rq, rh)
    # (text mode reads qemu-img's carriage returns as newlines)
    assert rh.stdout.startswith("    (0.00/100%)\n") and rh.stdout.endswith("(100.00/100%)\n")


def test_v2_image_and_extensions_kept(tmp_path, chain):
    """A version 2 image; and a version 3 image keeps its feature name
    table (a header extension hotblock does not read) through the rewrite."""
    assert b"\x68\x03\xf8\x57" in chain.read_bytes()[:65536]
    q, h, rq, rh = both(chain, "-b", "new.qcow2", "-F", "qcow2")
    assert b"\x68\x03\xf8\x57" in h.read_bytes()[:65536]
    v2 = tmp_path / "v2.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "compat=0.10", "-b", "old.qcow2",
        "-F", "qcow2", v2)
    qemu_io(v2, "write -P 5 2M 64k")
    q, h, rq, rh = both(v2, "-b", "new.qcow2", "-F", "qcow2")
    assert_same_result(v2, q, h, rq, rh)
    assert struct.unpack(">I", h.read_bytes()[4:8])[0] == 2


def unchanged(chain, *args):
    h = chain.with_name("h.qcow2")
    shutil.copy(chain, h)
    r = run(HOTBLOCK_IMG, "rebase", *args, h, check=False)
    assert r.returncode == 1
    assert h.read_bytes() == chain.read_bytes()
    return r


def test_refusals(chain):
    r = unchanged(chain)
    q = run("qemu-img", "rebase", chain, check=False)
    assert r.stderr.splitlines()[0] == q.stderr.splitlines()[0].replace("qemu-img",
                                                                        "hotblock-img")
    # qemu-img 7.2 copies the data first and then fails on the missing -F;
    # hotblock-img fails before writing anything, in the same words.
    r = unchanged(chain, "-b", "new.qcow2")
    assert r.stderr == ("hotblock-img: Could not change the backing file to 'new.qcow2': "
                        "backing format must be specified\n")
    r = unchanged(chain, "-b", "missing.qcow2", "-F", "qcow2")
    assert r.stderr.startswith("hotblock-img: Could not open new backing file "
                               "'missing.qcow2': ")
    raw = chain.with_name("r.raw")
    raw.write_bytes(b"\0" * 65536)
    r = run(HOTBLOCK_IMG, "rebase", "-f", "raw", "-u", "-b", "", raw, check=False)
    assert r.returncode == 1 and "Operation not supported" in r.stderr
    assert raw.read_bytes() == b"\0" * 65536


def test_refused_while_in_use(chain):
    p = hold(chain)
    try:
        before = chain.read_bytes()
        r = run(HOTBLOCK_IMG, "rebase", "-u", "-b", "", chain, check=False)
    finally:
        p.kill()
        p.wait(30)
    assert r.returncode == 1 and "lock" in r.stderr
    assert chain.read_bytes() == before

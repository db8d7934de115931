# SPDX-License-Identifier: GPL-2.0-or-later
"""hotblock-img resize and compare against qemu-img on the same images:
texts, exit statuses, sizes, the --shrink rule."""
import json
import shutil

import pytest

from hbtest.paths import HOTBLOCK_IMG
from hbtest.tools import run


def img(*args):
    return run(HOTBLOCK_IMG, *args, check=False)


def same(cmd, *args):
    """Both tools' (returncode, stdout, stderr without the program name)."""
    q = run("qemu-img", cmd, *args, check=False)
    h = img(cmd, *args)
    return ((q.returncode, q.stdout, q.stderr.replace("qemu-img", "PROG")),
            (h.returncode, h.stdout, h.stderr.replace("hotblock-img", "PROG")))


def vsize(f):
    return json.loads(run("qemu-img", "info", "-U", "--output=json", f).stdout)["virtual-size"]


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
@pytest.mark.parametrize("args,size", [
    (["2M"], 2 << 20), (["+1M"], 2 << 20), (["-q", "+512k"], 1536 << 10),
    (["1M"], 1 << 20),                       # same size
    (["--", "-512k"], None),                 # shrinking needs --shrink
    (["abc"], None),
    (["--", "-10M"], None),
])
def test_resize_as_qemu_img(tmp_path, fmt, args, size):
    files = []
    for name in ("q", "h"):
        f = tmp_path / f"{name}.{fmt}"
        run("qemu-img", "create", "-q", "-f", fmt, f, "1M")
        files.append(f)
    opts = [a for a in args if a not in ("--",)]
    head, tail = opts[:-1], opts[-1]
    q = run("qemu-img", "resize", "-f", fmt, *head, files[0], "--", tail, check=False)
    h = img("resize", "-f", fmt, *head, files[1], tail)
    assert h.returncode == q.returncode, (h.stderr, q.stderr)
    assert h.stdout == q.stdout
    if size is not None:
        assert vsize(files[0]) == vsize(files[1]) == size
    else:
        assert vsize(files[1]) == 1 << 20
    if "shrink" in q.stderr:
        # qemu-img's text, with the file named after the program's name.
        assert h.stderr.replace("hotblock-img", "qemu-img") == \
            q.stderr.replace("qemu-img: ", f"qemu-img: {files[1]}: ", 1)
    if fmt == "qcow2":
        assert run("qemu-img", "check", files[1], check=False).returncode == 0


def test_resize_shrink_raw(tmp_path):
    f = tmp_path / "r.raw"
    f.write_bytes(b"\1" * (1 << 20))
    h = img("resize", "-f", "raw", "--shrink", f, "1000")
    assert h.returncode == 0 and h.stdout == "Image resized.\n"
    assert f.stat().st_size == 1000


def test_resize_shrink_qcow2_refused_by_name(tmp_path):
    f = tmp_path / "r.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", f, "2M")
    h = img("resize", "--shrink", f, "1M")
    assert h.returncode == 1 and h.stderr.startswith(f"hotblock-img: {f}: ")
    assert vsize(f) == 2 << 20


def test_resize_usage_errors(tmp_path):
    f = tmp_path / "r.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", f, "2M")
    assert img("resize", tmp_path / "missing", "1M").stderr.startswith(
        f"hotblock-img: Could not open '{tmp_path / 'missing'}': ")
    assert img("resize", f).returncode == 1


@pytest.fixture
def pair(tmp_path):
    a, b = tmp_path / "a.raw", tmp_path / "b.raw"
    run("qemu-img", "create", "-q", "-f", "raw", a, "1M")
    shutil.copy(a, b)
    return a, b


def test_compare_identical_and_size_mismatch(tmp_path, pair):
    a, b = pair
    q, h = same("compare", "-f", "raw", a, b)
    assert q == h and h[0] == 0 and h[1] == "Images are identical.\n"
    run("qemu-img", "resize", "-q", "-f", "raw", b, "2M")
    q, h = same("compare", "-f", "raw", a, b)
    assert q == h and h[1] == "Warning: Image size mismatch!\nImages are identical.\n"
    q, h = same("compare", "-s", "-f", "raw", a, b)
    assert q == h and h == (1, "Strict mode: Image size mismatch!\n", "")
    run("qemu-io", "-f", "raw", "-c", "write 1572900 4k", b)
    q, h = same("compare", "-f", "raw", a, b)
    assert q == h and h[0] == 1 and "Content mismatch at offset 1572864!" in h[1]
    run("qemu-io", "-f", "raw", "-c", "write 4097 1", b)
    q, h = same("compare", "-f", "raw", a, b)
    assert q == h == (1, "Content mismatch at offset 4096!\n", "")
    q, h = same("compare", "-q", "-f", "raw", a, b)
    assert q == h == (1, "", "")


def test_compare_across_formats(tmp_path, pair):
    a, _ = pair
    run("qemu-io", "-f", "raw", "-c", "write -P 0x33 64k 100k", a)
    c = tmp_path / "c.qcow2"
    run("qemu-img", "convert", "-f", "raw", "-O", "qcow2", a, c)
    q, h = same("compare", a, c)
    assert q == h and h[0] == 0
    run("qemu-io", "-c", "write -P 0x34 100k 1k", c)
    q, h = same("compare", a, c)
    assert q == h and h == (1, "Content mismatch at offset 102400!\n", "")


def test_compare_errors(tmp_path, pair):
    a, _ = pair
    h = img("compare", a, tmp_path / "missing")
    assert h.returncode == 2
    assert h.stderr.startswith(f"hotblock-img: Could not open '{tmp_path / 'missing'}': ")
    assert run("qemu-img", "compare", a, tmp_path / "missing", check=False).returncode == 2
    assert img("compare", a).returncode == 2


def test_resize_over_longer_backing_file(tmp_path):
    """The backing file is opened, as qemu-img does: the new area (the old
    last cluster's tail included) reads as zeroes, not as the backing
    file's data, and the old area still shows it."""
    base = tmp_path / "base.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", base, "2M")
    run("qemu-io", "-c", "write -P 0x22 0 2M", base)
    for tool in ("qemu-img", HOTBLOCK_IMG):
        top = tmp_path / "top.qcow2"
        top.unlink(missing_ok=True)
        run("qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2",
            top, "1000K")
        r = run(tool, "resize", top, "+2M", check=False)
        assert (r.returncode, r.stdout) == (0, "Image resized.\n"), r.stderr
        io = run("qemu-io", "-c", "read -P 0x22 0 1000K", "-c", "read -P 0 1000K 2M", top)
        assert "Pattern verification failed" not in io.stdout, tool
        assert run("qemu-img", "check", top, check=False).returncode == 0
    missing = tmp_path / "orphan.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", "nothere.qcow2", "-F", "qcow2",
        missing, "1M")
    q = run("qemu-img", "resize", missing, "+1M", check=False)
    h = img("resize", missing, "+1M")
    assert h.returncode == q.returncode == 1
    assert h.stderr.replace("hotblock-img", "qemu-img") == q.stderr

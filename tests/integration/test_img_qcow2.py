# SPDX-License-Identifier: GPL-2.0-or-later
"""hotblock-img check against qemu-img check on the same qcow2 images:
clean, with leaked clusters, with a corruption, and formats without checks."""
import json
import os
import struct

import pytest

from hbtest.paths import HOTBLOCK_IMG
from hbtest.tools import run

# qemu-img counts these too; hb_qcow2_check() does not (yet).
def header(f):
    f.seek(0)
    h = f.read(104)
    cluster_size = 1 << struct.unpack(">I", h[20:24])[0]
    l1_offset = struct.unpack(">Q", h[40:48])[0]
    reftable_offset = struct.unpack(">Q", h[48:56])[0]
    return cluster_size, l1_offset, reftable_offset


def add_leaks(path, n):
    """Give @n clusters past the end of the file a refcount of 1 and no user."""
    with open(path, "r+b") as f:
        cs, _, rt = header(f)
        f.seek(rt)
        rb = struct.unpack(">Q", f.read(8))[0]
        first = (os.fstat(f.fileno()).st_size + cs - 1) // cs
        for i in range(n):
            f.seek(rb + 2 * (first + i))  # 16-bit refcounts
            f.write(struct.pack(">H", 1))
        f.truncate((first + n) * cs)


def point_l2_at_reftable(path):
    """Guest cluster 1's L2 entry -> the refcount table's cluster (metadata)."""
    with open(path, "r+b") as f:
        _, l1, rt = header(f)
        f.seek(l1)
        l2 = struct.unpack(">Q", f.read(8))[0] & 0x00FFFFFFFFFFFE00
        f.seek(l2 + 8)
        f.write(struct.pack(">Q", (1 << 63) | rt))


@pytest.fixture
def image(tmp_path):
    img = tmp_path / "a.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", img, "16M")
    run("qemu-io", "-c", "write -P 0x5a 0 64k", "-c", "write 1M 200k", img)
    return img


def both(img, *extra):
    """(qemu-img, hotblock-img) check --output=json results and exit codes."""
    q = run("qemu-img", "check", "--output=json", *extra, img, check=False)
    h = run(HOTBLOCK_IMG, "check", "--output=json", *extra, img, check=False)
    return q, h


def assert_same_counts(q, h):
    ref = json.loads(q.stdout)
    ours = json.loads(h.stdout)
    assert h.returncode == q.returncode
    assert ours == ref
    return ours


def test_check_clean(image):
    q, h = both(image)
    ours = assert_same_counts(q, h)
    assert h.returncode == 0
    assert ours["allocated-clusters"] == 5 and ours["total-clusters"] == 256
    assert "corruptions" not in ours and "leaks" not in ours
    human = run(HOTBLOCK_IMG, "check", image).stdout
    ref = run("qemu-img", "check", image).stdout
    assert human.splitlines()[0] == ref.splitlines()[0] == "No errors were found on the image."
    assert human.splitlines()[1] == ref.splitlines()[1] == \
        "5/256 = 1.95% allocated, 0.00% fragmented, 0.00% compressed clusters"
    assert human.splitlines()[2] == ref.splitlines()[2]
    assert human.splitlines()[2].startswith("Image end offset: ")


def test_check_leaks(image):
    add_leaks(image, 3)
    q, h = both(image)
    ref = json.loads(q.stdout)
    ours = json.loads(h.stdout)
    assert q.returncode == h.returncode == 3
    assert ours["leaks"] == ref["leaks"] == 3
    for key in ("check-errors", "total-clusters", "allocated-clusters", "filename", "format"):
        assert ours[key] == ref[key], key
    assert "corruptions" not in ours
    # The per-cluster lines qemu-img prints, on stderr like qemu-img.
    assert h.stderr == q.stderr
    assert "Leaked cluster" in h.stderr
    human = run(HOTBLOCK_IMG, "check", image, check=False)
    assert human.returncode == 3
    assert human.stdout.startswith("\n3 leaked clusters were found on the image.\n"
                                   "This means waste of disk space, but no harm to data.\n")


def test_check_leaks_image_end_offset(image):
    add_leaks(image, 3)
    q, h = both(image)
    assert json.loads(h.stdout)["image-end-offset"] == json.loads(q.stdout)["image-end-offset"]


def test_check_corruption(image):
    point_l2_at_reftable(image)
    q, h = both(image)
    ours = assert_same_counts(q, h)
    assert h.returncode == 2 and ours["corruptions"] == 1
    assert h.stderr == q.stderr
    human = run(HOTBLOCK_IMG, "check", image, check=False)
    assert human.returncode == 2
    assert human.stdout.startswith("\n1 errors were found on the image.\n"
                                   "Data may be corrupted, or further writes to the "
                                   "image may corrupt it.\n")


def test_check_image_made_by_hotblock(tmp_path):
    img = tmp_path / "h.qcow2"
    src = tmp_path / "src.raw"
    src.write_bytes(os.urandom(300 * 1024) + b"\0" * (700 * 1024))
    run(HOTBLOCK_IMG, "create", "-f", "qcow2", "-o", "cluster_size=4096", img, "1M")
    run(HOTBLOCK_IMG, "convert", "-n", "-O", "qcow2", src, img)
    q, h = both(img)
    ours = assert_same_counts(q, h)
    assert h.returncode == 0 and ours["allocated-clusters"] >= 75


def test_check_unsupported_formats(tmp_path, image):
    raw = tmp_path / "r.img"
    raw.write_bytes(b"\0" * 65536)
    luks = tmp_path / "l.luks"
    # Made by hotblock-img: qemu-img's own PBKDF timing fails now and then at
    # low iter-time ("Unable to get accurate CPU usage"); qemu-img reads it fine.
    run(HOTBLOCK_IMG, "create", "--object", "secret,id=s,data=pw", "-f", "luks",
        "-o", "key-secret=s,iter-time=10", luks, "1M")
    # qemu-img opens a luks image (with its key) before it finds out; hotblock-img
    # answers from the format alone.
    luks_opts = ["--object", "secret,id=s,data=pw", "--image-opts",
                 f"driver=luks,key-secret=s,file.filename={luks}"]
    for img, fmt in ((raw, []), (raw, ["-f", "raw"]), (luks, []), (image, ["-f", "raw"])):
        q = run("qemu-img", "check", *(luks_opts if img == luks else fmt + [img]),
                check=False)
        h = run(HOTBLOCK_IMG, "check", *fmt, img, check=False)
        assert q.returncode == h.returncode == 63
        assert h.stderr == "hotblock-img: This image format does not support checks\n"
        assert q.stderr.endswith("This image format does not support checks\n")


def test_check_failures(tmp_path):
    missing = tmp_path / "missing.qcow2"
    q = run("qemu-img", "check", missing, check=False)
    h = run(HOTBLOCK_IMG, "check", missing, check=False)
    assert q.returncode == h.returncode == 1
    assert "No such file or directory" in h.stderr
    notq = tmp_path / "notq.img"
    notq.write_bytes(b"\0" * 65536)
    assert run(HOTBLOCK_IMG, "check", "-f", "qcow2", notq, check=False).returncode == 1
    assert run("qemu-img", "check", "-f", "qcow2", notq, check=False).returncode == 1
    assert run(HOTBLOCK_IMG, "check", "--output=xml", notq, check=False).returncode == 1


def test_help_names_qcow2_and_check():
    out = run(HOTBLOCK_IMG, "--help").stdout
    assert "FMT is raw, luks or qcow2" in out
    assert "check [-f FMT]" in out

# SPDX-License-Identifier: GPL-2.0-or-later
"""hotblock-img amend of qcow2 options (compat, lazy_refcounts, refcount_bits,
size) against qemu-img 7.2: the same sequence of amends on copies of one image
(data, a zero cluster, a preallocated zero cluster; with and without a backing
file) gives the same exit codes and texts, the same `qemu-img info` and the
same guest data, and qemu-img check finds nothing."""
import json
import shutil
import subprocess

import pytest

from hbtest.paths import HOTBLOCK_IMG
from hbtest.tools import run

MiB = 1 << 20


def info(path):
    out = json.loads(run("qemu-img", "info", "--output=json", str(path)).stdout)
    out.pop("filename")
    out.pop("actual-size", None)
    return out


def image(tmp_path, backing):
    q = tmp_path / "q.qcow2"
    extra = ["-b", str(backing), "-F", "raw"] if backing else []
    run("qemu-img", "create", "-q", "-f", "qcow2", *extra, str(q), "2M")
    run("qemu-io", "-c", "write -P 0x5a 0 64k", "-c", "write -z 128k 64k",
        "-c", "write -z -u 256k 64k", str(q))
    h = tmp_path / "h.qcow2"
    shutil.copy(q, h)
    return q, h


def amend(prog, path, opts):
    r = run(prog, "amend", "-f", "qcow2", "-o", opts, str(path), check=False)
    return r.returncode, r.stderr.split(": ", 1)[1] if r.stderr else ""


SEQUENCES = [
    ["compat=0.10"],
    ["compat=0.10", "compat=1.1"],
    ["compat=v2", "compat=v3,lazy_refcounts=on"],
    ["lazy_refcounts=on", "lazy_refcounts=off"],
    ["lazy_refcounts=on", "compat=0.10"],
    ["compat=0.10", "lazy_refcounts=on"],
    ["compat=0.10", "size=3M", "compat=1.1"],
    ["size=8M"],
    ["refcount_bits=16"],
    ["cluster_size=512", "preallocation=full", "compression_type=zlib", "foo=1"],
    ["compat=0.42", "refcount_bits=3", "refcount_bits=abc", "lazy_refcounts=maybe",
     "size=abc"],
    ["backing_file=x", "backing_fmt=raw", "data_file=x", "encrypt.state=active"],
]


@pytest.mark.parametrize("with_backing", [False, True], ids=["alone", "backing"])
@pytest.mark.parametrize("steps", SEQUENCES, ids=[":".join(s) for s in SEQUENCES])
def test_same_as_qemu_img(tmp_path, steps, with_backing):
    backing = None
    if with_backing:
        backing = tmp_path / "base.raw"
        run("qemu-img", "create", "-q", "-f", "raw", str(backing), "2M")
        run("qemu-io", "-f", "raw", "-c", "write -P 0x77 0 2M", str(backing))
    q, h = image(tmp_path, backing)
    for step in steps:
        assert amend(HOTBLOCK_IMG, h, step) == amend("qemu-img", q, step), step
    assert info(h) == info(q)
    run("qemu-img", "check", "-q", str(h))
    run("qemu-img", "compare", "-q", str(q), str(h))


def test_downgrade_writes_out_zero_clusters(tmp_path):
    """Version 2 has no zero flag: a zero cluster over a backing file must
    become zero data, or the backing file's bytes would show through."""
    backing = tmp_path / "base.raw"
    run("qemu-img", "create", "-q", "-f", "raw", str(backing), "2M")
    run("qemu-io", "-f", "raw", "-c", "write -P 0x77 0 2M", str(backing))
    _, h = image(tmp_path, backing)
    assert amend(HOTBLOCK_IMG, h, "compat=0.10") == (0, "")
    run("qemu-io", "-c", "read -P 0 128k 64k", "-c", "read -P 0 256k 64k",
        "-c", "read -P 0x5a 0 64k", "-c", "read -P 0x77 64k 64k", str(h))
    assert info(h)["format-specific"]["data"]["compat"] == "0.10"


def test_refused_changes_leave_the_image(tmp_path):
    """What hotblock-img does not do is refused with the image untouched:
    a refcount width change, and any amend of an image with snapshots."""
    _, h = image(tmp_path, None)
    before = h.read_bytes()
    assert amend(HOTBLOCK_IMG, h, "refcount_bits=64") == \
        (1, "Changing refcount_bits of an existing image is not supported (it is 16)\n")
    run("qemu-img", "snapshot", "-c", "s1", str(h))
    before = h.read_bytes()
    code, err = amend(HOTBLOCK_IMG, h, "compat=0.10")
    # hotblock opens an image with internal snapshots read-only only.
    assert code == 1 and "internal snapshots can only be opened read-only" in err
    assert h.read_bytes() == before


def test_locked_image_is_refused(tmp_path):
    """As qemu-img: an image another process has open for writing is not amended."""
    _, h = image(tmp_path, None)
    holder = subprocess.Popen(["qemu-io", "-f", "qcow2", str(h)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        holder.stdin.write(b"read 0 512\n")
        holder.stdin.flush()
        holder.stdout.readline()
        code, err = amend(HOTBLOCK_IMG, h, "lazy_refcounts=on")
        assert code == 1 and "lock" in err
    finally:
        holder.kill()
        holder.wait()


def test_help_lists_qcow2_options():
    r = run(HOTBLOCK_IMG, "amend", "-f", "qcow2", "-o", "help", "x.qcow2")
    for opt in ("compat=", "lazy_refcounts=", "refcount_bits=", "size="):
        assert opt in r.stdout

# SPDX-License-Identifier: GPL-2.0-or-later
"""hotblock-img create -o preallocation= (qcow2, luks) and convert -o
preallocation= against qemu-img 7.2: the images' maps, check, info and
disk usage, data written and read back through qemu-io, and the refusals
(backing file, bad value, a file system too small) leaving no file."""
import json
import os
import resource
import signal

import pytest

from hbtest.images import map_ranges
from hbtest.luks import qemu_img_create_luks
from hbtest.paths import HOTBLOCK_IMG
from hbtest.tools import run

MODES = ["metadata", "falloc", "full"]
SECRET = "secret,id=s0,data=hunter2"


def img(*args, **kw):
    return run(HOTBLOCK_IMG, *args, check=False, **kw)


def qimg(*args, **kw):
    return run("qemu-img", *args, check=False, **kw)


def map_json(path):
    return json.loads(run("qemu-img", "map", "--output=json", str(path)).stdout)


def info_json(path):
    return json.loads(run("qemu-img", "info", "--output=json", str(path)).stdout)


def allocated(path):
    return os.stat(path).st_blocks * 512


def ranges(extents, keys=("present", "data")):
    """The map as guest ranges with only @keys, neighbours merged: what is
    allocated, whatever the host offsets."""
    return map_ranges(extents, keys)


def both(tmp_path, opts, size):
    """The same image made by each tool: (ours, qemu-img's)."""
    h, q = tmp_path / "h.qcow2", tmp_path / "q.qcow2"
    rh = img("create", "-q", "-f", "qcow2", "-o", opts, h, size)
    rq = qimg("create", "-q", "-f", "qcow2", "-o", opts, q, size)
    assert rh.returncode == rq.returncode == 0, (rh.stderr, rq.stderr)
    return h, q


@pytest.mark.parametrize("size", ["5M", "1000000"])
@pytest.mark.parametrize("cluster", ["512", "64k", "2M"])
@pytest.mark.parametrize("mode", MODES)
def test_same_as_qemu_img(tmp_path, mode, cluster, size):
    h, q = both(tmp_path, f"preallocation={mode},cluster_size={cluster}", size)
    virtual = info_json(q)["virtual-size"]

    # Every cluster allocated, refcounts right, as many clusters in the file.
    ch, cq = qimg("check", h), qimg("check", q)
    assert ch.returncode == 0, ch.stdout
    assert "No errors were found on the image." in ch.stdout
    last = [ln for ln in ch.stdout.splitlines() if "allocated" in ln or "end offset" in ln]
    assert [ln.split(",")[0] for ln in last] == \
        [ln.split(",")[0] for ln in cq.stdout.splitlines()
         if "allocated" in ln or "end offset" in ln]
    assert os.path.getsize(h) == os.path.getsize(q)

    ih, iq = info_json(h), info_json(q)
    for i in (ih, iq):
        del i["filename"], i["actual-size"]
    assert ih == iq

    mh, mq = map_json(h), map_json(q)
    if cluster != "512":
        # One L2 table and one refcount block: the layouts are the same.
        assert mh == mq
    else:
        # A 512-byte refcount block counts 128 KiB: QEMU places the later
        # ones (and in metadata mode each L2 table) among the data, hotblock
        # puts all metadata first and the data in one run.  Host offsets,
        # and which data shares a file system block with metadata (the
        # "zero" flag of metadata mode), differ; what is allocated does not.
        assert ranges(mh) == ranges(mq)
    assert ranges(mh) == [[0, virtual, (True, True)]]
    # hotblock-img map tells a metadata-preallocated image as qemu-img does.
    assert json.loads(run(HOTBLOCK_IMG, "map", "--output=json", h).stdout) == mh

    # The mode's meaning on the disk.
    if mode == "metadata":
        assert allocated(h) < virtual // 4
        # Data clusters are holes: zero, except at most the blocks shared
        # with metadata and the last sector qemu-img writes too.
        nonzero = sum(e["length"] for e in mh if not e["zero"])
        assert nonzero <= 2 * 4096
    else:
        assert allocated(h) >= virtual
        assert not any(e["zero"] for e in mh)

    # Data goes where it was preallocated: written, read back, still clean.
    end = virtual - 512
    run("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 4k", "-c", f"write -P 0xa5 {end} 512",
        str(h))
    io = run("qemu-io", "-f", "qcow2", "-c", "read -P 0x5a 0 4k", "-c", f"read -P 0xa5 {end} 512",
             "-c", f"read -P 0 4k {end - 4096}", str(h))
    assert "Pattern verification failed" not in io.stdout
    assert os.path.getsize(h) == os.path.getsize(q)
    assert qimg("check", h).returncode == 0
    assert ranges(map_json(h)) == [[0, virtual, (True, True)]]


@pytest.mark.parametrize("mode", ["off"] + MODES)
def test_backing_file_refused(tmp_path, mode):
    run("qemu-img", "create", "-q", "-f", "qcow2", tmp_path / "base.qcow2", "1M")
    args = ["create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2",
            "-o", f"preallocation={mode}", "top.qcow2"]
    h = img(*args, cwd=tmp_path)
    made = (tmp_path / "top.qcow2").exists()
    (tmp_path / "top.qcow2").unlink(missing_ok=True)
    q = qimg(*args, cwd=tmp_path)
    assert h.returncode == q.returncode
    assert h.stderr.replace("hotblock-img: ", "qemu-img: ") == q.stderr
    assert made == (mode == "off") == (tmp_path / "top.qcow2").exists()


@pytest.mark.parametrize("fmt", ["qcow2", "luks"])
@pytest.mark.parametrize("value", ["sparse", ""])
def test_bad_value(tmp_path, fmt, value):
    """qemu-img's texts: its qcow2 driver's, and for luks its file
    protocol's (which takes preallocation there)."""
    opts = f"preallocation={value}"
    if fmt == "luks":
        opts = "key-secret=s0,iter-time=10," + opts
    h = img("create", "-q", "-f", fmt, "--object", SECRET, "-o", opts, tmp_path / "x.img", "1M")
    assert h.returncode == 1
    assert not (tmp_path / "x.img").exists()
    if fmt == "luks":
        q = qemu_img_create_luks(tmp_path / "x.img", "1M", SECRET, opts)
    else:
        q = qimg("create", "-q", "-f", fmt, "-o", opts, tmp_path / "x.img", "1M")
    assert q.returncode == 1
    assert h.stderr.replace("hotblock-img: ", "qemu-img: ") == q.stderr


def file_size_limit():
    """The child may write files up to 8 MiB: past that ftruncate and write
    fail with EFBIG (SIGXFSZ ignored), as on a file system that cannot hold
    the file."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (8 << 20, 8 << 20))


@pytest.mark.parametrize("mode", MODES)
def test_too_large_for_the_file_system(tmp_path, mode):
    """A file that cannot be that large fails before anything is written,
    with qemu-img's text, and no file is left."""
    f = tmp_path / "big.qcow2"
    out = []
    for tool in (HOTBLOCK_IMG, "qemu-img"):
        p = run(tool, "create", "-q", "-f", "qcow2", "-o", f"preallocation={mode}", f, "64M",
                check=False, preexec_fn=file_size_limit)
        assert p.returncode == 1 and not f.exists(), p.stderr
        out.append(p.stderr.replace("hotblock-img: ", "qemu-img: "))
    assert out[0] == out[1]
    assert out[0].endswith("big.qcow2: The image size is too large for file format 'qcow2' "
                           "(try using a larger cluster size)\n")


def ext4_max_file_size(path):
    """ext4 with 4 KiB blocks holds files up to 16 TiB; others: unknown."""
    fs = run("stat", "-f", "-c", "%T", str(path)).stdout.strip()
    return fs in ("ext2/ext3", "ext4") and os.statvfs(path).f_bsize == 4096


@pytest.mark.parametrize("mode", MODES)
def test_larger_than_ext4_holds(tmp_path, mode):
    """20 TiB on ext4: refused at once (qemu-img's metadata mode first
    writes 2.5 GiB of tables, so it is not run here)."""
    if not ext4_max_file_size(tmp_path):
        pytest.skip("needs ext4 (files at most 16 TiB)")
    h = img("create", "-f", "qcow2", "-o", f"preallocation={mode}", tmp_path / "big.qcow2", "20T")
    assert h.returncode == 1 and not (tmp_path / "big.qcow2").exists()
    assert h.stderr.endswith("big.qcow2: The image size is too large for file format 'qcow2' "
                             "(try using a larger cluster size)\n")


@pytest.mark.parametrize("mode", MODES)
def test_convert(tmp_path, mode):
    src = tmp_path / "src.raw"
    run("qemu-img", "create", "-q", "-f", "raw", src, "4M")
    run("qemu-io", "-f", "raw", "-c", "write -P 7 1M 64k", "-c", "write -P 9 3M 4k", src)
    h, q = tmp_path / "h.qcow2", tmp_path / "q.qcow2"
    run(HOTBLOCK_IMG, "convert", "-O", "qcow2", "-o", f"preallocation={mode}", src, h)
    run("qemu-img", "convert", "-O", "qcow2", "-o", f"preallocation={mode}", src, q)
    assert qimg("check", h).returncode == 0
    assert run("qemu-img", "compare", src, h).returncode == 0
    assert map_json(h) == map_json(q)
    assert os.path.getsize(h) == os.path.getsize(q)


@pytest.mark.parametrize("mode", ["off"] + MODES)
def test_luks(tmp_path, mode):
    opts = f"key-secret=s0,iter-time=10,preallocation={mode}"
    h, q = tmp_path / "h.luks", tmp_path / "q.luks"
    run(HOTBLOCK_IMG, "create", "-q", "-f", "luks", "--object", SECRET, "-o", opts, h, "4M")
    assert qemu_img_create_luks(q, "4M", SECRET, opts).returncode == 0
    assert os.path.getsize(h) == os.path.getsize(q)
    payload = 4 << 20
    if mode in ("falloc", "full"):
        assert allocated(h) >= payload and allocated(q) >= payload
    else:
        assert allocated(h) < payload
    # (The payload's zeroes decrypt to noise: QEMU's luks preallocates no zeroes either.)
    io = run("qemu-io", "--object", SECRET, "--image-opts",
             "-c", "write -P 3 4092k 4k", "-c", "read -P 3 4092k 4k",
             f"driver=luks,key-secret=s0,file.filename={h}")
    assert "Pattern verification failed" not in io.stdout
    assert os.path.getsize(h) == os.path.getsize(q)

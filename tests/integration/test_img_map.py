# SPDX-License-Identifier: GPL-2.0-or-later
"""hotblock-img map against qemu-img map on the same images: every JSON
field of every extent (start, length, depth, present, zero, data, offset),
the human table, --start-offset/--max-length, and the refusals.  Images
cover sparse raw files (SEEK_DATA/SEEK_HOLE), qcow2 alone and in backing
chains (data, zero clusters with and without an allocation, compressed
clusters, a backing file shorter than its overlay, a raw backing file),
and luks."""
import json
import random

import pytest

from hbtest.luks import PASS, qemu_img_create_luks
from hbtest.paths import HOTBLOCK_IMG
from hbtest.tools import run

SECRET = f"secret,id=s0,data={PASS}"


def both(*args):
    """(qemu-img, hotblock-img) runs of map with @args."""
    return [run(tool, "map", *args, check=False) for tool in ("qemu-img", HOTBLOCK_IMG)]


def same(*args):
    """Both tools succeed with byte-identical output; returns the JSON if any."""
    q, h = both(*args)
    assert q.returncode == 0, q.stderr
    assert h.returncode == 0, h.stderr
    assert h.stdout == q.stdout
    return json.loads(h.stdout) if "--output=json" in args else None


def qemu_io(img, *cmds, fmt=None):
    args = ["qemu-io"] + (["-f", fmt] if fmt else [])
    for c in cmds:
        args += ["-c", c]
    run(*args, img)


@pytest.fixture
def sparse_raw(tmp_path):
    f = tmp_path / "s.raw"
    with open(f, "wb") as fh:
        fh.truncate(10 << 20)
        for off, n in ((192 << 10, 128 << 10), (1 << 20, 4096), ((10 << 20) - 8192, 8192)):
            fh.seek(off)
            fh.write(b"\xa5" * n)
    return f


RANGES = [[], ["--start-offset=200k"], ["--start-offset=1000", "--max-length=300k"],
          ["--max-length=1"], ["--start-offset=10M"], ["--start-offset=20M"],
          ["--start-offset=1052672", "--max-length=4096"]]


@pytest.mark.parametrize("rng", RANGES)
@pytest.mark.parametrize("output", ["json", "human"])
def test_sparse_raw(sparse_raw, rng, output):
    ext = same(f"--output={output}", *rng, sparse_raw)
    if output == "json" and not rng:
        data = [(e["start"], e["length"]) for e in ext if e["data"]]
        assert data[0] == (192 << 10, 128 << 10)    # the holes are found, not guessed


def test_raw_without_format_and_with_image_opts(sparse_raw):
    same("--output=json", "-f", "raw", sparse_raw)
    same("--output=json", "--image-opts", f"driver=raw,file.filename={sparse_raw}")
    same("--output=json", "--image-opts", f"driver=file,filename={sparse_raw}")


def test_raw_window_by_json_filename(sparse_raw):
    """A raw node with an offset maps its bytes to the file's, moved."""
    name = ('json:{"driver":"raw","offset":65536,"size":1048576,'
            f'"file":{{"driver":"file","filename":"{sparse_raw}"}}}}')
    ext = same("--output=json", name)
    assert ext[0]["offset"] == 65536


@pytest.fixture
def chain(tmp_path):
    """base (8M) <- mid (12M) <- top (16M), with every kind of cluster."""
    base, mid, top = (tmp_path / n for n in ("base.qcow2", "mid.qcow2", "top.qcow2"))
    run("qemu-img", "create", "-q", "-f", "qcow2", base, "8M")
    qemu_io(base, "write -P 1 0 256k", "write -z 1M 64k", "write -P 2 3M 64k",
            "write -c -P 3 4M 64k", "write -P 4 6M 128k", "write -z 6M 64k")
    run("qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", mid, "12M")
    qemu_io(mid, "write -P 5 64k 64k", "write -z 3M 64k", "discard 0 64k",
            "write -P 6 9M 64k")
    run("qemu-img", "create", "-q", "-f", "qcow2", "-b", mid, "-F", "qcow2", top, "16M")
    qemu_io(top, "write -P 7 128k 64k", "write -P 8 11M 64k", "write -z 12M 1M")
    return base, mid, top


@pytest.mark.parametrize("which", [0, 1, 2])
@pytest.mark.parametrize("rng", RANGES[:4])
def test_qcow2_chain_json(chain, which, rng):
    same("--output=json", *rng, chain[which])


def test_qcow2_chain_has_every_kind(chain):
    ext = same("--output=json", chain[2])
    kinds = {(e["depth"], e["present"], e["zero"], e["data"], "offset" in e) for e in ext}
    assert (2, True, False, True, True) in kinds        # data in base
    assert (2, True, True, False, True) in kinds        # zero cluster keeping its allocation
    assert (2, True, True, False, False) in kinds       # zero cluster without one
    assert (2, True, False, True, False) in kinds       # compressed
    assert (2, False, True, False, False) in kinds      # unallocated everywhere
    assert (1, False, True, False, False) in kinds      # past base's end: mid decides
    assert (0, True, False, True, True) in kinds


def test_qcow2_without_backing(chain):
    """-o backing: null (json:) stops the walk at the top: all its own."""
    top = chain[2]
    name = f'json:{{"driver":"qcow2","backing":null,"file":{{"filename":"{top}"}}}}'
    same("--output=json", name)


def test_qcow2_human_with_compressed_cluster_fails_as_qemu_img(chain):
    q, h = both(chain[0])
    assert q.returncode == h.returncode == 1
    assert h.stdout == q.stdout
    assert q.stderr == "qemu-img: File contains external, encrypted or compressed clusters.\n"
    assert h.stderr == (f"hotblock-img: {chain[0]}: File contains external, encrypted "
                        "or compressed clusters.\n")


def test_qcow2_human_lists_data_and_files(tmp_path):
    """Relative names, as an operator types them: the File column names the
    overlay and its backing file as qemu-img names them."""
    run("qemu-img", "create", "-q", "-f", "qcow2", tmp_path / "b.qcow2", "4M")
    qemu_io(tmp_path / "b.qcow2", "write -P 1 0 192k")
    run("qemu-img", "create", "-q", "-f", "qcow2", "-b", "b.qcow2", "-F", "qcow2",
        tmp_path / "o.qcow2")
    qemu_io(tmp_path / "o.qcow2", "write -P 2 64k 64k", "write 1M 64k")
    for name in ("o.qcow2", str(tmp_path / "o.qcow2")):
        q, h = [run(t, "map", name, cwd=tmp_path) for t in ("qemu-img", HOTBLOCK_IMG)]
        assert h.stdout == q.stdout
        assert "b.qcow2" in h.stdout and "o.qcow2" in h.stdout


def test_qcow2_over_raw_backing(tmp_path, sparse_raw):
    top = tmp_path / "over.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", "-b", sparse_raw, "-F", "raw", top, "12M")
    qemu_io(top, "write -P 9 1M 64k")
    same("--output=json", top)
    same(top)


@pytest.mark.parametrize("cluster", ["512", "64k", "2M"])
def test_qcow2_random_writes(tmp_path, cluster):
    """Random writes, zeroes and discards at small cluster sizes cross many
    L2 tables: every extent still agrees."""
    rnd = random.Random(int(cluster.rstrip("kM")) * 7)
    f = tmp_path / "r.qcow2"
    size = 64 << 20
    run("qemu-img", "create", "-q", "-f", "qcow2", "-o", f"cluster_size={cluster}", f, str(size))
    cmds = []
    for _ in range(60):
        off = rnd.randrange(0, size // 512) * 512
        n = min(rnd.choice([512, 4096, 65536, 1 << 20]), size - off)
        op = rnd.choice(["write -P 3", "write -P 3", "write -z", "discard"])
        cmds.append(f"{op} {off} {n}")
    qemu_io(f, *cmds)
    same("--output=json", f)
    same("--output=json", "--start-offset=3333", "--max-length=20M", f)


@pytest.mark.parametrize("prealloc", ["metadata", "falloc", "full"])
@pytest.mark.parametrize("cluster", ["64k", "1M"])
def test_qcow2_preallocated(tmp_path, prealloc, cluster):
    """preallocation=metadata leaves data clusters as holes in the file:
    they are "zero" and "data" at once, as qemu-img detects and says."""
    f = tmp_path / "p.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", "-o",
        f"preallocation={prealloc},cluster_size={cluster}", f, "8M")
    qemu_io(f, "write -P 1 1M 64k", "write -P 2 7M 1M")
    ext = same("--output=json", f)
    if prealloc == "metadata":
        assert any(e["zero"] and e["data"] for e in ext)
    same("--output=json", "--start-offset=100k", "--max-length=2M", f)


def test_luks(tmp_path):
    f = tmp_path / "l.luks"
    assert qemu_img_create_luks(f, "4M", SECRET, "key-secret=s0,iter-time=10").returncode == 0
    opts = f"driver=luks,key-secret=s0,file.filename={f}"
    ext = same("--output=json", "--object", SECRET, "--image-opts", opts)
    assert ext == [{"start": 0, "length": 4 << 20, "depth": 0, "present": True,
                    "zero": False, "data": True}]
    q, h = both("--object", SECRET, "--image-opts", opts)
    assert q.returncode == h.returncode == 1
    assert h.stdout == q.stdout
    assert "File contains external, encrypted or compressed clusters." in h.stderr


@pytest.mark.parametrize("args", [["--start-offset=x", "F"], ["--max-length=-1", "F"],
                                  ["--output=xml", "F"], [], ["F", "F"], ["-q", "F"]])
def test_refusals(sparse_raw, args):
    q, h = both(*[sparse_raw if a == "F" else a for a in args])
    assert q.returncode == h.returncode == 1
    assert h.stdout == ""
    if args[:1] == ["-q"]:  # getopt's own words differ; both refuse it
        assert "invalid option" in h.stderr
    else:
        assert h.stderr.splitlines()[0] == q.stderr.splitlines()[0].replace("qemu-img",
                                                                            "hotblock-img")


def test_missing_file(tmp_path):
    q, h = both(tmp_path / "none.qcow2")
    assert q.returncode == h.returncode == 1
    assert h.stderr.startswith(f"hotblock-img: Could not open '{tmp_path / 'none.qcow2'}'")


@pytest.mark.parametrize("size,data", [(1000, 1000), (513, 513), (70000, 0), (70000, 4096)])
@pytest.mark.parametrize("window", [[], ["--start-offset", "1010"], ["--start-offset", "500"],
                                    ["--max-length", "1010"]])
def test_raw_size_not_whole_sectors(tmp_path, size, data, window):
    """QEMU counts a raw file's length in whole sectors: the bytes past the
    end of the file, up to the next 512, map as zeroes at their offset."""
    f = tmp_path / "odd.raw"
    with open(f, "wb") as fh:
        fh.write(bytes(range(256)) * (data // 256) + bytes(range(data % 256)))
        fh.truncate(size)
    same("--output=json", "-f", "raw", *window, f)
    same("-f", "raw", *window, f)

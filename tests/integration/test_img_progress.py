# SPDX-License-Identifier: GPL-2.0-or-later
"""-p progress on the long operations qemu-img gives none to: check (and
check -r) and dd.  The progress line is qemu-img's ("    (42.00/100%)" and
a carriage return, on stdout), it only ever moves forwards, it ends at 100%
on a line of its own, and -q silences it.  The result is the same as
without -p."""
import re
import struct
import subprocess

from hbtest.paths import HOTBLOCK_IMG
from hbtest.tools import run


def run_raw(*args):
    """hotblock-img with its stdout as written: text mode would turn the
    progress line's carriage returns into newlines."""
    r = subprocess.run([HOTBLOCK_IMG, *map(str, args)], capture_output=True, timeout=60)
    return r.returncode, r.stdout.decode(), r.stderr.decode()

PROGRESS = re.compile(r" {4}\((\d+\.\d\d)/100%\)\r")


def percents(stdout):
    """The progress figures, in order; asserts nothing else is mixed in."""
    head, sep, rest = stdout.rpartition("\r")
    assert sep, f"no progress line in {stdout!r}"
    found = [float(m.group(1)) for m in PROGRESS.finditer(head + sep)]
    assert "".join(m.group(0) for m in PROGRESS.finditer(head + sep)) == head + sep
    assert found == sorted(found), found
    assert found[-1] == 100.0
    assert rest.startswith("\n")
    return found, rest[1:]


def spread_image(tmp_path, name="c.qcow2"):
    """A qcow2 image whose data is spread over many L2 tables (512-byte
    clusters: one L2 table covers 32 KiB), so the check has steps to show."""
    img = tmp_path / name
    run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=512", img, "64M")
    cmds = []
    for i in range(0, 64, 2):
        cmds += ["-c", f"write -P {i + 1} {i}M 4k"]
    run("qemu-io", "-f", "qcow2", *cmds, img)
    return img


def test_check_progress(tmp_path):
    img = spread_image(tmp_path)
    plain = run(HOTBLOCK_IMG, "check", img)
    rc, out, _ = run_raw("check", "-p", img)
    found, rest = percents(out)
    assert len(set(found)) > 10, found       # one step per L1 entry, not just 0 and 100
    assert rest == plain.stdout
    assert rc == plain.returncode == 0


def leaky_image(tmp_path):
    """64k clusters, data in 32 L2 tables, and one leaked cluster: the file
    grown by a cluster whose refcount is 1 though nothing uses it."""
    img = tmp_path / "leaky.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", img, "64G")
    cmds = []
    for i in range(32):
        cmds += ["-c", f"write -P {i + 1} {i * 2}G 64k"]
    run("qemu-io", "-f", "qcow2", *cmds, img)
    with open(img, "r+b") as f:
        h = f.read(104)
        reftable = struct.unpack(">Q", h[48:56])[0]
        f.seek(reftable)
        block = struct.unpack(">Q", f.read(8))[0] & ~511
        n = img.stat().st_size >> 16
        f.truncate((n + 1) << 16)
        f.seek(block + n * 2)
        f.write(struct.pack(">H", 1))
    return img


def test_check_repair_progress(tmp_path):
    img = leaky_image(tmp_path)
    assert run(HOTBLOCK_IMG, "check", img, check=False).returncode == 3
    rc, out, _ = run_raw("check", "-p", "-r", "leaks", img)
    found, rest = percents(out)
    # Two passes (the repair, then the check after it), each walking 32 tables.
    assert [f for f in found if 0 < f < 50] and [f for f in found if 50 < f < 100], found
    assert "1 leaked clusters" in rest
    assert "No errors were found on the image." in rest
    assert rc == 0
    assert run("qemu-img", "check", img).returncode == 0


def test_check_progress_refusals(tmp_path):
    img = spread_image(tmp_path)
    r = run(HOTBLOCK_IMG, "check", "-p", "--output=json", img, check=False)
    assert r.returncode == 1
    assert "-p cannot be combined with --output=json" in r.stderr
    assert r.stdout == ""
    r = run(HOTBLOCK_IMG, "check", "-p", "-q", img)
    assert r.stdout == ""


def test_dd_progress(tmp_path):
    src = tmp_path / "s.raw"
    src.write_bytes(bytes(range(256)) * 4096 * 8)       # 8 MiB
    out = tmp_path / "o.raw"
    rc, stdout, _ = run_raw("dd", "-p", "-f", "raw", "-O", "raw", "bs=256k", "skip=4",
                            f"if={src}", f"of={out}")
    assert rc == 0
    found, rest = percents(stdout)
    assert rest == ""
    assert len(found) == 1 + (8 * 4 - 4)        # the start, then one per block
    assert out.read_bytes() == src.read_bytes()[1 << 20:]

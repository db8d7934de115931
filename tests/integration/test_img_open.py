# SPDX-License-Identifier: GPL-2.0-or-later
"""hotblock-img opening images as qemu-img does: QEMU's image locks (and -U
to share them), formats it does not read refused by name, errors naming
the file."""
import pytest

from hbtest.exports import export_args
from hbtest.images import hold
from hbtest.paths import HOTBLOCK_IMG
from hbtest.tools import run

LOCK_TEXT = 'Failed to get shared "write" lock\nIs another process using the image [{}]?\n'


def img(*args):
    return run(HOTBLOCK_IMG, *args, check=False)


@pytest.fixture
def image(tmp_path):
    f = tmp_path / "a.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", f, "16M")
    run("qemu-io", "-c", "write 0 1M", f)
    return f


@pytest.fixture
def writer(image):
    p = hold(image)
    yield p
    p.kill()
    p.wait(30)


@pytest.mark.parametrize("cmd", [["check"], ["info"], ["check", "--output=json"],
                                 ["convert", "-O", "raw"], ["map"]])
def test_refused_while_another_process_writes(tmp_path, image, writer, cmd):
    out = [tmp_path / "out.raw"] if cmd[0] == "convert" else []
    q = run("qemu-img", *cmd, image, *out, check=False)
    h = img(*cmd, image, *out)
    assert q.returncode == h.returncode == 1
    assert q.stderr.endswith(LOCK_TEXT.format(image))
    assert h.stderr == f"hotblock-img: Could not open '{image}': " + LOCK_TEXT.format(image)
    assert h.stdout == ""
    assert not (tmp_path / "out.raw").exists()


@pytest.mark.parametrize("cmd", [["check"], ["info"], ["convert", "-O", "raw"],
                                 ["map", "--output=json"]])
def test_force_share(tmp_path, image, writer, cmd):
    out = [tmp_path / "out.raw"] if cmd[0] == "convert" else []
    h = img(*cmd, "-U", image, *out)
    q = run("qemu-img", *cmd, "-U", image, *out, check=False)
    assert h.returncode == q.returncode == 0, h.stderr
    if cmd == ["check"]:
        assert h.stdout.splitlines()[0] == "No errors were found on the image."
    if cmd[0] == "map":
        assert h.stdout == q.stdout


def test_refused_while_hotblockd_exports_it(daemon, image):
    """The operator's case: the daemon serves the image to a VM."""
    q = daemon.qmp()
    q.cmd("blockdev-add", driver="qcow2", **{"node-name": "n0"},
          file={"driver": "file", "filename": str(image)})
    q.cmd("block-export-add", export_args("e0", "n0", daemon.tmp / "vu.sock", writable=True))
    h = img("check", image)
    assert h.returncode == 1 and h.stdout == ""
    assert h.stderr.endswith(LOCK_TEXT.format(image))
    assert img("check", "-U", image).returncode == 0
    q.cmd("block-export-del", id="e0")


def test_reader_does_not_block_reader(image):
    """check holds shared read locks only: qemu-io -r may run beside it."""
    p = hold(image, "-r")
    try:
        assert img("check", image).returncode == 0
    finally:
        p.kill()
        p.wait(30)


# Formats qemu-img creates (with the name it gives them) and hotblock does not read.
FOREIGN = [("vmdk", []), ("vmdk", ["-o", "subformat=monolithicFlat"]), ("vdi", []),
           ("vhdx", []), ("qed", []), ("vpc", []), ("parallels", []), ("qcow", [])]


@pytest.mark.parametrize("fmt,opts", FOREIGN)
def test_foreign_formats_refused_by_name(tmp_path, fmt, opts):
    f = tmp_path / f"x.{fmt}"
    run("qemu-img", "create", "-q", "-f", fmt, *opts, f, "1M")
    assert f"file format: {fmt}" in run("qemu-img", "info", f).stdout
    for cmd in (["info"], ["check"], ["convert", "-O", "raw"]):
        out = [tmp_path / "out.raw"] if cmd[0] == "convert" else []
        h = img(*cmd, f, *out)
        assert h.returncode == 1, (cmd, h.stdout)
        assert h.stderr.startswith(f"hotblock-img: Could not open '{f}': "
                                   f"Image is in {fmt} format, which hotblock does not read")
        assert not (tmp_path / "out.raw").exists()


def test_dmg_by_its_trailer(tmp_path):
    f = tmp_path / "disk.img"
    f.write_bytes(b"\0" * 4096 + b"koly" + b"\0" * 508)
    h = img("info", f)
    assert h.returncode == 1 and "Image is in dmg format" in h.stderr


def test_fixed_vhd_is_raw_as_in_qemu(tmp_path):
    """A fixed VHD is raw data plus a footer: QEMU probes it as raw too."""
    f = tmp_path / "f.vpc"
    run("qemu-img", "create", "-q", "-f", "vpc", "-o", "subformat=fixed", f, "1M")
    assert "file format: raw" in run("qemu-img", "info", f).stdout
    assert "file format: raw" in img("info", f).stdout


def test_explicit_format_is_used_as_given(tmp_path):
    f = tmp_path / "x.vmdk"
    run("qemu-img", "create", "-q", "-f", "vmdk", f, "1M")
    h = img("info", "-f", "raw", f)
    assert h.returncode == 0 and "file format: raw" in h.stdout

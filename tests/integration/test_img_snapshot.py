# SPDX-License-Identifier: GPL-2.0-or-later
"""hotblock-img snapshot -l against qemu-img snapshot -l on images whose
internal snapshots QEMU made; -c/-a/-d refused (hotblock takes none)."""
import pytest

from hbtest.paths import HOTBLOCK_IMG
from hbtest.tools import run


@pytest.fixture
def image(tmp_path):
    f = tmp_path / "s.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", f, "1M")
    return f


def test_list_as_qemu_img(image):
    for name in ("first", "a-tag-longer-than-sixteen", "3"):
        run("qemu-img", "snapshot", "-c", name, image)
    h = run(HOTBLOCK_IMG, "snapshot", "-l", image)
    q = run("qemu-img", "snapshot", "-l", image)
    assert h.stdout == q.stdout and h.stdout.startswith("Snapshot list:\n")
    assert len(h.stdout.splitlines()) == 5
    assert run(HOTBLOCK_IMG, "snapshot", "-l", "-q", image).stdout == ""
    # The snapshots' clusters are counted as in use, as qemu-img counts them.
    assert run(HOTBLOCK_IMG, "check", image).returncode == 0


@pytest.mark.parametrize("kind", ["qcow2", "raw"])
def test_none_to_list(tmp_path, kind):
    f = tmp_path / f"x.{kind}"
    run("qemu-img", "create", "-q", "-f", kind, f, "1M")
    h = run(HOTBLOCK_IMG, "snapshot", "-l", f)
    q = run("qemu-img", "snapshot", "-l", f, check=False)
    assert h.returncode == 0 and h.stdout == "" == q.stdout


@pytest.mark.parametrize("op", [["-c", "x"], ["-a", "x"], ["-d", "x"]])
def test_changes_refused(image, op):
    h = run(HOTBLOCK_IMG, "snapshot", *op, image, check=False)
    assert h.returncode == 1
    assert h.stderr == (f"hotblock-img: {image}: snapshot {op[0]} is not supported: hotblock "
                        "does not take or apply internal snapshots (only -l lists them)\n")
    assert run("qemu-img", "snapshot", "-l", image).stdout == ""


def test_list_errors(tmp_path):
    h = run(HOTBLOCK_IMG, "snapshot", "-l", tmp_path / "missing", check=False)
    assert h.returncode == 1 and "Could not open" in h.stderr
    assert run(HOTBLOCK_IMG, "snapshot", tmp_path / "x", check=False).returncode == 1

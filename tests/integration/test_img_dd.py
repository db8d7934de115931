# SPDX-License-Identifier: GPL-2.0-or-later
"""hotblock-img dd against qemu-img dd: the same output images (size and
data) for bs/count/skip, and the same refusals."""
import json

import pytest

from hbtest.paths import HOTBLOCK_IMG
from hbtest.tools import run


@pytest.fixture
def src(tmp_path):
    f = tmp_path / "d.raw"
    f.write_bytes(bytes(range(256)) * 4096 * 4)    # 4 MiB of a pattern
    return f


def both(tmp_path, *args, out_fmt="raw"):
    res = []
    for tool, name in (("qemu-img", "q"), (HOTBLOCK_IMG, "h")):
        out = tmp_path / f"{name}.{out_fmt}"
        r = run(tool, "dd", "-f", "raw", "-O", out_fmt, *args, f"of={out}", check=False)
        res.append((r, out))
    return res


@pytest.mark.parametrize("out_fmt", ["raw", "qcow2"])
@pytest.mark.parametrize("ops", [[], ["bs=1M"], ["bs=64k", "count=10", "skip=2"],
                                 ["bs=1000", "count=3"], ["bs=3", "count=5", "skip=1"],
                                 ["bs=1M", "skip=1000"], ["count=99999999"]])
def test_dd_as_qemu_img(tmp_path, src, ops, out_fmt):
    (q, qout), (h, hout) = both(tmp_path, f"if={src}", *ops, out_fmt=out_fmt)
    assert q.returncode == h.returncode == 0, h.stderr
    assert h.stderr.replace("hotblock-img", "qemu-img") == q.stderr
    info = [json.loads(run("qemu-img", "info", "--output=json", f).stdout) for f in (qout, hout)]
    assert info[0]["virtual-size"] == info[1]["virtual-size"]
    assert run("qemu-img", "compare", qout, hout).returncode == 0


@pytest.mark.parametrize("ops", [["bs=0"], ["bs=abc"], ["skip=abc"], ["count=x"],
                                 ["foo=1"], ["nonsense"]])
def test_dd_refusals(tmp_path, src, ops):
    q = run("qemu-img", "dd", f"if={src}", f"of={tmp_path / 'q.raw'}", *ops, check=False)
    h = run(HOTBLOCK_IMG, "dd", f"if={src}", f"of={tmp_path / 'h.raw'}", *ops, check=False)
    assert q.returncode == h.returncode == 1
    assert h.stderr.replace("hotblock-img", "qemu-img") == q.stderr
    assert not (tmp_path / "h.raw").exists()


def test_dd_missing_operands_and_input(tmp_path, src):
    h = run(HOTBLOCK_IMG, "dd", f"if={src}", check=False)
    assert h.returncode == 1 and h.stderr == "hotblock-img: Must specify both input and output files\n"
    h = run(HOTBLOCK_IMG, "dd", f"if={tmp_path / 'missing'}", f"of={tmp_path / 'o'}", check=False)
    assert h.returncode == 1 and "Could not open" in h.stderr and not (tmp_path / "o").exists()

# SPDX-License-Identifier: GPL-2.0-or-later
"""hotblock-img: qemu-img syntax, bad arguments, nothing left behind on failure."""
import json
import os

import pytest

from hbtest.paths import HOTBLOCK_IMG
from hbtest.tools import run

SECRET = "secret,id=sec0,data=abc123"


def img(*args):
    return run(HOTBLOCK_IMG, *args, check=False)


def test_usage():
    r = img()
    assert r.returncode != 0 and "usage" in r.stderr
    r = img("--help")
    assert r.returncode == 0 and "create" in r.stdout
    r = img("frobnicate")
    assert r.returncode != 0 and "Command not found: frobnicate" in r.stderr


@pytest.mark.parametrize("args,msg", [
    (["-f", "raw", "{f}"], "Image creation needs a size parameter"),
    (["-f", "raw", "{f}", "12Q"], "Invalid image size specified: '12Q'"),
    (["-f", "raw", "{f}", "1M", "extra"], "Unexpected argument: extra"),
    (["-f", "raw", "-o", "foo=bar", "{f}", "1M"], "Invalid parameter 'foo'"),
    (["-f", "floppy", "{f}", "1M"], "Unknown file format 'floppy'"),
    (["-f", "file", "{f}", "1M"], "Format driver 'file' does not support image creation"),
    (["-f", "luks", "{f}", "1M"], "Parameter 'key-secret' is required for cipher"),
    (["-f", "luks", "-o", "key-secret=nope", "{f}", "1M"], "nope"),
    (["--object", SECRET, "-f", "luks", "-o", "key-secret=sec0,cipher-alg=rot13",
      "{f}", "1M"], "rot13"),
    (["--object", "secret,data=x", "-f", "raw", "{f}", "1M"], "id"),
])
def test_create_failures_leave_nothing(tmp_path, args, msg):
    f = tmp_path / "new.img"
    r = img("create", *[a.replace("{f}", str(f)) for a in args])
    assert r.returncode != 0
    assert msg in r.stderr
    assert not f.exists()


def test_create_raw_and_info(tmp_path):
    f = tmp_path / "a.img"
    r = img("create", "-f", "raw", f, "1536K")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"Formatting '{f}', fmt=raw size=1572864\n"
    assert os.path.getsize(f) == 1572864
    r = img("info", f)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"image: {f}"
    assert lines[1] == "file format: raw"
    assert lines[2] == "virtual size: 1.5 MiB (1572864 bytes)"
    assert lines[3].startswith("disk size: ")
    q = run("qemu-img", "info", f, check=False)
    assert q.stdout.splitlines()[:3] == lines[:3]
    j = json.loads(img("info", "--output=json", f).stdout)
    assert j["virtual-size"] == 1572864 and j["format"] == "raw"
    r = img("info", "--output=yaml", f)
    assert r.returncode != 0 and "--output" in r.stderr
    r = img("info", tmp_path / "missing.img")
    assert r.returncode != 0 and "No such file or directory" in r.stderr


def test_convert_failure_removes_destination(tmp_path):
    dst = tmp_path / "dst.img"
    r = img("convert", "-O", "raw", tmp_path / "missing.img", dst)
    assert r.returncode != 0
    assert not dst.exists()
    src = tmp_path / "src.img"
    src.write_bytes(b"x" * 4096)
    r = img("convert", "-O", "luks", src, dst)   # no key-secret
    assert r.returncode != 0 and not dst.exists()


def test_convert_progress_and_image_opts(tmp_path):
    src = tmp_path / "src.img"
    src.write_bytes(bytes(range(256)) * 8192)
    dst = tmp_path / "dst.img"
    r = img("convert", "-p", "--image-opts", f"driver=raw,offset=512,size=4096,"
            f"file.driver=file,file.filename={src}", "-O", "raw", dst)
    assert r.returncode == 0, r.stderr
    assert "(100.00/100%)" in r.stdout
    assert dst.read_bytes() == src.read_bytes()[512:512 + 4096]

# SPDX-License-Identifier: GPL-2.0-or-later
"""LUKS interop: images and headers made by qemu-img and cryptsetup read
through hotblock, and what hotblock writes read by qemu-io, cryptsetup and an
independent AES-XTS-plain64 decryption (python3-cryptography)."""
import json
import os

import pytest

from hbtest.graph import expect_error, fds, names
from hbtest.luks import (PASS, cryptsetup_header, master_key_via_cryptsetup,
                         qemu_img_create_luks, xts)
from hbtest.paths import HOTBLOCK_IMG
from hbtest.tools import run

SECRET = f"secret,id=sec0,data={PASS}"


def pattern(n, seed=7):
    return bytes((i * seed + (i >> 9)) & 0xff for i in range(n))


@pytest.fixture(scope="module")
def qemu_luks(tmp_path_factory):
    """A qemu-img made luks image with a pattern written by qemu-io."""
    d = tmp_path_factory.mktemp("qemu-luks")
    img = d / "q.luks"
    r = qemu_img_create_luks(img, "4M", f"secret,id=s,data={PASS}",
                             "key-secret=s,iter-time=10")
    assert r.returncode == 0, r.stderr
    run("qemu-io", "--object", f"secret,id=s,data={PASS}", "--image-opts",
        "-c", "write -P 0x5a 4096 65536", "-c", "write -P 0xa5 1048064 1024",
        f"driver=luks,key-secret=s,file.filename={img}")
    return img


def test_qemu_made_luks_reads_back(qemu_luks, tmp_path):
    out = tmp_path / "out.raw"
    run(HOTBLOCK_IMG, "convert", "--object", SECRET, "--image-opts",
        f"driver=luks,key-secret=sec0,file.filename={qemu_luks}", "-O", "raw", out)
    data = out.read_bytes()
    assert len(data) == 4 << 20
    assert data[4096:4096 + 65536] == b"\x5a" * 65536
    assert data[1048064:1048064 + 1024] == b"\xa5" * 1024
    # The same through a json: filename and info.
    r = run(HOTBLOCK_IMG, "info", "--output=json", qemu_luks)
    info = json.loads(r.stdout)
    assert info["format"] == "luks" and info["virtual-size"] == 4 << 20
    assert info["format-specific"]["data"]["cipher-alg"] == "aes-256"


def test_hotblock_written_luks_read_by_qemu_io(tmp_path):
    src = tmp_path / "src.raw"
    src.write_bytes(pattern(1 << 20))
    dst = tmp_path / "hb.luks"
    run(HOTBLOCK_IMG, "convert", "-p", "--object", SECRET, "-O", "luks",
        "-o", "key-secret=sec0,iter-time=10", src, dst)
    back = tmp_path / "back.raw"
    run("qemu-img", "convert", "--object", f"secret,id=s,data={PASS}", "--image-opts",
        f"driver=luks,key-secret=s,file.filename={dst}", "-O", "raw", back)
    assert back.read_bytes() == src.read_bytes()


def test_cryptsetup_detached_header_reads_plaintext(tmp_path):
    payload = tmp_path / "payload.img"
    hdr, key = cryptsetup_header(tmp_path, payload, 1 << 20)
    plain = pattern(1 << 20, seed=13)
    payload.write_bytes(xts(key, plain, 0, encrypt=True))
    out = tmp_path / "out.raw"
    spec = {"driver": "luks", "key-secret": "sec0",
            "file": {"filename": str(payload)}, "header": {"filename": str(hdr)}}
    run(HOTBLOCK_IMG, "convert", "--object", SECRET, "json:" + json.dumps(spec),
        "-O", "raw", out)
    assert out.read_bytes() == plain


def test_hotblock_detached_header_accepted_by_cryptsetup(tmp_path):
    hdr = tmp_path / "hb-header.img"
    r = run(HOTBLOCK_IMG, "create", "--object", SECRET, "-f", "luks",
            "-o", "cipher-alg=aes-256,cipher-mode=xts", "-o", "key-secret=sec0",
            "-o", "detached-header=true,iter-time=10", hdr)
    assert "Formatting" in r.stdout
    payload = tmp_path / "payload.img"
    with open(payload, "wb") as f:
        f.truncate(1 << 20)
    src = tmp_path / "src.raw"
    plain = pattern(1 << 20, seed=29)
    src.write_bytes(plain)
    # Write through hotblock into the detached layout.
    run(HOTBLOCK_IMG, "convert", "-n", "--object", SECRET, "--target-image-opts",
        src, f"driver=luks,key-secret=sec0,file.filename={payload},header.filename={hdr}")
    # cryptsetup accepts the header and the passphrase...
    (tmp_path / "pass.txt").write_text(PASS)
    run("cryptsetup", "isLuks", hdr)
    run("cryptsetup", "open", "--test-passphrase", "--key-file", tmp_path / "pass.txt",
        "--header", hdr, payload)
    dump = run("cryptsetup", "luksDump", hdr).stdout
    assert "Payload offset:\t0" in dump and "xts-plain64" in dump
    # ...and its master key decrypts what hotblock wrote.
    key = master_key_via_cryptsetup(tmp_path, hdr)
    assert xts(key, payload.read_bytes(), 0, encrypt=False) == plain
    # info reads the header without a key (metadata only).
    spec = {"driver": "luks", "file": {"filename": str(payload)},
            "header": {"filename": str(hdr)}}
    r = run(HOTBLOCK_IMG, "info", "json:" + json.dumps(spec))
    assert "file format: luks" in r.stdout and "detached header: true" in r.stdout
    assert "virtual size: 1 MiB (1048576 bytes)" in r.stdout


# ---- the daemon ----

def add_secret(qmp, id_="sec0", data=PASS):
    qmp.cmd("object-add", **{"qom-type": "secret", "id": id_, "data": data})


def add_libvirt_header(qmp, hdr):
    """The key secret and the detached header as libvirt adds them
    (libvirt-4-format-secret, libvirt-1-storage/-format)."""
    add_secret(qmp, "libvirt-4-format-secret")
    qmp.cmd("blockdev-add", **{"node-name": "libvirt-1-storage"}, driver="file",
            filename=str(hdr))
    qmp.cmd("blockdev-add", **{"node-name": "libvirt-1-format"}, driver="raw",
            file="libvirt-1-storage")


def test_walkthrough_detached_header_graph(daemon, qmp, tmp_path):
    payload = tmp_path / "payload.img"
    hdr, key = cryptsetup_header(tmp_path, payload, 1 << 20)
    add_libvirt_header(qmp, hdr)
    qmp.cmd("blockdev-add", **{"node-name": "libvirt-2-storage"}, driver="file",
            filename=str(payload))
    qmp.cmd("blockdev-add", **{"node-name": "libvirt-3-format"}, driver="luks",
            file="libvirt-2-storage", header="libvirt-1-format",
            **{"key-secret": "libvirt-4-format-secret"})
    nodes = {n["node-name"]: n for n in qmp.cmd("query-named-block-nodes")}
    luks = nodes["libvirt-3-format"]
    assert luks["drv"] == "luks" and luks["encrypted"] is True
    assert luks["image"]["virtual-size"] == 1 << 20
    spec = luks["image"]["format-specific"]
    assert spec["type"] == "luks"
    assert spec["data"]["detached-header"] is True
    assert spec["data"]["payload-offset"] == 0
    assert spec["data"]["cipher-alg"] == "aes-256"
    assert spec["data"]["slots"][0]["active"] is True
    assert luks["file"].startswith("json:")
    assert PASS not in json.dumps(nodes)
    expect_error(daemon, qmp, "blockdev-del", {"node-name": "libvirt-1-format"},
                 "Node 'libvirt-1-format' is busy: node is used as header of "
                 "'libvirt-3-format'")
    for n in ["libvirt-3-format", "libvirt-2-storage", "libvirt-1-format",
              "libvirt-1-storage"]:
        qmp.cmd("blockdev-del", **{"node-name": n})
    assert names(qmp) == []
    assert str(hdr) not in fds(daemon) and str(payload) not in fds(daemon)


def test_two_luks_nodes_share_one_header(daemon, qmp, tmp_path):
    p1, p2 = tmp_path / "p1.img", tmp_path / "p2.img"
    hdr, key = cryptsetup_header(tmp_path, p1, 1 << 20)
    with open(p2, "wb") as f:
        f.truncate(2 << 20)
    add_secret(qmp)
    qmp.cmd("blockdev-add", **{"node-name": "hdr"}, driver="raw",
            file={"driver": "file", "filename": str(hdr)})
    for name, p in (("v1", p1), ("v2", p2)):
        qmp.cmd("blockdev-add", **{"node-name": name}, driver="luks", header="hdr",
                file={"driver": "file", "filename": str(p)}, **{"key-secret": "sec0"})
    nodes = {n["node-name"]: n for n in qmp.cmd("query-named-block-nodes")}
    assert nodes["v1"]["image"]["virtual-size"] == 1 << 20
    assert nodes["v2"]["image"]["virtual-size"] == 2 << 20
    assert (nodes["v1"]["image"]["format-specific"]["data"]["uuid"]
            == nodes["v2"]["image"]["format-specific"]["data"]["uuid"])
    qmp.cmd("blockdev-del", **{"node-name": "v1"})
    expect_error(daemon, qmp, "blockdev-del", {"node-name": "hdr"},
                 "Node 'hdr' is busy: node is used as header of 'v2'")
    qmp.cmd("blockdev-del", **{"node-name": "v2"})
    qmp.cmd("blockdev-del", **{"node-name": "hdr"})
    assert names(qmp) == []


def test_luks_errors_leave_graph_unchanged(daemon, qmp, tmp_path):
    payload = tmp_path / "payload.img"
    hdr, key = cryptsetup_header(tmp_path, payload, 1 << 20)
    add_secret(qmp)
    add_secret(qmp, "wrong", "not-the-password")
    qmp.cmd("blockdev-add", **{"node-name": "hdr"}, driver="raw",
            file={"driver": "file", "filename": str(hdr)})
    qmp.cmd("blockdev-add", **{"node-name": "pay"}, driver="file", filename=str(payload))
    refs_before = names(qmp)
    expect_error(daemon, qmp, "blockdev-add",
                 {"driver": "luks", "node-name": "l", "file": "pay", "header": "hdr",
                  "key-secret": "wrong"},
                 "Invalid password, cannot unlock any keyslot")
    expect_error(daemon, qmp, "blockdev-add",
                 {"driver": "luks", "node-name": "l", "file": "pay", "header": "hdr",
                  "key-secret": "nosuch"},
                 lambda d: "nosuch" in d)
    # The payload is not a LUKS header: an attached open fails.
    expect_error(daemon, qmp, "blockdev-add",
                 {"driver": "luks", "node-name": "l", "key-secret": "sec0",
                  "file": {"driver": "file", "filename": str(payload)}},
                 lambda d: "LUKS" in d or "luks" in d)
    # An attached image cut short before its payload offset.
    img = tmp_path / "short.luks"
    run(HOTBLOCK_IMG, "create", "--object", SECRET, "-f", "luks",
        "-o", "key-secret=sec0,iter-time=10", img, "1M")
    size = os.path.getsize(img)
    with open(img, "r+b") as f:
        f.truncate(size - (1 << 20) - 4096)
    expect_error(daemon, qmp, "blockdev-add",
                 {"driver": "luks", "node-name": "l", "key-secret": "sec0",
                  "file": {"driver": "file", "filename": str(img)}},
                 lambda d: "payload" in d)
    assert names(qmp) == refs_before
    # Without a key: refused as QSD does (only hotblock-img info shows a
    # header without its key), nothing left behind.
    expect_error(daemon, qmp, "blockdev-add",
                 {"node-name": "meta", "driver": "luks", "file": "pay", "header": "hdr"},
                 "Parameter 'key-secret' is required for cipher")


def test_walkthrough_luks_over_qcow2_payload(daemon, qmp, tmp_path):
    """The canonical flow: hotblock-made detached header, qcow2 payload."""
    hdr = tmp_path / "test-header.img"
    qcow = tmp_path / "test-payload.qcow2"
    run(HOTBLOCK_IMG, "create", "--object", SECRET, "-f", "luks",
        "-o", "cipher-alg=aes-256,cipher-mode=xts", "-o", "key-secret=sec0",
        "-o", "detached-header=true,iter-time=10", hdr)
    run(HOTBLOCK_IMG, "create", "-f", "qcow2", qcow, "2M")
    plain = pattern(2 << 20, seed=31)
    src = tmp_path / "src.raw"
    src.write_bytes(plain)
    target = (f"driver=luks,key-secret=sec0,header.filename={hdr},"
              f"file.driver=qcow2,file.file.driver=file,file.file.filename={qcow}")
    run(HOTBLOCK_IMG, "convert", "-n", "--object", SECRET, "--target-image-opts",
        src, target)
    # Independent check: qemu-img reads the qcow2 virtual disk (ciphertext),
    # cryptsetup gives the master key, python decrypts.
    cipher = tmp_path / "cipher.raw"
    run("qemu-img", "convert", "-f", "qcow2", "-O", "raw", qcow, cipher)
    key = master_key_via_cryptsetup(tmp_path, hdr)
    assert xts(key, cipher.read_bytes(), 0, encrypt=False) == plain

    add_libvirt_header(qmp, hdr)
    qmp.cmd("blockdev-add", **{"node-name": "libvirt-2-storage"}, driver="file",
            filename=str(qcow))
    qmp.cmd("blockdev-add", **{"node-name": "libvirt-2-format"}, driver="qcow2",
            file="libvirt-2-storage")
    qmp.cmd("blockdev-add", **{"node-name": "libvirt-3-format"}, driver="luks",
            file="libvirt-2-format", header="libvirt-1-format",
            **{"key-secret": "libvirt-4-format-secret"})
    nodes = {n["node-name"]: n for n in qmp.cmd("query-named-block-nodes")}
    assert nodes["libvirt-3-format"]["image"]["virtual-size"] == 2 << 20
    assert nodes["libvirt-2-format"]["drv"] == "qcow2"
    assert "abc123" not in json.dumps(nodes)

# SPDX-License-Identifier: GPL-2.0-or-later
"""shared/seed-walkthrough.md, run verbatim: the image commands of step 1, the
daemon command line of step 2, the QMP hot-plug of step 3.  Data written by a
vhost-user-blk front-end through step 2's export is checked independently
(qemu-img reads the qcow2, cryptsetup gives the master key, python decrypts)
and read back through step 3's hot-plugged device."""
import json
import struct

from hbtest.bench import bench, export_info, pattern_word
from hbtest.luks import master_key_via_cryptsetup, xts
from hbtest.paths import HOTBLOCK_IMG
from hbtest.tools import run

MiB = 1 << 20
SEED = 0xC0FFEE
SPAN = 2 * MiB


def test_seed_walkthrough_verbatim(tmp_path, daemon_factory):
    hdr, payload = tmp_path / "test-header.img", tmp_path / "test-payload.qcow2"

    # 1. Create the volumes (exactly the seed's argv, default iter-time included)
    run(HOTBLOCK_IMG, "create", "--object", "secret,id=sec0,data=abc123", "-f", "luks",
       "-o", "cipher-alg=aes-256,cipher-mode=xts", "-o", "key-secret=sec0",
       "-o", "detached-header=true", hdr)
    run(HOTBLOCK_IMG, "create", "-f", "qcow2", payload, "200G")
    spec = json.dumps({"driver": "luks", "file": {"filename": str(payload)},
                       "header": {"filename": str(hdr)}})
    out = run(HOTBLOCK_IMG, "info", "json:" + spec).stdout
    # The header's metadata is readable without any key.
    assert "cipher alg: aes-256" in out and "detached header: true" in out, out
    run("cryptsetup", "luksDump", hdr)          # cryptsetup accepts our header

    # 2. The same graph on the daemon's command line, exported
    vdisk1 = tmp_path / "vdisk1.sock"
    d2 = daemon_factory(
        "--object", '{"qom-type":"secret","id":"libvirt-3-format-secret","data":"abc123"}',
        "--blockdev", json.dumps({"driver": "file", "filename": str(hdr),
                                  "node-name": "libvirt-1-storage"}),
        "--blockdev", '{"node-name":"libvirt-1-format","read-only":false,"driver":"raw",'
                      '"file":"libvirt-1-storage"}',
        "--blockdev", json.dumps({"driver": "file", "filename": str(payload),
                                  "node-name": "libvirt-2-storage"}),
        "--blockdev", '{"node-name":"libvirt-2-format","read-only":false,"driver":"qcow2",'
                      '"file":"libvirt-2-storage"}',
        "--blockdev", '{"node-name":"libvirt-3-format","driver":"luks","file":"libvirt-2-format",'
                      '"header":"libvirt-1-format","key-secret":"libvirt-3-format-secret"}',
        "--export", json.dumps({"type": "vhost-user-blk", "id": "virtio-disk1",
                                "node-name": "libvirt-3-format",
                                "addr": {"type": "unix", "path": str(vdisk1)},
                                "writable": True}))
    _, res, _ = bench(vdisk1, "--rw", "write", "--bs", "64k", "--count", SPAN // 65536,
                      "--size", SPAN, "--seed", SEED, "--flush", "--verify")
    assert res["verify_errors"] == 0
    assert d2.stop() == 0

    # Independent check of what reached the disk.
    cipher = tmp_path / "cipher.raw"
    run("qemu-img", "convert", "-f", "qcow2", "-O", "raw", payload, cipher)
    with open(cipher, "rb") as f:
        head = f.read(SPAN)
    plain = xts(master_key_via_cryptsetup(tmp_path, hdr), head, 0, encrypt=False)
    words = struct.unpack(f"<{SPAN // 8}Q", plain)
    bad = [i for i, w in enumerate(words) if w != pattern_word(8 * i, SEED)]
    assert not bad, f"{len(bad)} words differ, first at byte {8 * bad[0]}"
    assert "Leaked clusters" not in run("qemu-img", "check", payload).stdout

    # 3. Hot-plug at run time over QMP, the seed's lines as sent by virsh
    d3 = daemon_factory()
    q = d3.qmp(negotiate=False)
    lines = [
        '{"execute":"qmp_capabilities"}',
        '{"execute":"object-add","arguments":{"qom-type":"secret","id":"libvirt-4-format-secret","data":"abc123"}}',
        '{"execute":"blockdev-add","arguments":{"node-name":"libvirt-1-storage","driver":"file","filename":"%s"}}' % hdr,
        '{"execute":"blockdev-add","arguments":{"node-name":"libvirt-1-format","driver":"raw","file":"libvirt-1-storage"}}',
        '{"execute":"blockdev-add","arguments":{"node-name":"libvirt-2-storage","driver":"file","filename":"%s"}}' % payload,
        '{"execute":"blockdev-add","arguments":{"node-name":"libvirt-2-format","driver":"qcow2","file":"libvirt-2-storage"}}',
        '{"execute":"blockdev-add","arguments":{"node-name":"libvirt-3-format","driver":"luks","file":"libvirt-2-format","header":"libvirt-1-format","key-secret":"libvirt-4-format-secret"}}',
        '{"execute":"device_add","arguments":{"driver":"virtio-blk-pci","drive":"libvirt-3-format","id":"virtio-disk2"}}',
    ]
    for line in lines:
        q.send_raw(line + "\n")
        reply = q.recv_reply()
        assert reply == {"return": {}}, f"{line}: {reply}"
    sock = d3.export_dir / "virtio-disk2.sock"
    info = export_info(sock)
    assert info["capacity"] == 200 << 30, info   # bytes
    _, res, _ = bench(sock, "--rw", "read", "--bs", "64k", "--count", SPAN // 65536,
                      "--size", SPAN, "--seed", SEED, "--check")
    assert res["verify_errors"] == 0
    q.cmd("device_del", id="virtio-disk2")
    assert q.wait_event("DEVICE_DELETED")["data"]["device"] == "virtio-disk2"
    assert "abc123" not in json.dumps(q.cmd("query-named-block-nodes"))

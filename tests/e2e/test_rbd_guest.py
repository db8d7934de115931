# SPDX-License-Identifier: GPL-2.0-or-later
"""A real guest on an rbd volume (tests/lib/hbtest/ceph.py's cluster): its
writes and discards reach the image, as `rbd export` and `rbd diff` show."""
import hashlib
import json
import os

from hbtest.ceph import ceph  # noqa: F401  (fixture)
from hbtest.guest import Guest
from test_guest import read_at, rw_script

MiB = 1 << 20


def test_guest_on_rbd(daemon, qmp, tmp_path, vms, ceph):
    ceph.create_image("guest", 32 * MiB)
    qmp.cmd("object-add", **{"qom-type": "secret", "id": "ckey"},
            data=ceph.admin_key(), format="base64")
    qmp.cmd("blockdev-add", {"driver": "rbd", "node-name": "r", "pool": ceph.pool,
                             "image": "guest", "key-secret": "ckey",
                             "server": [{"host": "127.0.0.1", "port": str(ceph.mon_port)}],
                             "discard": "unmap"})
    qmp.cmd("device_add", {"driver": "virtio-blk-pci", "drive": "r", "id": "rdisk"})
    pattern = os.urandom(MiB)
    # The pattern at 1 MiB (rw_script) and again at 4 MiB, whose whole
    # 4 MiB object the guest then discards: Ceph drops the object.
    script = rw_script() + """
dd if=/data/pattern of=/dev/vda bs=64k seek=64 oflag=direct conv=fsync 2>/dev/null || exit 1
blkdiscard -o 4194304 -l 4194304 /dev/vda || exit 1
dd if=/dev/vda of=/tmp/after bs=64k skip=64 count=16 iflag=direct 2>/dev/null
result after_md5 $(md5sum /tmp/after | cut -d' ' -f1)
"""
    g = Guest(tmp_path, "vm", script, [daemon.export_dir / "rdisk.sock"],
              files={"pattern": pattern})
    vms.append(g)
    res = g.wait(timeout=300)
    assert res["readback"] == "ok", res
    assert res["after_md5"] == hashlib.md5(bytes(MiB)).hexdigest(), res
    qmp.cmd("device_del", id="rdisk")
    qmp.wait_event("DEVICE_DELETED")
    out = tmp_path / "out.raw"
    ceph.run("rbd", "export", "--no-progress", f"{ceph.pool}/guest", str(out))
    assert read_at(out, MiB, MiB) == pattern
    assert read_at(out, 4 * MiB, MiB) == bytes(MiB)
    extents = json.loads(ceph.run("rbd", "diff", "--format", "json",
                                  f"{ceph.pool}/guest").stdout)
    assert not [e for e in extents if e["offset"] < 8 * MiB and
                e["offset"] + e["length"] > 4 * MiB and e["exists"] == "true"], extents


def test_seed_graph_payload_in_ceph_guest(daemon, qmp, tmp_path, vms, ceph):
    """The seed's graph with the payload in Ceph: a LUKS1 detached header on
    a local file (cryptsetup, known master key), a qcow2 payload on an rbd
    image, libvirt's node names, device_add; a guest writes, and its
    ciphertext, read from Ceph by QEMU's rbd driver, decrypts to its data."""
    from hbtest.luks import PASS, SEED_NODES, add_seed_graph, cryptsetup_header, xts
    from hbtest.tools import run
    hdr, key = cryptsetup_header(tmp_path, tmp_path / "dummy", 16 * MiB)
    qpath = f"rbd:{ceph.pool}/seed:conf={ceph.conf}"
    run("qemu-img", "create", "-f", "qcow2", qpath, str(64 * MiB),
        env={**os.environ, **ceph.env()})
    qmp.cmd("object-add", {"qom-type": "secret", "id": "ckey", "format": "base64",
                           "data": ceph.admin_key()})
    qmp.cmd("object-add", {"qom-type": "secret", "id": "libvirt-4-format-secret",
                           "data": PASS})
    add_seed_graph(qmp, hdr, {"driver": "rbd", "pool": ceph.pool, "image": "seed",
                              "key-secret": "ckey",
                              "server": [{"host": "127.0.0.1",
                                          "port": str(ceph.mon_port)}]})
    qmp.cmd("device_add", {"driver": "virtio-blk-pci", "drive": "libvirt-3-format",
                           "id": "virtio-disk2"})
    pattern = os.urandom(MiB)
    g = Guest(tmp_path, "vm", rw_script(), [daemon.export_dir / "virtio-disk2.sock"],
              files={"pattern": pattern})
    vms.append(g)
    res = g.wait(timeout=300)
    assert res["size"] == str(64 * MiB) and res["readback"] == "ok", res
    qmp.cmd("device_del", id="virtio-disk2")
    qmp.wait_event("DEVICE_DELETED")
    for node in SEED_NODES:
        qmp.cmd("blockdev-del", {"node-name": node})
    out = tmp_path / "cipher.bin"
    run("qemu-img", "convert", "--image-opts",
        f"driver=raw,offset={MiB},size={MiB},file.driver=qcow2,"
        f"file.file.driver=rbd,file.file.pool={ceph.pool},file.file.image=seed,"
        f"file.file.conf={ceph.conf}", "-O", "raw", out,
        env={**os.environ, **ceph.env()})
    cipher = out.read_bytes()
    assert cipher != pattern
    assert xts(key, cipher, MiB // 512, encrypt=False) == pattern

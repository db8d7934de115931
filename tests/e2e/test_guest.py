# SPDX-License-Identifier: GPL-2.0-or-later
"""A real Linux guest (Debian's kernel, busybox) on hotblockd's vhost-user-blk
disks under qemu-system-x86_64 -accel tcg.  The guest reads and writes with
O_DIRECT and reports on the serial console; the host checks the images
behind the daemon's back (raw files directly, qcow2 through qemu-img, LUKS
by decrypting with the master key cryptsetup was given)."""
import os

import pytest

from hbtest.guest import Guest
from hbtest.images import raw_file
from hbtest import luks2
from hbtest.luks import (PASS, SEED_NODES, add_seed_graph, cryptsetup_header,
                         master_key_via_cryptsetup)
from hbtest.paths import HOTBLOCK_IMG
from hbtest.tools import run

MiB = 1 << 20

# The guest writes /data/pattern (1 MiB) at 1 MiB and reads it back.
RW_SCRIPT = """
wait_disk {dev} || exit 1
result size $(blockdev --getsize64 {dev})
result ro $(blockdev --getro {dev})
dd if=/data/pattern of={dev} bs=64k seek=16 oflag=direct conv=fsync 2>/tmp/err || {{ cat /tmp/err; exit 1; }}
dd if={dev} of=/tmp/back bs=64k skip=16 count=16 iflag=direct 2>/tmp/err || {{ cat /tmp/err; exit 1; }}
cmp /data/pattern /tmp/back && result readback{tag} ok
"""


def rw_script(dev="/dev/vda", tag=""):
    return RW_SCRIPT.format(dev=dev, tag=tag)


def read_at(path, off, n):
    with open(path, "rb") as f:
        f.seek(off)
        return f.read(n)


@pytest.mark.parametrize("maker", ["cryptsetup", "hotblock-img", "cryptsetup-luks2"])
def test_canonical_walkthrough(daemon, qmp, tmp_path, vms, maker):
    """Seed steps 1 and 3 verbatim: a detached LUKS header (made by cryptsetup,
    or by hotblock-img as in step 1, or cryptsetup's default LUKS2: argon2id
    at test costs, 4096-byte sectors), a qcow2 payload, the libvirt node
    names, device_add; a guest uses the disk."""
    hdr = tmp_path / "test-header.img"
    payload = tmp_path / "test-payload.qcow2"
    sector = 512
    if maker == "cryptsetup-luks2":
        luks2.luks2_format(tmp_path, tmp_path / "dummy", "--sector-size", "4096", header=hdr)
        run("qemu-img", "create", "-f", "qcow2", payload, "200G")
        key, sector = luks2.volume_key(tmp_path, hdr), 4096
    elif maker == "cryptsetup":
        _, key = cryptsetup_header(tmp_path, tmp_path / "dummy", 16 * MiB, hdr=hdr)
        run("qemu-img", "create", "-f", "qcow2", payload, "200G")
    else:
        run(HOTBLOCK_IMG, "create", "--object", f"secret,id=sec0,data={PASS}", "-f", "luks",
            "-o", "cipher-alg=aes-256,cipher-mode=xts", "-o", "key-secret=sec0",
            "-o", "detached-header=true", hdr)
        run(HOTBLOCK_IMG, "create", "-f", "qcow2", payload, "200G")
        key = master_key_via_cryptsetup(tmp_path, hdr)

    qmp.cmd("object-add", {"qom-type": "secret", "id": "libvirt-4-format-secret", "data": PASS})
    add_seed_graph(qmp, hdr, {"driver": "file", "filename": str(payload)})
    qmp.cmd("device_add", {"driver": "virtio-blk-pci", "drive": "libvirt-3-format",
                           "id": "virtio-disk2"})
    sock = daemon.export_dir / "virtio-disk2.sock"

    pattern = os.urandom(MiB)
    g = Guest(tmp_path, "vm", rw_script(), [sock], files={"pattern": pattern})
    vms.append(g)
    res = g.wait()
    assert res["size"] == str(200 << 30)
    assert res["ro"] == "0" and res["readback"] == "ok"

    qmp.cmd("device_del", id="virtio-disk2")
    assert qmp.wait_event("DEVICE_DELETED")["data"]["device"] == "virtio-disk2"
    for node in SEED_NODES:
        qmp.cmd("blockdev-del", {"node-name": node})
    # independent check: the ciphertext in the qcow2, decrypted with the master key
    out = tmp_path / "cipher.bin"
    run("qemu-img", "convert", "--image-opts",
        f"driver=raw,offset={MiB},size={MiB},file.driver=qcow2,file.file.filename={payload}",
        "-O", "raw", out)
    cipher = out.read_bytes()
    assert cipher != pattern
    assert luks2.xts(key, cipher, sector, first=MiB // 512) == pattern


def test_hotplug_into_running_vm_then_unplug(daemon, qmp, tmp_path, vms):
    """VM1 runs on disk A; device_add on the daemon and on the VM's QEMU adds
    disk B while A keeps being served; after shutdown device_del removes B."""
    a = raw_file(tmp_path / "a.raw", 64 * MiB)
    b = raw_file(tmp_path / "b.raw", 32 * MiB)
    qmp.cmd("blockdev-add", {"driver": "file", "node-name": "a", "filename": str(a)})
    qmp.cmd("blockdev-add", {"driver": "file", "node-name": "b", "filename": str(b)})
    qmp.cmd("block-export-add", {"type": "vhost-user-blk", "id": "disk-a", "node-name": "a",
                                 "writable": True,
                                 "addr": {"type": "unix", "path": str(tmp_path / "a.sock")}})
    script = rw_script("/dev/vda", "_a") + """
echo HB-READY
wait_disk /dev/vdb 60 || exit 1
result size_b $(blockdev --getsize64 /dev/vdb)
""" + rw_script("/dev/vdb", "_b") + """
# disk A still works after the hot-plug
dd if=/dev/vda of=/tmp/again bs=64k skip=16 count=16 iflag=direct 2>/dev/null
cmp /data/pattern /tmp/again && result still_a ok
"""
    pattern = os.urandom(MiB)
    g = Guest(tmp_path, "vm1", script, [tmp_path / "a.sock"], files={"pattern": pattern})
    vms.append(g)
    g.wait_for("HB-READY")
    qmp.cmd("device_add", {"driver": "vhost-user-blk-pci", "drive": "b", "id": "hot0"})
    sock_b = daemon.export_dir / "hot0.sock"
    g.qmp("chardev-add", {"id": "hotc", "backend": {"type": "socket", "data": {
        "addr": {"type": "unix", "data": {"path": str(sock_b)}}, "server": False}}})
    g.qmp("device_add", {"driver": "vhost-user-blk-pci", "chardev": "hotc", "id": "hot0"})
    res = g.wait()
    assert res["readback_a"] == "ok" and res["readback_b"] == "ok" and res["still_a"] == "ok"
    assert res["size_b"] == str(32 * MiB)
    assert read_at(a, MiB, MiB) == pattern and read_at(b, MiB, MiB) == pattern
    # the guest is gone: unplug
    qmp.cmd("device_del", id="hot0")
    ev = qmp.wait_event("DEVICE_DELETED")
    assert ev["data"]["device"] == "hot0"
    assert not sock_b.exists()
    assert [e["id"] for e in qmp.cmd("query-block-exports")] == ["disk-a"]


def test_multiqueue_and_read_only(daemon, qmp, tmp_path, vms):
    mq = raw_file(tmp_path / "mq.raw", 64 * MiB)
    ro = raw_file(tmp_path / "ro.raw", 16 * MiB)
    with open(ro, "r+b") as f:
        f.write(b"\xa5" * 4096)
    qmp.cmd("blockdev-add", {"driver": "file", "node-name": "mq", "filename": str(mq)})
    qmp.cmd("blockdev-add", {"driver": "file", "node-name": "ro", "filename": str(ro)})
    qmp.cmd("device_add", {"driver": "virtio-blk-pci", "drive": "mq", "id": "mq0",
                           "num-queues": 2})
    qmp.cmd("device_add", {"driver": "virtio-blk-pci", "drive": "ro", "id": "ro0",
                           "read-only": True})
    script = rw_script("/dev/vda") + """
result queues $(ls /sys/block/vda/mq | wc -l)
wait_disk /dev/vdb || exit 1
result ro_b $(blockdev --getro /dev/vdb)
dd if=/dev/vdb of=/tmp/ro bs=4096 count=1 iflag=direct 2>/dev/null
result ro_md5 $(md5sum /tmp/ro | cut -d' ' -f1)
blockdev --setrw /dev/vdb 2>/dev/null
if dd if=/data/pattern of=/dev/vdb bs=4096 count=1 oflag=direct 2>/dev/null; then
    result ro_write succeeded
else
    result ro_write failed
fi
"""
    pattern = os.urandom(MiB)
    g = Guest(tmp_path, "vm", script,
              [(daemon.export_dir / "mq0.sock", {"num-queues": 2}),
               (daemon.export_dir / "ro0.sock", {"num-queues": 1})], files={"pattern": pattern},
              smp=2)   # virtio-blk uses at most one queue per CPU
    vms.append(g)
    res = g.wait()
    assert res["readback"] == "ok" and res["queues"] == "2"
    assert res["ro_b"] == "1" and res["ro_write"] == "failed"
    import hashlib
    assert res["ro_md5"] == hashlib.md5(b"\xa5" * 4096).hexdigest()
    assert read_at(mq, MiB, MiB) == pattern
    assert read_at(ro, 0, 4096) == b"\xa5" * 4096


def test_guest_restart_reconnects(daemon, qmp, tmp_path, vms):
    """A VM restart is a new front-end on the same socket: it gets the device
    back with what the previous boot wrote."""
    img = raw_file(tmp_path / "r.raw", 32 * MiB)
    qmp.cmd("blockdev-add", {"driver": "file", "node-name": "r", "filename": str(img)})
    qmp.cmd("device_add", {"driver": "virtio-blk-pci", "drive": "r", "id": "vdisk"})
    sock = daemon.export_dir / "vdisk.sock"
    pattern = os.urandom(MiB)
    g1 = Guest(tmp_path, "boot1", rw_script(), [sock], files={"pattern": pattern},
               reconnect=True)
    vms.append(g1)
    assert g1.wait()["readback"] == "ok"
    g2 = Guest(tmp_path, "boot2", """
wait_disk /dev/vda || exit 1
dd if=/dev/vda of=/tmp/back bs=64k skip=16 count=16 iflag=direct 2>/dev/null
cmp /data/pattern /tmp/back && result persisted ok
""", [sock], files={"pattern": pattern}, reconnect=True)
    vms.append(g2)
    assert g2.wait()["persisted"] == "ok"
    assert qmp.cmd("query-block-exports")[0]["id"] == "vdisk"


# Writes 400 x 64 KiB with O_DIRECT (cycling over 16 blocks), then reads back.
CRASH_LOOP_SCRIPT = """
wait_disk /dev/vda || exit 1
echo HB-LOOP
i=0
while [ $i -lt 400 ]; do
    b=$((i % 16))
    dd if=/data/pattern of=/dev/vda bs=64k seek=$((16 + b)) skip=$b count=1 oflag=direct 2>/tmp/err || { cat /tmp/err; result write_failed $i; exit 1; }
    i=$((i + 1))
done
result writes $i
dd if=/dev/vda of=/tmp/back bs=64k skip=16 count=16 iflag=direct 2>/dev/null
cmp /data/pattern /tmp/back && result readback ok
"""


def crash_under_io(tmp_path, vms, sock, img, d1, restart):
    """A guest (reconnect=1) writes through @sock; @d1 is SIGKILLed
    mid-loop and restart() starts the next daemon.  Every write must land:
    QEMU reconnects and hands back the INFLIGHT_SHMFD buffer.  Returns the
    new daemon."""
    import signal
    import time
    pattern = os.urandom(MiB)
    g = Guest(tmp_path, "vm", CRASH_LOOP_SCRIPT, [sock], files={"pattern": pattern},
              reconnect=True)
    vms.append(g)
    g.wait_for("HB-LOOP")
    time.sleep(1.0)
    d1.proc.send_signal(signal.SIGKILL)
    d1.proc.wait()
    d1.stderr.close()
    d2 = restart()
    res = g.wait(timeout=120)
    assert res["writes"] == "400" and res["readback"] == "ok"
    assert read_at(img, MiB, MiB) == pattern
    assert d2.proc.poll() is None
    return d2


def test_daemon_crash_and_restart_under_io(daemon_factory, tmp_path, vms):
    """hotblockd is killed (SIGKILL) while the guest writes; a new hotblockd
    takes the socket back, QEMU reconnects (reconnect=1) and hands it the
    INFLIGHT_SHMFD buffer; the guest's I/O completes and the data is right."""
    img = raw_file(tmp_path / "c.raw", 32 * MiB)
    sock = tmp_path / "crash.sock"
    args = ("--blockdev", f'{{"driver":"file","filename":"{img}","node-name":"f0"}}',
            "--export", f"type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,"
                        f"addr.path={sock},writable=on")
    crash_under_io(tmp_path, vms, sock, img, daemon_factory(*args),
                   lambda: daemon_factory(*args))


def test_restart_from_state_file_under_io(daemon_factory, tmp_path, vms):
    """The graph was built over QMP (nothing on the command line): after a
    SIGKILL under guest I/O, a daemon started with only --state-file
    rebuilds it, the VM reconnects to the same socket and its writes all
    land (INFLIGHT resubmission)."""
    img = raw_file(tmp_path / "s.raw", 32 * MiB)
    state = tmp_path / "state.json"
    d1 = daemon_factory("--state-file", str(state))
    q = d1.qmp()
    q.cmd("blockdev-add", {"driver": "file", "node-name": "f0", "filename": str(img)})
    q.cmd("blockdev-add", {"driver": "raw", "node-name": "r0", "file": "f0"})
    q.cmd("device_add", {"driver": "vhost-user-blk-pci", "drive": "r0", "id": "vd0"})
    d2 = crash_under_io(tmp_path, vms, d1.export_dir / "vd0.sock", img, d1,
                        lambda: daemon_factory("--state-file", str(state)))
    assert "graph rebuilt from state file" in d2.log()


def test_device_add_while_serving_another_vm(daemon, qmp, tmp_path, vms):
    """VM1 keeps writing to its disk while device_add creates a second disk
    and VM2 boots on it; both finish with correct data."""
    a = raw_file(tmp_path / "a.raw", 32 * MiB)
    b = raw_file(tmp_path / "b.raw", 32 * MiB)
    qmp.cmd("blockdev-add", {"driver": "file", "node-name": "a", "filename": str(a)})
    qmp.cmd("blockdev-add", {"driver": "file", "node-name": "b", "filename": str(b)})
    qmp.cmd("device_add", {"driver": "virtio-blk-pci", "drive": "a", "id": "vm1-disk"})
    pattern1, pattern2 = os.urandom(MiB), os.urandom(MiB)
    g1 = Guest(tmp_path, "vm1", """
wait_disk /dev/vda || exit 1
echo HB-LOOP
i=0
while [ $i -lt 300 ]; do
    b=$((i % 16))
    dd if=/data/pattern of=/dev/vda bs=64k seek=$((16 + b)) skip=$b count=1 oflag=direct 2>/dev/null || exit 1
    i=$((i + 1))
done
dd if=/dev/vda of=/tmp/back bs=64k skip=16 count=16 iflag=direct 2>/dev/null
cmp /data/pattern /tmp/back && result readback ok
""", [daemon.export_dir / "vm1-disk.sock"], files={"pattern": pattern1})
    vms.append(g1)
    g1.wait_for("HB-LOOP")
    qmp.cmd("device_add", {"driver": "virtio-blk-pci", "drive": "b", "id": "vm2-disk"})
    g2 = Guest(tmp_path, "vm2", rw_script(), [daemon.export_dir / "vm2-disk.sock"],
               files={"pattern": pattern2})
    vms.append(g2)
    assert g2.wait(timeout=120)["readback"] == "ok"
    assert g1.wait(timeout=120)["readback"] == "ok"
    assert read_at(a, MiB, MiB) == pattern1 and read_at(b, MiB, MiB) == pattern2
    for dev in ("vm1-disk", "vm2-disk"):
        qmp.cmd("device_del", id=dev)
        assert qmp.wait_event("DEVICE_DELETED")["data"]["device"] == dev


def test_guest_discard(daemon, qmp, tmp_path, vms):
    """The guest's virtio_blk driver sees DISCARD and uses it: with
    discard=unmap the file gets a hole where the guest discarded."""
    img = raw_file(tmp_path / "d.raw", 32 * MiB)
    qmp.cmd("blockdev-add", {"driver": "file", "node-name": "d", "filename": str(img),
                             "discard": "unmap"})
    qmp.cmd("device_add", {"driver": "virtio-blk-pci", "drive": "d", "id": "ddisk"})
    pattern = os.urandom(MiB)
    script = rw_script() + """
result max_discard $(cat /sys/block/vda/queue/discard_max_bytes)
sync
blkdiscard -o 1048576 -l 524288 /dev/vda || exit 1
dd if=/dev/vda of=/tmp/after bs=64k skip=16 count=16 iflag=direct 2>/dev/null
result after_md5 $(md5sum /tmp/after | cut -d' ' -f1)
"""
    g = Guest(tmp_path, "vm", script, [daemon.export_dir / "ddisk.sock"],
              files={"pattern": pattern})
    vms.append(g)
    res = g.wait()
    assert res["readback"] == "ok" and int(res["max_discard"]) > 0
    import hashlib
    want = bytes(MiB // 2) + pattern[MiB // 2:]
    assert res["after_md5"] == hashlib.md5(want).hexdigest()
    assert read_at(img, MiB, MiB) == want


def test_online_resize_reaches_the_guest(daemon, qmp, tmp_path, vms):
    """block_resize on an exported node while the guest runs: the daemon
    sends CONFIG_CHANGE_MSG over BACKEND_REQ, QEMU re-reads the config and
    interrupts the guest, whose disk grows in place; the new sectors are
    written and read back."""
    img = raw_file(tmp_path / "grow.raw", 32 * MiB)
    qmp.cmd("blockdev-add", {"driver": "file", "node-name": "g", "filename": str(img)})
    qmp.cmd("device_add", {"driver": "virtio-blk-pci", "drive": "g", "id": "gdisk"})
    pattern = os.urandom(MiB)
    script = """
wait_disk /dev/vda || exit 1
result old_size $(blockdev --getsize64 /dev/vda)
echo HB-READY
n=0
while [ "$(cat /sys/block/vda/size)" = 65536 ]; do
    n=$((n + 1)); [ $n -gt 600 ] && { echo "HB-RESULT never-grew"; exit 1; }
    sleep 0.1
done
result new_size $(blockdev --getsize64 /dev/vda)
# 40 MiB: past the old end
dd if=/data/pattern of=/dev/vda bs=64k seek=640 oflag=direct conv=fsync 2>/tmp/err || { cat /tmp/err; exit 1; }
dd if=/dev/vda of=/tmp/back bs=64k skip=640 count=16 iflag=direct 2>/tmp/err || { cat /tmp/err; exit 1; }
cmp /data/pattern /tmp/back && result grown_rw ok
"""
    g = Guest(tmp_path, "vm", script, [daemon.export_dir / "gdisk.sock"],
              files={"pattern": pattern})
    vms.append(g)
    g.wait_for("HB-READY")
    qmp.cmd("block_resize", {"node-name": "g", "size": 48 * MiB})
    res = g.wait()
    assert res["old_size"] == str(32 * MiB)
    assert res["new_size"] == str(48 * MiB)
    assert res["grown_rw"] == "ok"
    assert os.path.getsize(img) == 48 * MiB
    assert read_at(img, 40 * MiB, MiB) == pattern

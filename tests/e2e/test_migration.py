# SPDX-License-Identifier: GPL-2.0-or-later
"""Live migration of a real guest whose disk is a hotblockd export
(qemu-system-x86_64 -accel tcg, Debian's kernel, busybox).

The guest runs a write-and-verify loop with O_DIRECT on its disk, in
passes: every pass rewrites a few "hot" blocks (each first read back and
checked to hold the previous pass, so a write lost or reordered by the
handover shows as stale data) and writes a few fresh "log" blocks that are
never written again.  Every block encodes its number and its pass.  The
loop goes on until the host hot-plugs a PCI device into whichever QEMU
runs the guest by then (a signal that needs no disk and no network); the
guest then reads every block back, reports, and powers off.  The host then
checks the same blocks in the image itself, behind the daemons' back.

Migration is QEMU's: the destination QEMU starts with -incoming and -S,
the source's `migrate` runs until query-migrate says completed, and `cont`
starts the destination.  QEMU's downtime is printed (pytest -s shows it).
"""
import time

import pytest

from hbtest.guest import Guest, migrate, start_migration, wait_migration
from hbtest.luks import PASS, master_key_via_cryptsetup, xts
from hbtest.paths import HOTBLOCK_IMG
from hbtest.tools import run

MiB = 1 << 20
BLOCK = 4096
HOT = 8                # hot blocks 0..7, rewritten every pass
LOG0 = 64              # log blocks from 64 on, HOT of them per pass
MAX_PASSES = 1500      # the log region ends within 64 MiB
DISK = 64 * MiB

LOOP_SCRIPT = """
wait_disk /dev/vda || exit 1
# mk BLOCK PASS: /tmp/blk is the 4 KiB that block BLOCK holds after pass PASS
# (256 lines of 16 bytes)
mk() {
    s="b$((1000000 + $1))p$((100000 + $2))
"
    for i in 1 2 3 4 5 6 7 8; do s="$s$s"; done
    printf '%%s' "$s" > /tmp/blk
}
wr() {
    dd if=/tmp/blk of=/dev/vda bs=4096 seek=$1 count=1 oflag=direct 2>/tmp/err ||
        { cat /tmp/err; result write_failed "$p $1"; exit 1; }
}
# rd BLOCK: does it hold /tmp/blk?
rd() {
    dd if=/dev/vda of=/tmp/rb bs=4096 skip=$1 count=1 iflag=direct 2>/tmp/err ||
        { cat /tmp/err; result read_failed "$p $1"; exit 1; }
    cmp -s /tmp/blk /tmp/rb
}
npci=$(ls /sys/bus/pci/devices | wc -l)
p=0
echo HB-LOOP
while [ "$(ls /sys/bus/pci/devices | wc -l)" = "$npci" ] && [ $p -lt %(max)d ]; do
    p=$((p + 1))
    b=0
    while [ $b -lt %(hot)d ]; do
        if [ $p -gt 1 ]; then
            mk $b $((p - 1)); rd $b || { result stale "$p $b"; exit 1; }
        fi
        mk $b $p; wr $b; rd $b || { result mismatch "$p $b"; exit 1; }
        l=$((%(log0)d + (p - 1) * %(hot)d + b))
        mk $l $p; wr $l
        b=$((b + 1))
    done
    echo "HB-PASS $p"
done
result passes $p
# everything written, before, during and after any migration, reads back
bad=0
b=0
while [ $b -lt %(hot)d ]; do mk $b $p; rd $b || bad=$((bad + 1)); b=$((b + 1)); done
q=1
while [ $q -le $p ]; do
    b=0
    while [ $b -lt %(hot)d ]; do
        l=$((%(log0)d + (q - 1) * %(hot)d + b))
        mk $l $q; rd $l || bad=$((bad + 1))
        b=$((b + 1))
    done
    q=$((q + 1))
done
result bad_blocks $bad
""" % {"hot": HOT, "log0": LOG0, "max": MAX_PASSES}


def block_data(block, npass):
    """What the guest's mk BLOCK PASS makes."""
    return (f"b{1000000 + block}p{100000 + npass}\n" * (BLOCK // 16)).encode()


def expected_blocks(passes):
    """{block: data} after @passes passes of the loop."""
    want = {b: block_data(b, passes) for b in range(HOT)}
    for q in range(1, passes + 1):
        for b in range(HOT):
            lb = LOG0 + (q - 1) * HOT + b
            want[lb] = block_data(lb, q)
    return want


def bad_blocks(plain, passes):
    """Blocks of @plain (the disk's first bytes, in the clear) that do not
    hold what the loop wrote last."""
    return [b for b, d in expected_blocks(passes).items()
            if plain[b * BLOCK:(b + 1) * BLOCK] != d]


def passes_seen(text):
    return [int(line.split()[1]) for line in text.splitlines() if line.startswith("HB-PASS ")]


def wait_passes(g, n, own=False, timeout=120):
    """Until the guest has finished @n more passes (on @g's own console
    if @own, else since boot)."""
    out = g.own_output if own else g.output
    start = len(passes_seen(out()))
    deadline = time.monotonic() + timeout
    while len(passes_seen(out())) < start + n:
        if g.proc.poll() is not None:
            raise AssertionError(f"{g.name} exited:\n{g.log()}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{g.name}: no pass in {timeout}s:\n{g.log()}")
        time.sleep(0.2)


def stop_loop(g):
    """Hot-plug a PCI device into @g: the guest's loop ends at its next pass."""
    g.qmp("device_add", {"driver": "pci-testdev", "id": "hb-stop"})


def finish(g, before, timeout=180):
    """Stop the loop on @g, wait for it to power off; check that the guest
    found every block, that it wrote in passes after @before, and return
    the number of passes."""
    stop_loop(g)
    res = g.wait(timeout=timeout)
    passes = int(res["passes"])
    assert passes < MAX_PASSES, "the loop ran to its end: the stop signal never came"
    assert passes > before, f"no pass after pass {before}"
    assert res["bad_blocks"] == "0", g.log()
    assert "stale" not in res and "mismatch" not in res
    return passes


@pytest.fixture
def report(request):
    """A function that shows a line in the test log whether pytest
    captures output or not (`meson test` runs pytest -q): capture is
    suspended for the terminal reporter to write it."""
    plugins = request.config.pluginmanager
    tr, cap = plugins.getplugin("terminalreporter"), plugins.getplugin("capturemanager")

    def say(line):
        if tr and cap:
            with cap.global_and_fixture_disabled():
                tr.write_line(f"\n{request.node.name}: {line}")
        else:
            print(line)
    return say


def migrate_under_load(src, dst, report):
    """migrate(), slowed down (32 MiB/s: a few seconds for what the guest
    touched) so that the guest writes while the daemon logs; reports
    QEMU's downtime; returns the passes done when it started."""
    start = max(passes_seen(src.own_output()))
    migrate(src, dst, max_bandwidth=32 << 20, report=report)
    return start


def dirty_logs(qmp, export="vdisk"):
    """For each session of @export (query-block-exports), whether the
    front-end has dirty-page logging on."""
    e = [x for x in qmp.cmd("query-block-exports") if x["id"] == export][0]
    return [s["dirty-log"] for s in e.get("sessions", [])]


def wait_logging_off(qmp, timeout=30):
    deadline = time.monotonic() + timeout
    while any(dirty_logs(qmp)):
        assert time.monotonic() < deadline, f"logging still on: {dirty_logs(qmp)}"
        time.sleep(0.1)


def wait_exit(g, timeout=60):
    """@g's QEMU ends by itself (a migration destination whose stream broke)."""
    try:
        return g.proc.wait(timeout)
    finally:
        g.kill()


def qcow2_graph(qmp, img, node="disk", file_node="disk-file", **extra):
    qmp.cmd("blockdev-add", {"driver": "file", "node-name": file_node, "filename": str(img),
                             **extra})
    qmp.cmd("blockdev-add", {"driver": "qcow2", "node-name": node, "file": file_node,
                             **extra})


def export_add(qmp, node, sock, **extra):
    qmp.cmd("block-export-add", {"type": "vhost-user-blk", "id": "vdisk", "node-name": node,
                                 "writable": True,
                                 "addr": {"type": "unix", "path": str(sock)}, **extra})


def qcow2_plain(tmp_path, img, size=DISK):
    """The first @size bytes of qcow2 @img as raw, read by qemu-img."""
    out = tmp_path / "readback.raw"
    run("qemu-img", "convert", "-U", "-f", "qcow2", "-O", "raw", img, out)
    with open(out, "rb") as f:
        return f.read(size)


def check_qcow2(img):
    out = run("qemu-img", "check", img).stdout
    assert "No errors were found" in out, out
    assert "Leaked clusters" not in out, out


def one_daemon_vms(qmp, tmp_path, vms, defer=False):
    """A qcow2 image exported by the test's daemon, VM1 looping on it (two
    passes done), and VM2, a migration target, on the same export: the
    image, the socket and the two guests.  @defer: VM2 starts with
    -incoming defer (see Guest.migration_target())."""
    img = tmp_path / "disk.qcow2"
    run("qemu-img", "create", "-f", "qcow2", img, str(DISK))
    qcow2_graph(qmp, img)
    sock = tmp_path / "vdisk.sock"
    export_add(qmp, "disk", sock)
    vm1 = Guest(tmp_path, "vm1", LOOP_SCRIPT, [sock])
    vms.append(vm1)
    wait_passes(vm1, 2)
    vm2 = vm1.migration_target("vm2", [sock], defer=defer)   # the export's second session
    vms.append(vm2)
    return img, sock, vm1, vm2


def check_one_daemon_disk(qmp, tmp_path, img, passes):
    """Close the image (flushing it) and check it from the host."""
    qmp.cmd("block-export-del", id="vdisk")
    qmp.wait_event("BLOCK_EXPORT_DELETED")
    for node in ("disk", "disk-file"):
        qmp.cmd("blockdev-del", {"node-name": node})
    assert bad_blocks(qcow2_plain(tmp_path, img), passes) == []
    check_qcow2(img)


def test_same_host_one_daemon(daemon, qmp, tmp_path, vms, report):
    """VM2 connects to the same export while VM1 still runs on it (two
    sessions), the guest is migrated and goes on on VM2 without an error;
    every block reads back from the guest and from the host."""
    img, sock, vm1, vm2 = one_daemon_vms(qmp, tmp_path, vms)
    # a third front-end is past the export's limit (max-sessions, default 2)
    with pytest.raises(AssertionError, match="exited before listening"):
        vms.append(vm1.migration_target("vm3", [sock]))
    assert "refused a front-end connection: 2 sessions are already connected" in daemon.log()
    during = migrate_under_load(vm1, vm2, report)
    before = max(passes_seen(vm1.own_output()))
    assert before > during, "no pass while the migration ran"
    assert vm1.run_state() == "postmigrate"
    vm2.wait_run_state("paused")
    vm2.qmp("cont")
    vm1.quit()
    wait_passes(vm2, 2, own=True)
    passes = finish(vm2, before)

    check_one_daemon_disk(qmp, tmp_path, img, passes)


@pytest.mark.parametrize("how", ["migrate_cancel", "kill-destination"])
def test_failed_migration_leaves_source_running(daemon, qmp, tmp_path, vms, how):
    """A migration slowed down (max-bandwidth) and then cancelled, or broken
    by killing the destination QEMU: the source VM keeps running on its
    disk, which stays intact and writable (the loop goes on, every block
    checks).  The cancelled one's destination starts as libvirt's does,
    with -incoming defer and migrate-incoming."""
    img, sock, vm1, vm2 = one_daemon_vms(qmp, tmp_path, vms, defer=how == "migrate_cancel")
    # 4 MiB/s: the ~80 MiB the guest has touched take about 20 s
    start_migration(vm1, vm2, max_bandwidth=4 << 20)
    wait_migration(vm1, until=("active",))
    wait_passes(vm1, 1)                  # the guest writes while logging is on
    # the source's session logs; the destination's has not started
    assert sorted(dirty_logs(qmp)) == [False, True]
    if how == "migrate_cancel":
        vm1.qmp("migrate_cancel")
        info = wait_migration(vm1, until=("cancelled", "failed", "completed"))
        assert info["status"] == "cancelled", info
    else:
        vm2.kill()
        info = wait_migration(vm1, until=("failed", "cancelled", "completed"))
        assert info["status"] == "failed", info
    assert vm1.run_state() == "running"
    wait_exit(vm2)
    wait_logging_off(qmp)                # QEMU turned it off on the source
    before = max(passes_seen(vm1.own_output()))
    wait_passes(vm1, 2)
    passes = finish(vm1, before)

    check_one_daemon_disk(qmp, tmp_path, img, passes)


# The seed's graph: a qcow2 payload under a detached LUKS header, libvirt's node names.
SEED_NODES = ("libvirt-3-format", "libvirt-2-format", "libvirt-2-storage",
              "libvirt-1-format", "libvirt-1-storage")


def seed_graph(qmp, hdr, payload, sock, active=True):
    """The seed's graph on @qmp's daemon, exported on @sock; inactive for a
    migration destination.  Both ends' exports allow an inactive node: the
    destination's is created on one, the source's node is deactivated at
    the handover (an export without allow-inactive refuses that)."""
    inactive = {} if active else {"active": False}
    qmp.cmd("object-add", {"qom-type": "secret", "id": "libvirt-4-format-secret",
                           "data": PASS})
    qmp.cmd("blockdev-add", {"node-name": "libvirt-1-storage", "driver": "file",
                             "filename": str(hdr), **inactive})
    qmp.cmd("blockdev-add", {"node-name": "libvirt-1-format", "driver": "raw",
                             "file": "libvirt-1-storage", **inactive})
    qmp.cmd("blockdev-add", {"node-name": "libvirt-2-storage", "driver": "file",
                             "filename": str(payload), **inactive})
    qmp.cmd("blockdev-add", {"node-name": "libvirt-2-format", "driver": "qcow2",
                             "file": "libvirt-2-storage", **inactive})
    qmp.cmd("blockdev-add", {"node-name": "libvirt-3-format", "driver": "luks",
                             "file": "libvirt-2-format", "header": "libvirt-1-format",
                             "key-secret": "libvirt-4-format-secret", **inactive})
    export_add(qmp, "libvirt-3-format", sock, **{"allow-inactive": True})


def delete_seed_graph(qmp):
    qmp.cmd("block-export-del", id="vdisk")
    qmp.wait_event("BLOCK_EXPORT_DELETED")
    for node in SEED_NODES:
        qmp.cmd("blockdev-del", {"node-name": node})


def require_activation(qmp):
    names = {c["name"] for c in qmp.cmd("query-commands")}
    if "blockdev-set-active" not in names:
        pytest.skip("hotblockd has no blockdev-set-active: the handover between two "
                    "daemons needs inactive nodes")


def seed_volumes(tmp_path):
    hdr, payload = tmp_path / "test-header.img", tmp_path / "test-payload.qcow2"
    run(HOTBLOCK_IMG, "create", "--object", f"secret,id=sec0,data={PASS}", "-f", "luks",
        "-o", "cipher-alg=aes-256,cipher-mode=xts", "-o", "key-secret=sec0",
        "-o", "detached-header=true", "-o", "iter-time=10", hdr)
    run(HOTBLOCK_IMG, "create", "-f", "qcow2", payload, str(DISK))
    return hdr, payload


def check_seed_volumes(tmp_path, hdr, payload, passes):
    """Decrypt the payload independently (qemu-img reads the qcow2,
    cryptsetup gives the master key, python decrypts) and check the blocks."""
    span = (LOG0 + passes * HOT) * BLOCK
    cipher = qcow2_plain(tmp_path, payload, span)
    plain = xts(master_key_via_cryptsetup(tmp_path, hdr), cipher, 0, encrypt=False)
    assert bad_blocks(plain, passes) == []
    check_qcow2(payload)


@pytest.mark.parametrize("outcome", ["handover", "destination-lost"])
def test_two_daemons_one_image(daemon_factory, tmp_path, vms, outcome, report):
    """Each host's daemon over the same image (shared storage).  The
    destination daemon opens the seed's graph inactive and exports it
    (allow-inactive); VM2 starts with -incoming and -S; migrate; at
    completion the source daemon deactivates (flushing), the destination
    activates, `cont` on VM2.  Or the destination is lost after the source
    deactivated: the source daemon activates again and `cont` on VM1 goes
    on where it stopped."""
    d1 = daemon_factory(subdir="src")
    d2 = daemon_factory(subdir="dst")
    q1, q2 = d1.qmp(), d2.qmp()
    require_activation(q1)
    hdr, payload = seed_volumes(tmp_path)
    sock1, sock2 = tmp_path / "src.sock", tmp_path / "dst.sock"
    seed_graph(q1, hdr, payload, sock1)
    seed_graph(q2, hdr, payload, sock2, active=False)

    vm1 = Guest(tmp_path, "vm1", LOOP_SCRIPT, [sock1])
    vms.append(vm1)
    wait_passes(vm1, 2)
    vm2 = vm1.migration_target("vm2", [sock2])
    vms.append(vm2)
    during = migrate_under_load(vm1, vm2, report)
    before = max(passes_seen(vm1.own_output()))
    assert before > during, "no pass while the migration ran"
    assert vm1.run_state() == "postmigrate"
    q1.cmd("blockdev-set-active", {"active": False})
    if outcome == "handover":
        q2.cmd("blockdev-set-active", {"active": True})
        vm2.wait_run_state("paused")
        vm2.qmp("cont")
        vm1.quit()
        wait_passes(vm2, 2, own=True)
        passes = finish(vm2, before)
    else:
        vm2.kill()
        q1.cmd("blockdev-set-active", {"active": True})
        vm1.qmp("cont")
        assert vm1.run_state() == "running"
        wait_passes(vm1, 2, own=True)
        passes = finish(vm1, before)
    delete_seed_graph(q1)
    delete_seed_graph(q2)
    check_seed_volumes(tmp_path, hdr, payload, passes)

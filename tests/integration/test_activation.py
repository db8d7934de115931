# SPDX-License-Identifier: GPL-2.0-or-later
"""Node activation: handing an image over between two hotblockd daemons on
shared storage, as QEMU 10.0 does on migration (blockdev-set-active,
blockdev-add's "active", the export's "allow-inactive").

The destination opens the graph inactive while the source still writes;
the source inactivates (its data flushed, its write lock released); the
destination activates and reads the data.  QEMU's own tools check what
reached the disk and that no daemon holds the write lock when it should
not."""
import json
import struct
import subprocess
import time

import pytest

from hbtest.bench import bench, export_info, pattern_word
from hbtest.daemon import Daemon
from hbtest.graph import image_locks, snapshot
from hbtest.luks import PASS, master_key_via_cryptsetup, seed_graph, xts
from hbtest.paths import BENCH, HOTBLOCK_IMG
from hbtest.tools import run

MiB = 1 << 20
SIZE = 64 * MiB
SEED = 0xAC71
# The source writes here; a front-end verifies the same range later.
SPAN = 2 * MiB
BS = 64 * 1024


@pytest.fixture
def pair(tmp_path):
    """Two daemons, each in its own directory: (source, destination)."""
    started = []

    def start(name):
        d = tmp_path / name
        d.mkdir()
        started.append(Daemon(d))
        return started[-1]

    yield start("src"), start("dst")
    for d in started:
        if d.proc.poll() is None:
            rc = d.stop()
            assert rc == 0, f"hotblockd exited {rc} at teardown: {d.log()}"
        # Sanitizer builds, as hbtest.plugin's daemon_factory.
        for report in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            assert report not in d.log(), d.log()


def qcow2_volume(tmp):
    img = tmp / "disk.qcow2"
    run("qemu-img", "create", "-f", "qcow2", img, str(SIZE))
    graph = [{"node-name": "s", "driver": "file", "filename": str(img)},
             {"node-name": "top", "driver": "qcow2", "file": "s"}]
    return graph, "top", {"fmt": "qcow2", "img": img}


def seed_volume(tmp):
    """The seed's graph: LUKS with a detached header over a qcow2 payload."""
    graph, hdr, payload = seed_graph(tmp, SIZE)
    return graph, "libvirt-3-format", {"fmt": "luks", "img": payload, "hdr": hdr}


VOLUMES = {"qcow2": qcow2_volume, "luks": seed_volume}


def build(qmp, graph, vol, active=True):
    if vol["fmt"] == "luks":
        qmp.cmd("object-add", **{"qom-type": "secret"}, id="sec0", data=PASS)
    for args in graph:
        qmp.cmd("blockdev-add", dict(args, active=active) if not active else args)


def export(qmp, node, sock, **extra):
    qmp.cmd("block-export-add", type="vhost-user-blk", id="e0", **{"node-name": node},
            writable=True, addr={"type": "unix", "path": str(sock)}, **extra)


def nodes(qmp):
    return qmp.cmd("query-named-block-nodes", flat=True)


def actives(qmp):
    return {n["node-name"]: n["active"] for n in nodes(qmp)}


def write_span(sock, seed=SEED):
    _, res, _ = bench(sock, "--rw", "write", "--bs", BS, "--count", SPAN // BS,
                      "--size", SPAN, "--seed", seed)
    assert res["errors"] == 0


def check_span(sock, seed=SEED):
    """Read the span back through an export, comparing with the pattern."""
    _, res, _ = bench(sock, "--rw", "read", "--bs", BS, "--count", SPAN // BS,
                      "--size", SPAN, "--seed", seed, "--check")
    assert res["errors"] == 0 and res["verify_errors"] == 0, res


def check_image(tmp, vol, seed=SEED):
    """QEMU's tools, holding the image while both daemons are inactive: it is
    clean, not dirty, and holds the span (decrypted if need be)."""
    r = run("qemu-img", "check", vol["img"], check=False)
    assert r.returncode == 0 and "No errors were found" in r.stdout, r.stdout + r.stderr
    with open(vol["img"], "rb") as f:
        f.seek(72)   # incompatible_features; bit 0: dirty
        assert int.from_bytes(f.read(8), "big") & 1 == 0, "image left dirty"
    raw = tmp / "readback.raw"
    run("qemu-img", "convert", "-f", "qcow2", "-O", "raw", vol["img"], raw)
    key = master_key_via_cryptsetup(tmp, vol["hdr"]) if "hdr" in vol else None
    with open(raw, "rb") as f:
        for off in range(0, SPAN, BS):
            f.seek(off)
            data = f.read(BS)
            if key:
                data = xts(key, data, off // 512, encrypt=False)
            words = struct.unpack(f"<{BS // 8}Q", data)
            assert all(w == pattern_word(off + 8 * i, seed) for i, w in enumerate(words)), off


def qemu_io_write(img, fmt="qcow2", cmd="write -P 0x5a 0 4k"):
    """qemu-io opening @img read-write: fails while a daemon holds its write lock."""
    return run("qemu-io", "-f", fmt, "-c", cmd, str(img), check=False)


@pytest.mark.parametrize("fmt", ["qcow2", "luks"])
def test_handover_between_two_daemons(tmp_path, pair, fmt):
    src, dst = pair
    graph, top, vol = VOLUMES[fmt](tmp_path)
    qs, qd = src.qmp(), dst.qmp()

    build(qs, graph, vol)
    export(qs, top, tmp_path / "src.sock", **{"allow-inactive": True})
    write_span(tmp_path / "src.sock")

    # The destination opens everything inactive while the source writes.
    build(qd, graph, vol, active=False)
    assert set(actives(qd).values()) == {False}
    export(qd, top, tmp_path / "dst.sock", **{"allow-inactive": True})

    # Activating while the source holds the write lock changes nothing.
    before, locks = snapshot(dst, qd), image_locks(vol["img"])
    _, err = qd.err("blockdev-set-active", active=True)
    assert err == 'Failed to get "write" lock', err
    assert snapshot(dst, qd) == before and image_locks(vol["img"]) == locks
    _, err = qd.err("blockdev-set-active", **{"node-name": top}, active=True)
    assert err == 'Failed to get "write" lock', err
    assert snapshot(dst, qd) == before

    # The source stops: its data reaches the disk and it lets the write lock go.
    qs.cmd("blockdev-set-active", active=False)
    assert set(actives(qs).values()) == {False}
    check_image(tmp_path, vol)

    # Now the destination takes over and reads what the source wrote.
    qd.cmd("blockdev-set-active", active=True)
    assert set(actives(qd).values()) == {True}
    check_span(tmp_path / "dst.sock")
    write_span(tmp_path / "dst.sock", seed=SEED + 1)
    check_span(tmp_path / "dst.sock", seed=SEED + 1)

    # ... and the source cannot take it back while it does.
    before = snapshot(src, qs)
    _, err = qs.err("blockdev-set-active", active=True)
    assert err == 'Failed to get "write" lock', err
    assert snapshot(src, qs) == before


def test_reactivation_after_failed_handover(tmp_path, pair):
    src, dst = pair
    graph, top, vol = qcow2_volume(tmp_path)
    qs, qd = src.qmp(), dst.qmp()
    build(qs, graph, vol)
    export(qs, top, tmp_path / "src.sock", **{"allow-inactive": True})
    write_span(tmp_path / "src.sock")
    build(qd, graph, vol, active=False)

    qs.cmd("blockdev-set-active", **{"node-name": top}, active=False)
    assert actives(qs) == {"s": False, "top": False}
    # The destination dies before it activates: the source carries on.
    assert dst.stop() == 0
    qs.cmd("blockdev-set-active", **{"node-name": top}, active=True)
    assert actives(qs) == {"s": True, "top": True}
    check_span(tmp_path / "src.sock")
    write_span(tmp_path / "src.sock", seed=SEED + 2)
    check_span(tmp_path / "src.sock", seed=SEED + 2)
    # Its write lock is back: QEMU's tools cannot write now.
    assert qemu_io_write(vol["img"]).returncode != 0


def test_io_on_inactive_node_fails_cleanly(tmp_path, daemon, qmp):
    graph, top, vol = qcow2_volume(tmp_path)
    build(qmp, graph, vol)
    sock = tmp_path / "e.sock"
    export(qmp, top, sock, **{"allow-inactive": True})
    write_span(sock)

    qmp.cmd("blockdev-set-active", active=False)
    for rw in ("read", "write"):
        rc, res, err = bench(sock, "--rw", rw, "--bs", BS, "--count", 8, "--size", SPAN,
                             check=False)
        assert res is not None and res["errors"] > 0, (rc, res, err)
    # Flushes fail too; the daemon is still there and answers.
    rc, res, err = bench(sock, "--rw", "write", "--bs", BS, "--count", 1, "--flush",
                         "--size", SPAN, check=False)
    assert res is not None and res["errors"] > 0, (rc, res, err)
    assert daemon.proc.poll() is None
    assert actives(qmp) == {"s": False, "top": False}
    # block_resize refuses an inactive node.
    _, err = qmp.err("block_resize", **{"node-name": top}, size=SIZE * 2)
    assert err == "Permission 'resize' unavailable on inactive node"

    qmp.cmd("blockdev-set-active", active=True)
    check_span(sock)


@pytest.mark.parametrize("fmt", ["qcow2", "luks"])
def test_inactivate_under_load(tmp_path, daemon, qmp, fmt):
    """A front-end keeps its queue full while the node goes inactive and
    active again, several times: requests in flight are drained, the rest
    fail, nothing crashes, and the image is clean afterwards."""
    graph, top, vol = VOLUMES[fmt](tmp_path)
    build(qmp, graph, vol)
    sock, ready = tmp_path / "e.sock", tmp_path / "ready"
    export(qmp, top, sock, **{"allow-inactive": True})
    proc = subprocess.Popen([BENCH, str(sock), "--json", "--write-ok", "--rw", "randrw", "--bs", "4k",
                             "--iodepth", "16", "--runtime", "4", "--size", str(16 * MiB),
                             "--ready-file", str(ready)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.02)
        for _ in range(5):
            time.sleep(0.2)
            qmp.cmd("blockdev-set-active", active=False)
            time.sleep(0.1)
            qmp.cmd("blockdev-set-active", active=True)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    res = json.loads(out)
    assert res["ops"] > 0 and res["errors"] > 0, (res, err)
    assert daemon.proc.poll() is None
    qmp.cmd("blockdev-set-active", active=False)
    r = run("qemu-img", "check", vol["img"], check=False)
    assert r.returncode == 0 and "No errors were found" in r.stdout, r.stdout + r.stderr


def test_qcow2_metadata_reread_on_activation(tmp_path, pair):
    """Clusters another process allocates while we are inactive are read
    back after activation: the L2 table we had cached is not used again."""
    src, _ = pair
    graph, top, vol = qcow2_volume(tmp_path)
    qs = src.qmp()
    build(qs, graph, vol)
    sock = tmp_path / "src.sock"
    export(qs, top, sock, **{"allow-inactive": True})
    # The span's L2 table is cached now, the next span unallocated in it.
    write_span(sock)
    check_span(sock)
    qs.cmd("blockdev-set-active", active=False)

    # QEMU fills the next span: new clusters, new entries in that L2 table.
    pat = tmp_path / "pattern.bin"
    with open(pat, "wb") as f:
        for off in range(SPAN, 2 * SPAN, 8):
            f.write(struct.pack("<Q", pattern_word(off, SEED)))
    r = qemu_io_write(vol["img"], cmd=f"write -s {pat} {SPAN} {SPAN}")
    assert r.returncode == 0 and "wrote" in r.stdout, r.stdout + r.stderr

    qs.cmd("blockdev-set-active", active=True)
    _, res, _ = bench(sock, "--rw", "read", "--bs", BS, "--count", 2 * SPAN // BS,
                      "--size", 2 * SPAN, "--seed", SEED, "--check")
    assert res["errors"] == 0 and res["verify_errors"] == 0, res
    # Our own allocations after that do not overwrite QEMU's clusters.
    _, res, _ = bench(sock, "--rw", "write", "--bs", BS, "--count", 8,
                      "--size", 3 * SPAN, "--seed", SEED)
    qs.cmd("blockdev-set-active", active=False)
    r = run("qemu-img", "check", vol["img"], check=False)
    assert r.returncode == 0 and "No errors were found" in r.stdout, r.stdout


def test_resized_while_inactive(tmp_path, daemon, qmp):
    """The other process grew the image: activation shows the new size, to
    the query and to the export's front-end."""
    graph, top, vol = qcow2_volume(tmp_path)
    build(qmp, graph, vol)
    sock = tmp_path / "e.sock"
    export(qmp, top, sock, **{"allow-inactive": True})
    qmp.cmd("blockdev-set-active", active=False)
    run("qemu-img", "resize", vol["img"], str(2 * SIZE))
    assert nodes(qmp)[-1]["image"]["virtual-size"] == SIZE
    qmp.cmd("blockdev-set-active", active=True)
    assert nodes(qmp)[-1]["image"]["virtual-size"] == 2 * SIZE
    assert export_info(sock)["capacity"] == 2 * SIZE


def test_blockdev_add_inactive(tmp_path, daemon, qmp):
    graph, top, vol = qcow2_volume(tmp_path)
    image = vol["img"].read_bytes()
    # Inline children inherit "active": false.
    qmp.cmd("blockdev-add", {"node-name": top, "driver": "qcow2", "active": False,
                             "file": {"driver": "file", "filename": str(vol["img"])}})
    info = nodes(qmp)
    assert [n["active"] for n in info] == [False, False]
    assert info[-1]["image"]["virtual-size"] == SIZE
    # Nothing written, no write lock held: QEMU may write the image.
    assert vol["img"].read_bytes() == image
    r = qemu_io_write(vol["img"])
    assert r.returncode == 0, r.stdout + r.stderr

    # An inactive file node under an active format is not allowed to be
    # inactivated alone, and an unknown node is named in the error.
    _, err = qmp.err("blockdev-set-active", **{"node-name": "nope"}, active=False)
    assert err == "Failed to find node with node-name='nope'"
    qmp.cmd("blockdev-set-active", **{"node-name": top}, active=True)
    assert [n["active"] for n in nodes(qmp)] == [True, True]
    assert qemu_io_write(vol["img"]).returncode != 0
    child = nodes(qmp)[0]["node-name"]
    _, err = qmp.err("blockdev-set-active", **{"node-name": child}, active=False)
    assert err == "Node has active parent node"
    # Inactivating an inactive node again is allowed, as in QEMU.
    qmp.cmd("blockdev-set-active", **{"node-name": top}, active=False)
    qmp.cmd("blockdev-set-active", **{"node-name": top}, active=False)
    assert qemu_io_write(vol["img"]).returncode == 0
    qmp.cmd("blockdev-del", **{"node-name": top})

    # An active node over an inactive one by name is refused.
    qmp.cmd("blockdev-add", {"node-name": "f", "driver": "file", "active": False,
                             "filename": str(vol["img"])})
    _, err = qmp.err("blockdev-add", {"node-name": "q", "driver": "qcow2", "file": "f"})
    assert err == "Inactive 'f' can't be a file child of active 'q'"
    assert [n["node-name"] for n in nodes(qmp)] == ["f"]


def test_shared_child(tmp_path, daemon, qmp):
    """A child goes inactive with the last of its active parents, and comes
    back with the first one activated."""
    img = tmp_path / "disk.raw"
    img.write_bytes(bytes(1 << 20))
    qmp.cmd("blockdev-add", {"node-name": "f", "driver": "file", "filename": str(img)})
    for name in ("r1", "r2"):
        qmp.cmd("blockdev-add", {"node-name": name, "driver": "raw", "file": "f",
                                 "read-only": True})
    qmp.cmd("blockdev-set-active", **{"node-name": "r1"}, active=False)
    assert actives(qmp) == {"f": True, "r1": False, "r2": True}
    qmp.cmd("blockdev-set-active", **{"node-name": "r2"}, active=False)
    assert actives(qmp) == {"f": False, "r1": False, "r2": False}
    qmp.cmd("blockdev-set-active", **{"node-name": "r1"}, active=True)
    assert actives(qmp) == {"f": True, "r1": True, "r2": False}
    # The file alone, under an inactive parent only, may go.
    qmp.cmd("blockdev-set-active", **{"node-name": "r1"}, active=False)
    qmp.cmd("blockdev-set-active", **{"node-name": "f"}, active=True)
    qmp.cmd("blockdev-set-active", **{"node-name": "f"}, active=False)
    assert actives(qmp) == {"f": False, "r1": False, "r2": False}
    qmp.cmd("blockdev-set-active", active=True)
    assert set(actives(qmp).values()) == {True}


def test_export_of_inactive_node(tmp_path, pair):
    """Without allow-inactive an export activates its node first, as QEMU
    does: refused while another process holds the image, leaving the node
    inactive; with allow-inactive it is created on the inactive node."""
    src, dst = pair
    graph, top, vol = qcow2_volume(tmp_path)
    qs, qd = src.qmp(), dst.qmp()
    build(qs, graph, vol)
    build(qd, graph, vol, active=False)

    before = snapshot(dst, qd)
    _, err = qd.err("block-export-add", type="vhost-user-blk", id="e0",
                    **{"node-name": top}, writable=True,
                    addr={"type": "unix", "path": str(tmp_path / "dst.sock")})
    assert err == 'Failed to get "write" lock', err
    assert snapshot(dst, qd) == before
    assert qd.cmd("query-block-exports") == []

    export(qd, top, tmp_path / "dst.sock", **{"allow-inactive": True})
    assert actives(qd) == {"s": False, "top": False}
    qd.cmd("block-export-del", id="e0")

    # An export without allow-inactive keeps its node active, as in QEMU;
    # a device (device_add) does not.
    before = snapshot(src, qs)
    export(qs, top, tmp_path / "src.sock")
    _, err = qs.err("blockdev-set-active", **{"node-name": top}, active=False)
    assert err == "Failed to inactivate node: Operation not permitted"
    _, err = qs.err("blockdev-set-active", active=False)
    assert err == "Failed to inactivate all nodes: Operation not permitted"
    qs.cmd("block-export-del", id="e0")
    qs.wait_event("BLOCK_EXPORT_DELETED")
    assert snapshot(src, qs) == before
    qs.cmd("device_add", driver="vhost-user-blk-pci", id="vdisk0", drive=top)

    # Once the source let go, an export without allow-inactive activates,
    # and one that fails for another reason leaves the node inactive again.
    qs.cmd("blockdev-set-active", active=False)
    before = snapshot(dst, qd)
    qd.err("block-export-add", type="vhost-user-blk", id="e0", **{"node-name": top},
           writable=True, iothread="nope",
           addr={"type": "unix", "path": str(tmp_path / "dst2.sock")})
    assert snapshot(dst, qd) == before
    assert qemu_io_write(vol["img"]).returncode == 0
    export(qd, top, tmp_path / "dst2.sock")
    assert actives(qd) == {"s": True, "top": True}


def test_luks_header_reread_on_activation(tmp_path, daemon, qmp):
    """A LUKS header replaced while the node was inactive is noticed."""
    graph, top, vol = seed_volume(tmp_path)
    build(qmp, graph, vol)
    qmp.cmd("blockdev-set-active", active=False)
    run(HOTBLOCK_IMG, "create", "--object", f"secret,id=sec0,data={PASS}", "-f", "luks",
        "-o", "key-secret=sec0", "-o", "detached-header=true,iter-time=10",
        tmp_path / "other-header.img")
    saved = vol["hdr"].read_bytes()
    vol["hdr"].write_bytes((tmp_path / "other-header.img").read_bytes())

    before = snapshot(daemon, qmp)
    _, err = qmp.err("blockdev-set-active", active=True)
    assert err == ("Could not activate node 'libvirt-3-format': LUKS header changed "
                   "(UUID): the volume is no longer the one that was unlocked"), err
    assert snapshot(daemon, qmp) == before
    # Back to the header it was unlocked with: it activates.
    vol["hdr"].write_bytes(saved)
    qmp.cmd("blockdev-set-active", active=True)
    assert set(actives(qmp).values()) == {True}


def test_set_active_in_schema(qmp):
    schema = qmp.cmd("query-qmp-schema")
    names = {e["name"] for e in schema}
    assert "blockdev-set-active" in names
    text = json.dumps(schema)
    assert '"allow-inactive"' in text and '"active"' in text

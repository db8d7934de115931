# SPDX-License-Identifier: GPL-2.0-or-later
"""driver rbd against a real single-node Ceph cluster (hbtest.ceph): data
both ways with the rbd tool and QEMU's rbd driver, the seed's LUKS graph
with its payload in Ceph, errors that leave the graph as it was, resize,
snapshots, and an OSD that stops under I/O."""
import json
import os
import struct
import threading
import time

import pytest

from hbtest.bench import bench, pattern_word, start_bench
from hbtest.ceph import ceph  # noqa: F401  (fixture)
from hbtest.exports import export_args
from hbtest.graph import names
from hbtest.images import raw_file
from hbtest import luks2
from hbtest.luks import PASS, cryptsetup_header, xts
from hbtest.tools import run

MiB = 1 << 20
BS = 4096
SPAN = 4 * MiB
SEED = 0x7BD


def rbd_opts(ceph, image, **kw):
    """blockdev-add's rbd member for @image, reaching the cluster by
    server + key-secret "ckey" (no conf file: the daemon must not need one)."""
    o = {"driver": "rbd", "pool": ceph.pool, "image": image,
         "server": [{"host": "127.0.0.1", "port": str(ceph.mon_port)}],
         "user": "admin", "key-secret": "ckey"}
    o.update(kw)
    return o


@pytest.fixture
def rqmp(daemon, ceph):
    q = daemon.qmp()
    q.cmd("object-add", **{"qom-type": "secret", "id": "ckey"},
          data=ceph.admin_key(), format="base64")
    return q


_n = [0]


def new_image(ceph, size=SPAN + MiB):
    _n[0] += 1
    name = f"img{os.getpid()}-{_n[0]}"
    ceph.create_image(name, size)
    return name


def pattern(off, length, seed=SEED):
    return b"".join(struct.pack("<Q", pattern_word(o, seed))
                    for o in range(off, off + length, 8))


def threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_rbd_import_reads_through_export(daemon, rqmp, ceph, tmp_path):
    img = new_image(ceph)
    src = tmp_path / "src.raw"
    src.write_bytes(pattern(0, SPAN))
    ceph.run("rbd", "import", "--no-progress", str(src), f"{ceph.pool}/{img}-i")
    rqmp.cmd("blockdev-add", **{"node-name": "r"}, **rbd_opts(ceph, f"{img}-i"))
    sock = tmp_path / "r.sock"
    rqmp.cmd("block-export-add", **export_args("e", "r", sock, writable=True))
    _, res, _ = bench(sock, "--rw", "read", "--bs", BS, "--count", SPAN // BS,
                      "--size", SPAN, "--seed", SEED, "--check", "--iodepth", 32)
    assert res["errors"] == 0 and res["verify_errors"] == 0, res


def test_export_writes_read_by_rbd_export_and_qemu(daemon, rqmp, ceph, tmp_path):
    img = new_image(ceph)
    rqmp.cmd("blockdev-add", **{"node-name": "r"}, **rbd_opts(ceph, img))
    sock = tmp_path / "r.sock"
    rqmp.cmd("block-export-add", **export_args("e", "r", sock, writable=True))
    _, res, _ = bench(sock, "--rw", "write", "--bs", BS, "--count", SPAN // BS,
                      "--size", SPAN, "--seed", SEED, "--flush", "--iodepth", 32)
    assert res["errors"] == 0, res
    out = tmp_path / "out.raw"
    ceph.run("rbd", "export", "--no-progress", f"{ceph.pool}/{img}", str(out))
    data = out.read_bytes()
    assert data[:SPAN] == pattern(0, SPAN)
    assert data[SPAN:] == bytes(MiB)
    # QEMU's own rbd driver (qemu-block-extra) reads the same bytes.
    qpath = f"rbd:{ceph.pool}/{img}:conf={ceph.conf}"
    r = run("qemu-img", "convert", "-f", "raw", "-O", "raw", qpath,
            str(tmp_path / "q.raw"), env={**os.environ, **ceph.env()})
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "q.raw").read_bytes() == data


def test_qemu_io_writes_read_through_export(daemon, rqmp, ceph, tmp_path):
    img = new_image(ceph)
    qpath = f"rbd:{ceph.pool}/{img}:conf={ceph.conf}"
    r = run("qemu-io", "-f", "raw", "-c", "write -P 0xa5 64k 128k", qpath,
            env={**os.environ, **ceph.env()})
    assert "wrote" in r.stdout, r.stdout + r.stderr
    rqmp.cmd("blockdev-add", **{"node-name": "r"}, **rbd_opts(ceph, img))
    sock = tmp_path / "r.sock"
    rqmp.cmd("block-export-add", **export_args("e", "r", sock, writable=True))
    # Our writes land beside QEMU's, which stay as they were.
    out = tmp_path / "o.raw"
    _, res, _ = bench(sock, "--rw", "write", "--bs", BS, "--count", 16,
                      "--size", 64 * 1024, "--seed", SEED)
    assert res["errors"] == 0
    ceph.run("rbd", "export", "--no-progress", f"{ceph.pool}/{img}", str(out))
    data = out.read_bytes()
    assert data[:64 * 1024] == pattern(0, 64 * 1024)
    assert data[64 * 1024:192 * 1024] == b"\xa5" * (128 * 1024)


@pytest.mark.parametrize("version", ["luks1", "luks2"])
@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_seed_graph_payload_in_ceph(daemon, rqmp, ceph, tmp_path, fmt, version):
    """A LUKS1 or LUKS2 detached header (cryptsetup's) on a local file, payload
    an rbd image (raw, or qcow2 over rbd); cryptsetup's volume key decrypts
    what was written."""
    img = new_image(ceph)
    if version == "luks1":
        hdr, key = cryptsetup_header(tmp_path, tmp_path / "dummy.raw", SPAN)
        decrypt = lambda data: xts(key, data, 0, encrypt=False)  # noqa: E731
    else:
        hdr = tmp_path / "hdr2.img"
        luks2.luks2_format(tmp_path, tmp_path / "dummy.raw", "--sector-size", "512",
                           header=str(hdr))
        key = luks2.volume_key(tmp_path, str(hdr))
        decrypt = lambda data: luks2.xts(key, data)  # noqa: E731
    if fmt == "qcow2":
        qpath = f"rbd:{ceph.pool}/{img}:conf={ceph.conf}"
        ceph.run("rbd", "rm", f"{ceph.pool}/{img}")
        run("qemu-img", "create", "-f", "qcow2", qpath, str(SPAN),
            env={**os.environ, **ceph.env()})
    rqmp.cmd("object-add", **{"qom-type": "secret", "id": "sec0"}, data=PASS)
    rqmp.cmd("blockdev-add", **{"node-name": "hdr-file"}, driver="file",
             filename=str(hdr))
    rqmp.cmd("blockdev-add", **{"node-name": "payload"}, **rbd_opts(ceph, img))
    payload = "payload"
    if fmt == "qcow2":
        rqmp.cmd("blockdev-add", **{"node-name": "pq"}, driver="qcow2", file="payload")
        payload = "pq"
    rqmp.cmd("blockdev-add", **{"node-name": "vol"}, driver="luks", file=payload,
             header="hdr-file", **{"key-secret": "sec0"})
    sock = tmp_path / "v.sock"
    rqmp.cmd("block-export-add", **export_args("e", "vol", sock, writable=True))
    rc, res, _ = bench(sock, "--rw", "write", "--bs", BS, "--count", MiB // BS,
                       "--size", MiB, "--seed", SEED, "--flush", check=False)
    sizes = [(n["node-name"], n["image"]["virtual-size"])
             for n in rqmp.cmd("query-named-block-nodes")]
    assert rc == 0 and res["errors"] == 0, (res, sizes)
    _, res, _ = bench(sock, "--rw", "read", "--bs", BS, "--count", MiB // BS,
                      "--size", MiB, "--seed", SEED, "--check")
    assert res["verify_errors"] == 0, res
    rqmp.cmd("block-export-del", id="e")
    rqmp.cmd("blockdev-del", **{"node-name": "vol"})
    if fmt == "qcow2":
        rqmp.cmd("blockdev-del", **{"node-name": "pq"})
    rqmp.cmd("blockdev-del", **{"node-name": "payload"})
    out = tmp_path / "out.raw"
    if fmt == "qcow2":
        run("qemu-img", "convert", "-f", "qcow2", "-O", "raw",
            f"rbd:{ceph.pool}/{img}:conf={ceph.conf}", str(out),
            env={**os.environ, **ceph.env()})
    else:
        ceph.run("rbd", "export", "--no-progress", f"{ceph.pool}/{img}", str(out))
    data = out.read_bytes()
    plain = decrypt(data[:MiB])
    assert plain == pattern(0, MiB)
    assert data[:BS] != plain[:BS]


def test_errors_leave_graph_fds_threads(daemon, rqmp, ceph, tmp_path):
    img = new_image(ceph)
    rqmp.cmd("blockdev-add", **{"node-name": "ok"}, **rbd_opts(ceph, img))
    pid = daemon.proc.pid
    before = (sorted(names(rqmp)), fds(pid), threads(pid))
    rqmp.cmd("object-add", **{"qom-type": "secret", "id": "bad"},
             data="AQBcvWVlAAAAABAAqLq8KxQGJvQm7NbR4Wq0kw==", format="base64")
    # The right key as plain text: encoded once more, as QEMU does, so refused.
    rqmp.cmd("object-add", **{"qom-type": "secret", "id": "plain"}, data=ceph.admin_key())
    dead_port = str(ceph.mon_port + 1 if ceph.mon_port < 65535 else 1)
    cases = [
        (rbd_opts(ceph, "no-such-image"), "error reading header from no-such-image"),
        (rbd_opts(ceph, img, pool="nopool"), "error opening pool nopool"),
        (rbd_opts(ceph, img, **{"key-secret": "bad", "x-connect-timeout": 3}),
         "error connecting"),
        (rbd_opts(ceph, img, **{"key-secret": "plain", "x-connect-timeout": 3}),
         "error connecting"),
        (rbd_opts(ceph, img, **{"key-secret": "nosuch"}), "No secret with id 'nosuch'"),
        (rbd_opts(ceph, img, snapshot="s1"), "rbd snapshots are read-only"),
        (rbd_opts(ceph, img, conf=str(tmp_path / "missing.conf")),
         "error reading conf file"),
        (rbd_opts(ceph, img, server=[{"host": "127.0.0.1", "port": dead_port}],
                  **{"x-connect-timeout": 2}), "error connecting"),
        (rbd_opts(ceph, img, **{"x-connect-timeout": 0}),
         "Parameter 'x-connect-timeout' expects a value from 1 to 300"),
    ]
    for opts, text in cases:
        t0 = time.monotonic()
        cls, desc = rqmp.err("blockdev-add", **{"node-name": "x"}, **opts)
        assert cls == "GenericError" and text in desc, (opts, desc)
        assert time.monotonic() - t0 < 15, opts
        assert "AQBcvWVl" not in desc and ceph.admin_key() not in desc
    # librados' threads and sockets of the failed attempts are gone.
    deadline = time.monotonic() + 5
    while (sorted(names(rqmp)), fds(pid), threads(pid)) != before and \
            time.monotonic() < deadline:
        time.sleep(0.1)
    assert (sorted(names(rqmp)), fds(pid), threads(pid)) == before
    assert ceph.admin_key() not in daemon.log()


def test_unreachable_monitor_does_not_stop_main_loop(daemon, rqmp, ceph):
    """While one client waits for a monitor that never answers, another
    client's commands are answered at once."""
    other = daemon.qmp()
    dead = {"host": "127.0.0.1", "port": str(ceph.mon_port + 2)}
    err = {}

    def add():
        err["e"] = rqmp.err("blockdev-add", **{"node-name": "x"},
                            **rbd_opts(ceph, "whatever", server=[dead],
                                       **{"x-connect-timeout": 3}))
    t = threading.Thread(target=add)
    t0 = time.monotonic()
    t.start()
    time.sleep(0.5)
    other.cmd("query-named-block-nodes")
    assert time.monotonic() - t0 < 1.5
    t.join(20)
    assert 2.5 < time.monotonic() - t0 < 15
    assert "error connecting" in err["e"][1], err


def test_query_resize_snapshot(daemon, rqmp, ceph, tmp_path):
    img = new_image(ceph, 2 * MiB)
    rqmp.cmd("blockdev-add", **{"node-name": "r"}, **rbd_opts(ceph, img))
    n = [x for x in rqmp.cmd("query-named-block-nodes") if x["node-name"] == "r"][0]
    assert n["drv"] == "rbd" and n["image"]["virtual-size"] == 2 * MiB
    assert n["image"]["cluster-size"] == 4 * MiB
    assert "actual-size" not in n["image"]          # as QEMU: unknown
    assert ceph.admin_key() not in str(n), n
    assert '"key-secret":"ckey"' in n["file"]
    rqmp.cmd("block_resize", **{"node-name": "r"}, size=6 * MiB)
    assert ceph.image_size(img) == 6 * MiB
    sock = tmp_path / "r.sock"
    rqmp.cmd("block-export-add", **export_args("e", "r", sock, writable=True))
    _, res, _ = bench(sock, "--rw", "write", "--bs", BS, "--count", 8,
                      "--size", 6 * MiB, "--seed", SEED, "--flush")
    assert res["errors"] == 0
    ceph.run("rbd", "snap", "create", f"{ceph.pool}/{img}@s1")
    rqmp.cmd("blockdev-add", **{"node-name": "snap"},
             **rbd_opts(ceph, img, snapshot="s1"), **{"read-only": True})
    ssock = tmp_path / "s.sock"
    rqmp.cmd("block-export-add", **export_args("es", "snap", ssock))
    _, res, _ = bench(ssock, "--rw", "read", "--bs", BS, "--count", 8,
                      "--size", 6 * MiB, "--seed", SEED, "--check")
    assert res["verify_errors"] == 0, res
    # The export of a snapshot is read-only: a write fails.
    rc, res, _ = bench(ssock, "--rw", "write", "--bs", BS, "--count", 1,
                       "--size", MiB, check=False)
    assert rc != 0 or res["errors"] > 0
    # Writes to the image after the snapshot do not show in it.
    _, res, _ = bench(sock, "--rw", "write", "--bs", BS, "--count", 8,
                      "--size", 6 * MiB, "--seed", SEED + 1)
    _, res, _ = bench(ssock, "--rw", "read", "--bs", BS, "--count", 8,
                      "--size", 6 * MiB, "--seed", SEED, "--check")
    assert res["verify_errors"] == 0, res
    # auto-read-only opens a snapshot read-only without asking.
    rqmp.cmd("blockdev-add", **{"node-name": "snap2", "auto-read-only": True},
             **rbd_opts(ceph, img, snapshot="s1"))
    n = [x for x in rqmp.cmd("query-named-block-nodes") if x["node-name"] == "snap2"][0]
    assert n["ro"] is True


def test_two_writers_share_the_image(daemon_factory, ceph, tmp_path):
    """As QEMU: a second daemon opening the same image (exclusive-lock
    feature on) opens it, and both may write in turn."""
    img = new_image(ceph)
    socks = []
    for i in range(2):
        d = daemon_factory(subdir=f"d{i}")
        q = d.qmp()
        q.cmd("object-add", **{"qom-type": "secret", "id": "ckey"},
          data=ceph.admin_key(), format="base64")
        q.cmd("blockdev-add", **{"node-name": "r"}, **rbd_opts(ceph, img))
        socks.append(tmp_path / f"d{i}" / "r.sock")
        q.cmd("block-export-add", **export_args("e", "r", socks[-1], writable=True))
    for i, sock in enumerate(socks):
        _, res, _ = bench(sock, "--rw", "write", "--bs", BS, "--count", 4,
                          "--size", MiB, "--seed", SEED + i, "--flush")
        assert res["errors"] == 0, res
    _, res, _ = bench(socks[0], "--rw", "read", "--bs", BS, "--count", 4,
                      "--size", MiB, "--seed", SEED + 1, "--check")
    assert res["verify_errors"] == 0, res


@pytest.mark.parametrize("how", ["restart", "freeze"])
def test_osd_stopped_under_io(daemon, rqmp, ceph, tmp_path, how):
    """The OSD stops under I/O (shut down and started again, or frozen and
    thawed): requests wait and complete after it comes back, the daemon
    lives, and an export of a local file keeps serving meanwhile."""
    img = new_image(ceph)
    rqmp.cmd("blockdev-add", **{"node-name": "r"}, **rbd_opts(ceph, img))
    sock = tmp_path / "r.sock"
    rqmp.cmd("block-export-add", **export_args("e", "r", sock, writable=True))
    f = raw_file(tmp_path / "local.raw", MiB)
    rqmp.cmd("blockdev-add", driver="file", **{"node-name": "f"}, filename=str(f))
    fsock = tmp_path / "f.sock"
    rqmp.cmd("block-export-add", **export_args("ef", "f", fsock, writable=True))
    # A window past the span under load, through a second connection to
    # the image, written before the stop.
    rqmp.cmd("blockdev-add", driver="raw", **{"node-name": "tail"},
             file=rbd_opts(ceph, img), offset=SPAN, size=MiB)
    tsock = tmp_path / "t.sock"
    rqmp.cmd("block-export-add", **export_args("et", "tail", tsock, writable=True))
    _, res, _ = bench(tsock, "--rw", "write", "--bs", BS, "--count", 16,
                      "--size", 64 * 1024, "--seed", SEED, "--flush")
    assert res["errors"] == 0
    # Enough writes to outlast the stop (at up to ~9k IOPS here): the test
    # is whether they wait through it, not whether they ended before it.
    proc = start_bench(sock, tmp_path / "ready", "--rw", "randwrite", "--bs", BS,
                       "--iodepth", 8, "--count", 60000, "--size", SPAN, "--flush")
    time.sleep(0.3)
    (ceph.stop_osd if how == "restart" else ceph.freeze_osd)()
    try:
        time.sleep(2)
        _, res, _ = bench(fsock, "--rw", "randrw", "--bs", BS, "--count", 500,
                          "--size", MiB)
        assert res["errors"] == 0
        rqmp.cmd("query-named-block-nodes")
        assert proc.poll() is None, "the rbd writes should be waiting"
    finally:
        (ceph.start_osd if how == "restart" else ceph.thaw_osd)()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err + out
    assert json.loads(out)["errors"] == 0, out
    assert daemon.proc.poll() is None
    # What was written before the stop is still there.
    _, res, _ = bench(tsock, "--rw", "read", "--bs", BS, "--count", 16,
                      "--size", 64 * 1024, "--seed", SEED, "--check")
    assert res["errors"] == 0 and res["verify_errors"] == 0, res


def test_osd_op_timeout_fails_requests_cleanly(daemon, rqmp, ceph, tmp_path):
    """With x-osd-op-timeout, a request the OSD does not answer fails with
    an I/O error instead of waiting, and the node works again afterwards."""
    img = new_image(ceph)
    rqmp.cmd("blockdev-add", **{"node-name": "r"},
             **rbd_opts(ceph, img, **{"x-osd-op-timeout": 2}))
    sock = tmp_path / "r.sock"
    rqmp.cmd("block-export-add", **export_args("e", "r", sock, writable=True))
    ceph.freeze_osd()
    try:
        t0 = time.monotonic()
        rc, res, _ = bench(sock, "--rw", "write", "--bs", BS, "--count", 4,
                           "--size", MiB, check=False, timeout=60)
        assert time.monotonic() - t0 < 30
        assert res and res["errors"] > 0, res
    finally:
        ceph.thaw_osd()
    ceph.wait_healthy()
    _, res, _ = bench(sock, "--rw", "write", "--bs", BS, "--count", 4,
                      "--size", MiB, "--seed", SEED, "--flush")
    assert res["errors"] == 0


def test_same_arguments_as_qsd(daemon, rqmp, ceph, tmp_path):
    """The same object-add and blockdev-add arguments open the image in
    qemu-storage-daemon (the key secret is the key's bytes, format=base64),
    and fail there as here."""
    from hbtest.qsd import QemuStorageDaemon
    img = new_image(ceph)
    ceph.run("rbd", "snap", "create", f"{ceph.pool}/{img}@s1")
    with QemuStorageDaemon(tmp_path) as qsd:
        qq = qsd.qmp()
        qq.cmd("object-add", **{"qom-type": "secret", "id": "ckey"},
               data=ceph.admin_key(), format="base64")
        for q in (rqmp, qq):
            q.cmd("blockdev-add", **{"node-name": "r"}, **rbd_opts(ceph, img))
            q.cmd("blockdev-del", **{"node-name": "r"})
        for opts in (rbd_opts(ceph, "no-such-image"),
                     rbd_opts(ceph, img, pool="nopool"),
                     rbd_opts(ceph, img, snapshot="s1")):
            ours = rqmp.err("blockdev-add", **{"node-name": "x"}, **opts)
            theirs = qq.err("blockdev-add", **{"node-name": "x"}, **opts)
            assert ours[0] == theirs[0]
            assert ours == theirs


def test_handover_reads_the_other_writer(daemon_factory, ceph, tmp_path):
    """Migration over one image between two daemons (blockdev-set-active),
    there and back: each side, once active, reads what the other wrote,
    though the source read the span before (librbd's cache on, and an image
    without exclusive-lock, whose handover would drop that cache itself)."""
    img = new_image(ceph)
    ceph.run("rbd", "feature", "disable", f"{ceph.pool}/{img}",
             "object-map,fast-diff,deep-flatten,exclusive-lock")
    qs, socks = [], []
    for i, active in enumerate((True, False)):
        q = daemon_factory(subdir=f"d{i}").qmp()
        q.cmd("object-add", **{"qom-type": "secret", "id": "ckey"},
              data=ceph.admin_key(), format="base64")
        q.cmd("blockdev-add", **{"node-name": "r", "active": active}, **rbd_opts(ceph, img))
        socks.append(tmp_path / f"d{i}" / "r.sock")
        q.cmd("block-export-add", **export_args("e", "r", socks[-1], writable=True,
                                                **{"allow-inactive": True}))
        qs.append(q)

    def write(sock, seed):
        _, res, _ = bench(sock, "--rw", "write", "--bs", BS, "--count", 16,
                          "--size", 64 * 1024, "--seed", seed, "--flush")
        assert res["errors"] == 0, res

    def check(sock, seed):
        _, res, _ = bench(sock, "--rw", "read", "--bs", BS, "--count", 16,
                          "--size", 64 * 1024, "--seed", seed, "--check")
        assert res["errors"] == 0 and res["verify_errors"] == 0, res

    write(socks[0], SEED)
    check(socks[0], SEED)             # now in the source's librbd cache
    qs[0].cmd("blockdev-set-active", active=False)
    qs[1].cmd("blockdev-set-active", active=True)
    check(socks[1], SEED)
    write(socks[1], SEED + 1)
    qs[1].cmd("blockdev-set-active", active=False)
    qs[0].cmd("blockdev-set-active", active=True)
    check(socks[0], SEED + 1)


def test_hotblock_img_info_as_qemu_img(ceph, tmp_path):
    """hotblock-img info --image-opts on an rbd image prints what qemu-img
    info prints (size, cluster size, no disk size)."""
    from hbtest.paths import HOTBLOCK_IMG
    img = new_image(ceph, 16 * MiB)
    opts = (f"driver=rbd,pool={ceph.pool},image={img},key-secret=k,"
            f"server.0.host=127.0.0.1,server.0.port={ceph.mon_port}")
    obj = f"secret,id=k,data={ceph.admin_key()},format=base64"
    outs = []
    for tool in (HOTBLOCK_IMG, "qemu-img"):
        r = run(tool, "info", "--object", obj, "--image-opts", opts)
        outs.append([ln for ln in r.stdout.splitlines()
                     if ln.split(":")[0] in ("file format", "virtual size",
                                             "disk size", "cluster_size")])
    assert outs[0] == outs[1] and len(outs[0]) == 4, outs


def test_blockdev_del_releases_everything(daemon, rqmp, ceph, tmp_path):
    """After blockdev-del, the cluster connection is gone: librados'
    threads and sockets with it, and the daemon is as before the add."""
    img = new_image(ceph)
    pid = daemon.proc.pid
    rqmp.cmd("query-named-block-nodes")
    before = (fds(pid), threads(pid))
    for _ in range(2):
        rqmp.cmd("blockdev-add", **{"node-name": "r"}, **rbd_opts(ceph, img))
        assert threads(pid) > before[1]
        rqmp.cmd("blockdev-del", **{"node-name": "r"})
    deadline = time.monotonic() + 5
    while (fds(pid), threads(pid)) != before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (fds(pid), threads(pid)) == before


def test_command_line_blockdev(daemon_factory, ceph, tmp_path):
    """--object and --blockdev in key=value form, as QSD's command line: the
    cluster is reached before the sandbox, and served after it."""
    img = new_image(ceph)
    d = daemon_factory(
        "--object", f"secret,id=ckey,data={ceph.admin_key()},format=base64",
        "--blockdev", f"driver=rbd,node-name=r,pool={ceph.pool},image={img},"
                      f"key-secret=ckey,server.0.host=127.0.0.1,"
                      f"server.0.port={ceph.mon_port}")
    q = d.qmp()
    sock = tmp_path / "r.sock"
    q.cmd("block-export-add", **export_args("e", "r", sock, writable=True))
    _, res, _ = bench(sock, "--rw", "write", "--bs", BS, "--count", 64,
                      "--size", MiB, "--seed", SEED, "--flush", "--iodepth", 32)
    _, res, _ = bench(sock, "--rw", "read", "--bs", BS, "--count", 64,
                      "--size", MiB, "--seed", SEED, "--check", "--iodepth", 32)
    assert res["errors"] == 0 and res["verify_errors"] == 0, res
    assert ceph.admin_key() not in d.log()


def test_user_namespace_auth_modes(daemon, rqmp, ceph, tmp_path):
    """A cephx user of its own limited to the pool, an image in a rados
    namespace, and auth-client-required: cephx works, none alone is refused
    by a cluster that requires cephx."""
    key = ceph.run("ceph", "auth", "get-or-create-key", "client.hbtest",
                   "mon", "profile rbd", "osd", f"profile rbd pool={ceph.pool}"
                   ).stdout.decode().strip()
    rqmp.cmd("object-add", **{"qom-type": "secret", "id": "ukey"}, data=key,
             format="base64")
    ceph.run("rbd", "namespace", "create", f"{ceph.pool}/ns1")
    ceph.run("rbd", "create", f"{ceph.pool}/ns1/nsimg", "--size", "1M")
    opts = rbd_opts(ceph, "nsimg", namespace="ns1", user="hbtest",
                    **{"key-secret": "ukey", "auth-client-required": ["cephx"]})
    rqmp.cmd("blockdev-add", **{"node-name": "u"}, **opts)
    assert [n for n in rqmp.cmd("query-named-block-nodes")
            if n["node-name"] == "u"][0]["image"]["virtual-size"] == MiB
    # Not in the default namespace.
    cls, desc = rqmp.err("blockdev-add", **{"node-name": "x"},
                         **dict(opts, namespace=""))
    assert desc.startswith("error reading header from nsimg"), desc
    cls, desc = rqmp.err("blockdev-add", **{"node-name": "x"},
                         **dict(opts, **{"auth-client-required": ["none"],
                                         "x-connect-timeout": 3}))
    assert desc.startswith("error connecting"), desc


def test_blockdev_create(daemon, rqmp, ceph):
    """blockdev-create for rbd, as QEMU's: the image appears with the size
    and object size asked for and opens; QEMU's refusals fail the job."""
    from hbtest.jobs import create

    ok = ["created", "running", "waiting", "pending", "concluded", "null"]
    failed = ["created", "running", "aborting", "concluded", "null"]
    _n[0] += 1
    name = f"made{os.getpid()}-{_n[0]}"
    loc = rbd_opts(ceph, name)
    loc.pop("driver")
    st, info = create(rqmp, "c", driver="rbd", location=loc, size=8 * MiB,
                      **{"cluster-size": MiB})
    assert st == ok, info
    out = json.loads(ceph.run("rbd", "info", "--format", "json", f"{ceph.pool}/{name}").stdout)
    assert out["size"] == 8 * MiB and out["object_size"] == MiB
    rqmp.cmd("blockdev-add", **{"node-name": "r"}, **rbd_opts(ceph, name))
    node = [n for n in rqmp.cmd("query-named-block-nodes") if n["node-name"] == "r"][0]
    assert node["image"]["virtual-size"] == 8 * MiB
    # The same name again: librbd's EEXIST, as QEMU words it.
    st, info = create(rqmp, "c", driver="rbd", location=loc, size=MiB)
    assert st == failed and info["error"] == "error rbd create: File exists"
    for extra, text in (({"cluster-size": 3 * 4096}, "obj size needs to be power of 2"),
                        ({"cluster-size": 2048}, "obj size too small")):
        st, info = create(rqmp, "c", driver="rbd", location=dict(loc, image="x"),
                          size=MiB, **extra)
        assert st == failed and info["error"] == text
    st, info = create(rqmp, "c", driver="rbd", location=dict(loc, image="x", snapshot="s"),
                      size=MiB)
    assert st == failed and info["error"] == "Can't use snapshot name for image creation"
    st, info = create(rqmp, "c", driver="rbd", location=dict(loc, pool="nopool", image="x"),
                      size=MiB)
    assert st == failed and info["error"].startswith("error opening pool nopool"), info

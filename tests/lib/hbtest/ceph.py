# SPDX-License-Identifier: GPL-2.0-or-later
"""A real single-node Ceph cluster for the rbd tests.

One ceph-mon and one ceph-osd on 127.0.0.1, the OSD on the memstore object
store (RAM, kept small), pool size 1, everything (ceph.conf, keyrings, data,
logs, sockets) under one temporary directory: nothing on the host's /etc/ceph
or /var/lib/ceph is read or written, and the ports are picked free, so two
clusters (or a real one) never meet.  Starting takes about 10 s, so suites
start one per module (the `ceph` fixture) and give each test its own image.

The packages (ceph-mon, ceph-osd, ceph-common) come from
scripts/install-deps.sh test; without them the fixture fails loudly rather
than skipping."""
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid

import pytest

POOL = "rbd"
MEMSTORE_BYTES = 1536 << 20   # the OSD's RAM disk: 1.5 GiB


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A running cluster: conf, admin keyring, client key, mon address."""

    def __init__(self, tmp):
        self.dir = tmp
        self.conf = str(tmp / "ceph.conf")
        self.admin_keyring = str(tmp / "admin.keyring")
        self.fsid = str(uuid.uuid4())
        # The monitor speaks both protocols: v2 for Ceph's tools (its
        # default), v1 on mon_port for clients that name host:port (the
        # rbd driver's "server" member, as QEMU's), which Ceph takes as v1.
        self.mon_port = _free_port()
        self.mon_v2_port = _free_port()
        self.mon_addr = (f"[v2:127.0.0.1:{self.mon_v2_port},"
                         f"v1:127.0.0.1:{self.mon_port}]")
        self.procs = {}
        self.pool = POOL

    # -- helpers -------------------------------------------------------
    def env(self):
        e = dict(os.environ)
        e["CEPH_CONF"] = self.conf
        return e

    def run(self, *args, check=True, timeout=60, input=None):
        """Run a ceph tool (ceph, rbd, rados) against this cluster."""
        return subprocess.run(list(args), env=self.env(), check=check,
                              timeout=timeout, input=input,
                              capture_output=True)

    def admin_key(self):
        out = self.run("ceph-authtool", self.admin_keyring, "-p",
                       "-n", "client.admin").stdout
        return out.decode().strip()

    # -- lifecycle -----------------------------------------------------
    def _write_conf(self):
        d = self.dir
        osd_port = _free_port()
        with open(self.conf, "w") as f:
            f.write(f"""[global]
fsid = {self.fsid}
mon host = {self.mon_addr}
mon initial members = a
public network = 127.0.0.0/8
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
run dir = {d}/run
log file = {d}/log/$name.log
mon allow pool size one = true
mon allow pool delete = true
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
mon warn on pool no redundancy = false
ms bind ipv4 = true
ms bind ipv6 = false
[client]
keyring = {self.admin_keyring}
[mon]
admin socket = {d}/run/$name.asok
keyring = {d}/mon.$id/keyring
mon data = {d}/mon.$id
mon cluster log file = {d}/log/cluster.log
[osd]
admin socket = {d}/run/$name.asok
osd data = {d}/osd.$id
osd objectstore = memstore
# A clean shutdown: memstore saves its objects only when it unmounts.
osd fast shutdown = false
memstore device bytes = {MEMSTORE_BYTES}
osd journal size = 100
keyring = {d}/osd.$id/keyring
osd max object name len = 256
osd max object namespace len = 64
ms bind port min = {osd_port}
ms bind port max = {osd_port + 50}
""")

    def start(self):
        d = self.dir
        for sub in ("run", "log", "mon.a", "osd.0"):
            (d / sub).mkdir(exist_ok=True)
        self._write_conf()
        mon_keyring = str(d / "mon.keyring")
        self.run("ceph-authtool", "--create-keyring", mon_keyring,
                 "--gen-key", "-n", "mon.", "--cap", "mon", "allow *")
        self.run("ceph-authtool", "--create-keyring", self.admin_keyring,
                 "--gen-key", "-n", "client.admin",
                 "--cap", "mon", "allow *", "--cap", "osd", "allow *",
                 "--cap", "mgr", "allow *")
        self.run("ceph-authtool", mon_keyring, "--import-keyring",
                 self.admin_keyring)
        monmap = str(d / "monmap")
        self.run("monmaptool", "--create", "--fsid", self.fsid,
                 "--addv", "a", self.mon_addr, monmap)
        self.run("ceph-mon", "--conf", self.conf, "--mkfs", "-i", "a",
                 "--monmap", monmap, "--keyring", mon_keyring)
        self._spawn("mon", "ceph-mon", "-i", "a")
        self.run("ceph", "osd", "create")
        # The OSD's own key, and its data directory made offline.
        self.run("ceph-osd", "--conf", self.conf, "-i", "0", "--mkfs",
                 "--mkkey", "--no-mon-config")
        self.run("ceph", "auth", "add", "osd.0", "osd", "allow *",
                 "mon", "allow profile osd", "-i", str(d / "osd.0/keyring"))
        self.run("ceph", "osd", "crush", "add", "osd.0", "1.0", "root=default")
        self._spawn("osd", "ceph-osd", "-i", "0")
        self.run("ceph", "osd", "pool", "create", POOL, "8")
        self.run("ceph", "osd", "pool", "set", POOL, "size", "1",
                 "--yes-i-really-mean-it")
        self.run("rbd", "pool", "init", POOL, timeout=120)
        self.wait_healthy()

    def _spawn(self, name, *argv):
        self.procs[name] = subprocess.Popen(
            [*argv, "-f", "--conf", self.conf],
            env=self.env(), stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "log" / f"{name}.stderr", "wb"))

    def wait_healthy(self, timeout=60):
        """Until an object can be written and read in the pool: the OSD is up
        and its PGs active (there is no ceph-mgr, so no `ceph pg stat`)."""
        r = self.run("rados", "-p", POOL, "put", "hb-probe", "/dev/null",
                     "--rados-osd-op-timeout", str(timeout), check=False,
                     timeout=timeout + 10)
        if r.returncode:
            raise AssertionError(f"ceph never became writable: "
                                 f"{r.stderr.decode()}\n{self.logs()}")
        self.run("rados", "-p", POOL, "rm", "hb-probe")

    def freeze_osd(self):
        """The OSD stops answering, as a hung host (SIGSTOP)."""
        self.procs["osd"].send_signal(signal.SIGSTOP)

    def thaw_osd(self):
        self.procs["osd"].send_signal(signal.SIGCONT)

    def stop_osd(self):
        """The OSD shuts down cleanly (SIGTERM): memstore saves its objects
        to the data directory, and start_osd() loads them again."""
        p = self.procs.pop("osd")
        p.terminate()
        p.wait(timeout=30)

    def start_osd(self):
        self._spawn("osd", "ceph-osd", "-i", "0")

    def logs(self):
        out = []
        for p in sorted((self.dir / "log").glob("*")):
            try:
                out.append(f"== {p.name}\n" + p.read_text()[-3000:])
            except OSError:
                pass
        return "\n".join(out)

    def stop(self):
        for name in ("osd", "mon"):
            p = self.procs.pop(name, None)
            if p is None:
                continue
            p.send_signal(signal.SIGCONT)
            p.terminate()
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    # -- images --------------------------------------------------------
    def create_image(self, name, size, object_size=None):
        args = ["rbd", "create", f"{POOL}/{name}", "--size", f"{size}B"]
        if object_size:
            args += ["--object-size", str(object_size)]
        self.run(*args)

    def image_size(self, name):
        import json
        out = self.run("rbd", "info", "--format", "json", f"{POOL}/{name}").stdout
        return json.loads(out)["size"]


def require_ceph():
    missing = [t for t in ("ceph-mon", "ceph-osd", "ceph", "rbd",
                           "ceph-authtool", "monmaptool")
               if shutil.which(t) is None]
    assert not missing, (f"missing {missing}: run scripts/install-deps.sh test "
                         "(ceph-mon, ceph-osd, ceph-common)")


@pytest.fixture(scope="module")
def ceph(tmp_path_factory):
    """A running single-node cluster for the whole test module."""
    require_ceph()
    c = Cluster(tmp_path_factory.mktemp("ceph"))
    try:
        c.start()
    except BaseException:
        log = c.logs()
        c.stop()
        raise AssertionError(f"ceph cluster did not start:\n{log}")
    yield c
    c.stop()

# SPDX-License-Identifier: GPL-2.0-or-later
"""Boot a real Linux guest under TCG with vhost-user-blk disks.

A running guest can be live-migrated to a second QEMU started by
Guest.migration_target() (the same kernel, initramfs and devices, with
-incoming and -S): migrate() runs QEMU's migration and reports what
query-migrate said, downtime included.

The initramfs is built per test: busybox-static, the virtio modules of
Debian's kernel (tests/e2e/setup.sh unpacks it into tests/e2e/cache), a
fixed /init that loads them, and the test's own shell script as /test.sh
plus any data files.  The guest
prints its findings on the serial console between HB- markers and powers
off; the host reads them back with Guest.results().
"""
import gzip
import io
import os
import socket
import json
import subprocess
import time

from hbtest.paths import REPO
from hbtest.tools import require

E2E = os.path.join(REPO, "tests", "e2e")
CACHE = os.path.join(E2E, "cache")
KERNEL = os.path.join(CACHE, "vmlinuz")
MODULES = ["virtio", "virtio_ring", "virtio_pci_modern_dev", "virtio_pci_legacy_dev",
           "virtio_pci", "virtio_blk"]

INIT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for pass in 1 2; do
    for m in %s; do insmod /lib/$m.ko 2>/dev/null; done
done
echo HB-BOOTED
sh /test.sh
echo "HB-EXIT $?"
sync
poweroff -f
""" % " ".join(MODULES)

# Helpers every test script may use.
LIB = """
# wait_disk DEV [SECONDS]: wait for a block device node
wait_disk() {
    n=0
    while [ ! -b "$1" ]; do
        n=$((n + 1))
        [ $n -gt $((${2:-15} * 10)) ] && { echo "HB-RESULT missing $1"; return 1; }
        sleep 0.1
    done
}
# result KEY VALUE: report to the host
result() { echo "HB-RESULT $1 $2"; }
"""


def ensure_kernel():
    if not (os.path.exists(KERNEL) and os.path.isdir(os.path.join(CACHE, "modules"))):
        subprocess.run(["sh", os.path.join(E2E, "setup.sh")], check=True)


def _cpio_newc(entries):
    """entries: (name, mode, data) — a gzip'd newc archive, no cpio tool needed."""
    out = io.BytesIO()
    ino = 1
    for name, mode, data in entries + [("TRAILER!!!", 0, b"")]:
        nb = name.encode() + b"\0"
        hdr = "070701" + "".join(f"{v:08x}" for v in (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0))
        out.write(hdr.encode() + nb)
        out.write(b"\0" * ((4 - (110 + len(nb)) % 4) % 4))
        out.write(data)
        out.write(b"\0" * ((4 - len(data) % 4) % 4))
        ino += 1
    return gzip.compress(out.getvalue(), compresslevel=1)


def build_initramfs(path, script, files=None):
    ensure_kernel()
    busybox = require("busybox")
    with open(busybox, "rb") as f:
        bb = f.read()
    entries = [(d, 0o40755, b"") for d in ("bin", "dev", "proc", "sys", "lib", "tmp", "data")]
    entries += [("bin/busybox", 0o100755, bb), ("init", 0o100755, INIT.encode()),
                ("test.sh", 0o100755, (LIB + script).encode())]
    for m in MODULES:
        with open(os.path.join(CACHE, "modules", m + ".ko"), "rb") as f:
            entries.append((f"lib/{m}.ko", 0o100644, f.read()))
    for name, data in (files or {}).items():
        entries.append((f"data/{name}", 0o100644, data))
    with open(path, "wb") as f:
        f.write(_cpio_newc(entries))
    return path


class Guest:
    """One qemu-system-x86_64 -accel tcg with vhost-user-blk disks."""

    def __init__(self, tmp, name, script, disks, files=None, mem_mb=256, reconnect=False,
                 smp=1, initrd=None, incoming=None, prior=None):
        """@initrd: an initramfs already built (@script and @files unused);
        @incoming: start paused (-S) waiting for a migration on this UNIX
        socket path (-incoming unix:PATH), or "defer" (-incoming defer);
        @prior: the guest this one is migrated from, whose console output
        comes first in output()."""
        self.tmp = tmp
        self.name = name
        self.console = tmp / f"{name}.console"
        self.qmp_path = str(tmp / f"{name}.qmp")
        self.prior = prior
        self.incoming = incoming
        self.settings = dict(mem_mb=mem_mb, reconnect=reconnect, smp=smp)
        require("qemu-system-x86_64")
        if initrd is None:
            initrd = build_initramfs(str(tmp / f"{name}.initrd"), script, files)
        self.initrd = initrd
        argv = [
            "qemu-system-x86_64", "-accel", "tcg", "-nodefaults", "-display", "none",
            "-no-reboot", "-m", f"{mem_mb}M", "-smp", str(smp),
            "-object", f"memory-backend-memfd,id=mem,size={mem_mb}M,share=on",
            "-machine", "pc,memory-backend=mem",
            "-kernel", KERNEL, "-initrd", initrd,
            "-append", "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init",
            "-serial", f"file:{self.console}",
            "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
        ]
        for i, d in enumerate(disks):
            sock, opts = (d, {}) if isinstance(d, (str, os.PathLike)) else d
            chardev = f"socket,id=c{i},path={sock}"
            if reconnect:
                chardev += ",reconnect=1"
            argv += ["-chardev", chardev]
            dev = f"vhost-user-blk-pci,chardev=c{i},id=disk{i}"
            for k, v in opts.items():
                dev += f",{k}={v}"
            argv += ["-device", dev]
        if incoming:
            argv += ["-S", "-incoming", incoming if incoming == "defer" else f"unix:{incoming}"]
        self.argv = argv
        self.stderr_path = tmp / f"{name}.stderr"
        self.stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=self.stderr, stderr=self.stderr)

    def own_output(self):
        """What this QEMU's serial port printed (not its migration source's)."""
        try:
            return self.console.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def output(self):
        """The guest's console since boot: a migrated guest's starts on its source."""
        return (self.prior.output() if self.prior else "") + self.own_output()

    def migration_target(self, name, disks, incoming=None, defer=False):
        """A second QEMU, paused (-S), to migrate this guest into: the same
        machine, kernel and initramfs, with @disks (the same devices,
        possibly on other sockets).  Returns once it listens on its
        -incoming socket (@incoming, default <tmp>/<name>.migrate).
        @defer: start it with -incoming defer and give it the socket with
        QMP migrate-incoming, as libvirt does."""
        incoming = incoming or str(self.tmp / f"{name}.migrate")
        g = Guest(self.tmp, name, None, disks, initrd=self.initrd,
                  incoming="defer" if defer else incoming, prior=self, **self.settings)
        g.incoming = incoming
        deadline = time.monotonic() + 60
        deferred = defer
        while not (os.path.exists(incoming) and os.path.exists(g.qmp_path)):
            if deferred and os.path.exists(g.qmp_path):
                g.qmp("migrate-incoming", {"uri": f"unix:{incoming}"})
                deferred = False
            if g.proc.poll() is not None:
                g.kill()
                raise AssertionError(f"{name} exited before listening:\n{g.log()}")
            if time.monotonic() > deadline:
                g.kill()
                raise TimeoutError(f"{name}: no -incoming socket:\n{g.log()}")
            time.sleep(0.05)
        return g

    def run_state(self):
        """query-status: running, paused, inmigrate, postmigrate, ..."""
        return self.qmp("query-status")["status"]

    def wait_run_state(self, *states, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            st = self.run_state()
            if st in states:
                return st
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: run state {st}, not {states}")
            time.sleep(0.1)

    def wait_for(self, marker, timeout=60):
        deadline = time.monotonic() + timeout
        while marker not in self.output():
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited before '{marker}':\n{self.log()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: no '{marker}':\n{self.log()}")
            time.sleep(0.1)

    def wait(self, timeout=90):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise TimeoutError(f"{self.name} did not power off:\n{self.log()}")
        self.stderr.close()
        assert rc == 0, f"{self.name}: qemu exited {rc}:\n{self.log()}"
        return self.results()

    def quit(self, timeout=30):
        """QMP quit (a migration source whose guest lives on elsewhere)."""
        self.qmp("quit")
        rc = self.proc.wait(timeout)
        self.stderr.close()
        assert rc == 0, f"{self.name}: qemu exited {rc} on quit:\n{self.log()}"

    def results(self):
        out = self.output()
        assert "HB-BOOTED" in out, f"{self.name} did not boot:\n{self.log()}"
        assert "HB-EXIT 0" in out, f"{self.name}: test script failed:\n{self.log()}"
        res = {}
        for line in out.splitlines():
            if line.startswith("HB-RESULT "):
                parts = line.split(" ", 2)
                res[parts[1]] = parts[2].strip() if len(parts) > 2 else ""
        return res

    def qmp(self, cmd, args=None):
        """One command on the VM's own QMP monitor (QEMU's)."""
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(30)
        s.connect(self.qmp_path)
        f = s.makefile("rw")
        f.readline()
        f.write(json.dumps({"execute": "qmp_capabilities"}) + "\n")
        f.flush()
        f.readline()
        req = {"execute": cmd}
        if args:
            req["arguments"] = args
        f.write(json.dumps(req) + "\n")
        f.flush()
        while True:
            r = json.loads(f.readline())
            if "event" not in r:
                break
        s.close()
        if "error" in r:
            raise AssertionError(f"VM {cmd}: {r['error']}")
        return r["return"]

    def log(self):
        if self.prior:
            return f"=== {self.prior.name} ===\n{self.prior.log()}\n=== {self.name} ===\n" + \
                self._own_log()
        return self._own_log()

    def _own_log(self):
        try:
            err = self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            err = ""
        return f"--- console ---\n{self.own_output()}\n--- qemu stderr ---\n{err}"

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.stderr.closed:
            self.stderr.close()


def query_migrate(src):
    return src.qmp("query-migrate")


def start_migration(src, dst, max_bandwidth=None):
    """QMP migrate from @src into @dst's -incoming socket; returns at once.
    @max_bandwidth: bytes per second (migrate-set-parameters), to make a
    migration slow enough to be cancelled or broken midway."""
    if max_bandwidth is not None:
        src.qmp("migrate-set-parameters", {"max-bandwidth": max_bandwidth})
    src.qmp("migrate", {"uri": f"unix:{dst.incoming}"})


def wait_migration(src, until=("completed", "failed", "cancelled"), timeout=120):
    """Poll query-migrate on @src until its status is one of @until."""
    deadline = time.monotonic() + timeout
    while True:
        info = query_migrate(src)
        if info.get("status") in until:
            return info
        if time.monotonic() > deadline:
            raise TimeoutError(f"migration still {info.get('status')}: {info}")
        time.sleep(0.05)


def migrate(src, dst, max_bandwidth=None, timeout=120, report=print):
    """Migrate @src into @dst (started by src.migration_target()) and wait
    for the end.  Asserts it completed; hands @report a line with QEMU's
    downtime and total time (ms), for the test log; returns query-migrate."""
    start_migration(src, dst, max_bandwidth)
    info = wait_migration(src, timeout=timeout)
    assert info["status"] == "completed", f"migration {info}:\n{src.log()}\n{dst.log()}"
    report(f"migration {src.name} -> {dst.name}: downtime {info.get('downtime')} ms, "
           f"total {info.get('total-time')} ms, "
           f"{info.get('ram', {}).get('transferred', 0) >> 20} MiB of RAM sent")
    return info

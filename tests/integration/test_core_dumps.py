# SPDX-License-Identifier: GPL-2.0-or-later
"""Key material and core files: hotblockd writes no core by default, and with
--allow-core-dumps its core holds no trace of a passphrase sent over QMP.

Each test adds a secret with a fresh passphrase over QMP (never on the
daemon's command line or in its environment), opens a LUKS node with it,
deletes the secret and crashes the daemon with SIGABRT.  Cores go to a
directory of the test: the daemon runs there when core_pattern is a plain
relative name, otherwise core_pattern is pointed there for the test (root
only) and restored.  A core is searched for every 16-byte piece of the
passphrase and of the master key (cryptsetup's), and of what HMAC keyed
with them leaves behind (key ^ ipad, key ^ opad)."""
import hashlib
import json
import os
import resource
import secrets
import signal
import struct
import subprocess

import pytest

from hbtest.luks import master_key_via_cryptsetup
from hbtest.paths import BUILD, HOTBLOCK_IMG
from hbtest.tools import run

CORE_PATTERN = "/proc/sys/kernel/core_pattern"
PIECE = 16


def sanitized_build():
    """Whether the build under test has sanitizers: ASan sets RLIMIT_CORE to 0
    and keeps freed memory unwiped in its quarantine, so its cores say
    nothing about this daemon's own wiping."""
    with open(os.path.join(BUILD, "meson-info", "intro-buildoptions.json")) as f:
        opts = {o["name"]: o["value"] for o in json.load(f)}
    return opts.get("b_sanitize", "none") != "none"


@pytest.fixture
def cores(tmp_path, monkeypatch):
    """An empty directory that crashing processes started from the test (cwd
    inherited) write their cores to, with RLIMIT_CORE raised to the hard limit."""
    d = tmp_path / "cores"
    d.mkdir()
    with open(CORE_PATTERN) as f:
        old = f.read().rstrip("\n")
    changed = old.startswith("|") or "/" in old
    if changed:
        try:
            with open(CORE_PATTERN, "w") as f:
                f.write(f"{d}/core.%p")
        except OSError as e:
            pytest.skip(f"core_pattern is {old!r} and cannot be changed: {e}")
    limit = resource.getrlimit(resource.RLIMIT_CORE)
    if limit[1] == 0:
        pytest.skip("RLIMIT_CORE hard limit is 0")
    resource.setrlimit(resource.RLIMIT_CORE, (limit[1], limit[1]))
    monkeypatch.chdir(d)
    try:
        yield d
    finally:
        resource.setrlimit(resource.RLIMIT_CORE, limit)
        if changed:
            with open(CORE_PATTERN, "w") as f:
                f.write(old)


def crash(proc, cores):
    """SIGABRT @proc; return its core file, or None if it wrote none."""
    proc.send_signal(signal.SIGABRT)
    assert proc.wait(30) == -signal.SIGABRT
    found = sorted(cores.iterdir())
    assert len(found) <= 1, found
    return found[0] if found else None


def luks_volume(tmp_path):
    """A fresh passphrase, a LUKS image made with it, and its master key."""
    passphrase = "hb-core-" + secrets.token_hex(100)
    img = tmp_path / "vol.luks"
    run(HOTBLOCK_IMG, "create", "--object", f"secret,id=s,data={passphrase}", "-f", "luks",
        "-o", "key-secret=s", "-o", "iter-time=10", img, "1M")
    return passphrase, img, master_key_via_cryptsetup(tmp_path, img, passphrase)


def open_and_forget(qmp, img, passphrase, close=False):
    """The secret over QMP, a LUKS node opened with it, the secret deleted."""
    qmp.cmd("object-add", {"qom-type": "secret", "id": "sec0", "data": passphrase})
    qmp.cmd("blockdev-add", {"node-name": "file0", "driver": "file", "filename": str(img)})
    qmp.cmd("blockdev-add", {"node-name": "vol0", "driver": "luks", "file": "file0",
                             "key-secret": "sec0"})
    if close:
        qmp.cmd("blockdev-del", {"node-name": "vol0"})
    qmp.cmd("object-del", {"id": "sec0"})
    qmp.cmd("query-named-block-nodes")


def heap_range(pid):
    """[start, end) of process @pid's brk heap, the main thread's arena."""
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            if line.rstrip().endswith("[heap]"):
                start, end = line.split()[0].split("-")
                return int(start, 16), int(end, 16)
    raise AssertionError("no [heap] mapping")


def core_memory(data, start, end):
    """The bytes of [start, end) that the ELF core @data holds (PT_LOAD segments)."""
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    out = bytearray()
    for i in range(phnum):
        ptype, _, off, vaddr, _, filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        lo, hi = max(vaddr, start), min(vaddr + filesz, end)
        if ptype == 1 and lo < hi:
            out += data[off + lo - vaddr:off + hi - vaddr]
    return bytes(out)


def hmac_pads(key):
    """key ^ ipad and key ^ opad as HMAC-SHA256 keeps them (a key longer than
    a block is hashed first), cut to the key's own bytes."""
    k = key if len(key) <= 64 else hashlib.sha256(key).digest()
    return [bytes(b ^ 0x36 for b in k), bytes(b ^ 0x5c for b in k)]


def pieces_found(data, key):
    """Offsets in @data of 16-byte pieces of @key taken every 8 bytes: any copy
    of 23 or more contiguous bytes of it contains one."""
    hits = set()
    for i in range(0, max(len(key) - PIECE, 0) + 1, PIECE // 2):
        off = data.find(key[i:i + PIECE])
        while off >= 0:
            hits.add(off - i)
            off = data.find(key[i:i + PIECE], off + 1)
    return sorted(hits)


@pytest.mark.security
def test_no_core_file_by_default(daemon_factory, tmp_path, cores):
    # The setup writes cores: a dumpable process crashed the same way leaves one.
    control = subprocess.Popen(["sleep", "60"])
    assert crash(control, cores) is not None
    for f in cores.iterdir():
        f.unlink()
    passphrase, img, _ = luks_volume(tmp_path)
    d = daemon_factory()
    open_and_forget(d.qmp(), img, passphrase)
    assert crash(d.proc, cores) is None


@pytest.mark.security
def test_allowed_core_has_no_passphrase(daemon_factory, tmp_path, cores):
    if sanitized_build():
        pytest.skip("sanitizer build: no core, and ASan's quarantine keeps freed memory")
    passphrase, img, master_key = luks_volume(tmp_path)
    d = daemon_factory("--allow-core-dumps")
    open_and_forget(d.qmp(), img, passphrase)
    core = crash(d.proc, cores)
    assert core is not None
    data = core.read_bytes()
    for form in [passphrase.encode()] + hmac_pads(passphrase.encode()):
        assert not pieces_found(data, form), "the passphrase is in the core"
    for form in hmac_pads(master_key):
        assert not pieces_found(data, form), "an HMAC pad of the master key is in the core"
    # The node is open: gnutls's cipher contexts hold the master key's AES key
    # schedules in ordinary heap (docs/secrets.md), so it is there as such
    # (4 places with aes-xts-plain64 and gnutls 3.7); shown with -rP.
    print(f"master key found at {len(pieces_found(data, master_key))} places in the core")


@pytest.mark.security
def test_allowed_core_after_close_has_no_key(daemon_factory, tmp_path, cores):
    if sanitized_build():
        pytest.skip("sanitizer build: no core, and ASan's quarantine keeps freed memory")
    passphrase, img, master_key = luks_volume(tmp_path)
    d = daemon_factory("--allow-core-dumps")
    open_and_forget(d.qmp(), img, passphrase, close=True)
    core = crash(d.proc, cores)
    assert core is not None
    data = core.read_bytes()
    for form in [passphrase.encode(), master_key] + hmac_pads(passphrase.encode()) + \
            hmac_pads(master_key):
        assert not pieces_found(data, form), "key material is in the core"


@pytest.mark.security
def test_allowed_core_heap_has_no_passphrase_right_after_delete(daemon_factory, cores):
    """The worst case for what parsing leaves in freed heap: nothing runs after
    object-add but object-del.  Only the heap is searched: a few 32-byte pieces
    of the text may still sit in vector registers (and in the stack area where
    the dynamic linker saves them on a first call), docs/secrets.md."""
    if sanitized_build():
        pytest.skip("sanitizer build: no core, and ASan's quarantine keeps freed memory")
    passphrase = "hb-core-" + secrets.token_hex(100)
    d = daemon_factory("--allow-core-dumps")
    qmp = d.qmp()
    qmp.cmd("object-add", {"qom-type": "secret", "id": "sec0", "data": passphrase})
    qmp.cmd("object-del", {"id": "sec0"})
    start, end = heap_range(d.proc.pid)
    core = crash(d.proc, cores)
    assert core is not None
    heap = core_memory(core.read_bytes(), start, end)
    assert len(heap) > 0
    for form in [passphrase.encode()] + hmac_pads(passphrase.encode()):
        assert not pieces_found(heap, form), "the passphrase is in the heap"

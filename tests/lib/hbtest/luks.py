# SPDX-License-Identifier: GPL-2.0-or-later
"""LUKS helpers shared by the suites: qemu-img create with retries, an
independent AES-XTS-plain64 (python3-cryptography), the master key as
cryptsetup reports it, and the seed's graph."""
import os
import re

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from hbtest.paths import HOTBLOCK_IMG
from hbtest.tools import run

# The seed walkthrough's passphrase, used by most LUKS tests.
PASS = "abc123"
SECTOR = 512


def qemu_img_create_luks(img, size, secret, opts="", attempts=20):
    """qemu-img create -f luks, retried: qemu-img 7.2 times its PBKDF2 with
    the thread's CPU clock and on this VM fails about two runs in five with
    "Unable to get accurate CPU usage", at any iter-time.  Twenty attempts
    make a spurious failure (0.4^20) practically impossible.  Returns the
    last CompletedProcess; the caller asserts on it."""
    argv = ["qemu-img", "create", "-q", "-f", "luks", "--object", secret,
            "-o", opts, img, size]
    for _ in range(attempts):
        p = run(*argv, check=False, timeout=120)
        if p.returncode == 0 or "accurate CPU usage" not in p.stderr:
            break
    return p


def xts(key, data, sector0, encrypt):
    """AES-XTS with plain64 IVs: the sector number, little endian, as tweak."""
    out = bytearray()
    for i in range(0, len(data), SECTOR):
        tweak = (sector0 + i // SECTOR).to_bytes(16, "little")
        c = Cipher(algorithms.AES(key), modes.XTS(tweak))
        op = c.encryptor() if encrypt else c.decryptor()
        out += op.update(data[i:i + SECTOR]) + op.finalize()
    return bytes(out)


def cryptsetup_master_key(hdr, keyfile):
    """The master key of the LUKS header @hdr, as cryptsetup luksDump
    --dump-master-key gives it for the passphrase in @keyfile."""
    out = run("cryptsetup", "luksDump", "--dump-master-key", "--batch-mode",
              "--key-file", keyfile, hdr).stdout
    m = re.search(r"MK dump:\s*((?:[0-9a-f]{2}\s+)+)", out)
    assert m, out
    return bytes.fromhex("".join(m.group(1).split()))


def seed_graph(tmp, size):
    """The seed's volume, LUKS with a detached header over a qcow2 payload of
    @size bytes, made in @tmp: (the graph as blockdev-add argument lists,
    bottom first, with secret "sec0" holding PASS; header; payload)."""
    hdr, payload = tmp / "test-header.img", tmp / "test-payload.qcow2"
    run(HOTBLOCK_IMG, "create", "--object", f"secret,id=sec0,data={PASS}", "-f", "luks",
        "-o", "cipher-alg=aes-256,cipher-mode=xts", "-o", "key-secret=sec0",
        "-o", "detached-header=true,iter-time=10", hdr)
    run("qemu-img", "create", "-f", "qcow2", payload, str(size))
    graph = [
        {"node-name": "libvirt-1-storage", "driver": "file", "filename": str(hdr)},
        {"node-name": "libvirt-1-format", "driver": "raw", "file": "libvirt-1-storage"},
        {"node-name": "libvirt-2-storage", "driver": "file", "filename": str(payload)},
        {"node-name": "libvirt-2-format", "driver": "qcow2", "file": "libvirt-2-storage"},
        {"node-name": "libvirt-3-format", "driver": "luks", "file": "libvirt-2-format",
         "header": "libvirt-1-format", "key-secret": "sec0"},
    ]
    return graph, hdr, payload


def master_key_via_cryptsetup(tmp, hdr, passphrase=PASS):
    """cryptsetup_master_key() for @passphrase (written to tmp/pass.txt)."""
    (tmp / "pass.txt").write_text(passphrase)
    return cryptsetup_master_key(hdr, tmp / "pass.txt")


def cryptsetup_header(tmp, payload, size, hdr=None, passphrase=PASS):
    """A detached LUKS1 header (aes-xts-plain64, 512-bit key) made by
    cryptsetup with a known master key, for a payload of @size bytes made
    at @payload; @hdr defaults to tmp/cs-header.img.  Returns (hdr, key)."""
    key = os.urandom(64)
    (tmp / "mk.bin").write_bytes(key)
    (tmp / "pass.txt").write_text(passphrase)
    hdr = hdr or tmp / "cs-header.img"
    with open(payload, "wb") as f:
        f.truncate(size)
    run("cryptsetup", "luksFormat", "--type", "luks1", "-q", "--header", hdr,
        "--cipher", "aes-xts-plain64", "--key-size", "512", "--hash", "sha256",
        "--pbkdf-force-iterations", "1000", "--master-key-file", tmp / "mk.bin",
        "--key-file", tmp / "pass.txt", payload)
    return hdr, key


# libvirt's node names for the seed's graph, top first (the order to delete them).
SEED_NODES = ("libvirt-3-format", "libvirt-2-format", "libvirt-2-storage",
              "libvirt-1-format", "libvirt-1-storage")


def add_seed_graph(qmp, hdr, storage, secret="libvirt-4-format-secret"):
    """blockdev-add the seed's graph as libvirt names it: the detached header
    file @hdr (raw), the payload's protocol node from @storage (its options
    without node-name: a file, an rbd image) under qcow2, luks on top with
    key-secret @secret.  Returns the top node's name."""
    qmp.cmd("blockdev-add", {"node-name": "libvirt-1-storage", "driver": "file",
                             "filename": str(hdr)})
    qmp.cmd("blockdev-add", {"node-name": "libvirt-1-format", "driver": "raw",
                             "file": "libvirt-1-storage"})
    qmp.cmd("blockdev-add", {"node-name": "libvirt-2-storage", **storage})
    qmp.cmd("blockdev-add", {"node-name": "libvirt-2-format", "driver": "qcow2",
                             "file": "libvirt-2-storage"})
    qmp.cmd("blockdev-add", {"node-name": "libvirt-3-format", "driver": "luks",
                             "file": "libvirt-2-format", "header": "libvirt-1-format",
                             "key-secret": secret})
    return "libvirt-3-format"

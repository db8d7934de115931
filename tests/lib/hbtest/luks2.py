# SPDX-License-Identifier: GPL-2.0-or-later
"""LUKS2 helpers: volumes made by cryptsetup (fast KDF costs unless asked
otherwise), the volume key as cryptsetup reports it, an independent
AES-XTS-plain64 for any sector size (python3-cryptography), and editing a
header's JSON with both checksums redone."""
import hashlib
import json
import re
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from hbtest.luks import PASS
from hbtest.tools import run

# Fast costs for tests: cryptsetup's defaults would take seconds and 1 GiB.
FAST_ARGON2 = ("--pbkdf-memory", "32768", "--iter-time", "100")
FAST_PBKDF2 = ("--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000")


def keyfile(tmp, passphrase=PASS, name="pass.txt"):
    p = tmp / name
    p.write_text(passphrase)
    return p


def luks2_format(tmp, device, *args, header=None, passphrase=PASS, kdf=FAST_ARGON2):
    """cryptsetup luksFormat --type luks2 of @device (a file it makes of
    20 MiB if missing), with @header for a detached header."""
    if not device.exists():
        with open(device, "wb") as f:
            f.truncate(20 << 20)
    argv = ["cryptsetup", "luksFormat", "--type", "luks2", "-q",
            "--key-file", keyfile(tmp, passphrase), *kdf, *args]
    if header:
        argv += ["--header", header]
    run(*argv, device)


def luks2_encrypt_in_place(tmp, device, header, *args, passphrase=PASS, kdf=FAST_PBKDF2):
    """cryptsetup reencrypt --encrypt with a detached header: cryptsetup
    itself encrypts what @device holds (offline, in user space)."""
    run("cryptsetup", "reencrypt", "--encrypt", "--type", "luks2", "-q",
        "--header", header, "--key-file", keyfile(tmp, passphrase), *kdf, *args, device)


def volume_key(tmp, header, passphrase=PASS):
    out = tmp / "vk.bin"
    run("cryptsetup", "luksDump", "--dump-volume-key", "--volume-key-file", out, "-q",
        "--key-file", keyfile(tmp, passphrase, "vk-pass.txt"), header)
    return out.read_bytes()


def luks_dump(header):
    return run("cryptsetup", "luksDump", header).stdout


def xts(key, data, sector_size=512, first=0, iv_tweak=0, encrypt=False):
    """AES-XTS over @sector_size units, each with the IV cryptsetup gives
    LUKS2: its 512-byte sector number (@first is the first one) plus
    iv_tweak, little endian."""
    out = bytearray()
    for i in range(0, len(data), sector_size):
        iv = (first + i // 512 + iv_tweak).to_bytes(16, "little")
        c = Cipher(algorithms.AES(key), modes.XTS(iv))
        op = c.encryptor() if encrypt else c.decryptor()
        out += op.update(data[i:i + sector_size]) + op.finalize()
    return bytes(out)


def edit_json(header, change):
    """Rewrite both copies of a LUKS2 header's JSON through @change(dict),
    keeping their seqids and redoing their sha256 checksums."""
    with open(header, "r+b") as f:
        raw = f.read(4096)
        hdr_size = struct.unpack(">Q", raw[8:16])[0]
        for off in (0, hdr_size):
            f.seek(off)
            copy = bytearray(f.read(hdr_size))
            meta = json.loads(copy[4096:].split(b"\0", 1)[0])
            change(meta)
            text = json.dumps(meta, separators=(",", ":")).encode()
            copy[4096:] = text + b"\0" * (hdr_size - 4096 - len(text))
            copy[448:512] = b"\0" * 64
            assert copy[72:78] == b"sha256"
            copy[448:480] = hashlib.sha256(copy).digest()
            f.seek(off)
            f.write(copy)


def dump_field(dump, name):
    m = re.search(rf"^\s*{name}:\s*(.*)$", dump, re.M)
    return m and m.group(1).strip()

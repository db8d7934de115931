# SPDX-License-Identifier: GPL-2.0-or-later
"""LUKS helpers shared by the suites: qemu-img create with retries, an
independent AES-XTS-plain64 (python3-cryptography), and the master key as
cryptsetup reports it."""
import re
import subprocess

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

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
            "-o", opts, str(img), str(size)]
    for _ in range(attempts):
        p = subprocess.run(argv, capture_output=True, text=True, timeout=120)
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


def master_key_via_cryptsetup(tmp, hdr, passphrase=PASS):
    """The master key of the LUKS header @hdr, as cryptsetup luksDump
    --dump-master-key gives it for @passphrase (written to tmp/pass.txt)."""
    (tmp / "pass.txt").write_text(passphrase)
    argv = ["cryptsetup", "luksDump", "--dump-master-key", "-q",
            "--key-file", str(tmp / "pass.txt"), str(hdr)]
    r = subprocess.run(argv, capture_output=True, text=True)
    assert r.returncode == 0, f"{argv}: {r.stdout}{r.stderr}"
    m = re.search(r"MK dump:\s*((?:[0-9a-f]{2}\s*)+)", r.stdout)
    assert m, r.stdout
    return bytes.fromhex("".join(m.group(1).split()))

# SPDX-License-Identifier: GPL-2.0-or-later
"""LUKS2 written by hotblock (hotblock-img create -f luks -o format=luks2),
checked with cryptsetup as the oracle: luksDump parses it and shows the
layout and defaults cryptsetup 2.6's luksFormat uses, open --test-passphrase
accepts the passphrase (with --header when detached), and what hotblock
writes into it decrypts independently (python3-cryptography AES-XTS with the
volume key cryptsetup reports)."""
import json

import pytest

from hbtest.luks import PASS
from hbtest.luks2 import dump_field, keyfile, luks_dump, volume_key, xts
from hbtest.paths import HOTBLOCK_IMG
from hbtest.tools import run

MiB = 1 << 20
SECRET = f"secret,id=sec0,data={PASS}"
# Small KDF costs: the layout is what is tested, not the benchmark.
FAST = "iter-time=20,pbkdf-memory=1024"


def hb_create(path, opts, size="4M", fmt="format=luks2,"):
    args = ["create", "-q", "-f", "luks", "--object", SECRET,
            "-o", f"key-secret=sec0,{fmt}{opts}", path]
    return run(HOTBLOCK_IMG, *args, *([size] if size else []), check=False)


def test_passphrase(tmp, dev, passphrase=PASS, header=None):
    argv = ["cryptsetup", "open", "--test-passphrase", "--key-file",
            keyfile(tmp, passphrase, "try.txt")]
    if header:
        argv += ["--header", header]
    return run(*argv, dev, check=False).returncode == 0


test_passphrase.__test__ = False


def hb_write(tmp, opts, data):
    src = tmp / "write.raw"
    src.write_bytes(data)
    run(HOTBLOCK_IMG, "convert", "--object", SECRET, "-n", "--target-image-opts", src,
        f"driver=luks,key-secret=sec0,{opts}")


def pattern(n, seed=13):
    return bytes((i * seed + (i >> 12)) & 0xff for i in range(n))


def test_defaults_as_cryptsetup(tmp_path):
    img = tmp_path / "a.img"
    r = hb_create(img, FAST)
    assert r.returncode == 0, r.stderr
    assert img.stat().st_size == 16 * MiB + 4 * MiB
    d = luks_dump(img)
    assert dump_field(d, "Version") == "2"
    assert dump_field(d, "Epoch") == "1"
    assert dump_field(d, "Metadata area") == "16384 [bytes]"
    assert dump_field(d, "Keyslots area") == "16744448 [bytes]"
    assert dump_field(d, "offset") == "16777216 [bytes]"
    assert dump_field(d, "length") == "(whole device)"
    assert dump_field(d, "cipher") == "aes-xts-plain64"
    assert dump_field(d, "sector") == "512 [bytes]"
    assert dump_field(d, "Key") == "512 bits"
    assert dump_field(d, "PBKDF") == "argon2id"
    assert dump_field(d, "Memory") == "1024"
    assert int(dump_field(d, "Time cost")) >= 4
    assert dump_field(d, "AF stripes") == "4000"
    assert dump_field(d, "AF hash") == "sha256"
    assert dump_field(d, "Area offset") == "32768 [bytes]"
    assert dump_field(d, "Area length") == "258048 [bytes]"
    assert dump_field(d, "Hash") == "sha256"
    assert test_passphrase(tmp_path, img)
    assert not test_passphrase(tmp_path, img, "wrong")
    # hotblock's own reading agrees.
    info = json.loads(run(HOTBLOCK_IMG, "info", "--output=json", "--object", SECRET,
                          "--image-opts", f"driver=luks,key-secret=sec0,file.filename={img}")
                      .stdout)
    assert info["virtual-size"] == 4 * MiB
    assert info["format-specific"]["data"]["payload-offset"] == 16 * MiB


@pytest.mark.parametrize("kdf", ["argon2i", "pbkdf2"])
@pytest.mark.parametrize("sector", [512, 4096])
def test_data_decrypts_independently(tmp_path, kdf, sector):
    img = tmp_path / "a.img"
    opts = f"iter-time=20,pbkdf={kdf},sector-size={sector}"
    if kdf != "pbkdf2":
        opts += ",pbkdf-memory=1024,pbkdf-parallel=2"
    r = hb_create(img, opts)
    assert r.returncode == 0, r.stderr
    d = luks_dump(img)
    assert dump_field(d, "PBKDF") == kdf
    assert dump_field(d, "sector") == f"{sector} [bytes]"
    if kdf != "pbkdf2":
        assert dump_field(d, "Threads") == "2"
    plain = pattern(1 * MiB)
    hb_write(tmp_path, f"file.filename={img}", plain)
    key = volume_key(tmp_path, img)
    assert len(key) == 64
    with open(img, "rb") as f:
        f.seek(16 * MiB)
        assert xts(key, f.read(1 * MiB), sector) == plain


def test_detached(tmp_path):
    hdr, payload = tmp_path / "h.img", tmp_path / "p.img"
    r = hb_create(hdr, FAST + ",detached-header=on", size=None)
    assert r.returncode == 0, r.stderr
    assert hdr.stat().st_size == 16 * MiB
    d = luks_dump(hdr)
    assert dump_field(d, "offset") == "0 [bytes]"
    payload.write_bytes(b"\0" * (2 * MiB))
    assert test_passphrase(tmp_path, payload, header=hdr)
    plain = pattern(2 * MiB, 7)
    hb_write(tmp_path, f"file.filename={payload},header.filename={hdr}", plain)
    assert xts(volume_key(tmp_path, hdr), payload.read_bytes()) == plain


@pytest.mark.parametrize("opts,msg", [
    ("pbkdf=scrypt", "Unknown LUKS2 PBKDF 'scrypt' (pbkdf2, argon2i, argon2id)"),
    ("sector-size=8192", "LUKS2 sector size 8192 is not one of 512, 1024, 2048, 4096"),
    ("pbkdf=pbkdf2,pbkdf-memory=64", "LUKS2 PBKDF pbkdf2 takes no memory or parallel cost"),
])
def test_bad_options(tmp_path, opts, msg):
    img = tmp_path / "a.img"
    r = hb_create(img, opts)
    assert r.returncode == 1
    assert r.stderr.strip().endswith(msg)
    assert not img.exists()


@pytest.mark.parametrize("opts,msg", [
    ("sector-size=4096", "Parameter 'sector-size' needs format=luks2"),
    ("format=luks1,pbkdf=argon2id", "Parameter 'pbkdf' needs format=luks2"),
    ("format=luks3", "Parameter 'format' expects 'luks1' or 'luks2'"),
])
def test_format_option(tmp_path, opts, msg):
    img = tmp_path / "a.img"
    r = hb_create(img, opts, fmt="")
    assert r.returncode == 1
    assert r.stderr.strip().endswith(msg)
    assert not img.exists()


@pytest.mark.parametrize("opts,cipher,bits", [
    ("cipher-mode=cbc,ivgen-alg=essiv,cipher-alg=aes-128", "aes-cbc-essiv:sha256", 128),
    ("cipher-alg=aes-128", "aes-xts-plain64", 256),
    ("ivgen-alg=plain", "aes-xts-plain", 512),
])
def test_cipher_options(tmp_path, opts, cipher, bits):
    """qemu-img's cipher options make the dm-crypt spec cryptsetup reads."""
    img = tmp_path / "a.img"
    r = hb_create(img, f"{FAST},{opts}")
    assert r.returncode == 0, r.stderr
    d = luks_dump(img)
    assert dump_field(d, "cipher") == cipher
    assert dump_field(d, "Key") == f"{bits} bits"
    assert test_passphrase(tmp_path, img)

# SPDX-License-Identifier: GPL-2.0-or-later
"""LUKS2 made by cryptsetup, opened by hotblock's luks driver: argon2id (the
default KDF, at test costs), PBKDF2, 512 and 4096-byte sectors, detached
headers, several keyslots, a keyslot killed.  Data goes both ways and is
checked three times over: what cryptsetup encrypted (reencrypt --encrypt,
which runs in user space) reads as its plaintext through hotblock; what
hotblock writes decrypts independently (python3-cryptography, with the
volume key from cryptsetup luksDump --dump-volume-key); and reads back."""
import json

import pytest

from hbtest.luks import PASS
from hbtest.luks2 import (FAST_PBKDF2, dump_field, edit_json, keyfile, luks2_encrypt_in_place,
                          luks2_format, luks_dump, volume_key, xts)
from hbtest.paths import HOTBLOCK_IMG
from hbtest.tools import run

MiB = 1 << 20
SECRET = f"secret,id=sec0,data={PASS}"


def spec(payload, header=None, secret="sec0"):
    s = {"driver": "luks", "key-secret": secret, "file": {"filename": str(payload)}}
    if header:
        s["header"] = {"filename": str(header)}
    return s


def hb_read(tmp, s, passphrase=PASS):
    out = tmp / "read.raw"
    run(HOTBLOCK_IMG, "convert", "--object", f"secret,id=sec0,data={passphrase}",
        "json:" + json.dumps(s), "-O", "raw", out)
    return out.read_bytes()


def hb_write(tmp, s, data):
    src = tmp / "write.raw"
    src.write_bytes(data)
    opts = f"driver=luks,key-secret=sec0,file.filename={s['file']['filename']}"
    if "header" in s:
        opts += f",header.filename={s['header']['filename']}"
    run(HOTBLOCK_IMG, "convert", "--object", SECRET, "-n", "--target-image-opts", src, opts)


def hb_fails(s, passphrase=PASS):
    r = run(HOTBLOCK_IMG, "info", "--object", f"secret,id=sec0,data={passphrase}",
            "json:" + json.dumps(s), check=False)
    assert r.returncode != 0
    return r.stderr.strip()


def hb_info(s):
    r = run(HOTBLOCK_IMG, "info", "--output=json", "--object", SECRET, "json:" + json.dumps(s))
    return json.loads(r.stdout)


def pattern(n, seed=11):
    return bytes((i * seed + (i >> 12)) & 0xff for i in range(n))


@pytest.mark.parametrize("sector", [512, 4096])
def test_cryptsetup_encrypted_reads_plaintext(tmp_path, sector):
    """cryptsetup encrypts (detached header, so the payload keeps its size),
    hotblock decrypts: the IV convention is checked against cryptsetup's."""
    payload, hdr = tmp_path / "p.img", tmp_path / "h.img"
    plain = pattern(2 * MiB)
    payload.write_bytes(plain)
    luks2_encrypt_in_place(tmp_path, payload, hdr, "--sector-size", str(sector))
    assert payload.read_bytes() != plain
    assert dump_field(luks_dump(hdr), "sector") == f"{sector} [bytes]"
    assert hb_read(tmp_path, spec(payload, hdr)) == plain
    # And the independent decryption agrees with both.
    key = volume_key(tmp_path, hdr)
    assert xts(key, payload.read_bytes(), sector) == plain


@pytest.mark.parametrize("kdf", ["argon2id", "argon2i", "pbkdf2"])
@pytest.mark.parametrize("sector", [512, 4096])
def test_attached_both_ways(tmp_path, kdf, sector):
    img = tmp_path / "a.img"
    args = ["--sector-size", str(sector)]
    if kdf == "pbkdf2":
        luks2_format(tmp_path, img, *args, kdf=FAST_PBKDF2)
    else:
        luks2_format(tmp_path, img, *args, "--pbkdf", kdf)
    dump = luks_dump(img)
    assert dump_field(dump, "PBKDF") == kdf
    off = int(dump_field(dump, "offset").split()[0])
    s = spec(img)
    data = pattern(img.stat().st_size - off, seed=29)
    hb_write(tmp_path, s, data)
    key = volume_key(tmp_path, img)
    with open(img, "rb") as f:
        f.seek(off)
        assert xts(key, f.read(), sector) == data
    assert hb_read(tmp_path, s) == data
    info = hb_info(s)
    assert info["format"] == "luks"
    fs = info["format-specific"]["data"]
    assert fs["version"] == 2 and fs["sector-size"] == sector
    assert fs["payload-offset"] == off and fs["detached-header"] is False
    assert (fs["cipher-alg"], fs["cipher-mode"], fs["ivgen-alg"]) == ("aes-256", "xts", "plain64")
    assert [(k["keyslot"], k["pbkdf"]) for k in fs["slots"]] == [(0, kdf)]


def test_detached_header_both_ways(tmp_path):
    payload, hdr = tmp_path / "p.img", tmp_path / "h.img"
    with open(payload, "wb") as f:
        f.truncate(4 * MiB)
    luks2_format(tmp_path, payload, header=hdr)
    s = spec(payload, hdr)
    data = pattern(4 * MiB, seed=3)
    hb_write(tmp_path, s, data)
    key = volume_key(tmp_path, hdr)
    sector = int(dump_field(luks_dump(hdr), "sector").split()[0])
    assert xts(key, payload.read_bytes(), sector) == data
    assert hb_read(tmp_path, s) == data
    # The payload alone is no LUKS volume.
    assert "LUKS" in hb_fails(spec(payload))
    # info shows the header without its key (metadata only).
    s.pop("key-secret")
    out = run(HOTBLOCK_IMG, "info", "json:" + json.dumps(s)).stdout
    for line in ("file format: luks", "version: 2", f"sector size: {sector}",
                 "detached header: true", "pbkdf: argon2id", "keyslot: 0",
                 "virtual size: 4 MiB (4194304 bytes)"):
        assert line in out, out


def test_independent_encryption_reads_back(tmp_path):
    """Bytes encrypted by python3-cryptography with cryptsetup's volume key
    read as plaintext through hotblock (4096-byte sectors, past sector 0)."""
    payload, hdr = tmp_path / "p.img", tmp_path / "h.img"
    with open(payload, "wb") as f:
        f.truncate(MiB)
    luks2_format(tmp_path, payload, "--sector-size", "4096", header=hdr)
    key = volume_key(tmp_path, hdr)
    plain = pattern(MiB, seed=5)
    payload.write_bytes(xts(key, plain, 4096, encrypt=True))
    assert hb_read(tmp_path, spec(payload, hdr)) == plain


def test_several_keyslots_and_a_killed_one(tmp_path):
    img = tmp_path / "a.img"
    luks2_format(tmp_path, img, kdf=FAST_PBKDF2)
    other = keyfile(tmp_path, "second secret", "other.txt")
    run("cryptsetup", "luksAddKey", "-q", "--key-file", keyfile(tmp_path), *FAST_PBKDF2,
        img, other)
    third = keyfile(tmp_path, "third secret", "third.txt")
    run("cryptsetup", "luksAddKey", "-q", "--key-file", keyfile(tmp_path), "--pbkdf",
        "argon2id", "--pbkdf-memory", "16384", "--iter-time", "50", img, third)
    s = spec(img)
    data = pattern(4 * MiB)
    hb_write(tmp_path, s, data)
    slots = hb_info(s)["format-specific"]["data"]["slots"]
    assert [(k["keyslot"], k["pbkdf"]) for k in slots] == [
        (0, "pbkdf2"), (1, "pbkdf2"), (2, "argon2id")]
    for p in ("second secret", "third secret"):
        assert hb_read(tmp_path, s, p)[:4 * MiB] == data
    run("cryptsetup", "luksKillSlot", "-q", "--key-file", other, img, "0")
    assert "Invalid password, cannot unlock any keyslot" in hb_fails(s, PASS)
    assert hb_read(tmp_path, s, "third secret")[:4 * MiB] == data


def test_wrong_passphrase(tmp_path):
    img = tmp_path / "a.img"
    luks2_format(tmp_path, img, kdf=FAST_PBKDF2)
    assert hb_fails(spec(img), "nope").endswith("Invalid password, cannot unlock any keyslot")


def test_damaged_primary_header_uses_secondary(tmp_path):
    img = tmp_path / "a.img"
    luks2_format(tmp_path, img, kdf=FAST_PBKDF2)
    data = pattern(MiB)
    hb_write(tmp_path, spec(img), data + bytes(img.stat().st_size - 16 * MiB - MiB))
    with open(img, "r+b") as f:
        f.seek(4096 + 100)
        b = f.read(1)
        f.seek(4096 + 100)
        f.write(bytes([b[0] ^ 0x40]))
    assert hb_read(tmp_path, spec(img))[:MiB] == data
    # Without the primary's signature too (the version comes from the secondary).
    with open(img, "r+b") as f:
        f.write(b"\0" * 8)
    assert hb_read(tmp_path, spec(img))[:MiB] == data


@pytest.mark.parametrize("what,change,want", [
    ("integrity", lambda m: m["segments"]["0"].update(integrity={"type": "hmac(sha256)"}),
     "LUKS2 segment 0 uses authenticated encryption (integrity), which is not supported"),
    ("reencrypt", lambda m: m["config"].update(requirements={"mandatory": ["online-reencrypt-v2"]}),
     "LUKS2 volume is being reencrypted (requirement 'online-reencrypt-v2'): reencryption in "
     "progress is not supported"),
    ("segments", lambda m: m["segments"].update({"1": dict(m["segments"]["0"])}),
     "LUKS2 header has 2 data segments: several segments (a reencryption in progress) are not "
     "supported"),
])
def test_unsupported_refused_by_name(tmp_path, what, change, want):
    img = tmp_path / "a.img"
    luks2_format(tmp_path, img, kdf=FAST_PBKDF2)
    edit_json(img, change)
    assert want in hb_fails(spec(img))


def test_segment_past_the_device_end(tmp_path):
    payload, hdr = tmp_path / "p.img", tmp_path / "h.img"
    with open(payload, "wb") as f:
        f.truncate(MiB)
    luks2_format(tmp_path, payload, header=hdr, kdf=FAST_PBKDF2)
    edit_json(hdr, lambda m: m["segments"]["0"].update(size=str(2 * MiB)))
    assert ("LUKS2 data segment (2097152 bytes at offset 0) ends beyond the end of the "
            "volume (1048576 bytes)") in hb_fails(spec(payload, hdr))
    # A fixed size inside the volume is the node's size.
    edit_json(hdr, lambda m: m["segments"]["0"].update(size=str(MiB // 2)))
    assert len(hb_read(tmp_path, spec(payload, hdr))) == MiB // 2


def test_attached_segment_over_the_header_refused(tmp_path):
    img = tmp_path / "a.img"
    luks2_format(tmp_path, img, kdf=FAST_PBKDF2)
    edit_json(img, lambda m: m["segments"]["0"].update(offset="4096"))
    assert ("LUKS2 data segment at offset 4096 overlaps the headers and keyslots area "
            "(16777216 bytes)") in hb_fails(spec(img))

# SPDX-License-Identifier: GPL-2.0-or-later
"""hotblock-img amend for LUKS keyslots.  LUKS1: the same sequence of
amends run by qemu-img 7.2 and hotblock-img on copies of one image gives the
same exit codes and texts, and cryptsetup opens what each left.  LUKS2
(cryptsetup as the oracle): a volume cryptsetup formatted is re-keyed here
and opened by cryptsetup with the new passphrase, an erased keyslot is
refused, the volume key and the data stay, tokens survive."""
import json

import pytest

from hbtest.luks import PASS, qemu_img_create_luks
from hbtest.luks2 import dump_field, keyfile, luks2_format, luks_dump, volume_key
from hbtest.paths import HOTBLOCK_IMG
from hbtest.tools import run

OBJS = ["--object", f"secret,id=s0,data={PASS}", "--object", "secret,id=s1,data=second",
        "--object", "secret,id=s2,data=third"]


def amend(prog, image_opts, opts, *extra):
    return run(prog, "amend", *OBJS, *extra, "--image-opts", image_opts, "-o", opts,
               check=False)


def opens(tmp, dev, passphrase, header=None):
    argv = ["cryptsetup", "open", "--test-passphrase", "--key-file",
            keyfile(tmp, passphrase, "try.txt")]
    if header:
        argv += ["--header", header]
    return run(*argv, dev, check=False).returncode == 0


def tail(stderr):
    return stderr.split(": ", 1)[1].rstrip("\n") if stderr else ""


# Each step runs on the state the ones before left.
LUKS1_STEPS = [
    "state=active,new-secret=s1,iter-time=50",
    "state=active,new-secret=s1,keyslot=1,iter-time=50",
    "state=active,new-secret=s2,keyslot=9",
    "state=active",
    "state=active,new-secret=s1,old-secret=s0",
    "state=inactive",
    "state=inactive,keyslot=5",
    "state=inactive,new-secret=s1",
    "state=inactive,keyslot=1,iter-time=5",
    "state=bogus",
    "foo=bar",
    "keyslot=x,state=active",
    "state=inactive,old-secret=s9",
    "state=inactive,keyslot=0,old-secret=s1",
    "state=active,new-secret=s2,keyslot=7,iter-time=50",
    "state=inactive,old-secret=s1",
    "state=inactive,keyslot=7",
    "state=inactive,keyslot=0",
    "state=inactive,old-secret=s0",
]


def test_luks1_as_qemu_img(tmp_path):
    q, h = tmp_path / "q.img", tmp_path / "h.img"
    p = qemu_img_create_luks(q, "1M", f"secret,id=s0,data={PASS}", "key-secret=s0,iter-time=50")
    assert p.returncode == 0, p.stderr
    h.write_bytes(q.read_bytes())
    for step in LUKS1_STEPS:
        rq = amend("qemu-img", f"driver=luks,file.filename={q},key-secret=s0", step)
        rh = amend(HOTBLOCK_IMG, f"driver=luks,file.filename={h},key-secret=s0", step)
        assert (rh.returncode, tail(rh.stderr)) == (rq.returncode, tail(rq.stderr)), step
    for passphrase, ok in ((PASS, True), ("second", False), ("third", False)):
        assert opens(tmp_path, q, passphrase) == ok
        assert opens(tmp_path, h, passphrase) == ok


def test_usage_errors():
    r = run(HOTBLOCK_IMG, "amend", "x.img", check=False)
    assert r.returncode == 1 and "Must specify options (-o)" in r.stderr
    r = run(HOTBLOCK_IMG, "amend", "-o", "state=inactive,keyslot=1", "--force", "x.img",
            check=False)
    assert r.returncode == 1 and "--force" in r.stderr
    h = run(HOTBLOCK_IMG, "amend", "-f", "luks", "-o", "help")
    q = run("qemu-img", "amend", "-f", "luks", "-o", "help")
    assert h.stdout == q.stdout


def test_not_luks(tmp_path):
    raw = tmp_path / "r.img"
    raw.write_bytes(b"\0" * 65536)
    r = run(HOTBLOCK_IMG, "amend", "-f", "raw", "-o", "state=active", raw, check=False)
    q = run("qemu-img", "amend", "-f", "raw", "-o", "state=active", raw, check=False)
    assert (r.returncode, tail(r.stderr)) == (q.returncode, tail(q.stderr)) == \
        (1, "Format driver 'raw' does not support option amendment")
    # Checked before the options: luks's are not qcow2's (test_img_amend_qcow2.py).
    qc = tmp_path / "q.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", qc, "1M")
    r = run(HOTBLOCK_IMG, "amend", "-f", "qcow2", "-o", "state=active", qc, check=False)
    q = run("qemu-img", "amend", "-f", "qcow2", "-o", "state=active", qc, check=False)
    assert (r.returncode, tail(r.stderr)) == (q.returncode, tail(q.stderr)) == \
        (1, "Invalid parameter 'state'")


def test_luks2_cryptsetup_volume_rekeyed(tmp_path):
    dev = tmp_path / "c.img"
    luks2_format(tmp_path, dev)
    key = volume_key(tmp_path, dev)
    # A token cryptsetup knows nothing of, bound to keyslot 0: kept.
    token = tmp_path / "token.json"
    token.write_text(json.dumps({"type": "x-hotblock-test", "keyslots": ["0"], "v": 1}))
    run("cryptsetup", "token", "import", "--json-file", token, dev)
    opts = f"driver=luks,file.filename={dev},key-secret=s0"
    epoch = int(dump_field(luks_dump(dev), "Epoch"))

    r = amend(HOTBLOCK_IMG, opts, "state=active,new-secret=s1,iter-time=20")
    assert r.returncode == 0, r.stderr
    d = luks_dump(dev)
    assert int(dump_field(d, "Epoch")) == epoch + 1     # seqid + 1, both copies
    assert "1: luks2" in d and "x-hotblock-test" in d
    assert opens(tmp_path, dev, "second")
    assert opens(tmp_path, dev, PASS)
    (tmp_path / "vk.bin").unlink()      # cryptsetup does not overwrite it
    assert volume_key(tmp_path, dev) == key

    r = amend(HOTBLOCK_IMG, opts, "state=inactive,keyslot=0")
    assert r.returncode == 0, r.stderr
    assert not opens(tmp_path, dev, PASS)
    assert opens(tmp_path, dev, "second")
    d = luks_dump(dev)
    assert "0: luks2" not in d and "x-hotblock-test" in d

    # Now key-secret s0 no longer opens it: qemu-img's open error.
    r = amend(HOTBLOCK_IMG, opts, "state=active,new-secret=s2")
    assert r.returncode == 1
    assert r.stderr.strip().endswith("Invalid password, cannot unlock any keyslot")

    opts1 = f"driver=luks,file.filename={dev},key-secret=s1"
    r = amend(HOTBLOCK_IMG, opts1, "state=active,new-secret=s2,keyslot=31,iter-time=20")
    assert r.returncode == 0, r.stderr
    assert opens(tmp_path, dev, "third")
    r = amend(HOTBLOCK_IMG, opts1, "state=inactive,old-secret=s1")
    assert r.returncode == 0, r.stderr
    assert not opens(tmp_path, dev, "second") and opens(tmp_path, dev, "third")
    r = amend(HOTBLOCK_IMG, f"driver=luks,file.filename={dev},key-secret=s2",
              "state=inactive,keyslot=31")
    assert r.returncode == 1
    assert tail(r.stderr) == ("Attempt to erase the only active keyslot 31 which will erase "
                              "all the data in the image irreversibly - refusing operation")
    (tmp_path / "vk.bin").unlink()
    assert volume_key(tmp_path, dev, "third") == key


def test_luks2_hotblock_detached_rekeyed(tmp_path):
    hdr, payload = tmp_path / "h.img", tmp_path / "p.img"
    run(HOTBLOCK_IMG, "create", "-q", "-f", "luks", "--object", f"secret,id=s0,data={PASS}",
        "-o", "key-secret=s0,format=luks2,detached-header=on,iter-time=20,pbkdf-memory=1024",
        hdr)
    payload.write_bytes(b"\0" * (1 << 20))
    opts = f"driver=luks,file.filename={payload},header.filename={hdr},key-secret=s0"
    r = amend(HOTBLOCK_IMG, opts, "state=active,new-secret=s1,keyslot=3,iter-time=20")
    assert r.returncode == 0, r.stderr
    assert opens(tmp_path, payload, "second", header=hdr)
    r = amend(HOTBLOCK_IMG, opts, "state=inactive,keyslot=3")
    assert r.returncode == 0, r.stderr
    assert not opens(tmp_path, payload, "second", header=hdr)
    assert opens(tmp_path, payload, PASS, header=hdr)
    # The payload was never written.
    assert payload.read_bytes() == b"\0" * (1 << 20)
    # A read-only header node: refused, the header as it was.
    before = hdr.read_bytes()
    r = amend(HOTBLOCK_IMG, opts + ",header.read-only=on", "state=active,new-secret=s1")
    assert r.returncode == 1
    assert r.stderr.strip().endswith("Block node is read-only")
    assert hdr.read_bytes() == before

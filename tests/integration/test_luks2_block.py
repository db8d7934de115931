# SPDX-License-Identifier: GPL-2.0-or-later
"""LUKS2 in the daemon: blockdev-add of cryptsetup-made volumes (the seed's
libvirt graph with a LUKS2 detached header over qcow2, a header shared by
two payloads), exports written by a vhost-user-blk front-end and checked
independently, query-named-block-nodes, the Argon2 memory limit, and Argon2
derivation that leaves other clients served."""
import json
import struct
import time

import pytest

from hbtest.bench import bench, export_info, pattern_word
from hbtest.exports import export_args
from hbtest.graph import expect_error, image_locks, snapshot
from hbtest.luks import PASS
from hbtest.luks2 import FAST_PBKDF2, edit_json, keyfile, luks2_format, volume_key, xts
from hbtest.paths import HOTBLOCKD
from hbtest.rawclient import RawClient, served_while_pending
from hbtest.tools import run

MiB = 1 << 20
SPAN = 2 * MiB
SEED = 0xBEEF


def add_secret(qmp):
    qmp.cmd("object-add", **{"qom-type": "secret", "id": "sec0", "data": PASS})


def luks_node(name, payload_node, header_node, secret="sec0"):
    return {"node-name": name, "driver": "luks", "file": payload_node,
            "header": header_node, "key-secret": secret}


def add_file(qmp, name, path, fmt="raw"):
    qmp.cmd("blockdev-add", **{"node-name": name + "-storage"}, driver="file",
            filename=str(path))
    qmp.cmd("blockdev-add", **{"node-name": name}, driver=fmt, file=name + "-storage")


def check_plaintext(key, cipher, sector, seed):
    plain = xts(key, cipher, sector)
    words = struct.unpack(f"<{len(plain) // 8}Q", plain)
    bad = [i for i, w in enumerate(words) if w != pattern_word(8 * i, seed)]
    assert not bad, f"{len(bad)} words differ, first at byte {8 * bad[0]}"


@pytest.mark.parametrize("lbs", [512, 4096])
def test_detached_luks2_over_qcow2_exported(daemon, qmp, tmp_path, lbs):
    """The seed's graph with a cryptsetup LUKS2 header (argon2id, 4096-byte
    sectors).  With logical-block-size 512 every guest write smaller than a
    sector is a read-modify-write below; with 4096 none is."""
    hdr, payload = tmp_path / "hdr.img", tmp_path / "payload.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", payload, "64M")
    luks2_format(tmp_path, tmp_path / "dummy.img", "--sector-size", "4096", header=hdr)
    add_secret(qmp)
    add_file(qmp, "hdr", hdr)
    add_file(qmp, "pl", payload, "qcow2")
    qmp.cmd("blockdev-add", **luks_node("crypt", "pl", "hdr"))
    node = next(n for n in qmp.cmd("query-named-block-nodes") if n["node-name"] == "crypt")
    fs = node["image"]["format-specific"]["data"]
    assert fs["version"] == 2 and fs["sector-size"] == 4096 and fs["detached-header"]
    assert fs["slots"][0]["pbkdf"] == "argon2id" and fs["slots"][0]["memory"] == 32768
    assert PASS not in json.dumps(node)

    sock = tmp_path / "vd.sock"
    qmp.cmd("block-export-add", **export_args("e0", "crypt", sock, writable=True,
                                              **{"logical-block-size": lbs}))
    assert export_info(sock)["capacity"] == 64 * MiB
    bs = "512" if lbs == 512 else "4k"
    _, res, _ = bench(sock, "--rw", "write", "--bs", bs, "--count", SPAN // int(lbs),
                      "--size", SPAN, "--seed", SEED, "--flush", "--verify")
    assert res["verify_errors"] == 0
    qmp.cmd("block-export-del", id="e0")
    for n in ("crypt", "pl", "pl-storage", "hdr", "hdr-storage"):
        qmp.cmd("blockdev-del", **{"node-name": n})

    raw = tmp_path / "cipher.raw"
    run("qemu-img", "convert", "-f", "qcow2", "-O", "raw", payload, raw)
    check_plaintext(volume_key(tmp_path, hdr), raw.read_bytes()[:SPAN], 4096, SEED)


def test_one_luks2_header_two_payloads(daemon, qmp, tmp_path):
    hdr = tmp_path / "hdr.img"
    luks2_format(tmp_path, tmp_path / "dummy.img", header=hdr)
    add_secret(qmp)
    add_file(qmp, "hdr", hdr)
    for i in range(2):
        p = tmp_path / f"p{i}.img"
        with open(p, "wb") as f:
            f.truncate(4 * MiB)
        add_file(qmp, f"p{i}", p)
        qmp.cmd("blockdev-add", **luks_node(f"c{i}", f"p{i}", "hdr"))
        qmp.cmd("block-export-add", **export_args(f"e{i}", f"c{i}", tmp_path / f"{i}.sock",
                                                  writable=True))
        _, res, _ = bench(tmp_path / f"{i}.sock", "--rw", "write", "--bs", "64k",
                          "--count", SPAN // 65536, "--size", SPAN, "--seed", SEED + i,
                          "--flush", "--verify")
        assert res["verify_errors"] == 0
    key = volume_key(tmp_path, hdr)
    for i in range(2):
        check_plaintext(key, (tmp_path / f"p{i}.img").read_bytes()[:SPAN], 4096, SEED + i)


def test_argon2_memory_over_the_limit(daemon_factory, tmp_path):
    hdr, payload = tmp_path / "hdr.img", tmp_path / "p.img"
    luks2_format(tmp_path, payload, header=hdr)      # 32 MiB of Argon2 memory
    d = daemon_factory("--max-argon2-memory", "16384")
    q = d.qmp()
    add_secret(q)
    t0 = time.monotonic()
    expect_error(d, q, "blockdev-add",
                 {"node-name": "c", "driver": "luks", "key-secret": "sec0",
                  "header": {"driver": "file", "filename": str(hdr)},
                  "file": {"driver": "file", "filename": str(payload)}},
                 "LUKS2 keyslot 0 needs 32768 KiB of memory for argon2id, more than the "
                 "limit of 16384 KiB (--max-argon2-memory)")
    assert time.monotonic() - t0 < 0.5               # refused before deriving


def test_argon2_option_checked():
    r = run(HOTBLOCKD, "--max-argon2-memory", "lots", check=False)
    assert r.returncode == 1 and "--max-argon2-memory expects a number" in r.stderr


@pytest.mark.security
def test_other_clients_served_while_argon2_derives(daemon, qmp, tmp_path):
    """cryptsetup's default KDF cost on this machine (argon2id, 1 GiB at
    most, about 2 s): another client is answered meanwhile."""
    hdr, payload = tmp_path / "hdr.img", tmp_path / "p.img"
    luks2_format(tmp_path, payload, header=hdr, kdf=("--pbkdf-memory", "1048576",
                                                     "--pbkdf-force-iterations", "4"))
    add_secret(qmp)
    a = RawClient(daemon.qmp_path)
    a.send({"execute": "blockdev-add", "id": "add", "arguments": {
        "node-name": "c", "driver": "luks", "key-secret": "sec0",
        "header": {"driver": "file", "filename": str(hdr)},
        "file": {"driver": "file", "filename": str(payload)}}})
    time.sleep(0.05)
    served, worst = served_while_pending(a, qmp)
    reply = a.recv()
    assert reply.get("id") == "add" and reply.get("return") == {}, reply
    assert served >= 3 and worst < 0.3, (served, worst)


def test_luks2_header_reread_on_activation(daemon, qmp, tmp_path):
    """Inactive, the header may change: a keyslot added elsewhere is taken
    in; a header of another volume is refused and the node stays as it was."""
    hdr, payload = tmp_path / "hdr.img", tmp_path / "p.img"
    luks2_format(tmp_path, payload, header=hdr, kdf=FAST_PBKDF2)
    add_secret(qmp)
    add_file(qmp, "hdr", hdr)
    add_file(qmp, "pl", payload)
    qmp.cmd("blockdev-add", **luks_node("crypt", "pl", "hdr"))
    qmp.cmd("blockdev-set-active", active=False)
    run("cryptsetup", "luksAddKey", "-q", "--key-file", keyfile(tmp_path), *FAST_PBKDF2,
        hdr, keyfile(tmp_path, "another", "other.txt"))
    qmp.cmd("blockdev-set-active", active=True)
    node = next(n for n in qmp.cmd("query-named-block-nodes") if n["node-name"] == "crypt")
    assert len(node["image"]["format-specific"]["data"]["slots"]) == 2

    qmp.cmd("blockdev-set-active", active=False)
    saved = hdr.read_bytes()
    other = tmp_path / "other-hdr.img"
    luks2_format(tmp_path, payload, header=other, kdf=FAST_PBKDF2)
    hdr.write_bytes(other.read_bytes())
    before = snapshot(daemon, qmp)
    _, err = qmp.err("blockdev-set-active", active=True)
    assert err == ("Could not activate node 'crypt': LUKS header changed (UUID): the volume "
                   "is no longer the one that was unlocked"), err
    assert snapshot(daemon, qmp) == before
    hdr.write_bytes(saved)
    qmp.cmd("blockdev-set-active", active=True)


@pytest.mark.parametrize("what", ["integrity", "reencrypt", "segment-past-end",
                                  "wrong-passphrase", "no-key-secret"])
def test_refused_blockdev_add_leaves_nothing(daemon, qmp, tmp_path, what):
    """A refused LUKS2 blockdev-add leaves the graph, the daemon's fds and
    every lock on the header and the payload as they were."""
    hdr, payload = tmp_path / "hdr.img", tmp_path / "p.img"
    with open(payload, "wb") as f:
        f.truncate(MiB)
    luks2_format(tmp_path, payload, header=hdr, kdf=FAST_PBKDF2)
    args = {"node-name": "c", "driver": "luks", "key-secret": "sec0",
            "header": {"driver": "file", "filename": str(hdr)},
            "file": {"driver": "file", "filename": str(payload)}}
    want = {
        "integrity": "LUKS2 segment 0 uses authenticated encryption (integrity), which is "
                     "not supported",
        "reencrypt": "LUKS2 volume is being reencrypted (requirement 'online-reencrypt-v2'): "
                     "reencryption in progress is not supported",
        "segment-past-end": "LUKS2 data segment (2097152 bytes at offset 0) ends beyond the "
                            "end of the volume (1048576 bytes)",
        "wrong-passphrase": "Invalid password, cannot unlock any keyslot",
        "no-key-secret": "Parameter 'key-secret' is required for cipher",
    }[what]
    if what == "integrity":
        edit_json(hdr, lambda m: m["segments"]["0"].update(integrity={"type": "hmac(sha256)"}))
    elif what == "reencrypt":
        edit_json(hdr, lambda m: m["config"].update(
            requirements={"mandatory": ["online-reencrypt-v2"]}))
    elif what == "segment-past-end":
        edit_json(hdr, lambda m: m["segments"]["0"].update(size=str(2 * MiB)))
    elif what == "no-key-secret":
        del args["key-secret"]
    qmp.cmd("object-add", **{"qom-type": "secret", "id": "sec0",
                             "data": "nope" if what == "wrong-passphrase" else PASS})
    locks = image_locks(hdr), image_locks(payload)
    expect_error(daemon, qmp, "blockdev-add", args, want)
    assert (image_locks(hdr), image_locks(payload)) == locks == ([], [])

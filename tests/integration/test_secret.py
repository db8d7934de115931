# SPDX-License-Identifier: GPL-2.0-or-later
"""Secret objects over QMP and on the command line: object-add/object-del,
qom-list, libvirt's keyid/iv encryption (checked with python3-cryptography),
and every error, with QEMU 7.2's texts.  No secret may ever be echoed."""
import base64
import os

from hbtest.paths import LUKS_PROBE
from hbtest.secrets import libvirt_encrypt
from hbtest.tools import run

SECRET = "s3cr3t-passphrase"


def add_secret(qmp, id, **props):
    return qmp.cmd("object-add", {"qom-type": "secret", "id": id, **props})


def objects(qmp):
    return qmp.cmd("qom-list", path="/objects")


def test_add_list_del(qmp):
    add_secret(qmp, "sec0", data=SECRET)
    add_secret(qmp, "b64", data=base64.b64encode(b"\x00\xff").decode(), format="base64")
    assert objects(qmp) == [
        {"name": "type", "type": "string"},
        {"name": "b64", "type": "child<secret>"},
        {"name": "sec0", "type": "child<secret>"},
    ]
    props = qmp.cmd("qom-list", path="/objects/sec0")
    assert {"name": "keyid", "type": "string"} in props
    assert {"name": "format", "type": "QCryptoSecretFormat"} in props
    assert qmp.cmd("qom-list", path="/") == [
        {"name": "type", "type": "string"},
        {"name": "objects", "type": "child<container>"},
    ]
    assert qmp.err("qom-list", path="/nope") == ("DeviceNotFound", "Device '/nope' not found")
    assert qmp.err("qom-list", path="/objects/nope") == (
        "DeviceNotFound", "Device '/objects/nope' not found")
    assert qmp.cmd("object-del", id="sec0") == {}
    assert objects(qmp) == [{"name": "type", "type": "string"},
                            {"name": "b64", "type": "child<secret>"}]
    assert qmp.err("object-del", id="sec0") == ("GenericError", "object 'sec0' not found")
    # The id is free again.
    add_secret(qmp, "sec0", data="other")


def test_errors(qmp, tmp_path):
    key = os.urandom(32)
    iv = os.urandom(16)
    add_secret(qmp, "sec0", data=SECRET)
    add_secret(qmp, "master", data=base64.b64encode(key).decode(), format="base64")
    ct = libvirt_encrypt(key, iv, SECRET.encode())
    iv64 = base64.b64encode(iv).decode()
    unreadable = str(tmp_path / "missing")

    def err(**props):
        return qmp.err("object-add", {"qom-type": "secret", **props})

    assert err(id="sec0", data="x") == (
        "GenericError", "attempt to add duplicate property 'sec0' to object (type 'container')")
    assert err(id="x", **{"qom-type": "foo"}) == (
        "GenericError", "Parameter 'qom-type' does not accept value 'foo'")
    assert err(id="x") == ("GenericError", "Either 'file' or 'data' must be provided")
    assert err(id="x", data="a", file="/etc/hostname") == (
        "GenericError", "'file' and 'data' are mutually exclusive")
    assert err(id="x", file=unreadable) == (
        "GenericError",
        f"Unable to read {unreadable}: Failed to open file “{unreadable}”: "
        "No such file or directory")
    assert err(id="x", data="!!!", format="base64") == (
        "GenericError", "Base64 data contains invalid characters")
    assert err(id="x", data=ct, format="base64", keyid="nokey", iv=iv64) == (
        "GenericError", "No secret with id 'nokey'")
    assert err(id="x", data=ct, format="base64", keyid="sec0", iv=iv64) == (
        "GenericError", "Key should be 32 bytes in length")
    assert err(id="x", data=ct, format="base64", keyid="master") == (
        "GenericError", "IV is required to decrypt secret")
    assert err(id="x", data=ct, format="base64", keyid="master", iv="AAAA") == (
        "GenericError", "IV should be 16 bytes in length not 3")
    assert err(id="x", data="YWJj", format="base64", keyid="master", iv=iv64) == (
        "GenericError", "Length 3 must be a multiple of block size 16")
    # Encrypted under another key: the padding check fails.
    wrong = libvirt_encrypt(bytes(range(32)), iv, SECRET.encode())
    cls, desc = err(id="x", data=wrong, format="base64", keyid="master", iv=iv64)
    assert cls == "GenericError"
    assert desc.startswith("Incorrect number of padding bytes (")
    assert desc.endswith(") found on decrypted data")
    assert err(id="9x", data="a") == ("GenericError", "Parameter 'id' expects an identifier")
    assert err(id="x", data="a", bogus=1) == ("GenericError", "Parameter 'bogus' is unexpected")
    assert err(id="x", data="a", format="hex") == (
        "GenericError", "Parameter 'format' does not accept value 'hex'")
    # Nothing was half-created.
    assert [o["name"] for o in objects(qmp)] == ["type", "master", "sec0"]


def make_luks(tmp_path, passphrase, detached=False):
    path = tmp_path / ("hdr.img" if detached else "luks.img")
    args = [LUKS_PROBE, "create", str(path), "--passphrase", passphrase, "--iter-time", "10"]
    if detached:
        args.append("--detached-header")
    run(*args)
    if not detached:
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) + 1024 * 1024)
    return str(path)


def open_luks(qmp, image, secret_id, name="luks0"):
    return qmp.raw("blockdev-add", {
        "driver": "luks", "node-name": name, "key-secret": secret_id,
        "file": {"driver": "file", "filename": image}})


def test_keyid_iv_secret_unlocks_luks(qmp, daemon, tmp_path):
    """The libvirt flow: a master key from a file, then an encrypted passphrase."""
    key = os.urandom(32)
    keyfile = tmp_path / "master.key"
    keyfile.write_text(base64.b64encode(key).decode())
    iv = os.urandom(16)
    image = make_luks(tmp_path, SECRET)

    add_secret(qmp, "master", file=str(keyfile), format="base64")
    add_secret(qmp, "pass", data=libvirt_encrypt(key, iv, SECRET.encode()), format="base64",
               keyid="master", iv=base64.b64encode(iv).decode())
    # A wrong plaintext would not unlock; this one must.
    add_secret(qmp, "wrong", data=libvirt_encrypt(key, iv, b"not-it"), format="base64",
               keyid="master", iv=base64.b64encode(iv).decode())
    reply = open_luks(qmp, image, "wrong", "bad")
    assert reply["error"]["desc"].endswith("Invalid password, cannot unlock any keyslot"), reply
    reply = open_luks(qmp, image, "pass")
    assert reply == {"return": {}}, reply
    # Deleting the secret after open is fine: the key was derived at open.
    qmp.cmd("object-del", id="pass")
    qmp.cmd("blockdev-del", **{"node-name": "luks0"})
    reply = open_luks(qmp, image, "pass")
    assert reply["error"]["desc"].endswith("No secret with id 'pass'"), reply
    assert SECRET not in daemon.log()


def test_raw_secret_from_file(qmp, daemon, tmp_path):
    image = make_luks(tmp_path, SECRET)
    f = tmp_path / "pass.txt"
    f.write_text(SECRET)
    add_secret(qmp, "p", file=str(f))
    assert open_luks(qmp, image, "p") == {"return": {}}


def test_command_line_objects(daemon_factory, tmp_path):
    d = daemon_factory(
        "--object", '{"qom-type":"secret","id":"sec0","data":"' + SECRET + '"}',
        "--object", "secret,id=sec1,data=" + SECRET,
        "--object", "secret,id=sec2,data=YWJj,format=base64")
    q = d.qmp()
    assert [o["name"] for o in objects(q)] == ["type", "sec0", "sec1", "sec2"]
    image = make_luks(tmp_path, SECRET)
    assert open_luks(q, image, "sec1") == {"return": {}}
    assert SECRET not in d.log()


def test_command_line_object_error(daemon_factory):
    d = daemon_factory("--object", "secret,id=sec0", wait=False)
    assert d.proc.wait(20) != 0
    log = d.log()
    assert "Either 'file' or 'data' must be provided" in log


def test_secret_never_echoed(qmp, daemon):
    """Errors about a secret's content must not quote it."""
    cls, desc = qmp.err("object-add", {"qom-type": "secret", "id": "x",
                                       "data": SECRET + "!", "format": "base64"})
    assert SECRET not in desc
    cls, desc = qmp.err("object-add", {"qom-type": "secret", "id": "x",
                                       "data": SECRET, "keyid": "nokey", "iv": "AAAA"})
    assert SECRET not in desc
    assert SECRET not in daemon.log()

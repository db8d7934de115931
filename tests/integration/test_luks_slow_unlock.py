# SPDX-License-Identifier: GPL-2.0-or-later
"""A LUKS1 header's PBKDF2 iteration counts are the header's to choose, and a
hostile header can ask for 2^32-1 (about 18 minutes per keyslot here).
Counts above --max-pbkdf-iterations are refused with a clear error, and the
key derivation that is allowed runs off the main thread: other QMP clients
are answered while a blockdev-add derives, and the client's own later
requests wait their turn."""
import time

import pytest

from hbtest.luks import PASS
from hbtest.rawclient import RawClient, served_while_pending
from hbtest.paths import HOTBLOCKD  # noqa: F401  (the daemon under test)
from hbtest.tools import run

MiB = 1 << 20


def slow_header(tmp_path, iters):
    """A detached LUKS1 header (for payload(tmp_path)) whose keyslot takes
    @iters PBKDF2-SHA256 rounds."""
    hdr = tmp_path / f"hdr-{iters}.img"
    (tmp_path / "pass.txt").write_text(PASS)
    run("cryptsetup", "luksFormat", "--type", "luks1", "-q", "--hash", "sha256",
        "--header", hdr, "--pbkdf-force-iterations", str(iters),
        "--key-file", tmp_path / "pass.txt", payload(tmp_path))
    return hdr


def luks_args(hdr, payload, name="l0"):
    return {"node-name": name, "driver": "luks", "key-secret": "sec0",
            "header": {"driver": "file", "filename": str(hdr)},
            "file": {"driver": "file", "filename": str(payload)}}


def payload(tmp_path):
    p = tmp_path / "payload.img"
    if not p.exists():
        with open(p, "wb") as f:
            f.truncate(MiB)
    return p


@pytest.mark.security
def test_iterations_over_the_limit_refused(daemon_factory, tmp_path):
    hdr = slow_header(tmp_path, 200000)
    d = daemon_factory("--max-pbkdf-iterations", "100000")
    q = d.qmp()
    q.cmd("object-add", {"qom-type": "secret", "id": "sec0", "data": PASS})
    t0 = time.monotonic()
    cls, desc = q.err("blockdev-add", luks_args(hdr, payload(tmp_path)))
    assert time.monotonic() - t0 < 0.5           # refused before any derivation
    assert desc.startswith("LUKS header needs up to ") and \
        "more than the limit of 100000 (--max-pbkdf-iterations)" in desc, desc
    assert q.cmd("query-named-block-nodes") == []


def test_option_checked(tmp_path):
    r = run(HOTBLOCKD, "--max-pbkdf-iterations", "lots", check=False)
    assert r.returncode == 1 and "--max-pbkdf-iterations expects a number" in r.stderr


@pytest.mark.security
def test_other_clients_served_while_deriving(daemon, qmp, tmp_path):
    # About a second of PBKDF2 on this VM (twice: keyslot, then digest check).
    hdr = slow_header(tmp_path, 2000000)
    qmp.cmd("object-add", {"qom-type": "secret", "id": "sec0", "data": PASS})
    a = RawClient(daemon.qmp_path)
    a.send({"execute": "blockdev-add", "arguments": luks_args(hdr, payload(tmp_path)),
            "id": "add"})
    a.send({"execute": "query-version", "id": "after"})   # waits its turn
    time.sleep(0.05)
    answered_meanwhile, worst = served_while_pending(a, qmp)
    first = a.recv()
    assert first.get("id") == "add" and first.get("return") == {}, first
    assert a.recv().get("id") == "after"
    assert answered_meanwhile >= 3, "the derivation was too quick to overlap anything"
    assert worst < 0.3, f"another client waited {worst:.2f} s"
    assert [n["node-name"] for n in qmp.cmd("query-named-block-nodes")
            if n["node-name"] == "l0"] == ["l0"]


@pytest.mark.security
def test_client_gone_while_deriving(daemon, qmp, tmp_path):
    hdr = slow_header(tmp_path, 2000000)
    qmp.cmd("object-add", {"qom-type": "secret", "id": "sec0", "data": PASS})
    a = RawClient(daemon.qmp_path)
    a.send({"execute": "blockdev-add", "arguments": luks_args(hdr, payload(tmp_path))})
    time.sleep(0.1)
    a.s.close()                                   # gone mid-command
    deadline = time.monotonic() + 30
    while not any(n["node-name"] == "l0" for n in qmp.cmd("query-named-block-nodes")):
        assert time.monotonic() < deadline, "the command never completed"
        time.sleep(0.05)
    assert daemon.proc.poll() is None
    assert qmp.cmd("query-version")


@pytest.mark.security
def test_quit_while_deriving(daemon, qmp, tmp_path):
    """quit from another client while a blockdev-add derives: the derivation
    finishes, its client is answered, and the daemon exits 0."""
    hdr = slow_header(tmp_path, 12000000)     # seconds of PBKDF2 on this VM
    qmp.cmd("object-add", {"qom-type": "secret", "id": "sec0", "data": PASS})
    a = RawClient(daemon.qmp_path)
    a.send({"execute": "blockdev-add", "arguments": luks_args(hdr, payload(tmp_path)),
            "id": "add"})
    time.sleep(0.05)
    qmp.cmd("quit")
    assert daemon.proc.wait(60) == 0
    first = a.recv()
    assert first.get("id") == "add" and "return" in first, first

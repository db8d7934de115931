# SPDX-License-Identifier: GPL-2.0-or-later
"""x-blockdev-amend on luks nodes: re-keying a volume a front-end is
writing to, attached and detached (shared) headers, QEMU's keyslot rules
and texts compared with qemu-storage-daemon, checked with cryptsetup and
by reopening; LUKS2 re-keyed too (cryptsetup as the oracle)."""
import shutil

from hbtest.bench import start_bench
from hbtest.exports import export_args
from hbtest.jobs import job_statuses, run_job
from hbtest.luks import PASS
from hbtest.luks2 import keyfile, luks2_format
from hbtest.paths import HOTBLOCK_IMG
from hbtest.qsd import QemuStorageDaemon
from hbtest.tools import run

MiB = 1 << 20
PASS1, PASS2 = "new-pass-1", "new-pass-2"
OK = ["created", "running", "waiting", "pending", "concluded", "null"]
FAILED = ["created", "running", "aborting", "concluded", "null"]


def make_luks(path, *opts):
    run(HOTBLOCK_IMG, "create", "-q", "--object", f"secret,id=s,data={PASS}", "-f", "luks",
        "-o", "key-secret=s,iter-time=10", *opts, str(path), *([] if opts else ["4M"]))


def secrets(qmp):
    for sid, data in (("sec0", PASS), ("sec1", PASS1), ("sec2", PASS2)):
        qmp.cmd("object-add", **{"qom-type": "secret", "id": sid, "data": data})


def open_volume(qmp, img, make=True):
    """The secrets and luks node "l" on @img (made first unless @make is false)."""
    if make:
        make_luks(img)
    secrets(qmp)
    qmp.cmd("blockdev-add", driver="luks", **{"node-name": "l"}, **{"key-secret": "sec0"},
            file={"driver": "file", "filename": str(img)})


def amend(qmp, job_id="a", node="l", force=None, **opts):
    args = {"node-name": node, "options": dict({"driver": "luks"}, **opts)}
    if force is not None:
        args["force"] = force
    return run_job(qmp, "x-blockdev-amend", job_id, **args)


def opens(tmp_path, hdr, passphrase):
    p = run("cryptsetup", "open", "--test-passphrase", "--key-file",
            str(keyfile(tmp_path, passphrase, "try.txt")), str(hdr), check=False)
    return p.returncode == 0


def slots(hdr):
    dump = run("cryptsetup", "luksDump", str(hdr)).stdout
    return [i for i in range(8) if f"Key Slot {i}: ENABLED" in dump]


def test_rekey_a_volume_in_use(daemon, qmp, tmp_path):
    img = tmp_path / "v.luks"
    open_volume(qmp, img)
    sock = tmp_path / "e.sock"
    qmp.cmd("block-export-add", export_args("e", "l", sock, writable=True))
    writer = start_bench(sock, tmp_path / "ready", "--rw", "randwrite", "--runtime", "3")
    st, info = amend(qmp, state="active", **{"new-secret": "sec1", "iter-time": 10})
    assert st == OK, info
    assert info["type"] == "amend" and info["current-progress"] == 1
    st, info = amend(qmp, state="inactive", **{"old-secret": "sec0"})
    assert st == OK, info
    out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    assert slots(img) == [1]
    assert opens(tmp_path, img, PASS1) and not opens(tmp_path, img, PASS)
    node = [n for n in qmp.cmd("query-named-block-nodes") if n["node-name"] == "l"][0]
    spec = node["image"]["format-specific"]["data"]
    assert [s["active"] for s in spec["slots"]] == [False, True] + [False] * 6
    # The data written meanwhile reads back through a fresh open with the new passphrase.
    qmp.cmd("block-export-del", id="e")
    qmp.cmd("blockdev-del", **{"node-name": "l"})
    qmp.cmd("blockdev-add", driver="luks", **{"node-name": "l"}, **{"key-secret": "sec1"},
            file={"driver": "file", "filename": str(img)})
    qmp.cmd("block-export-add", export_args("e", "l", sock))
    run(HOTBLOCK_IMG, "info", "--object", f"secret,id=s,data={PASS1}", "-U", "--image-opts",
        f"driver=luks,key-secret=s,file.driver=file,file.filename={img}")


def test_shared_detached_header(daemon, qmp, tmp_path):
    hdr, p1, p2 = tmp_path / "h.img", tmp_path / "p1.raw", tmp_path / "p2.raw"
    make_luks(hdr, "-o", "detached-header=true")
    for p in (p1, p2):
        p.write_bytes(b"\0" * MiB)
    secrets(qmp)
    qmp.cmd("blockdev-add", driver="file", **{"node-name": "h"}, filename=str(hdr))
    for name, p in (("l", p1), ("m", p2)):
        qmp.cmd("blockdev-add", driver="luks", **{"node-name": name}, header="h",
                **{"key-secret": "sec0"}, file={"driver": "file", "filename": str(p)})
    st, info = amend(qmp, state="active", keyslot=3, **{"new-secret": "sec2", "iter-time": 10})
    assert st == OK, info
    assert slots(hdr) == [0, 3] and opens(tmp_path, hdr, PASS2)
    # The other node's copy of the header is stale: it refuses to write it back.
    st, info = amend(qmp, node="m", state="active", **{"new-secret": "sec1", "iter-time": 10})
    assert st == FAILED and info["error"] == "LUKS header changed on disk since it was opened"
    assert slots(hdr) == [0, 3]
    st, info = amend(qmp, state="inactive", keyslot=0, **{"old-secret": "sec0"})
    assert st == OK, info
    assert slots(hdr) == [3]


def test_luks2_rekeyed(daemon, qmp, tmp_path):
    """A LUKS2 volume cryptsetup made (argon2id) is re-keyed through QMP while
    exported: a new passphrase added, the old one erased by old-secret;
    cryptsetup then opens it with the new one only."""
    dev = tmp_path / "v2.img"
    luks2_format(tmp_path, dev)
    secrets(qmp)
    qmp.cmd("blockdev-add", driver="luks", **{"node-name": "l"}, **{"key-secret": "sec0"},
            file={"driver": "file", "filename": str(dev)})
    qmp.cmd("block-export-add", **export_args("e0", "l", tmp_path / "e0.sock", writable=True))
    st, info = amend(qmp, state="active", **{"new-secret": "sec1", "iter-time": 10})
    assert st == OK, info
    st, info = amend(qmp, job_id="b", state="inactive", **{"old-secret": "sec0"})
    assert st == OK, info
    assert opens(tmp_path, dev, PASS1)
    assert not opens(tmp_path, dev, PASS)
    # The last keyslot stays, as with LUKS1.
    st, info = amend(qmp, job_id="c", state="inactive", **{"old-secret": "sec1"})
    assert st == FAILED and "refusing operation" in info["error"]
    assert opens(tmp_path, dev, PASS1)


# The rules, each from a volume with keyslots 0 (PASS) and 1 (PASS1).
RULES = [
    ({"state": "active"}, None),
    ({"state": "active", "new-secret": "sec2", "old-secret": "sec0"}, None),
    ({"state": "active", "new-secret": "sec2", "keyslot": 8}, None),
    ({"state": "active", "new-secret": "sec2", "keyslot": -1}, None),
    ({"state": "active", "new-secret": "sec2", "keyslot": 1}, None),
    ({"state": "active", "new-secret": "sec2", "secret": "sec2"}, None),
    ({"state": "inactive", "new-secret": "sec2", "keyslot": 0}, None),
    ({"state": "inactive", "iter-time": 10, "keyslot": 0}, None),
    ({"state": "inactive", "secret": "sec0", "keyslot": 0}, None),
    ({"state": "inactive"}, None),
    ({"state": "inactive", "keyslot": 9}, None),
    ({"state": "inactive", "keyslot": 5}, None),
    ({"state": "inactive", "keyslot": 0, "old-secret": "sec1"}, None),
    ({"state": "inactive", "old-secret": "sec2"}, None),
    ({"state": "inactive", "old-secret": "nope"}, None),
    ({"state": "active", "new-secret": "sec2", "iter-time": 10, "secret": "sec1"}, "ok"),
    ({"state": "inactive", "keyslot": 2}, "ok"),
]


def amend_answers(qmp, img):
    open_volume(qmp, img, make=False)
    out = []
    for opts, _ in RULES:
        st, info = amend(qmp, **opts)
        out.append((st, info.get("error")))
    # The last active keyslot, by index and by password.
    st, info = amend(qmp, state="inactive", keyslot=1)
    out.append((st, info.get("error")))
    out.append(amend(qmp, state="inactive", keyslot=0)[1].get("error"))
    out.append(amend(qmp, state="inactive", **{"old-secret": "sec0"})[1].get("error"))
    return out


def test_rules_match_qsd(daemon, qmp, tmp_path):
    img = tmp_path / "r.luks"
    make_luks(img)
    keyfile(tmp_path, PASS, "k0")
    run("cryptsetup", "luksAddKey", "-q", "--key-file", str(tmp_path / "k0"),
        "--pbkdf-force-iterations", "1000", str(img), str(keyfile(tmp_path, PASS1, "k1")))
    qimg = tmp_path / "q.luks"
    shutil.copy(img, qimg)
    ours = amend_answers(qmp, img)
    qdir = tmp_path / "qsd"
    qdir.mkdir()
    with QemuStorageDaemon(qdir) as qsd:
        theirs = amend_answers(qsd.qmp(), qimg)
    assert ours == theirs
    assert ours[4] == (FAILED, "Refusing to overwrite active keyslot 1 - please erase it first")
    assert ours[-3][0] == OK and ours[-1] is not None
    assert slots(img) == [0]


def test_command_errors_match_qsd(daemon, qmp, tmp_path):
    img = tmp_path / "c.luks"
    make_luks(img)
    qdir = tmp_path / "qsd"
    qdir.mkdir()
    with QemuStorageDaemon(qdir) as qsd:
        answers = []
        for q in (qmp, qsd.qmp()):
            secrets(q)
            q.cmd("blockdev-add", driver="file", **{"node-name": "f"}, filename=str(img),
                  **{"read-only": True, "force-share": True})
            q.cmd("blockdev-add", driver="luks", **{"node-name": "l"}, file="f",
                  **{"key-secret": "sec0"}, **{"read-only": True, "force-share": True})
            a = [q.err("x-blockdev-amend", **{"job-id": "a", "node-name": "nope"},
                       options={"driver": "luks", "state": "active"}),
                 q.err("x-blockdev-amend", **{"job-id": "a", "node-name": "f"},
                       options={"driver": "luks", "state": "active"}),
                 q.err("x-blockdev-amend", **{"job-id": "a", "node-name": "f"},
                       options={"driver": "file"}),
                 q.err("x-blockdev-amend", **{"job-id": "a", "node-name": "l"},
                       options={"driver": "qcow2"}),
                 q.err("x-blockdev-amend", **{"job-id": "2a", "node-name": "l"},
                       options={"driver": "luks", "state": "active"})]
            answers.append(a)
    assert answers[0] == answers[1]


def test_node_busy_while_amending(daemon, qmp, tmp_path):
    open_volume(qmp, tmp_path / "b.luks")
    qmp.cmd("x-blockdev-amend", **{"job-id": "a", "node-name": "l"},
            options={"driver": "luks", "state": "active", "new-secret": "sec1",
                     "iter-time": 1000})
    cls, desc = qmp.err("blockdev-del", **{"node-name": "l"})
    assert desc == "Node 'l' is busy: node is used by an unnamed block device", desc
    assert job_statuses(qmp, "a")[-1] == "concluded"
    qmp.cmd("job-dismiss", id="a")
    qmp.cmd("blockdev-del", **{"node-name": "l"})


def test_one_amend_at_a_time(daemon, qmp, tmp_path):
    """A second amend of a node while one runs fails at once, clearly, rather
    than racing the first for a keyslot; the first completes."""
    import time

    img = tmp_path / "v.luks"
    open_volume(qmp, img)
    opts = {"driver": "luks", "state": "active", "iter-time": 1500}
    qmp.cmd("x-blockdev-amend", **{"job-id": "a1", "node-name": "l",
                                   "options": dict(opts, **{"new-secret": "sec1"})})
    qmp.cmd("x-blockdev-amend", **{"job-id": "a2", "node-name": "l",
                                   "options": dict(opts, **{"new-secret": "sec2"})})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        jobs = {j["id"]: j for j in qmp.cmd("query-jobs")}
        if all(jobs[i]["status"] == "concluded" for i in ("a1", "a2")):
            break
        time.sleep(0.05)
    assert "error" not in jobs["a1"], jobs["a1"]
    assert jobs["a2"]["error"] == "Node 'l' is already having its LUKS keyslots changed"
    assert opens(tmp_path, img, PASS1)
    assert not opens(tmp_path, img, PASS2)
    assert slots(img) == [0, 1]

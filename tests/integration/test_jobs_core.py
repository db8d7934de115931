# SPDX-License-Identifier: GPL-2.0-or-later
"""The job core with a slow job (a LUKS create spending seconds in PBKDF2):
pause and resume at step boundaries, cancel, the main loop serving other
clients meanwhile, the log, the daemon's exit with a job running, and the
state file, which records no job."""
import json
import signal
import time

from hbtest.jobs import job_info, job_statuses
from hbtest.luks import PASS

MiB = 1 << 20
SLOW_MS = 1500


def start_slow(qmp, tmp_path, job_id="slow"):
    path = tmp_path / f"{job_id}.luks"
    path.write_bytes(b"")
    qmp.cmd("object-add", **{"qom-type": "secret", "id": f"s-{job_id}", "data": PASS})
    qmp.cmd("blockdev-add", driver="file", **{"node-name": f"f-{job_id}"}, filename=str(path))
    qmp.cmd("blockdev-create", **{"job-id": job_id},
            options={"driver": "luks", "file": f"f-{job_id}", "size": MiB,
                     "key-secret": f"s-{job_id}", "iter-time": SLOW_MS})
    return path


def test_pause_resume_and_other_clients_served(daemon, qmp, tmp_path):
    start_slow(qmp, tmp_path)
    other = daemon.qmp()
    t0 = time.monotonic()
    assert other.cmd("query-jobs")[0]["status"] == "running"
    assert time.monotonic() - t0 < 0.5          # not held up by the job's PBKDF2
    qmp.cmd("job-pause", id="slow")
    assert qmp.err("job-pause", id="slow") == ("GenericError", "Job is already paused")
    assert job_statuses(qmp, "slow", until="paused") == ["created", "running", "paused"]
    assert job_info(qmp, "slow")["status"] == "paused"
    assert job_info(qmp, "slow")["current-progress"] == 0
    time.sleep(0.3)
    assert job_info(qmp, "slow")["status"] == "paused"   # it stays at the boundary
    qmp.cmd("job-resume", id="slow")
    assert job_statuses(qmp, "slow") == ["running", "waiting", "pending", "concluded"]
    info = job_info(qmp, "slow")
    assert "error" not in info and info["current-progress"] == info["total-progress"] == 1
    qmp.cmd("job-dismiss", id="slow")
    assert qmp.cmd("query-jobs") == []
    log = daemon.log()
    for st in ("created", "running", "paused", "waiting", "pending", "concluded", "null"):
        assert f"job 'slow' (create): {st}" in log, log


def test_cancel(daemon, qmp, tmp_path):
    start_slow(qmp, tmp_path)
    qmp.cmd("job-cancel", id="slow")
    assert job_statuses(qmp, "slow") == ["created", "running", "aborting", "concluded"]
    assert job_info(qmp, "slow")["error"] == "Operation canceled"
    assert "job 'slow' (create): concluded: Operation canceled" in daemon.log()
    # The node is free again.
    qmp.cmd("job-dismiss", id="slow")
    qmp.cmd("blockdev-del", **{"node-name": "f-slow"})


def test_cancel_paused(daemon, qmp, tmp_path):
    start_slow(qmp, tmp_path)
    qmp.cmd("job-pause", id="slow")
    assert job_statuses(qmp, "slow", until="paused")[-1] == "paused"
    assert qmp.err("job-resume", id="nope") == ("GenericError", "Job not found")
    qmp.cmd("job-cancel", id="slow")
    assert job_statuses(qmp, "slow") == ["running", "aborting", "concluded"]


def test_quit_with_a_running_job(daemon, qmp, tmp_path):
    start_slow(qmp, tmp_path)
    qmp.cmd("quit")
    assert daemon.proc.wait(30) == 0
    log = daemon.log()
    assert "job 'slow' (create): concluded: Operation canceled" in log, log


def test_sigterm_with_a_paused_job(daemon, qmp, tmp_path):
    start_slow(qmp, tmp_path)
    qmp.cmd("job-pause", id="slow")
    job_statuses(qmp, "slow", until="paused")
    assert daemon.stop(signal.SIGTERM) == 0
    assert "job 'slow' (create): concluded: Operation canceled" in daemon.log()


def test_state_file_records_no_job(daemon_factory, tmp_path):
    state = tmp_path / "state.json"
    d = daemon_factory("--state-file", str(state))
    q = d.qmp()
    img = tmp_path / "a.qcow2"
    q.cmd("blockdev-create", **{"job-id": "c1"},
          options={"driver": "file", "filename": str(img), "size": 0})
    job_statuses(q, "c1")
    q.cmd("job-dismiss", id="c1")
    q.cmd("blockdev-add", driver="file", **{"node-name": "f"}, filename=str(img))
    q.cmd("blockdev-create", **{"job-id": "c2"},
          options={"driver": "qcow2", "file": "f", "size": MiB})
    job_statuses(q, "c2")
    q.cmd("job-dismiss", id="c2")
    q.cmd("blockdev-add", driver="qcow2", **{"node-name": "q"}, file="f")
    doc = json.loads(state.read_text())
    assert [i["execute"] for i in doc["items"]] == ["blockdev-add", "blockdev-add"]
    assert d.stop() == 0
    d2 = daemon_factory("--state-file", str(state))
    q2 = d2.qmp()
    assert sorted(n["node-name"] for n in q2.cmd("query-named-block-nodes")) == ["f", "q"]
    assert q2.cmd("query-jobs") == []

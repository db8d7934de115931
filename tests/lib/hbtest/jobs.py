# SPDX-License-Identifier: GPL-2.0-or-later
"""Jobs (blockdev-create, x-blockdev-amend) over QMP: run one to its end and
collect what a client sees, the same way against hotblockd and
qemu-storage-daemon."""


def job_statuses(qmp, job_id, until="concluded", timeout=60):
    """The JOB_STATUS_CHANGE statuses of @job_id, in order, up to @until
    (the events already queued included)."""
    seen = []
    while not seen or seen[-1] != until:
        ev = qmp.wait_event("JOB_STATUS_CHANGE", timeout=timeout)
        if ev["data"]["id"] == job_id:
            seen.append(ev["data"]["status"])
    return seen


def job_info(qmp, job_id):
    return [j for j in qmp.cmd("query-jobs") if j["id"] == job_id][0]


def run_job(qmp, command, job_id, dismiss=True, **args):
    """Start @command with job-id @job_id and wait for it to conclude.
    Returns (statuses, the concluded JobInfo); the job is dismissed unless
    @dismiss is false."""
    qmp.cmd(command, **{"job-id": job_id}, **args)
    statuses = job_statuses(qmp, job_id)
    info = job_info(qmp, job_id)
    if dismiss:
        qmp.cmd("job-dismiss", id=job_id)
        statuses += job_statuses(qmp, job_id, until="null")
    return statuses, info


def create(qmp, job_id, **options):
    """blockdev-create to its end: (statuses, JobInfo)."""
    return run_job(qmp, "blockdev-create", job_id, options=options)

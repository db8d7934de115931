# SPDX-License-Identifier: GPL-2.0-or-later
"""object-add secret file=: only a regular file of sane size is read, into
locked memory.  A FIFO blocked the main thread in open() (every client
waited), and /dev/zero or a huge file was read whole into the heap."""
import os
import time

import pytest

pytestmark = pytest.mark.security


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "huge", "directory"])
def test_secret_file_must_be_a_small_regular_file(daemon, qmp, tmp_path, kind):
    path = {"fifo": tmp_path / "fifo", "dev-zero": "/dev/zero",
            "huge": tmp_path / "huge", "directory": tmp_path}[kind]
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "huge":
        with open(path, "wb") as f:
            f.truncate(1 << 30)
    t0 = time.monotonic()
    cls, desc = qmp.err("object-add", {"qom-type": "secret", "id": "s0", "file": str(path)})
    assert time.monotonic() - t0 < 1
    assert desc == f"Unable to read {path}: not a regular file of at most 65536 bytes", desc
    assert qmp.cmd("query-version")       # the daemon was never stuck


def test_secret_file_through_a_symlink(daemon, qmp, tmp_path):
    key = tmp_path / "key"
    key.write_text("abc123")
    link = tmp_path / "link"
    link.symlink_to(key)
    qmp.cmd("object-add", {"qom-type": "secret", "id": "s0", "file": str(link)})

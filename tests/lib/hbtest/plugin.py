# SPDX-License-Identifier: GPL-2.0-or-later
"""The pytest fixtures that start the real hotblockd.

The build directory comes from $HB_BUILD_DIR (default: <repo>/build); the
Makefile and meson set it.  Every test gets its own temporary directory,
socket and daemon; the daemon is stopped (SIGTERM) and must exit 0 at
teardown, and its stderr is kept for the failure report.  A suite's
conftest.py imports these fixtures (or run pytest -p hbtest.plugin)."""
import pytest

from hbtest.daemon import Daemon


@pytest.fixture
def daemon_factory(tmp_path):
    started = []

    def start(*args, subdir=None, **kw):
        """@subdir: a directory of its own under tmp_path (its QMP socket,
        stderr and export dir), for a test with more than one daemon."""
        tmp = tmp_path
        if subdir:
            tmp = tmp_path / subdir
            tmp.mkdir(exist_ok=True)
        d = Daemon(tmp, args=args, **kw)
        started.append(d)
        return d

    yield start
    for d in started:
        if d.proc.poll() is None:
            rc = d.stop()
            assert rc == 0, f"hotblockd exited {rc} at teardown: {d.log()}"
        # Sanitizer builds: any report fails the test that caused it.
        log = d.log()
        assert "ERROR: AddressSanitizer" not in log, log
        assert "ERROR: LeakSanitizer" not in log, log
        assert "runtime error:" not in log, log


@pytest.fixture
def daemon(daemon_factory):
    return daemon_factory()


@pytest.fixture
def qmp(daemon):
    return daemon.qmp()


def pytest_configure(config):
    # `pytest -m security` runs the tests of what a host relies on against
    # hostile clients, guests and images (the hardening findings).
    config.addinivalue_line("markers", "security: a security or availability property")

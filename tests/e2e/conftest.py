# SPDX-License-Identifier: GPL-2.0-or-later
"""Real-guest tests reuse the integration fixtures (a real hotblockd per test)
and make sure Debian's kernel is unpacked (tests/e2e/setup.sh) first."""
import importlib.util
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
INTEGRATION = os.path.join(HERE, "..", "integration")
sys.path.insert(0, INTEGRATION)
sys.path.insert(0, HERE)

_spec = importlib.util.spec_from_file_location("hb_integration_conftest",
                                               os.path.join(INTEGRATION, "conftest.py"))
_conf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_conf)
daemon_factory = _conf.daemon_factory
daemon = _conf.daemon
qmp = _conf.qmp
build_path = _conf.build_path

import guest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def kernel():
    guest.ensure_kernel()
    return guest.KERNEL


@pytest.fixture
def vms():
    """Guests started by a test; killed at teardown if still running."""
    started = []
    yield started
    for g in started:
        g.kill()

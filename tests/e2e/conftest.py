# SPDX-License-Identifier: GPL-2.0-or-later
"""Real-guest tests: the integration fixtures (a real hotblockd per test,
from tests/lib/hbtest) and Debian's kernel unpacked (tests/e2e/setup.sh)
before the first guest boots."""
import os
import sys

import pytest

_LIB = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
if _LIB not in sys.path:
    sys.path.insert(0, _LIB)

from hbtest import guest  # noqa: E402
from hbtest.plugin import daemon, daemon_factory, pytest_configure, qmp  # noqa: E402,F401  (fixtures, markers)


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

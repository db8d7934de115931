# SPDX-License-Identifier: GPL-2.0-or-later
"""Integration tests: the real hotblockd on a real socket per test.

The fixtures (daemon_factory, daemon, qmp) and every helper the test files
share are in tests/lib/hbtest; this puts tests/lib on sys.path once and
takes the fixtures from hbtest.plugin."""
import os
import sys

_LIB = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
if _LIB not in sys.path:
    sys.path.insert(0, _LIB)

from hbtest.plugin import daemon, daemon_factory, pytest_configure, qmp  # noqa: E402,F401  (fixtures, markers)

# SPDX-License-Identifier: GPL-2.0-or-later
"""The programs the tests run: the oracles (QEMU's tools, cryptsetup, the
guest's busybox) found on PATH, and run() for them and the build's own.

A missing oracle fails the test that needs it with a message naming the
tool and `make test-deps`: never a skip, never a bare FileNotFoundError."""
import os
import shutil
import subprocess

import pytest

# Each oracle and the Debian package scripts/install-deps.sh installs it from.
ORACLES = {
    "qemu-img": "qemu-utils",
    "qemu-io": "qemu-utils",
    "qemu-storage-daemon": "qemu-system-common",
    "qemu-system-x86_64": "qemu-system-x86",
    "cryptsetup": "cryptsetup-bin",
    "busybox": "busybox-static",
}


def require(name):
    """The path of program @name on PATH; the test fails if it is missing."""
    path = shutil.which(name)
    if path is None:
        pkg = ORACLES.get(name)
        what = f"{name} (Debian package {pkg})" if pkg else name
        pytest.fail(f"{what} is not installed, and this test needs it as its oracle: "
                    "run `make test-deps`", pytrace=False)
    return path


def run(*argv, check=True, text=True, timeout=600, **kw):
    """Run @argv (each item str()'d) to the end with its output captured; a
    program named without a path must be on PATH (require()).  check: fail
    unless it exits 0, showing its output.  Other keywords (input, cwd)
    go to subprocess.run."""
    argv = [str(a) for a in argv]
    if os.sep not in argv[0]:
        require(argv[0])
    p = subprocess.run(argv, capture_output=True, text=text, timeout=timeout, **kw)
    if check and p.returncode != 0:
        out = p.stdout + p.stderr
        if not text:
            out = out.decode(errors="replace")
        raise AssertionError(f"{argv} exited {p.returncode}: {out}")
    return p

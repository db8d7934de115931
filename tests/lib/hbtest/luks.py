# SPDX-License-Identifier: GPL-2.0-or-later
"""LUKS helpers shared by the suites."""
import subprocess


def qemu_img_create_luks(img, size, secret, opts="", attempts=20):
    """qemu-img create -f luks, retried: qemu-img 7.2 times its PBKDF2 with
    the thread's CPU clock and on this VM fails about two runs in five with
    "Unable to get accurate CPU usage", at any iter-time.  Twenty attempts
    make a spurious failure (0.4^20) practically impossible.  Returns the
    last CompletedProcess; the caller asserts on it."""
    argv = ["qemu-img", "create", "-q", "-f", "luks", "--object", secret,
            "-o", opts, str(img), str(size)]
    for _ in range(attempts):
        p = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if p.returncode == 0 or "accurate CPU usage" not in p.stderr:
            break
    return p

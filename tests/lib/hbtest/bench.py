# SPDX-License-Identifier: GPL-2.0-or-later
"""hotblock-bench, the tests' vhost-user-blk front-end."""
import json
import subprocess

from hbtest.paths import BENCH


def bench(sock, *args, check=True, timeout=60):
    """hotblock-bench --json on export socket @sock: (returncode, result, stderr)."""
    p = subprocess.run([BENCH, str(sock), "--json", *map(str, args)],
                       capture_output=True, text=True, timeout=timeout)
    if check:
        assert p.returncode == 0, f"hotblock-bench failed ({p.returncode}): {p.stderr}{p.stdout}"
    out = json.loads(p.stdout) if p.stdout.strip() else None
    return p.returncode, out, p.stderr

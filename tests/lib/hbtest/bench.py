# SPDX-License-Identifier: GPL-2.0-or-later
"""hotblock-bench, the tests' vhost-user-blk front-end."""
import json
import os
import subprocess
import time

from hbtest.paths import BENCH


# The tests' exports are scratch images: their helpers may always write.
WRITE_OK = "--write-ok"


def bench(sock, *args, check=True, timeout=60, env=None):
    """hotblock-bench --json --write-ok on export socket @sock: (returncode,
    result, stderr).  @env: variables to add to the environment
    (HB_BENCH_NO_INDIRECT, ...)."""
    p = subprocess.run([BENCH, str(sock), "--json", WRITE_OK, *map(str, args)],
                       capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, **env} if env else None)
    if check:
        assert p.returncode == 0, f"hotblock-bench failed ({p.returncode}): {p.stderr}{p.stdout}"
    out = json.loads(p.stdout) if p.stdout.strip() else None
    return p.returncode, out, p.stderr


# hotblock-bench's --seed when none is given.
DEFAULT_SEED = 0x5EED
M64 = (1 << 64) - 1


def pattern_word(off, seed=DEFAULT_SEED):
    """hotblock-bench's data pattern for the 8 bytes at disk offset off."""
    return ((off * 0x9E3779B97F4A7C15) & M64) ^ seed ^ (off >> 9)


def export_info(sock):
    """hotblock-bench --info: what the export at @sock tells a front-end."""
    return bench(sock, "--info")[1]


def start_bench(sock, ready, *args):
    """hotblock-bench --json --write-ok on @sock in the background, once it
    says it is connected and set up (--ready-file @ready): the Popen."""
    proc = subprocess.Popen([BENCH, str(sock), "--json", WRITE_OK, "--ready-file", str(ready),
                             *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while not os.path.exists(ready):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "hotblock-bench did not get ready"
        time.sleep(0.02)
    return proc

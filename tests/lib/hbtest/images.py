# SPDX-License-Identifier: GPL-2.0-or-later
"""Image files for the tests, what QEMU's own tools read from them, and
another process holding one open."""
import os
import subprocess
import time

from hbtest.tools import require, run


def raw_file(path, size):
    """A sparse raw file of @size bytes at @path (made anew); returns @path."""
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def qemu_img_to_raw(img, out):
    """@img as qemu-img reads it (format probed, backing chain followed),
    converted to the raw file @out; returns its bytes."""
    run("qemu-img", "convert", "-O", "raw", img, out)
    with open(out, "rb") as f:
        return f.read()


def map_ranges(extents, keys=("present", "data")):
    """A `qemu-img map --output=json` list as guest ranges [start, length,
    values of @keys], neighbours with the same values merged: what is
    allocated, whatever the host offsets."""
    out = []
    for e in extents:
        v = tuple(e[k] for k in keys)
        if out and out[-1][2] == v and out[-1][0] + out[-1][1] == e["start"]:
            out[-1][1] += e["length"]
        else:
            out.append([e["start"], e["length"], v])
    return out


def hold(image, *flags):
    """qemu-io holding @image open (read-write unless -r), as a VM would;
    returns once its lock bytes show in /proc/locks."""
    ino = f":{os.stat(image).st_ino} "
    p = subprocess.Popen([require("qemu-io"), *flags, "-c", "sleep 600000", str(image)],
                         stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with open("/proc/locks") as f:
            if any(ino in line for line in f):
                return p
        time.sleep(0.05)
    p.kill()
    raise TimeoutError("qemu-io did not lock the image")

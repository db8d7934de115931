# SPDX-License-Identifier: GPL-2.0-or-later
"""Image files for the tests, and what QEMU's own tools read from them."""
from hbtest.tools import run


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

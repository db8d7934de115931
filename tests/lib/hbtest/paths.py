# SPDX-License-Identifier: GPL-2.0-or-later
"""Where the build under test is: $HB_BUILD_DIR (the Makefile and meson set
it), else <repo>/build; and the programs in it the tests run."""
import os

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BUILD = os.path.abspath(os.environ.get("HB_BUILD_DIR", os.path.join(REPO, "build")))


def build_path(*parts):
    return os.path.join(BUILD, *parts)


HOTBLOCKD = build_path("daemon", "hotblockd")
BENCH = build_path("tools", "hotblock-bench")
HOTBLOCK_IMG = build_path("tools", "hotblock-img")
LUKS_PROBE = build_path("tests", "tools", "luks-probe")

# SPDX-License-Identifier: GPL-2.0-or-later
"""hbtest: what the Python suites (tests/integration, tests/e2e) share.

Each suite's conftest.py puts tests/lib on sys.path and takes its fixtures
from hbtest.plugin; test files import helpers from these modules, never
from each other or from a conftest:

  paths   where the build under test is ($HB_BUILD_DIR) and its programs
  tools   run() and require(): a missing oracle fails, naming `make test-deps`
  qmp     a small synchronous QMP client
  daemon  Daemon: one real hotblockd on a real socket
  plugin  the pytest fixtures daemon_factory, daemon, qmp
  graph   the block graph and the daemon's open files, before and after
  bench   hotblock-bench as a vhost-user-blk front-end, and its data pattern
  images  raw files, and an image's data as qemu-img reads it
  luks    LUKS helpers: qemu-img create with retries, AES-XTS, cryptsetup
  qsd     qemu-storage-daemon, the reference implementation
  guest   real Linux guests under qemu-system-x86_64 -accel tcg
"""

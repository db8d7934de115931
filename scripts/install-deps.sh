#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Install the Debian packages hotblock needs, only those missing.
#   install-deps.sh build   — to build and run the daemon
#   install-deps.sh test    — also the test oracles (qemu, cryptsetup, ...)
set -eu

BUILD_PKGS="gcc make meson ninja-build pkg-config python3 libglib2.0-dev libjson-glib-dev
libgnutls28-dev libseccomp-dev zlib1g-dev liburing-dev scdoc libargon2-dev libedit-dev
librbd-dev librados-dev"
TEST_PKGS="python3-pytest python3-cryptography qemu-utils qemu-system-x86 qemu-system-common
cryptsetup-bin busybox-static cpio kmod clang fio systemd python3-pexpect
ceph-mon ceph-osd ceph-common qemu-block-extra"

want="$BUILD_PKGS"
[ "${1:-build}" = test ] && want="$want $TEST_PKGS"

missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "Installing:$missing"
if [ "$(id -u)" != 0 ]; then
    echo "install-deps: need root to install:$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing

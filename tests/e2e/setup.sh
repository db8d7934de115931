#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# tests/e2e/setup.sh — unpack Debian's kernel (linux-image-amd64) into
# tests/e2e/cache/ for the real-guest tests.  Debian's archive is the only
# source; busybox comes from the installed busybox-static.  Idempotent.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cache="$here/cache"
if [ -f "$cache/vmlinuz" ] && [ -d "$cache/modules" ]; then
    exit 0
fi
command -v busybox >/dev/null || { echo "e2e: busybox-static is not installed" >&2; exit 1; }
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$cache" && chmod 777 "$tmp"   # apt downloads as _apt
pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
if [ -z "$pkg" ]; then
    apt-get update -qq >/dev/null
    pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
fi
[ -n "$pkg" ] || { echo "e2e: cannot resolve linux-image-amd64" >&2; exit 1; }
(cd "$tmp" && apt-get download -qq "$pkg")
dpkg-deb -x "$tmp"/*.deb "$tmp/x"
cp "$tmp"/x/boot/vmlinuz-* "$cache/vmlinuz.new"
rm -rf "$cache/modules"
mkdir -p "$cache/modules"
# virtio_blk and virtio-pci are modules in Debian's kernel; keep only those.
for m in virtio virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk; do
    f=$(find "$tmp/x/lib/modules" -name "$m.ko*" | head -n1)
    [ -n "$f" ] || { echo "e2e: module $m missing from $pkg" >&2; exit 1; }
    case "$f" in
    *.xz) xz -dc "$f" > "$cache/modules/$m.ko" ;;
    *.zst) zstd -qdc "$f" > "$cache/modules/$m.ko" ;;
    *) cp "$f" "$cache/modules/$m.ko" ;;
    esac
done
mv "$cache/vmlinuz.new" "$cache/vmlinuz"
echo "$pkg" > "$cache/kernel-package"

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The committed QMP reference must match what the schema generates.
set -eu
build=${1:-build}
if ! cmp -s "$build/schema/qmp-reference.md" docs/qmp-reference.md; then
    echo "docs/qmp-reference.md is out of date with schema/: run 'make docs'" >&2
    exit 1
fi

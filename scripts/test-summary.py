#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Add up meson's unit-test log and pytest's JUnit reports into one line,
'N passed, N failed, N skipped', and exit non-zero if anything failed or
nothing ran at all.

A GTest binary is many test cases: they are counted one by one from the
TAP lines GLib prints ("ok 3 /qcow2/inflate", "not ok ...", "# SKIP").
A binary that prints none (a fuzz target, a crash before the first case)
counts as one test with meson's verdict; one that failed without a
"not ok" line (it crashed mid-way) adds one failure for the crash."""
import json
import re
import sys
import xml.etree.ElementTree as ET

TAP_OK = re.compile(r"^ok \d+")
TAP_NOT_OK = re.compile(r"^not ok \d+")


def count_meson_record(r):
    """(passed, failed, skipped) of one meson test record."""
    res = r.get("result")
    ok = skip = bad = 0
    for line in (r.get("stdout") or "").splitlines():
        if TAP_NOT_OK.match(line):
            bad += 1
        elif TAP_OK.match(line):
            if "# SKIP" in line:
                skip += 1
            else:
                ok += 1
    if res in ("OK", "EXPECTEDFAIL"):
        if ok + skip + bad == 0:
            return 1, 0, 0
        return ok, bad, skip
    if res == "SKIP":
        return 0, 0, max(1, skip)
    return ok, max(1, bad), skip


def main(argv):
    passed = failed = skipped = 0
    for path in argv[1:]:
        try:
            if path.endswith(".json"):
                with open(path) as f:
                    for line in f:
                        if not line.strip():
                            continue
                        p, f_, s_ = count_meson_record(json.loads(line))
                        passed += p
                        failed += f_
                        skipped += s_
            else:
                root = ET.parse(path).getroot()
                for suite in ([root] if root.tag == "testsuite" else root.iter("testsuite")):
                    t = int(suite.get("tests", 0))
                    f = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
                    s = int(suite.get("skipped", 0))
                    passed += t - f - s
                    failed += f
                    skipped += s
        except FileNotFoundError:
            print(f"test-summary: {path} is missing (that suite did not run)", file=sys.stderr)
            failed += 1
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Add up meson's unit-test log and pytest's JUnit reports into one line,
'N passed, N failed, N skipped', and exit non-zero if anything failed or
nothing ran at all."""
import json
import sys
import xml.etree.ElementTree as ET


def main(argv):
    passed = failed = skipped = 0
    for path in argv[1:]:
        try:
            if path.endswith(".json"):
                with open(path) as f:
                    for line in f:
                        if not line.strip():
                            continue
                        r = json.loads(line)
                        res = r.get("result")
                        if res in ("OK", "EXPECTEDFAIL"):
                            passed += 1
                        elif res == "SKIP":
                            skipped += 1
                        else:
                            failed += 1
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

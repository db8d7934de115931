#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Generate hotblock's C types, JSON visitors, command marshallers, events,
introspection data and QMP reference from the QAPI schema.

    qapi-gen.py SCHEMA_FILE_OR_DIR OUTDIR [--check-handlers SRCROOT]
"""
import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qapi.parser import parse_file, SchemaError  # noqa: E402
from qapi.model import Schema  # noqa: E402
from qapi.gen_types import TypesGen  # noqa: E402
from qapi import gen_misc  # noqa: E402

HANDLER_RE = re.compile(r"^bool\s+qmp_(?!marshal_)(\w+)\s*\(", re.M)
MARSHAL_RE = re.compile(r"^bool\s+qmp_marshal_(\w+)\s*\(", re.M)


def handler_sources(root):
    for dirpath, dirnames, files in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(("build", ".", "tests"))]
        for f in files:
            if f.endswith(".c") and (f.startswith("qmp-") or os.path.basename(dirpath) == "qmp"
                                     or os.path.basename(dirpath) == "daemon"):
                yield os.path.join(dirpath, f)


def check_handlers(schema, root):
    """A handler without a schema entry is an error (the reverse fails the link)."""
    wanted = {c.c for c in schema.commands if c.gen}
    hand = {c.c for c in schema.commands if not c.gen}
    errors = []
    for path in handler_sources(root):
        text = open(path, encoding="utf-8").read()
        for name in HANDLER_RE.findall(text):
            if name not in wanted:
                errors.append(f"{os.path.relpath(path, root)}: qmp_{name}() has no schema entry")
        for name in MARSHAL_RE.findall(text):
            if name not in hand:
                errors.append(f"{os.path.relpath(path, root)}: qmp_marshal_{name}() is not a "
                              "'gen': false command")
    return errors


def write_if_changed(path, text):
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("schema")
    ap.add_argument("outdir")
    ap.add_argument("--check-handlers", metavar="SRCROOT")
    ap.add_argument("--check-only", action="store_true")
    a = ap.parse_args()
    try:
        if os.path.isdir(a.schema):
            # Every schema/*.json is part of the protocol: no central include list
            # to keep in step while domains add their own files.
            exprs, seen = [], set()
            for f in sorted(os.listdir(a.schema)):
                if f.endswith(".json"):
                    exprs += parse_file(os.path.join(a.schema, f), seen)
        else:
            exprs = parse_file(a.schema)
        schema = Schema(exprs)
    except SchemaError as e:
        print(f"qapi-gen: {e}", file=sys.stderr)
        return 1
    if a.check_handlers:
        errs = check_handlers(schema, a.check_handlers)
        if errs:
            print("\n".join("qapi-gen: " + e for e in errs), file=sys.stderr)
            return 1
    if a.check_only:
        return 0
    tg = TypesGen(schema)
    os.makedirs(a.outdir, exist_ok=True)
    outputs = {
        "qapi-types.h": tg.types_h(), "qapi-types.c": tg.types_c(),
        "qapi-json.h": tg.json_h(), "qapi-json.c": tg.json_c(),
        "qapi-commands.h": gen_misc.commands_h(schema),
        "qapi-commands.c": gen_misc.commands_c(schema),
        "qapi-events.h": gen_misc.events_h(schema), "qapi-events.c": gen_misc.events_c(schema),
        "qapi-introspect.c": gen_misc.introspect_c(schema),
        "qmp-reference.md": gen_misc.reference_md(schema),
    }
    for name, text in outputs.items():
        write_if_changed(os.path.join(a.outdir, name), text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

# SPDX-License-Identifier: GPL-2.0-or-later
"""Read QAPI-syntax schema files into a list of (expression, doc, location).

The syntax is QEMU's: Python-like literals with single-quoted strings,
`true`/`false`, `#` comments, and `##` doc blocks right before a
definition.  Files may `{ 'include': 'other.json' }` relative to themselves.
"""
import ast
import os


class SchemaError(Exception):
    pass


def _lex(text, path):
    """Yield ('doc', text, line) and ('expr', python_source, line) items."""
    i, n, line = 0, len(text), 1
    doc_lines, in_doc = [], False
    depth, start, start_line, buf = 0, None, 0, []
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            if depth:
                buf.append(c)
            i += 1
            continue
        if c == "#":
            end = text.find("\n", i)
            end = n if end < 0 else end
            comment = text[i:end]
            if depth == 0:
                if comment.startswith("##"):
                    if in_doc:
                        in_doc = False
                        yield ("doc", "\n".join(doc_lines), line)
                        doc_lines = []
                    else:
                        in_doc = True
                        doc_lines = []
                elif in_doc:
                    body = comment[1:]
                    doc_lines.append(body[1:] if body.startswith(" ") else body)
            i = end
            continue
        if c == "'":
            end = i + 1
            while end < n and text[end] != "'":
                if text[end] == "\\":
                    end += 1
                end += 1
            if end >= n:
                raise SchemaError(f"{path}:{line}: unterminated string")
            if depth:
                buf.append(text[i:end + 1])
            i = end + 1
            continue
        if c in "{[":
            if depth == 0:
                start_line, buf = line, []
            depth += 1
            buf.append(c)
        elif c in "}]":
            depth -= 1
            buf.append(c)
            if depth < 0:
                raise SchemaError(f"{path}:{line}: unbalanced '{c}'")
            if depth == 0:
                yield ("expr", "".join(buf), start_line)
        elif c.isspace():
            if depth:
                buf.append(c)
        elif depth:
            # bare words: true/false only
            j = i
            while j < n and (text[j].isalnum() or text[j] == "_"):
                j += 1
            word = text[i:j]
            if word == "true":
                buf.append("True")
            elif word == "false":
                buf.append("False")
            elif word:
                raise SchemaError(f"{path}:{line}: unexpected word '{word}'")
            else:
                buf.append(c)
                j = i + 1
            i = j
            continue
        else:
            raise SchemaError(f"{path}:{line}: stray '{c}' outside an expression")
        i += 1
    if depth:
        raise SchemaError(f"{path}: unterminated expression from line {start_line}")


def parse_file(path, seen=None):
    """Return a list of (expr_dict, doc_text_or_None, 'file:line')."""
    seen = set() if seen is None else seen
    path = os.path.abspath(path)
    if path in seen:
        return []
    seen.add(path)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    out, pending_doc = [], None
    for kind, payload, line in _lex(text, path):
        if kind == "doc":
            pending_doc = payload
            continue
        try:
            expr = ast.literal_eval(payload)
        except (ValueError, SyntaxError) as e:
            raise SchemaError(f"{path}:{line}: {e}") from None
        if not isinstance(expr, dict):
            raise SchemaError(f"{path}:{line}: top-level expression must be an object")
        loc = f"{os.path.basename(path)}:{line}"
        if "include" in expr:
            inc = os.path.join(os.path.dirname(path), expr["include"])
            out.extend(parse_file(inc, seen))
        else:
            out.append((expr, pending_doc, loc))
        pending_doc = None
    return out

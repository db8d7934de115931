# SPDX-License-Identifier: GPL-2.0-or-later
"""Emit commands (prototypes, marshallers, table), events, introspection, docs."""
import json

from .model import Builtin, Enum, Struct, Union, Alternate, List
from .gen_types import HEADER, c_decl, out_call, free_stmt, is_set


def ret_decl(t):
    return c_decl(t)


def handler_proto(cmd):
    params = []
    if cmd.args is not None:
        params.append(f"{cmd.args.c_type} *args")
    if cmd.ret is not None:
        d = ret_decl(cmd.ret)
        params.append(f"{d}{'' if d.endswith('*') else ' '}*ret")
    params.append("GError **errp")
    return f"bool qmp_{cmd.c}({', '.join(params)})"


def commands_h(schema):
    o = [HEADER, "#ifndef QAPI_COMMANDS_H\n#define QAPI_COMMANDS_H\n\n#include \"qapi-json.h\"\n\n"]
    for c in schema.commands:
        if c.gen:
            o.append(handler_proto(c) + ";\n")
        o.append(f"bool qmp_marshal_{c.c}(JsonNode *args, bool keyval, JsonNode **ret, GError **errp);\n")
    o.append("\nextern const QapiCommandDef qapi_commands[];\nextern const size_t qapi_commands_count;\n")
    o.append("\n#endif\n")
    return "".join(o)


def commands_c(schema):
    o = [HEADER, "#include \"qapi-commands.h\"\n\n"]
    for c in schema.commands:
        if not c.gen:
            continue
        o.append(f"bool qmp_marshal_{c.c}(JsonNode *args, bool keyval, JsonNode **ret, GError **errp)\n{{\n")
        o.append("    QapiIn in = QAPI_IN_INIT(keyval);\n    bool ok;\n")
        o.append("    g_autoptr(JsonNode) empty = NULL;\n")
        o.append("    if (!args) {\n        empty = json_node_new(JSON_NODE_OBJECT);\n"
                 "        json_node_take_object(empty, json_object_new());\n        args = empty;\n    }\n")
        call = []
        if c.args is not None:
            n = c.args.c_type[4:]
            o.append(f"    {c.args.c_type} *arg = NULL;\n")
            o.append(f"    ok = qapi_in_{n}(&in, args, &arg, errp);\n")
            call.append("arg")
        else:
            o.append("    ok = qapi_in_object(&in, args, errp) &&\n"
                     "         qapi_in_check_extra(&in, json_node_get_object(args), NULL, NULL, errp);\n")
        o.append("    qapi_in_clear(&in);\n    if (!ok) {\n        return false;\n    }\n")
        if c.ret is not None:
            d = ret_decl(c.ret)
            init = "NULL" if d.endswith("*") else ("false" if d == "bool" else "0")
            o.append(f"    {d}{'' if d.endswith('*') else ' '}retval = {init};\n")
            call.append("&retval")
        call.append("errp")
        o.append(f"    ok = qmp_{c.c}({', '.join(call)});\n")
        if c.ret is not None:
            o.append(f"    if (ok) {{\n        *ret = {out_call(c.ret, 'retval')};\n    }}\n")
            o.append(free_stmt(c.ret, "retval"))
        else:
            o.append("    if (ok) {\n        *ret = json_node_new(JSON_NODE_OBJECT);\n"
                     "        json_node_take_object(*ret, json_object_new());\n    }\n")
        if c.args is not None:
            o.append(f"    qapi_free_{c.args.c_type[4:]}(arg);\n")
        o.append("    return ok;\n}\n\n")
    o.append("const QapiCommandDef qapi_commands[] = {\n")
    for c in schema.commands:
        oob = "true" if c.flags.get("allow-oob") else "false"
        o.append(f"    {{ \"{c.name}\", qmp_marshal_{c.c}, {oob} }},\n")
    o.append("};\nconst size_t qapi_commands_count = G_N_ELEMENTS(qapi_commands);\n")
    return "".join(o)


def _event_params(ev):
    if ev.args is None:
        return []
    ps = []
    for m in ev.args.members:
        d = c_decl(m.type)
        if m.optional and not m.type.is_pointer:
            ps.append(f"bool has_{m.c}")
        if d == "char *":
            d = "const char *"
        elif d.endswith("*"):
            d = "const " + d
        ps.append(f"{d}{'' if d.endswith('*') else ' '}{m.c}")
    return ps


def events_h(schema):
    o = [HEADER, "#ifndef QAPI_EVENTS_H\n#define QAPI_EVENTS_H\n\n#include \"qapi-json.h\"\n\n"]
    for ev in schema.events:
        ps = _event_params(ev) or ["void"]
        o.append(f"void qapi_event_send_{ev.c}({', '.join(ps)});\n")
    o.append("\n#endif\n")
    return "".join(o)


def events_c(schema):
    o = [HEADER, "#include \"qapi-events.h\"\n\n"]
    for ev in schema.events:
        ps = _event_params(ev) or ["void"]
        o.append(f"void qapi_event_send_{ev.c}({', '.join(ps)})\n{{\n    JsonObject *o = json_object_new();\n")
        if ev.args is not None:
            for m in ev.args.members:
                val = out_call(m.type, m.c)
                if m.type.is_pointer and not (isinstance(m.type, Builtin) and m.type.name == "null"):
                    cond = m.c
                elif m.optional:
                    cond = f"has_{m.c}"
                else:
                    cond = None
                if cond:
                    o.append(f"    if ({cond}) {{\n        json_object_set_member(o, \"{m.name}\", {val});\n    }}\n")
                else:
                    o.append(f"    json_object_set_member(o, \"{m.name}\", {val});\n")
        o.append(f"    qapi_event_emit(\"{ev.name}\", o);\n}}\n\n")
    return "".join(o)


# ---------------- introspection (QEMU's SchemaInfo) ----------------
def introspect(schema):
    out, seen = [], set()

    def tname(t):
        if t is None:
            return "q_empty"
        need(t)
        return t.name

    def need(t):
        if t.name in seen:
            return
        seen.add(t.name)
        if isinstance(t, Builtin):
            out.append({"name": t.name, "meta-type": "builtin", "json-type": t.json_type})
        elif isinstance(t, Enum):
            out.append({"name": t.name, "meta-type": "enum", "values": list(t.values),
                        "members": [{"name": v} for v in t.values]})
        elif isinstance(t, List):
            out.append({"name": t.name, "meta-type": "array", "element-type": tname(t.elem)})
        elif isinstance(t, (Struct, Union)):
            info = {"name": t.name, "meta-type": "object", "members": []}
            out.append(info)
            for m in t.members:
                mi = {"name": m.name, "type": tname(m.type)}
                if m.optional:
                    mi["default"] = None
                info["members"].append(mi)
            if isinstance(t, Union):
                info["tag"] = t.discriminator
                info["variants"] = [{"case": v, "type": tname(bt)} for v, bt in t.branches.items()]
        elif isinstance(t, Alternate):
            out.append({"name": t.name, "meta-type": "alternate",
                        "members": [{"type": tname(bt)} for bt in t.branches.values()]})

    out.append({"name": "q_empty", "meta-type": "object", "members": []})
    seen.add("q_empty")
    for c in schema.commands:
        info = {"name": c.name, "meta-type": "command", "arg-type": tname(c.args),
                "ret-type": tname(c.ret)}
        if c.flags.get("allow-oob"):
            info["allow-oob"] = True
        out.append(info)
    for ev in schema.events:
        out.append({"name": ev.name, "meta-type": "event", "arg-type": tname(ev.args)})
    return out


def introspect_c(schema):
    data = json.dumps(introspect(schema), separators=(",", ":"))
    chunks = [data[i:i + 100] for i in range(0, len(data), 100)]
    body = "\n".join('    "' + ch.replace("\\", "\\\\").replace('"', '\\"') + '"' for ch in chunks)
    return (HEADER + "#include \"qapi-runtime.h\"\n\n"
            "/* query-qmp-schema's reply, as JSON text parsed once at first use. */\n"
            f"const char qapi_introspect_json[] =\n{body};\n")


# ---------------- docs ----------------
def _type_ref(t):
    if t is None:
        return ""
    if isinstance(t, List):
        return "[" + _type_ref(t.elem) + "]"
    if isinstance(t, Builtin):
        return f"`{t.name}`"
    if getattr(t, "implicit", False):
        return "object"
    return f"[`{t.name}`](#{t.name.lower()})"


def _doc_body(doc):
    """Split a doc block into (summary lines, {member: text}, other sections)."""
    if not doc:
        return "", {}
    lines = doc.split("\n")
    if lines and lines[0].startswith("@") and lines[0].rstrip().endswith(":"):
        lines = lines[1:]  # "@name:" header line
    text, members, cur = [], {}, None
    for ln in lines:
        if ln.startswith("@") and ":" in ln:
            key, rest = ln[1:].split(":", 1)
            cur = key.strip()
            members[cur] = rest.strip()
        elif cur and ln.startswith("  ") and ln.strip():
            members[cur] += " " + ln.strip()
        else:
            cur = None
            text.append(ln)
    return "\n".join(text).strip(), members


def _members_table(members, mdocs):
    if not members:
        return ""
    rows = ["| member | type | optional | description |", "|---|---|---|---|"]
    for m in members:
        rows.append(f"| `{m.name}` | {_type_ref(m.type)} | {'yes' if m.optional else ''} | "
                    f"{mdocs.get(m.name, '').replace('|', '/')} |")
    return "\n".join(rows) + "\n"


def reference_md(schema):
    o = ["# QMP reference\n\n",
         "Generated from `schema/*.json` by `scripts/qapi-gen.py`; do not edit by hand\n"
         "(run `make docs` to refresh it).\n\n", "## Commands\n\n"]
    for c in sorted(schema.commands, key=lambda c: c.name):
        text, mdocs = _doc_body(c.doc)
        o.append(f"### {c.name}\n\n{text}\n\n")
        if c.args is not None:
            if getattr(c.args, "implicit", False):
                o.append("Arguments:\n\n" + _members_table(c.args.members, mdocs) + "\n")
            else:
                o.append(f"Arguments: {_type_ref(c.args)}\n\n")
        if c.ret is not None:
            o.append(f"Returns: {_type_ref(c.ret)}\n\n")
    o.append("## Events\n\n")
    for ev in sorted(schema.events, key=lambda e: e.name):
        text, mdocs = _doc_body(ev.doc)
        o.append(f"### {ev.name}\n\n{text}\n\n")
        if ev.args is not None:
            o.append(_members_table(ev.args.members, mdocs) + "\n")
    o.append("## Types\n\n")
    for t in sorted((t for t in schema.order if not t.implicit), key=lambda t: t.name.lower()):
        text, mdocs = _doc_body(t.doc)
        o.append(f"### {t.name}\n\n{text}\n\n")
        if isinstance(t, Enum):
            o.append("Values: " + ", ".join(f"`{v}`" for v in t.values) + "\n\n")
        elif isinstance(t, Struct):
            o.append(_members_table(t.members, mdocs) + "\n")
        elif isinstance(t, Union):
            o.append(_members_table(t.members, mdocs) + "\n")
            o.append(f"Discriminated by `{t.discriminator}`:\n\n")
            for v, bt in t.branches.items():
                o.append(f"- `{v}`: {_type_ref(bt)}\n")
            o.append("\n")
        elif isinstance(t, Alternate):
            o.append("One of: " + ", ".join(_type_ref(bt) for bt in t.branches.values()) + "\n\n")
    return "".join(o)

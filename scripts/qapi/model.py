# SPDX-License-Identifier: GPL-2.0-or-later
"""The checked schema: types, commands and events with their C names."""
import re

from .parser import SchemaError

# builtin name -> (C type, JSON type for introspection, kind)
BUILTINS = {
    "str": ("char *", "string", "str"),
    "int": ("int64_t", "int", "int"),
    "int8": ("int64_t", "int", "int"),
    "int16": ("int64_t", "int", "int"),
    "int32": ("int64_t", "int", "int"),
    "int64": ("int64_t", "int", "int"),
    "uint8": ("uint64_t", "int", "uint"),
    "uint16": ("uint64_t", "int", "uint"),
    "uint32": ("uint64_t", "int", "uint"),
    "uint64": ("uint64_t", "int", "uint"),
    "size": ("uint64_t", "int", "size"),
    "bool": ("bool", "boolean", "bool"),
    "number": ("double", "number", "number"),
    "any": ("JsonNode *", "value", "any"),
    "null": ("bool", "null", "null"),
}

# Integer ranges the input visitor enforces for the sized builtins.
INT_RANGES = {
    "int8": ("-128", "127"), "int16": ("-32768", "32767"),
    "int32": ("INT32_MIN", "INT32_MAX"), "uint8": ("0", "255"),
    "uint16": ("0", "65535"), "uint32": ("0", "UINT32_MAX"),
}

# Builtin list names, as docs/dev/qapi-c.md promises them.
BUILTIN_LIST_NAME = {
    "str": "Str", "int": "Int", "int8": "Int", "int16": "Int", "int32": "Int",
    "int64": "Int", "uint8": "Uint64", "uint16": "Uint64", "uint32": "Uint64",
    "uint64": "Uint64", "size": "Uint64", "bool": "Bool", "number": "Number",
    "any": "Any", "null": "Null",
}

C_KEYWORDS = {
    "auto", "break", "case", "char", "const", "continue", "default", "do",
    "double", "else", "enum", "extern", "float", "for", "goto", "if", "inline",
    "int", "long", "register", "restrict", "return", "short", "signed",
    "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned",
    "void", "volatile", "while", "bool", "true", "false", "errno", "unix",
}


def c_name(name):
    """A schema member or value name as a C identifier."""
    s = re.sub(r"[^A-Za-z0-9_]", "_", name)
    if s in C_KEYWORDS or s[0].isdigit():
        s = "q_" + s
    return s


def upper_snake(camel):
    """QCryptoBlockFormat -> Q_CRYPTO_BLOCK_FORMAT, ImageInfoSpecificLUKS -> IMAGE_INFO_SPECIFIC_LUKS."""
    out = []
    for i, ch in enumerate(camel):
        if i and ch.isupper():
            prev = camel[i - 1]
            nxt = camel[i + 1] if i + 1 < len(camel) else ""
            if prev.islower() or prev.isdigit() or (prev.isupper() and nxt.islower()):
                out.append("_")
        out.append(ch)
    return re.sub(r"[^A-Za-z0-9_]", "_", "".join(out)).upper()


def camel(name):
    """blockdev-del -> BlockdevDel"""
    return "".join(p[:1].upper() + p[1:] for p in re.split(r"[-_]", name) if p)


class Member:
    def __init__(self, name, typ, optional, doc=None):
        self.name, self.type, self.optional, self.doc = name, typ, optional, doc
        self.c = c_name(name)


class Type:
    meta = None

    def __init__(self, name, doc=None, loc=None):
        self.name, self.doc, self.loc = name, doc, loc

    @property
    def c_type(self):
        return "Qapi" + self.name

    is_pointer = True
    implicit = False


class Builtin(Type):
    meta = "builtin"

    def __init__(self, name):
        super().__init__(name)
        self.ctype, self.json_type, self.kind = BUILTINS[name]
        self.is_pointer = self.ctype.endswith("*")

    @property
    def c_type(self):
        return self.ctype


class Enum(Type):
    meta = "enum"
    is_pointer = False

    def __init__(self, name, values, prefix=None, doc=None, loc=None):
        super().__init__(name, doc, loc)
        self.values = values
        self.prefix = prefix if prefix is not None else "QAPI_" + upper_snake(name)

    def const(self, value):
        return f"{self.prefix}_{c_name(value).upper()}"


class Struct(Type):
    meta = "object"

    def __init__(self, name, members, base=None, doc=None, loc=None, implicit=False):
        super().__init__(name, doc, loc)
        self.own_members, self.base_name, self.implicit = members, base, implicit
        self.base = None

    @property
    def members(self):
        return (self.base.members if self.base else []) + self.own_members


class Union(Type):
    meta = "object"

    def __init__(self, name, base, discriminator, branches, doc=None, loc=None):
        super().__init__(name, doc, loc)
        self.base_name, self.discriminator, self.branch_names = base, discriminator, branches
        self.base, self.branches = None, {}

    @property
    def members(self):
        return self.base.members

    @property
    def tag(self):
        return next(m for m in self.base.members if m.name == self.discriminator)


class Alternate(Type):
    meta = "alternate"

    def __init__(self, name, branches, doc=None, loc=None):
        super().__init__(name, doc, loc)
        self.branch_names = branches  # name -> type name
        self.branches = {}


class List(Type):
    meta = "array"

    def __init__(self, elem):
        super().__init__("[" + elem.name + "]")
        self.elem = elem

    @property
    def c_type(self):
        if isinstance(self.elem, Builtin):
            return "Qapi" + BUILTIN_LIST_NAME[self.elem.name] + "List"
        return self.elem.c_type + "List"

    @property
    def c_base(self):
        return self.c_type[len("Qapi"):]


class Command:
    def __init__(self, name, args, ret, boxed, gen, doc, loc, flags):
        self.name, self.args, self.ret = name, args, ret
        self.boxed, self.gen, self.doc, self.loc, self.flags = boxed, gen, doc, loc, flags
        self.c = c_name(name)


class Event:
    def __init__(self, name, args, doc, loc):
        self.name, self.args, self.doc, self.loc = name, args, doc, loc
        self.c = c_name(name.lower())


class Schema:
    def __init__(self, exprs):
        self.types = {n: Builtin(n) for n in BUILTINS}
        self.order = []          # user-defined types in definition order
        self.lists = {}
        self.commands, self.events = [], []
        self._pending_cmds, self._pending_events = [], []
        for expr, doc, loc in exprs:
            self._define(expr, doc, loc)
        self._resolve()

    # ---- definition ----
    def _add(self, t):
        if t.name in self.types:
            raise SchemaError(f"{t.loc}: '{t.name}' is already defined")
        self.types[t.name] = t
        self.order.append(t)
        return t

    def _members(self, data, loc, owner):
        if not isinstance(data, dict):
            raise SchemaError(f"{loc}: members of '{owner}' must be an object")
        out = []
        for key, typ in data.items():
            if isinstance(typ, dict):
                typ = typ["type"]
            opt = key.startswith("*")
            out.append(Member(key[1:] if opt else key, typ, opt))
        return out

    def _implicit_struct(self, name, data, loc):
        return self._add(Struct(name, self._members(data, loc, name), loc=loc, implicit=True))

    def _define(self, expr, doc, loc):
        meta = next((k for k in ("enum", "struct", "union", "alternate", "command", "event")
                     if k in expr), None)
        if meta is None:
            raise SchemaError(f"{loc}: unknown expression {list(expr)}")
        name = expr[meta]
        if meta == "enum":
            vals = [v["name"] if isinstance(v, dict) else v for v in expr["data"]]
            self._add(Enum(name, vals, expr.get("prefix"), doc, loc))
        elif meta == "struct":
            self._add(Struct(name, self._members(expr.get("data", {}), loc, name),
                             expr.get("base"), doc, loc))
        elif meta == "union":
            base = expr["base"]
            if isinstance(base, dict):
                base = self._implicit_struct(f"q_obj_{name}_base", base, loc).name
            if "discriminator" not in expr:
                raise SchemaError(f"{loc}: union '{name}' needs a discriminator")
            branches = {}
            for k, v in expr["data"].items():
                branches[k] = v["type"] if isinstance(v, dict) else v
            self._add(Union(name, base, expr["discriminator"], branches, doc, loc))
        elif meta == "alternate":
            self._add(Alternate(name, {k: (v["type"] if isinstance(v, dict) else v)
                                       for k, v in expr["data"].items()}, doc, loc))
        elif meta == "command":
            self._pending_cmds.append((expr, doc, loc))
        elif meta == "event":
            self._pending_events.append((expr, doc, loc))

    # ---- resolution ----
    def lookup(self, typ, loc):
        if isinstance(typ, list):
            if len(typ) != 1:
                raise SchemaError(f"{loc}: a list type names exactly one element type")
            elem = self.lookup(typ[0], loc)
            key = elem.name
            if key not in self.lists:
                self.lists[key] = List(elem)
            return self.lists[key]
        if typ not in self.types:
            raise SchemaError(f"{loc}: unknown type '{typ}'")
        return self.types[typ]

    def _resolve(self):
        for t in list(self.order):
            if isinstance(t, (Struct, Union)) and t.base_name:
                base = self.lookup(t.base_name, t.loc)
                if not isinstance(base, Struct):
                    raise SchemaError(f"{t.loc}: base of '{t.name}' must be a struct")
                t.base = base
            if isinstance(t, Struct):
                for m in t.own_members:
                    m.type = self.lookup(m.type, t.loc)
        for t in list(self.order):
            if isinstance(t, Union):
                tag = next((m for m in t.base.members if m.name == t.discriminator), None)
                if tag is None or not isinstance(tag.type, Enum) or tag.optional:
                    raise SchemaError(f"{t.loc}: discriminator '{t.discriminator}' of "
                                      f"'{t.name}' must be a mandatory enum member of its base")
                for value, bname in t.branch_names.items():
                    if value not in tag.type.values:
                        raise SchemaError(f"{t.loc}: '{value}' is not a value of {tag.type.name}")
                    br = self.lookup(bname, t.loc)
                    if not isinstance(br, Struct):
                        raise SchemaError(f"{t.loc}: branch '{value}' must be a struct")
                    t.branches[value] = br
            elif isinstance(t, Alternate):
                for k, v in t.branch_names.items():
                    t.branches[k] = self.lookup(v, t.loc)
        for expr, doc, loc in self._pending_cmds:
            name = expr["command"]
            data = expr.get("data")
            args = None
            if isinstance(data, dict):
                args = self._implicit_struct(camel(name) + "Args", data, loc)
                for m in args.own_members:
                    m.type = self.lookup(m.type, loc)
            elif data is not None:
                args = self.lookup(data, loc)
            ret = self.lookup(expr["returns"], loc) if "returns" in expr else None
            flags = {k: expr[k] for k in ("allow-oob", "allow-preconfig") if k in expr}
            self.commands.append(Command(name, args, ret, expr.get("boxed", False),
                                         expr.get("gen", True), doc, loc, flags))
        for expr, doc, loc in self._pending_events:
            name = expr["event"]
            data = expr.get("data")
            args = None
            if isinstance(data, dict):
                args = self._implicit_struct("q_obj_" + name + "_arg", data, loc)
                for m in args.own_members:
                    m.type = self.lookup(m.type, loc)
            elif data is not None:
                args = self.lookup(data, loc)
            self.events.append(Event(name, args, doc, loc))
        names = [c.name for c in self.commands]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise SchemaError(f"commands defined twice: {sorted(dup)}")

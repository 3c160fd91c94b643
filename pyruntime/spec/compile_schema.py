"""Compile the vendored runtime-spec JSON schema into a flat node table.

Owns: reading ``pyruntime/spec/schema/*.json``, resolving every ``$ref``
locally and writing ``pyruntime/spec/schema/compiled.py`` (a generated module
of plain Python literals that ``validate.py`` interprets).
Must not touch: validation itself, the network, any file outside ``schema/``.

Run ``python -m pyruntime.spec.compile_schema`` after changing the vendored
files, and ``python -m pyruntime.spec.compile_schema --check`` (or the unit
tests) to prove the committed table is in sync with them.

The output is a tuple of nodes. A node is a tuple of ``(opcode, argument)``
operations; child schemas are referred to by node index, so ``$ref`` disappears
at compile time. Draft 4 ignores every keyword next to ``$ref``; a node that
has ``$ref`` therefore simply becomes an alias of its target.
"""

from __future__ import annotations

import json
import pprint
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote

SCHEMA_DIR = Path(__file__).resolve().parent / "schema"
OUTPUT = SCHEMA_DIR / "compiled.py"
_WIDTH = 100  # ruff's line length

# Opcodes shared with validate.py (which imports them from the generated module
# so the two can never disagree).
OPCODES: dict[str, int] = {
    "T_STRING": 1,
    "T_OBJECT": 2,
    "T_ARRAY": 3,
    "T_INTEGER": 4,
    "T_BOOLEAN": 5,
    "T_NUMBER": 6,
    "T_NULL": 7,
    "T_MULTI": 8,
    "OBJECT": 9,
    "ITEMS": 10,
    "ITEMS_TUPLE": 11,
    "REQUIRED": 12,
    "ENUM": 13,
    "MINIMUM": 14,
    "MAXIMUM": 15,
    "PATTERN": 16,
    "MIN_ITEMS": 17,
    "ANY_OF": 18,
    "ALL_OF": 19,
}

_SINGLE_TYPES = {
    "string": "T_STRING",
    "object": "T_OBJECT",
    "array": "T_ARRAY",
    "integer": "T_INTEGER",
    "boolean": "T_BOOLEAN",
    "number": "T_NUMBER",
    "null": "T_NULL",
}

# Keywords with no effect on validity.
_ANNOTATIONS = frozenset({"description", "$schema", "title", "default"})

# Sub-schemas the runtime validates on their own: name -> (file, JSON pointer).
ROOTS: dict[str, tuple[str, str]] = {
    "config": ("config-schema.json", ""),
    "process": ("config-schema.json", "/properties/process"),
    "resources": ("config-linux.json", "/linux/properties/resources"),
    "state": ("state-schema.json", ""),
    "features": ("features-schema.json", ""),
}


class SchemaCompileError(Exception):
    """The vendored schema uses something the fast validator cannot express."""


class _Compiler:
    """Walks the schema files and builds the node table."""

    def __init__(self, schema_dir: Path) -> None:
        self.docs: dict[str, Any] = {}
        for path in sorted(schema_dir.glob("*.json")):
            self.docs[path.name] = json.loads(path.read_text(encoding="utf-8"))
        self.nodes: list[tuple[tuple[int, Any], ...] | None] = []
        self.where: list[str] = []
        self.ids: dict[tuple[str, str], int] = {}
        self.resolving: set[tuple[str, str]] = set()

    def lookup(self, file: str, pointer: str) -> Any:
        if file not in self.docs:
            raise SchemaCompileError(f"$ref to unknown file {file!r}")
        value = self.docs[file]
        if pointer == "":
            return value
        if not pointer.startswith("/"):
            raise SchemaCompileError(f"{file}#{pointer}: not a JSON pointer")
        for raw in pointer[1:].split("/"):
            token = unquote(raw).replace("~1", "/").replace("~0", "~")
            if isinstance(value, list):
                value = value[int(token)]
            elif isinstance(value, dict) and token in value:
                value = value[token]
            else:
                raise SchemaCompileError(f"{file}#{pointer}: unresolvable")
        return value

    def node(self, file: str, pointer: str) -> int:
        key = (file, pointer)
        if key in self.ids:
            return self.ids[key]
        schema = self.lookup(file, pointer)
        if not isinstance(schema, dict):
            raise SchemaCompileError(f"{file}#{pointer}: schema is not an object")
        if "$ref" in schema:
            if key in self.resolving:
                raise SchemaCompileError(f"{file}#{pointer}: $ref cycle")
            self.resolving.add(key)
            ref = schema["$ref"]
            target_file, _, target_ptr = ref.partition("#")
            index = self.node(target_file or file, target_ptr)
            self.resolving.discard(key)
            self.ids[key] = index
            return index
        index = len(self.nodes)
        self.ids[key] = index
        self.nodes.append(None)
        self.where.append(f"{file}#{pointer}")
        self.nodes[index] = self.ops(file, pointer, schema)
        return index

    def ops(self, file: str, ptr: str, schema: dict[str, Any]) -> tuple[tuple[int, Any], ...]:
        op = OPCODES
        out: list[tuple[int, Any]] = []
        unknown = set(schema) - _ANNOTATIONS - {
            "type", "enum", "minimum", "maximum", "pattern", "required",
            "properties", "patternProperties", "additionalProperties",
            "items", "minItems", "anyOf", "allOf",
        }
        if unknown:
            raise SchemaCompileError(f"{file}#{ptr}: unsupported keywords {sorted(unknown)}")
        # Type first: every later check assumes (and re-checks cheaply) its type.
        if "type" in schema:
            t = schema["type"]
            if isinstance(t, str):
                out.append((op[_SINGLE_TYPES[t]], None))
            else:
                out.append((op["T_MULTI"], tuple(t)))
        if "enum" in schema:
            values = schema["enum"]
            if not all(isinstance(v, str) for v in values):
                raise SchemaCompileError(f"{file}#{ptr}: only string enums are supported")
            out.append((op["ENUM"], tuple(values)))
        for word in ("minimum", "maximum"):
            if word in schema:
                out.append((op[word.upper()], schema[word]))
        if "pattern" in schema:
            out.append((op["PATTERN"], schema["pattern"]))
        if "required" in schema:
            out.append((op["REQUIRED"], tuple(schema["required"])))
        if "minItems" in schema:
            out.append((op["MIN_ITEMS"], schema["minItems"]))
        if {"properties", "patternProperties", "additionalProperties"} & set(schema):
            props = {
                name: self.node(file, f"{ptr}/properties/{_escape(name)}")
                for name in schema.get("properties", {})
            }
            pats = tuple(
                (pat, self.node(file, f"{ptr}/patternProperties/{_escape(pat)}"))
                for pat in schema.get("patternProperties", {})
            )
            extra = schema.get("additionalProperties", True)
            if extra is True:
                additional: int | bool | None = None
            elif extra is False:
                additional = False
            else:
                additional = self.node(file, f"{ptr}/additionalProperties")
            out.append((op["OBJECT"], (props, pats, additional)))
        if "items" in schema:
            if isinstance(schema["items"], list):
                subs = tuple(
                    self.node(file, f"{ptr}/items/{i}") for i in range(len(schema["items"]))
                )
                out.append((op["ITEMS_TUPLE"], subs))
            else:
                out.append((op["ITEMS"], self.node(file, f"{ptr}/items")))
        for word, code in (("anyOf", "ANY_OF"), ("allOf", "ALL_OF")):
            if word in schema:
                subs = tuple(
                    self.node(file, f"{ptr}/{word}/{i}") for i in range(len(schema[word]))
                )
                out.append((op[code], subs))
        return tuple(out)


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


_CHILD_ONE = frozenset({OPCODES["ITEMS"]})
_CHILD_MANY = frozenset({OPCODES["ITEMS_TUPLE"], OPCODES["ANY_OF"], OPCODES["ALL_OF"]})


def _remap_op(code: int, arg: Any, new: list[int]) -> tuple[int, Any]:
    """Rewrite the child node indices of one operation through ``new``."""
    if code in _CHILD_ONE:
        return (code, new[arg])
    if code in _CHILD_MANY:
        return (code, tuple(new[i] for i in arg))
    if code == OPCODES["OBJECT"]:
        props, pats, extra = arg
        if extra is not None and extra is not False:
            extra = new[extra]
        return (code, ({k: new[v] for k, v in props.items()},
                       tuple((p, new[i]) for p, i in pats), extra))
    return (code, arg)


def _dedupe(
    nodes: list[tuple[tuple[int, Any], ...]], where: list[str], roots: dict[str, int]
) -> tuple[list[tuple[tuple[int, Any], ...]], list[str], dict[str, int]]:
    """Merge identical nodes (e.g. the many ``{"type": "string"}``) until none are left."""
    while True:
        canon: dict[str, int] = {}
        new: list[int] = []
        for node in nodes:
            new.append(canon.setdefault(repr(node), len(canon)))
        if len(canon) == len(nodes):
            return nodes, where, roots
        merged: list[tuple[tuple[int, Any], ...] | None] = [None] * len(canon)
        merged_where = [""] * len(canon)
        for old, node in enumerate(nodes):
            if merged[new[old]] is None:
                merged[new[old]] = tuple(_remap_op(c, a, new) for c, a in node)
                merged_where[new[old]] = where[old]
        nodes = [n for n in merged if n is not None]
        where = merged_where
        roots = {name: new[i] for name, i in roots.items()}


def build(
    schema_dir: Path = SCHEMA_DIR,
) -> tuple[list[tuple[tuple[int, Any], ...]], list[str], dict[str, int]]:
    """Compile ``schema_dir``: return (nodes, where each node came from, root indices).

    ``where`` entries are ``file#pointer`` strings, usable as ``$ref`` targets.
    """
    comp = _Compiler(schema_dir)
    roots = {name: comp.node(file, ptr) for name, (file, ptr) in ROOTS.items()}
    done = [n for n in comp.nodes if n is not None]
    return _dedupe(done, comp.where, roots)


def render(schema_dir: Path = SCHEMA_DIR) -> str:
    """Return the text of the generated module for the schema in ``schema_dir``."""
    nodes, where, roots = build(schema_dir)
    lines = [
        "# ruff: noqa: E501",
        '"""GENERATED by pyruntime/spec/compile_schema.py from the JSON files here: do not edit.',
        "",
        "Owns: the runtime-spec schema as a flat node table for pyruntime.spec.validate.",
        "Must not touch: anything; it is data. Regenerate instead of editing.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "TYPE_CHECKING = False",
        "if TYPE_CHECKING:",
        "    from typing import Any",
        "",
    ]
    for name, code in OPCODES.items():
        lines.append(f"{name} = {code}")
    lines.append("")
    lines.append("ROOTS: dict[str, int] = {")
    lines.extend(f"    {name!r}: {index}," for name, index in roots.items())
    lines.append("}")
    lines.append("")
    lines.append("NODES: tuple[tuple[tuple[int, Any], ...], ...] = (")
    for i, (node, at) in enumerate(zip(nodes, where, strict=False)):
        lines.append(f"    # {i}: {at}")
        text = pprint.pformat(node, width=_WIDTH - 4, sort_dicts=False)
        lines.extend("    " + line for line in text.splitlines())
        lines[-1] += ","
    lines.append(")")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    """Write (or with ``--check`` compare) the generated module; return an exit code."""
    text = render()
    if "--check" in argv:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT} is out of date: run python -m pyruntime.spec.compile_schema",
                  file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

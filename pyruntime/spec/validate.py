"""Fast validation of config.json, process.json and LinuxResources documents.

Owns: checking a parsed JSON document against the vendored runtime-spec schema
(via the precompiled node table in ``schema/compiled.py``) and the separate
semantic checks runc also makes (``check_semantics``).
Must not touch: jsonschema (its import alone costs ~120 ms and this runs on
every create/run; ``fullcheck.py`` is the slow, complete report), files, syscalls.

The interpreter implements exactly the JSON Schema draft 4 keywords the vendored
schema uses, with jsonschema's semantics (``integer`` excludes floats and bools,
``pattern`` is ``re.search``, keywords apply only to instances of their type).
``tests/unit/test_validate_hypothesis.py`` proves it accepts and rejects the
same documents as jsonschema.
"""

from __future__ import annotations

from pyruntime.errors import SpecError
from pyruntime.spec.schema import compiled as _c

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# typing costs ~3 ms to import; mypy still sees the annotations.

__all__ = [
    "validate_config",
    "validate_process",
    "validate_resources",
    "validate_state",
    "check_semantics",
    "check_process_semantics",
]

_NODES = _c.NODES
_T_STRING = _c.T_STRING
_T_OBJECT = _c.T_OBJECT
_T_ARRAY = _c.T_ARRAY
_T_INTEGER = _c.T_INTEGER
_T_BOOLEAN = _c.T_BOOLEAN
_T_NUMBER = _c.T_NUMBER
_T_NULL = _c.T_NULL
_T_MULTI = _c.T_MULTI
_OBJECT = _c.OBJECT
_ITEMS = _c.ITEMS
_ITEMS_TUPLE = _c.ITEMS_TUPLE
_REQUIRED = _c.REQUIRED
_ENUM = _c.ENUM
_MINIMUM = _c.MINIMUM
_MAXIMUM = _c.MAXIMUM
_PATTERN = _c.PATTERN
_MIN_ITEMS = _c.MIN_ITEMS
_ANY_OF = _c.ANY_OF
_ALL_OF = _c.ALL_OF

_TYPE_WORDS = {
    "string": "a string",
    "object": "an object",
    "array": "a list",
    "integer": "an integer",
    "boolean": "a boolean",
    "number": "a number",
    "null": "null",
}

_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DIGITS = frozenset("0123456789")
_ALNUM_HYPHEN = _UPPER | _DIGITS | frozenset("abcdefghijklmnopqrstuvwxyz-")

# The schema's patterns, as plain string checks: `re` costs milliseconds to import, which a
# create call cannot spare. Any other pattern falls back to `re` (compiled lazily).
_FAST_PATTERNS: dict[str, Any] = {
    "^RLIMIT_[A-Z]+$": lambda s: s.startswith("RLIMIT_") and len(s) > 7
    and all(c in _UPPER for c in s[7:]),
    "^CAP_[A-Z_]+$": lambda s: s.startswith("CAP_") and len(s) > 4
    and all(c in _UPPER or c == "_" for c in s[4:]),
    "^[cbup]$": lambda s: s in ("c", "b", "u", "p"),
    "^[0-9, -]*$": lambda s: all(c in _DIGITS or c in ", -" for c in s),
    "^MB:[^\\n]*$": lambda s: s.startswith("MB:") and "\n" not in s,
    "^[1-9][0-9]*[KMG]B$": lambda s: len(s) >= 3 and s[0] in "123456789"
    and all(c in _DIGITS for c in s[1:-2]) and s[-2] in "KMG" and s[-1] == "B",
}
_regex: dict[str, Any] = {}


class _Invalid(Exception):
    """Internal: first failure, with the JSON path collected innermost first."""

    def __init__(self, message: str, key: str | int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.parts: list[str | int] = [] if key is None else [key]


def _search(pattern: str, text: str) -> bool:
    fast = _FAST_PATTERNS.get(pattern)
    if fast is not None:
        # like re.search, "$" also matches just before one final newline
        return bool(fast(text[:-1] if text.endswith("\n") else text))
    rx = _regex.get(pattern)
    if rx is None:
        import re

        rx = _regex[pattern] = re.compile(pattern)
    return rx.search(text) is not None


def _is_type(name: str, x: object) -> bool:
    # Same definitions as jsonschema's draft 4 type checker.
    if name == "string":
        return isinstance(x, str)
    if name == "object":
        return isinstance(x, dict)
    if name == "array":
        return isinstance(x, list)
    if name == "boolean":
        return isinstance(x, bool)
    if name == "null":
        return x is None
    if isinstance(x, bool):
        return False
    if name == "integer":
        return isinstance(x, int)
    if name == "number":
        return isinstance(x, (int, float))
    raise AssertionError(f"unknown schema type {name}")


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _check(n: int, x: Any) -> None:
    """Raise ``_Invalid`` if ``x`` does not satisfy node ``n``."""
    for code, arg in _NODES[n]:
        if code == _T_STRING:
            if not isinstance(x, str):
                raise _Invalid("must be a string")
        elif code == _OBJECT:
            if isinstance(x, dict):
                _check_object(arg, x)
        elif code == _T_OBJECT:
            if not isinstance(x, dict):
                raise _Invalid("must be an object")
        elif code == _T_ARRAY:
            if not isinstance(x, list):
                raise _Invalid("must be a list")
        elif code == _ITEMS:
            if isinstance(x, list):
                for i, item in enumerate(x):
                    try:
                        _check(arg, item)
                    except _Invalid as e:
                        e.parts.append(i)
                        raise
        elif code == _T_INTEGER:
            if not isinstance(x, int) or isinstance(x, bool):
                raise _Invalid("must be an integer")
        elif code == _MINIMUM:
            if _is_number(x) and x < arg:
                raise _Invalid(f"must be >= {arg}")
        elif code == _MAXIMUM:
            if _is_number(x) and x > arg:
                raise _Invalid(f"must be <= {arg}")
        elif code == _REQUIRED:
            if isinstance(x, dict):
                for key in arg:
                    if key not in x:
                        raise _Invalid("is required", key)
        elif code == _T_BOOLEAN:
            if not isinstance(x, bool):
                raise _Invalid("must be a boolean")
        elif code == _ENUM:
            if not isinstance(x, str) or x not in arg:
                raise _Invalid("must be one of: " + ", ".join(arg))
        elif code == _PATTERN:
            if isinstance(x, str) and not _search(arg, x):
                raise _Invalid(f"does not match pattern {arg}")
        elif code == _MIN_ITEMS:
            if isinstance(x, list) and len(x) < arg:
                raise _Invalid(f"must have at least {arg} item{'s' if arg != 1 else ''}")
        elif code == _ANY_OF:
            _check_any_of(arg, x)
        elif code == _ALL_OF:
            for sub in arg:
                _check(sub, x)
        elif code == _ITEMS_TUPLE:
            if isinstance(x, list):
                for i, (sub, item) in enumerate(zip(arg, x, strict=False)):
                    try:
                        _check(sub, item)
                    except _Invalid as e:
                        e.parts.append(i)
                        raise
        elif code == _T_NUMBER:
            if not _is_number(x):
                raise _Invalid("must be a number")
        elif code == _T_NULL:
            if x is not None:
                raise _Invalid("must be null")
        elif code == _T_MULTI:
            if not any(_is_type(name, x) for name in arg):
                raise _Invalid("must be " + " or ".join(_TYPE_WORDS[t] for t in arg))
        else:  # pragma: no cover - compile_schema only emits known opcodes
            raise AssertionError(f"unknown opcode {code}")


def _check_object(
    arg: tuple[dict[str, int], tuple[tuple[str, int], ...], Any], x: dict[str, Any]
) -> None:
    props, pats, additional = arg
    for key, value in x.items():
        sub = props.get(key)
        try:
            if sub is not None:
                _check(sub, value)
            matched = False
            for pat, psub in pats:
                if _search(pat, key):
                    matched = True
                    _check(psub, value)
            if sub is None and not matched and additional is not None:
                if additional is False:
                    raise _Invalid("is not allowed")
                _check(additional, value)
        except _Invalid as e:
            e.parts.append(key)
            raise


def _check_any_of(subs: tuple[int, ...], x: Any) -> None:
    best: _Invalid | None = None
    for sub in subs:
        try:
            _check(sub, x)
            return
        except _Invalid as e:
            # Report the alternative that got furthest into the document.
            if best is None or len(e.parts) > len(best.parts):
                best = e
    if best is None:  # pragma: no cover - anyOf is never empty in the schema
        raise _Invalid("matches none of the allowed schemas")
    raise best


def _format_path(parts: list[str | int]) -> str:
    out: list[str] = []
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif part.isidentifier():
            out.append(f".{part}" if out else part)
        else:
            # JSON-quote keys with dots, control characters and the like, so
            # the message stays one printable line.
            import json

            out.append(f"[{json.dumps(part)}]")
    return "".join(out)


def _run(root: str, label: str, doc: object) -> None:
    try:
        _check(_c.ROOTS[root], doc)
    except _Invalid as e:
        parts = e.parts[::-1]
        if not parts:
            raise SpecError("", f"{label} {e.message}") from None
        raise SpecError(_format_path(parts), e.message) from None


def validate_config(doc: object) -> None:
    """Check a parsed config.json against the runtime-spec schema.

    Raises:
        SpecError: on the first violation, with its JSON path (``mounts[2].destination``).
    """
    _run("config", "config", doc)


def validate_process(doc: object) -> None:
    """Check a standalone process.json (``exec --process``) against the schema.

    Raises:
        SpecError: on the first violation; paths are relative to the process (``args``).
    """
    _run("process", "process", doc)


def validate_resources(doc: object) -> None:
    """Check a LinuxResources document (``update -r``) against the schema.

    Raises:
        SpecError: on the first violation; paths are relative to the resources (``memory.limit``).
    """
    _run("resources", "resources", doc)


def validate_state(doc: object) -> None:
    """Check a state document (what ``state`` prints and hooks read).

    Raises:
        SpecError: on the first violation.
    """
    _run("state", "state", doc)


# --------------------------------------------------------------------------
# Semantic checks: rules of the spec text (and of runc) that the JSON schema
# cannot express. They assume the document already passed validate_config.
# --------------------------------------------------------------------------

def _semver_major(version: str) -> str | None:
    """The major number of a SemVer 2.0.0 string, or None if it is not SemVer (no regex)."""
    core, plus, build = version.partition("+")
    if plus and not all(p and set(p) <= _ALNUM_HYPHEN for p in build.split(".")):
        return None
    core, dash, pre = core.partition("-")
    if dash:
        for p in pre.split("."):
            if not p or not set(p) <= _ALNUM_HYPHEN:
                return None
            if set(p) <= _DIGITS and len(p) > 1 and p[0] == "0":
                return None
    parts = core.split(".")
    if len(parts) != 3:
        return None
    for p in parts:
        if not p or not set(p) <= _DIGITS or (len(p) > 1 and p[0] == "0"):
            return None
    return parts[0]


def check_semantics(doc: dict[str, Any]) -> None:
    """Check the rules of a schema-valid config.json that the schema cannot express.

    Linux-only rules; call after ``validate_config``.

    Raises:
        SpecError: on the first violation.
    """
    version = doc.get("ociVersion", "")
    major = _semver_major(version)
    if major is None:
        raise SpecError("ociVersion", f"{version!r} is not a SemVer 2.0.0 version")
    if major != "1":
        raise SpecError("ociVersion", f"unsupported major version {major} (want 1.x)")
    # config.md: root is REQUIRED on all platforms but Windows (runc: "root must be specified").
    if "root" not in doc:
        raise SpecError("root", "is required")
    process = doc.get("process")
    if process is not None:
        check_process_semantics(process, "process.")
    hooks = doc.get("hooks") or {}
    for stage, entries in hooks.items():
        for i, hook in enumerate(entries or ()):
            if not hook["path"].startswith("/"):
                raise SpecError(f"hooks.{stage}[{i}].path", "must be an absolute path")
    linux = doc.get("linux")
    if linux is not None:
        _check_linux(doc, linux)


def check_process_semantics(process: dict[str, Any], prefix: str = "") -> None:
    """Semantic checks of a schema-valid process object (also for ``exec --process``).

    Raises:
        SpecError: on the first violation; paths start with ``prefix``.
    """
    # Imported here: constants pulls in signal, which validation alone never needs.
    from pyruntime.spec.constants import RLIMITS

    # config.md: at least one args entry is REQUIRED on non-Windows platforms.
    if not process.get("args"):
        raise SpecError(f"{prefix}args", "must not be empty")
    if not process.get("cwd", "").startswith("/"):
        raise SpecError(f"{prefix}cwd", "must be an absolute path")
    seen: set[str] = set()
    for i, rl in enumerate(process.get("rlimits") or ()):
        kind = rl["type"]
        if kind not in RLIMITS:
            raise SpecError(f"{prefix}rlimits[{i}].type", f"unknown rlimit {kind}")
        # config.md: duplicated rlimit types MUST be an error.
        if kind in seen:
            raise SpecError(f"{prefix}rlimits[{i}].type", f"duplicate rlimit {kind}")
        seen.add(kind)


def _check_linux(doc: dict[str, Any], linux: dict[str, Any]) -> None:
    kinds: set[str] = set()
    for i, ns in enumerate(linux.get("namespaces") or ()):
        kind = ns["type"]
        # config-linux.md: a namespace type given twice MUST be an error.
        if kind in kinds:
            raise SpecError(f"linux.namespaces[{i}].type", f"duplicate namespace {kind}")
        kinds.add(kind)
        path = ns.get("path")
        if path is not None and not path.startswith("/"):
            raise SpecError(f"linux.namespaces[{i}].path", "must be an absolute path")
    if (linux.get("uidMappings") or linux.get("gidMappings")) and "user" not in kinds:
        # runc refuses mappings without a new user namespace.
        raise SpecError("linux.uidMappings", "requires a user namespace")
    for key in ("hostname", "domainname"):
        if doc.get(key) and "uts" not in kinds:
            raise SpecError(key, "requires a uts namespace")
    for i, dev in enumerate(linux.get("devices") or ()):
        if not dev["path"].startswith("/"):
            raise SpecError(f"linux.devices[{i}].path", "must be an absolute path")
        # config-linux.md: major and minor are REQUIRED unless the type is p.
        if dev["type"] != "p":
            for key in ("major", "minor"):
                if key not in dev:
                    raise SpecError(f"linux.devices[{i}].{key}", "is required")

"""A small runc-compatible argv parser (Go `flag` rules: flags first, then positionals).

Owns: turning argv into (flags, positionals) from a table of flags, and usage text.
Must not touch: what the flags mean.
"""

from __future__ import annotations

from pyruntime.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class UsageError(Exception):
    """Bad command line (exit 1 with a one-line message, like runc)."""


class Flag(Record):
    """One flag: its names (`--bundle`, `-b`), whether it takes a value, its help."""

    __slots__ = ("names", "help", "value", "multiple", "default")
    names: tuple[str, ...]
    help: str
    value: str | None  # metavar when the flag takes a value
    multiple: bool
    default: Any

    def __init__(self, names: tuple[str, ...], help: str = "", value: str | None = None,
                 multiple: bool = False, default: Any = None) -> None:
        # (explicit: every call builds its verb's flag table, ~20 flags, at import)
        self.names = names
        self.help = help
        self.value = value
        self.multiple = multiple
        self.default = default

    @property
    def key(self) -> str:
        """The attribute name: the first long name, dashes to underscores."""
        return self.names[0].lstrip("-").replace("-", "_")


class Parsed:
    """Flags by key, plus positional arguments."""

    __slots__ = ("flags", "args")

    def __init__(self, flags: dict[str, Any] | None = None) -> None:
        self.flags: dict[str, Any] = flags or {}
        self.args: list[str] = []

    def get(self, key: str, default: Any = None) -> Any:
        """Value of a flag."""
        value = self.flags.get(key)
        return default if value is None else value


BOOL_TRUE = {"true", "1", "t", "yes"}
BOOL_FALSE = {"false", "0", "f", "no"}


def parse(argv: list[str], flags: tuple[Flag, ...], *, stop_at_positional: bool = True) -> Parsed:
    """Parse argv against flags.

    Raises:
        UsageError: unknown flag or missing value.
    """
    by_name = {n: f for f in flags for n in f.names}
    out = Parsed({f.key: ([] if f.multiple else f.default) for f in flags})
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            out.args.extend(argv[i + 1:])
            break
        if not arg.startswith("-") or arg == "-":
            if stop_at_positional:
                out.args.extend(argv[i:])
                break
            out.args.append(arg)
            i += 1
            continue
        name, eq, inline = arg.partition("=")
        # Go's flag package accepts -flag and --flag alike
        flag = by_name.get(name) or by_name.get("--" + name.lstrip("-"))
        if flag is None:
            raise UsageError(f"flag provided but not defined: {arg.split('=')[0]}")
        if flag.value is None:
            if eq:
                low = inline.lower()
                if low not in BOOL_TRUE | BOOL_FALSE:
                    raise UsageError(f"invalid boolean value {inline!r} for {name}")
                out.flags[flag.key] = low in BOOL_TRUE
            else:
                out.flags[flag.key] = True
            i += 1
            continue
        if eq:
            value = inline
            i += 1
        else:
            if i + 1 >= len(argv):
                raise UsageError(f"flag needs an argument: {name}")
            value = argv[i + 1]
            i += 2
        if flag.multiple:
            out.flags[flag.key].append(value)
        else:
            out.flags[flag.key] = value
    return out


def usage(command: str, synopsis: str, description: str, flags: tuple[Flag, ...]) -> str:
    """runc-like help text for one command."""
    lines = ["NAME:", f"   pyruntime {command} - {description}", "", "USAGE:",
             f"   pyruntime {command} {synopsis}".rstrip(), ""]
    if flags:
        lines.append("OPTIONS:")
        for f in flags:
            names = ", ".join(f.names) + (f" {f.value}" if f.value else "")
            lines.append(f"   {names:<32} {f.help}")
    return "\n".join(lines) + "\n"

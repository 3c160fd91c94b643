"""`pyruntime ps [--format table|json] <container-id> [ps options]`."""

from __future__ import annotations

import subprocess
import sys

from pyruntime.cli.args import Flag, Parsed, UsageError
from pyruntime.cli.common import print_json, runtime
from pyruntime.errors import ContainerError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


SYNOPSIS = "[command options] <container-id> [ps options]"
FLAGS = (Flag(("--format", "-f"), "select one of: table or json", "FORMAT", default="table"),)


def filter_ps_output(text: str, pids: set[int]) -> str:
    """Keep the header and the lines of host `ps` whose PID column is one of pids."""
    lines = text.splitlines()
    if not lines:
        return ""
    header = lines[0].split()
    try:
        col = header.index("PID")
    except ValueError:
        raise ContainerError("couldn't find PID field in ps output") from None
    out = [lines[0]]
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > col and fields[col].isdigit() and int(fields[col]) in pids:
            out.append(line)
    return "\n".join(out) + "\n"


def run(parsed: Parsed, ctx: Any) -> int:
    """Print the container's processes (json: a bare array of host pids, as Docker parses)."""
    if not parsed.args:
        raise UsageError("requires at least 1 argument: container id")
    fmt = parsed.get("format")
    pids = runtime(ctx).pids(parsed.args[0])
    if fmt == "json":
        print_json(pids, indent=None)
        return 0
    if fmt != "table":
        raise UsageError(f"invalid format option {fmt!r}")
    args = parsed.args[1:] or ["-ef"]
    try:
        out = subprocess.run(["ps", *args], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise ContainerError(f"ps: {e}") from None
    sys.stdout.write(filter_ps_output(out, set(pids)))
    return 0

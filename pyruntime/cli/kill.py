"""`pyruntime kill [--all] <container-id> [signal]`."""

from __future__ import annotations

from pyruntime.cli.args import Flag, Parsed, UsageError
from pyruntime.cli.common import operations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


SYNOPSIS = "[command options] <container-id> [signal]"
FLAGS = (Flag(("--all", "-a"), "send the specified signal to all processes inside the container"),)


def run(parsed: Parsed, ctx: Any) -> int:
    """Signal the init (default SIGTERM), or every process with --all."""
    from pyruntime.spec.constants import signal_number

    if not 1 <= len(parsed.args) <= 2:
        raise UsageError("requires 1 or 2 arguments: <container-id> [signal]")
    try:
        sig = signal_number(parsed.args[1] if len(parsed.args) == 2 else "SIGTERM")
    except ValueError as e:
        raise UsageError(str(e)) from None
    operations(ctx).kill(parsed.args[0], sig, all_processes=bool(parsed.get("all")))
    return 0

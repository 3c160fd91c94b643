"""`pyruntime delete [--force] <container-id>...`."""

from __future__ import annotations

from pyruntime.cli.args import Flag, Parsed, UsageError
from pyruntime.cli.common import operations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


SYNOPSIS = "[command options] <container-id> [container-id...]"
FLAGS = (Flag(("--force", "-f"), "forcibly delete the container if it is still running "
              "(uses SIGKILL)"),)


def run(parsed: Parsed, ctx: Any) -> int:
    """Delete each container; a missing one is fine with --force (runc)."""
    if not parsed.args:
        raise UsageError("requires at least 1 argument: container id")
    rt = operations(ctx)
    for cid in parsed.args:
        rt.delete(cid, force=bool(parsed.get("force")))
    return 0

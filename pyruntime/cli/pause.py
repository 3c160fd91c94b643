"""`pyruntime pause <container-id>...`: freeze every process of the container."""

from __future__ import annotations

from pyruntime.cli.args import Parsed, UsageError
from pyruntime.cli.common import runtime

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


SYNOPSIS = "<container-id> [container-id...]"
FLAGS = ()


def run(parsed: Parsed, ctx: Any) -> int:
    """Pause each container."""
    if not parsed.args:
        raise UsageError("requires at least 1 argument: container id")
    for cid in parsed.args:
        runtime(ctx).pause(cid)
    return 0

"""`pyruntime start <container-id>`."""

from __future__ import annotations

from pyruntime.cli.args import Parsed
from pyruntime.cli.common import one_id, operations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


SYNOPSIS = "<container-id>"
FLAGS = ()


def run(parsed: Parsed, ctx: Any) -> int:
    """Start a created container."""
    operations(ctx).start(one_id(parsed))
    return 0

"""`pyruntime features`: print the runtime-spec features document."""

from __future__ import annotations

from pyruntime.cli.args import Parsed
from pyruntime.cli.common import print_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


SYNOPSIS = ""
FLAGS = ()


def run(parsed: Parsed, ctx: Any) -> int:
    """Print features.json."""
    from pyruntime.features import features

    print_json(features())
    return 0

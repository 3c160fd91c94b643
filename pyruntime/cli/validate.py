"""`pyruntime validate [--bundle PATH]`: the full jsonschema report (not on any hot path)."""

from __future__ import annotations

import json
import os
import sys

from pyruntime.cli.args import Flag, Parsed
from pyruntime.errors import SpecError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


SYNOPSIS = "[--bundle PATH]"
FLAGS = (Flag(("--bundle", "-b"), "path to the root of the bundle directory", "PATH",
              default="."),)


def run(parsed: Parsed, ctx: Any) -> int:
    """Print every schema violation of config.json; exit 1 if there are any."""
    from pyruntime.spec.fullcheck import full_report

    path = os.path.join(parsed.get("bundle"), "config.json")
    try:
        with open(path, "rb") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise SpecError("", f"{path}: {e}") from None
    problems = full_report(doc)
    for line in problems:
        sys.stdout.write(line + "\n")
    if problems:
        return 1
    sys.stdout.write(f"{path}: valid\n")
    return 0

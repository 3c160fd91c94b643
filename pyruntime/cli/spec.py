"""`pyruntime spec [--bundle PATH] [--rootless]`: write a starter config.json."""

from __future__ import annotations

import json
import os

from pyruntime.cli.args import Flag, Parsed
from pyruntime.errors import ContainerError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


SYNOPSIS = "[command options]"
FLAGS = (
    Flag(("--bundle", "-b"), "path to the root of the bundle directory", "PATH", default=""),
    Flag(("--rootless",), "generate a configuration for a rootless container"),
)


def run(parsed: Parsed, ctx: Any) -> int:
    """Write config.json into the bundle; refuse to overwrite one (as runc)."""
    from pyruntime.spec.default import default_config

    bundle = parsed.get("bundle") or "."
    path = os.path.join(bundle, "config.json")
    if not os.path.isdir(bundle):
        raise ContainerError(f"chdir {bundle}: no such file or directory")
    if os.path.exists(path):
        raise ContainerError("File config.json exists. Remove it first")
    doc = default_config(rootless=bool(parsed.get("rootless")))
    with open(path, "w") as f:
        f.write(json.dumps(doc, indent=2) + "\n")
    return 0

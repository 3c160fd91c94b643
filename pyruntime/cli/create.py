"""`pyruntime create [flags] <container-id>`."""

from __future__ import annotations

from pyruntime.cli.args import Parsed
from pyruntime.cli.common import CREATE_FLAGS, create_options, one_id, runtime

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


SYNOPSIS = "[command options] <container-id>"
FLAGS = CREATE_FLAGS
ERROR_PREFIX = "pyruntime create failed: "


def run(parsed: Parsed, ctx: Any) -> int:
    """Create the container and leave its init waiting for `start`."""
    cid = one_id(parsed)
    opts = create_options(parsed, ctx.systemd_cgroup)
    runtime(ctx).create(cid, parsed.get("bundle") or ".", opts)
    return 0

"""`pyruntime run [flags] <container-id>`: create + start (+ wait and delete)."""

from __future__ import annotations

from pyruntime.cli.args import Flag, Parsed
from pyruntime.cli.common import CREATE_FLAGS, create_options, one_id, runtime

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


SYNOPSIS = "[command options] <container-id>"
FLAGS = CREATE_FLAGS + (
    Flag(("--detach", "-d"), "detach from the container's process"),
    Flag(("--keep",), "do not delete the container after it exits"),
)
ERROR_PREFIX = "pyruntime run failed: "


def run(parsed: Parsed, ctx: Any) -> int:
    """Run the container; the exit code is the container's (128+signal if killed)."""
    cid = one_id(parsed)
    return int(runtime(ctx).run(cid, parsed.get("bundle") or ".",
                                create_options(parsed, ctx.systemd_cgroup),
                                detach=bool(parsed.get("detach")),
                                keep=bool(parsed.get("keep"))))

"""`pyruntime resume <container-id>...`: thaw a paused container."""

from __future__ import annotations

from pyruntime.cli.common import for_each_id
from pyruntime.cli.pause import FLAGS, SYNOPSIS

__all__ = ["FLAGS", "SYNOPSIS", "run"]

run = for_each_id("resume")

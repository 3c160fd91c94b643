"""`pyruntime pause <container-id>...`: freeze every process of the container."""

from __future__ import annotations

from pyruntime.cli.common import for_each_id

SYNOPSIS = "<container-id> [container-id...]"
FLAGS = ()

run = for_each_id("pause")

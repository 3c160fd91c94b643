"""`pyruntime events [--stats] [--interval 5s] <container-id>`: runc's JSON event lines."""

from __future__ import annotations

import sys
import time

from pyruntime.cli.args import Flag, Parsed, UsageError
from pyruntime.cli.common import one_id, runtime
from pyruntime.errors import ContainerError
from pyruntime.jsonio import dumps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


SYNOPSIS = "[command options] <container-id>"
FLAGS = (
    Flag(("--interval",), "set the stats collection interval", "DURATION", default="5s"),
    Flag(("--stats",), "display the container's stats then exit"),
)


def parse_duration(text: str) -> float:
    """Go-style durations: 500ms, 5s, 1m, 1h30m.

    Raises:
        UsageError: malformed.
    """
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    total, num, i = 0.0, "", 0
    t = text.strip()
    while i < len(t):
        if t[i].isdigit() or t[i] == ".":
            num += t[i]
            i += 1
            continue
        for unit in ("ns", "us", "µs", "ms", "s", "m", "h"):
            if t.startswith(unit, i) and num:
                total += float(num) * units[unit]
                num, i = "", i + len(unit)
                break
        else:
            raise UsageError(f"invalid duration {text!r}")
    if num or total <= 0:
        raise UsageError(f"invalid duration {text!r}")
    return total


def emit(event: dict[str, Any]) -> None:
    """One JSON line, flushed at once (go-runc decodes a stream)."""
    sys.stdout.write(dumps(event) + "\n")
    sys.stdout.flush()


def run(parsed: Parsed, ctx: Any) -> int:
    """Print stats once, or stream stats (and OOM events) until the container stops."""
    cid = one_id(parsed)
    rt = runtime(ctx)
    if parsed.get("stats"):
        emit({"type": "stats", "id": cid, "data": rt.stats(cid)})
        return 0
    interval = parse_duration(parsed.get("interval"))
    oom = None
    try:
        oom = rt.oom_watcher(cid)
    except ContainerError:
        oom = None
    try:
        while True:
            try:
                data = rt.stats(cid)
            except ContainerError:
                return 0
            emit({"type": "stats", "id": cid, "data": data})
            deadline = time.monotonic() + interval
            while time.monotonic() < deadline:
                left = deadline - time.monotonic()
                if oom is not None and oom.wait(min(left, 1.0)):
                    emit({"type": "oom", "id": cid})
                elif oom is not None and getattr(oom, "gone", False):
                    return 0
                elif oom is None:
                    time.sleep(min(left, 1.0))
    finally:
        if oom is not None:
            oom.close()

"""Many sequential create -> start -> delete -f cycles: is time per cycle flat, does anything leak?

Owns: the long cycle loop (interleaved between runtimes) and the before/after census.
Must not touch: the census itself (census.py) or the per-call scenarios.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import census
from harness import BenchError, Runtime, median, ratio
from scenarios import s_cycle

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

SETTLE_S = 2.0


@dataclass
class CycleResult:
    """Per-runtime outcome of the loop."""

    times: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    before: census.Census | None = None
    after: census.Census | None = None

    def first_last(self) -> tuple[float, float, float]:
        """(median of the first 10%, median of the last 10%, last/first)."""
        k = max(1, len(self.times) // 10)
        first, last = median(self.times[:k]), median(self.times[-k:])
        return first, last, ratio(last, first)

    def leaked(self) -> dict[str, int]:
        """Growth of every counted resource (all zero: no leak)."""
        assert self.before and self.after
        return census.leaks(self.before, self.after)


def snapshot(rt: Runtime, work: str) -> census.Census:
    """Census of one runtime's objects (its id prefix, its bundles under `work`, its root)."""
    return census.take((rt.prefix,), os.path.join(work, rt.name), (rt.root,))


def settle(rt: Runtime, work: str, base: census.Census) -> census.Census:
    """Re-take the census for up to SETTLE_S until no leak shows (killed inits take a moment)."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        now = snapshot(rt, work)
        if not any(census.leaks(base, now).values()) or time.monotonic() > deadline:
            return now
        time.sleep(0.05)


def run_cycles(runtimes: list[Runtime], n: int, work: str,
               progress: Callable[[str], None]) -> dict[str, CycleResult]:
    """n cycles per runtime, alternating which runtime goes first every cycle."""
    results = {rt.name: CycleResult() for rt in runtimes}
    for rt in runtimes:
        results[rt.name].before = snapshot(rt, work)
    step = max(1, n // 10)
    for i in range(n):
        order = runtimes if i % 2 == 0 else runtimes[::-1]
        for rt in order:
            try:
                results[rt.name].times.append(s_cycle(rt, 100000 + i))
            except BenchError as e:
                results[rt.name].errors.append(str(e))
        if (i + 1) % step == 0:
            progress(f"cycles {i + 1}/{n}")
    for rt in runtimes:
        base = results[rt.name].before
        assert base is not None
        results[rt.name].after = settle(rt, work, base)
    return results

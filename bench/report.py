"""Turning raw samples into the summary: rows, the printed tables, target verdicts, JSON, chart.

Owns: the `Row` shape, table text, the issue-8 targets, bench/results/{summary.json,ratios.png}.
Must not touch: measuring (everything here is pure except the two file writes).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field

from harness import median, p90, ratio
from pngchart import bar_chart

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from cycles import CycleResult

RUNTIMES = ("pyruntime", "runc")

# issue 8: (row name, highest acceptable pyruntime/runc ratio of medians)
TARGETS = (("run", 0.8), ("create-start-delete", 1.0), ("state", 2.0))
RSS_TARGET = 1.0
DRIFT_TARGET = 0.10


@dataclass
class Row:
    """One scenario, both runtimes. Values are ms for timings, KiB for memory."""

    name: str
    unit: str
    samples: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)

    def med(self, rt: str) -> float:
        """Median for runtime `rt`."""
        return median(self.samples.get(rt, []))

    def p90(self, rt: str) -> float:
        """90th percentile for runtime `rt`."""
        return p90(self.samples.get(rt, []))

    @property
    def ratio(self) -> float:
        """pyruntime median / runc median."""
        return ratio(self.med("pyruntime"), self.med("runc"))

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form, raw samples included."""
        return {
            "name": self.name, "unit": self.unit, "ratio": _num(self.ratio),
            **{rt: {"median": _num(self.med(rt)), "p90": _num(self.p90(rt)),
                    "n": len(self.samples.get(rt, [])), "errors": self.errors.get(rt, [])[:5],
                    "error_count": len(self.errors.get(rt, [])),
                    "samples": [round(x, 3) for x in self.samples.get(rt, [])]}
               for rt in RUNTIMES},
        }


def _num(x: float) -> float | None:
    return None if not math.isfinite(x) else round(x, 4)


def _fmt(x: float, unit: str) -> str:
    if not math.isfinite(x):
        return "-"
    return f"{x:.0f}" if unit == "KiB" else f"{x:.1f}"


def table(rows: Sequence[Row]) -> list[str]:
    """The main summary table."""
    head = (f"{'scenario':<28}{'unit':>5}{'pyrt med':>10}{'pyrt p90':>10}{'runc med':>10}"
            f"{'runc p90':>10}{'ratio':>8}{'n':>5}{'err':>5}")
    out = [head, "-" * len(head)]
    for r in rows:
        n = min(len(r.samples.get(rt, [])) for rt in RUNTIMES)
        err = sum(len(r.errors.get(rt, [])) for rt in RUNTIMES)
        ratio_s = f"{r.ratio:.2f}" if math.isfinite(r.ratio) else "-"
        out.append(f"{r.name:<28}{r.unit:>5}{_fmt(r.med('pyruntime'), r.unit):>10}"
                   f"{_fmt(r.p90('pyruntime'), r.unit):>10}{_fmt(r.med('runc'), r.unit):>10}"
                   f"{_fmt(r.p90('runc'), r.unit):>10}{ratio_s:>8}{n:>5}{err:>5}")
    for r in rows:  # the first failure of each row and runtime, so `err` is never a mystery
        for rt in RUNTIMES:
            if r.errors.get(rt):
                out.append(f"  {r.name} / {rt} failed {len(r.errors[rt])}x, first: "
                           f"{r.errors[rt][0][-300:]}")
    return out


def cycle_table(results: dict[str, CycleResult]) -> list[str]:
    """Flatness and leak counts of the sequential cycles."""
    head = (f"{'runtime':<11}{'cycles':>7}{'first10% ms':>12}{'last10% ms':>11}{'last/first':>11}"
            f"  leaked (mounts cgroups fds state zombies procs)  err")
    out = [head, "-" * len(head)]
    for name, res in results.items():
        first, last, drift = res.first_last()
        leaks = res.leaked()
        leak_s = " ".join(f"{leaks[k]}" for k in ("mounts", "cgroups", "fds", "state_dirs",
                                                  "zombies", "processes"))
        out.append(f"{name:<11}{len(res.times):>7}{first * 1000:>12.1f}{last * 1000:>11.1f}"
                   f"{drift:>11.2f}  {leak_s:<47}{len(res.errors):>4}")
    for name, res in results.items():
        if res.before and res.after:
            b, a = res.before, res.after
            out.append(f"  {name}: host-wide mountinfo lines {b.mounts_all} -> {a.mounts_all}, "
                       f"zombies {b.zombies_all} -> {a.zombies_all} (shared machine: context only)")
        for e in res.errors[:3]:
            out.append(f"  {name} error: {e}")
    return out


def verdicts(rows: Sequence[Row], cycles: dict[str, CycleResult] | None) -> list[str]:
    """Issue-8 targets, each MET / MISSED / not measured."""
    by_name = {r.name: r for r in rows}
    out = []
    for name, limit in TARGETS:
        r = by_name.get(name)
        if r is None or not math.isfinite(r.ratio):
            out.append(f"  {name} <= {limit}: not measured")
            continue
        out.append(f"  {name} <= {limit}: {'MET' if r.ratio <= limit else 'MISSED'} "
                   f"({r.ratio:.2f})")
    rss = [r for r in rows if r.name.startswith("peak RSS") and math.isfinite(r.ratio)]
    if rss:
        worst = max(rss, key=lambda r: r.ratio)
        out.append(f"  peak RSS of every call <= runc: "
                   f"{'MET' if worst.ratio <= RSS_TARGET else 'MISSED'} "
                   f"(worst {worst.name}: {worst.ratio:.2f})")
    if cycles and "pyruntime" in cycles:
        res = cycles["pyruntime"]
        leaked = {k: v for k, v in res.leaked().items() if v}
        out.append(f"  {len(res.times)} cycles leak nothing: "
                   f"{'MET' if not leaked and not res.errors else 'MISSED'}"
                   f"{' ' + str(leaked) if leaked else ''}"
                   f"{f' ({len(res.errors)} errors)' if res.errors else ''}")
        out.append(_drift_verdict(res, cycles.get("runc")))
    return out


def _drift_verdict(res: CycleResult, control: CycleResult | None) -> str:
    """Flatness of our cycle times. The loop interleaves the runtimes, so runc's own drift
    in it is the machine's (a VM's speed wanders by 10-20 % over minutes): a drift no
    larger than runc's, within the target, is flat too."""
    drift = res.first_last()[2]
    ok = math.isfinite(drift) and drift <= 1 + DRIFT_TARGET
    note = f"{drift:.2f}"
    if control is not None and math.isfinite(base := control.first_last()[2]) and base > 0:
        relative = drift / base
        ok = ok or (math.isfinite(relative) and relative <= 1 + DRIFT_TARGET)
        note += f"; runc {base:.2f} in the same loop, relative {relative:.2f}"
    return (f"  last 10% no slower than first 10% (+-{DRIFT_TARGET:.0%}): "
            f"{'MET' if ok else 'MISSED'} ({note})")


def write(outdir: str, machine: dict[str, object], options: dict[str, object],
          rows: Sequence[Row], cycles: dict[str, CycleResult] | None) -> tuple[str, str]:
    """Write summary.json and ratios.png into `outdir`; returns their paths."""
    os.makedirs(outdir, exist_ok=True)
    doc: dict[str, object] = {"machine": machine, "options": options,
                              "rows": [r.as_dict() for r in rows]}
    if cycles:
        doc["cycles"] = {
            name: {"n": len(res.times), "first10_ms": _num(res.first_last()[0] * 1000),
                   "last10_ms": _num(res.first_last()[1] * 1000),
                   "last_over_first": _num(res.first_last()[2]), "leaked": res.leaked(),
                   "before": res.before.as_dict() if res.before else None,
                   "after": res.after.as_dict() if res.after else None,
                   "errors": res.errors[:10], "error_count": len(res.errors),
                   "cycle_ms": [round(t * 1000, 3) for t in res.times]}
            for name, res in cycles.items()}
    doc["targets"] = [v.strip() for v in verdicts(rows, cycles)]
    js = os.path.join(outdir, "summary.json")
    with open(js, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    png = os.path.join(outdir, "ratios.png")
    with open(png, "wb") as f:
        f.write(bar_chart([(r.name, r.ratio) for r in rows],
                          "PYRUNTIME / RUNC - RATIO OF MEDIANS (LOWER IS BETTER)"))
    return js, png

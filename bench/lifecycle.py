"""Time pyruntime against runc side by side, interleaved, and print ratios of medians.

Usage: python3 bench/lifecycle.py [--rounds N] [--pyruntime PATH] [--runc PATH]
Measures: `run /bin/true`, create -> start -> delete -f, `state`, and peak RSS per call.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def default_pyruntime() -> str:
    launcher = Path(sys.prefix) / "bin" / "pyruntime"
    return str(launcher) if launcher.exists() else shutil.which("pyruntime") or "pyruntime"


def timed(cmd: list[str]) -> tuple[float, int]:
    """Wall time of one command, and its peak RSS in KiB (from wait4)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {err}")
    if proc.stderr:
        proc.stderr.close()
    return elapsed, usage.ru_maxrss


def scenario_run(rt: str, root: str, bundle: str, cid: str) -> tuple[float, int]:
    return timed([rt, "--root", root, "run", "--bundle", bundle, cid])


def scenario_cycle(rt: str, root: str, bundle: str, cid: str) -> tuple[float, int]:
    total, peak = 0.0, 0
    for args in (["create", "--bundle", bundle, cid], ["start", cid], ["delete", "-f", cid]):
        t, rss = timed([rt, "--root", root, *args])
        total += t
        peak = max(peak, rss)
    return total, peak


def scenario_state(rt: str, root: str, bundle: str, cid: str) -> tuple[float, int]:
    return timed([rt, "--root", root, "state", cid])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--pyruntime", default=default_pyruntime())
    ap.add_argument("--runc", default=shutil.which("runc") or "runc")
    args = ap.parse_args()
    from pyruntime.bundle import make_bundle

    work = tempfile.mkdtemp(prefix="pyrt-bench-")
    bundle = make_bundle(os.path.join(work, "bundle"), ["/bin/true"])
    sleeper = make_bundle(os.path.join(work, "sleeper"), ["sleep", "1000"])
    runtimes = {"pyruntime": args.pyruntime, "runc": args.runc}
    roots = {name: os.path.join(work, f"root-{name}") for name in runtimes}
    results: dict[tuple[str, str], list[float]] = {}
    rss: dict[tuple[str, str], int] = {}
    try:
        # a long-lived container per runtime for `state`
        for name, rt in runtimes.items():
            subprocess.run([rt, "--root", roots[name], "run", "-d", "--bundle", sleeper, "st"],
                           check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        scenarios = {"run": scenario_run, "create-start-delete": scenario_cycle,
                     "state": scenario_state}
        for i in range(args.rounds):
            for sname, fn in scenarios.items():
                order = list(runtimes.items())
                if i % 2:
                    order.reverse()  # interleave: neither runtime always goes first
                for name, rt in order:
                    cid = "st" if sname == "state" else f"b{i}"
                    t, peak = fn(rt, roots[name], bundle, cid)
                    results.setdefault((sname, name), []).append(t)
                    rss[(sname, name)] = max(rss.get((sname, name), 0), peak)
    finally:
        for name, rt in runtimes.items():
            subprocess.run([rt, "--root", roots[name], "delete", "-f", "st"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'scenario':<22}{'pyruntime ms':>14}{'runc ms':>10}{'ratio':>8}"
          f"{'pyrt RSS KiB':>14}{'runc RSS KiB':>14}")
    for sname in ("run", "create-start-delete", "state"):
        p = statistics.median(results[(sname, "pyruntime")]) * 1000
        r = statistics.median(results[(sname, "runc")]) * 1000
        print(f"{sname:<22}{p:>14.1f}{r:>10.1f}{p / r:>8.2f}"
              f"{rss[(sname, 'pyruntime')]:>14}{rss[(sname, 'runc')]:>14}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

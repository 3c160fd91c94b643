"""pyruntime vs runc benchmark suite: one command, interleaved, ratios of medians.

Usage: python3 bench/run.py [--quick] [--profile] [--only GROUPS] [options]   (as root)
Groups: latency (run, create-start-delete, state, exec, kill+delete), rss (peak RSS per call),
footprint (the init waiting between create and start), burst (N containers at once), cycles
(N sequential create/start/delete with a leak census). Writes bench/results/summary.json and
bench/results/ratios.png; see bench/README.md for how to read them.

Owns: option parsing, the workspace (bundles, --root dirs, container ids), the interleaved
round loops, cleanup, and printing. Must not touch: pyruntime's code (it only runs the launcher).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(1, REPO)  # pyruntime.bundle (bundle maker) from the checkout; HERE is [0]

import report
from burst import burst
from cycles import run_cycles
from harness import BenchError, RssMeter, Runtime, quiet
from machine import describe
from report import Row
from scenarios import LATENCY, init_footprint, rss_round, start_sleeper

GROUPS = ("latency", "rss", "footprint", "burst", "cycles")
RSS_VERBS = ("run", "create", "state", "start", "exec", "kill", "delete")
T0 = time.monotonic()


def say(msg: str) -> None:
    """Print to stdout (results)."""
    print(msg, flush=True)


def progress(msg: str) -> None:
    """Progress to stderr, with seconds since start."""
    sys.stderr.write(f"[{time.monotonic() - T0:7.1f}s] {msg}\n")
    sys.stderr.flush()


def default_pyruntime() -> str:
    """The launcher .ci/setup installs (.ci/runtime-path says which), else the one on PATH."""
    import subprocess

    try:
        out = subprocess.run([os.path.join(REPO, ".ci", "runtime-path")], capture_output=True,
                             text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        out = ""
    return out or shutil.which("pyruntime") or "pyruntime"


def default_state_parent() -> str | None:
    """/run when it is a tmpfs (where runtimes keep their state in production), else None
    (the work directory)."""
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 2 and fields[1] == "/run" and fields[2] == "tmpfs":
                    return "/run" if os.access("/run", os.W_OK) else None
    except OSError:
        pass
    return None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Options; --quick shrinks every count for a sanity run."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--quick", action="store_true", help="small counts for a sanity run")
    ap.add_argument("--profile", action="store_true",
                    help="only profile one `pyruntime run` (importtime, cProfile, strace -c)")
    ap.add_argument("--only", default=",".join(GROUPS), help=f"comma list of {', '.join(GROUPS)}")
    ap.add_argument("--rounds", type=int, help="latency rounds (default 30, quick 5)")
    ap.add_argument("--rss-rounds", type=int, help="peak-RSS rounds (default 5, quick 2)")
    ap.add_argument("--burst", type=int, default=100, help="containers started at once (100)")
    ap.add_argument("--burst-rounds", type=int, help="burst rounds (default 3, quick 1)")
    ap.add_argument("--cycles", type=int, help="sequential cycles (default 1000, quick 100)")
    ap.add_argument("--pyruntime", default=default_pyruntime(), help="launcher to test")
    ap.add_argument("--runc", default=shutil.which("runc") or "/usr/sbin/runc")
    ap.add_argument("--out", default=os.path.join(HERE, "results"), help="results directory")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--state-parent", default=default_state_parent(),
                    help="where the runtimes' --root dirs go (default /run when it is a "
                         "tmpfs, as runc's /run/runc and Docker's and containerd's roots are)")
    args = ap.parse_args(argv)
    q = args.quick
    args.rounds = args.rounds or (5 if q else 30)
    args.rss_rounds = args.rss_rounds or (2 if q else 5)
    args.burst_rounds = args.burst_rounds or (1 if q else 3)
    args.cycles = args.cycles if args.cycles is not None else (100 if q else 1000)
    args.groups = [g.strip() for g in args.only.split(",") if g.strip()]
    bad = [g for g in args.groups if g not in GROUPS]
    if bad:
        ap.error(f"unknown group(s) {', '.join(bad)}; choose from {', '.join(GROUPS)}")
    return args


def setup(args: argparse.Namespace, work: str, roots: str) -> list[Runtime]:
    """Both runtimes with their own root (under `roots`), id prefix and bundles (in `work`)."""
    from pyruntime.bundle import make_bundle

    tag = f"pb{os.getpid():x}{secrets.token_hex(2)}"
    runtimes = []
    for name, exe in (("pyruntime", args.pyruntime), ("runc", args.runc)):
        base = os.path.join(work, name)
        rt = Runtime(name=name, exe=exe, root=os.path.join(roots, f"root-{name}"),
                     prefix=f"{tag}{name[0]}")
        rt.bundles["true"] = make_bundle(os.path.join(base, "true"), ["/bin/true"])
        rt.bundles["sleep"] = make_bundle(os.path.join(base, "sleep"), ["sleep", "100000"])
        runtimes.append(rt)
    return runtimes


def sweep(rt: Runtime, keep: tuple[str, ...] = ()) -> None:
    """`delete -f` every container left in rt's root except `keep` (after a failed sample)."""
    try:
        names = os.listdir(rt.root)
    except FileNotFoundError:
        return
    for cid in names:
        if cid not in keep and cid.startswith(rt.prefix):
            quiet(rt, "delete", "-f", cid)


def interleaved(runtimes: list[Runtime], i: int) -> list[Runtime]:
    """Round i's order: the runtimes alternate going first."""
    return runtimes if i % 2 == 0 else runtimes[::-1]


def run_latency(runtimes: list[Runtime], rounds: int) -> list[Row]:
    """The per-call timing scenarios, one warm-up round then `rounds` recorded ones."""
    rows = {name: Row(name, "ms") for name in LATENCY}
    for rt in runtimes:
        start_sleeper(rt, rt.cid("st"))
    try:
        for i in range(-1, rounds):
            for name, fn in LATENCY.items():
                for rt in interleaved(runtimes, i):
                    try:
                        t = fn(rt, i + 1)
                    except BenchError as e:
                        rows[name].errors.setdefault(rt.name, []).append(str(e))
                        sweep(rt, keep=(rt.cid("st"),))
                        continue
                    if i >= 0:  # round -1 warms caches and is not recorded
                        rows[name].samples.setdefault(rt.name, []).append(t * 1000)
            progress(f"latency round {i + 1}/{rounds}")
    finally:
        for rt in runtimes:
            quiet(rt, "delete", "-f", rt.cid("st"))
    return list(rows.values())


def run_rss(runtimes: list[Runtime], rounds: int) -> list[Row]:
    """Peak RSS per verb, measured by a small `time` process around each call."""
    meter = RssMeter()
    rows = {v: Row(f"peak RSS {v}", "KiB") for v in RSS_VERBS}
    if meter.tool is None:
        progress("peak RSS skipped: no GNU time or busybox")
        return []
    progress(f"peak RSS via {meter.tool} (its floor: /bin/true = {meter.floor_kib} KiB)")
    for i in range(rounds):
        for rt in interleaved(runtimes, i):
            try:
                for verb, kib in rss_round(rt, meter, i).items():
                    rows[verb].samples.setdefault(rt.name, []).append(kib)
            except BenchError as e:
                for row in rows.values():
                    row.errors.setdefault(rt.name, []).append(str(e))
                sweep(rt)
        progress(f"rss round {i + 1}/{rounds}")
    return list(rows.values())


def run_footprint(runtimes: list[Runtime], rounds: int) -> list[Row]:
    """RSS and cgroup memory of the init blocked between create and start."""
    rss, pss = Row("init RSS (created)", "KiB"), Row("init PSS (created)", "KiB")
    cg = Row("init cgroup mem (created)", "KiB")
    for i in range(rounds):
        for rt in interleaved(runtimes, i):
            try:
                fp = init_footprint(rt, i)
            except BenchError as e:
                rss.errors.setdefault(rt.name, []).append(str(e))
                sweep(rt)
                continue
            rss.samples.setdefault(rt.name, []).append(fp["init_rss"])
            pss.samples.setdefault(rt.name, []).append(fp["init_pss"])
            cg.samples.setdefault(rt.name, []).append(fp["init_cgroup"])
    return [rss, pss, cg]


def run_burst(runtimes: list[Runtime], n: int, rounds: int) -> list[Row]:
    """n containers at once: time to all-running, time to all-deleted."""
    up, down = Row(f"{n} concurrent run -d", "ms"), Row(f"{n} concurrent delete -f", "ms")
    for i in range(rounds):
        for rt in interleaved(runtimes, i):
            try:
                t_up, t_down = burst(rt, n, i)
            except BenchError as e:
                up.errors.setdefault(rt.name, []).append(str(e))
                sweep(rt)
                continue
            up.samples.setdefault(rt.name, []).append(t_up * 1000)
            down.samples.setdefault(rt.name, []).append(t_down * 1000)
            progress(f"burst {rt.name} round {i + 1}/{rounds}: up {t_up:.2f}s down {t_down:.2f}s")
    return [up, down]


def mounts_under(path: str) -> list[str]:
    """Mount points at or below `path` in our mount namespace."""
    with open("/proc/self/mountinfo") as f:
        return [ln.split()[4] for ln in f if ln.split()[4].startswith(path.rstrip("/") + "/")]


def main(argv: list[str] | None = None) -> int:
    """Run the selected groups, print the tables, write the results."""
    args = parse_args(argv)
    if os.geteuid() != 0:
        sys.stderr.write("bench/run.py: must run as root (it creates real containers)\n")
        return 2
    for exe in (args.pyruntime, args.runc):
        if not os.access(exe, os.X_OK):
            sys.stderr.write(f"bench/run.py: {exe}: not an executable\n")
            return 2
    machine = describe(args.pyruntime, args.runc, os.path.join(REPO, "pyruntime"))
    say("== machine")
    for k, v in machine.items():
        say(f"  {k:<23}{v}")
    work = tempfile.mkdtemp(prefix="pyrt-bench-")
    roots = tempfile.mkdtemp(prefix="pyrt-bench-roots-", dir=args.state_parent) \
        if args.state_parent else work
    machine["state_roots"] = roots
    say(f"  {'state_roots':<23}{roots}")
    runtimes: list[Runtime] = []
    try:
        runtimes = setup(args, work, roots)
        if args.profile:
            from profiling import profile

            profile(runtimes[0], runtimes[1], say)
            return 0
        rows: list[Row] = []
        cycles = None
        if "latency" in args.groups:
            rows += run_latency(runtimes, args.rounds)
        if "rss" in args.groups:
            rows += run_rss(runtimes, args.rss_rounds)
        if "footprint" in args.groups:
            rows += run_footprint(runtimes, max(3, args.rss_rounds))
        if "burst" in args.groups and args.burst > 0:
            rows += run_burst(runtimes, args.burst, args.burst_rounds)
        if "cycles" in args.groups and args.cycles > 0:
            cycles = run_cycles(runtimes, args.cycles, work, progress)
            cyc = Row("cycle (sequential)", "ms")
            for name, res in cycles.items():
                cyc.samples[name] = [t * 1000 for t in res.times]
                cyc.errors[name] = res.errors
            rows.append(cyc)
        machine["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
        options = {k: getattr(args, k) for k in ("quick", "rounds", "rss_rounds", "burst",
                                                 "burst_rounds", "cycles", "groups")}
        say(f"== results (ms or KiB; ratio = pyruntime median / runc median; "
            f"load {machine['loadavg_start']} -> {machine['loadavg_end']})")
        for line in report.table(rows):
            say(line)
        if cycles:
            say(f"== {args.cycles} sequential create/start/delete -f cycles per runtime")
            for line in report.cycle_table(cycles):
                say(line)
        say("== issue 8 targets")
        for line in report.verdicts(rows, cycles):
            say(line)
        js, png = report.write(args.out, machine, options, rows, cycles)
        say(f"== wrote {js} and {png}")
        return 0
    except BenchError as e:
        sys.stderr.write(f"bench/run.py: {e}\n")
        return 1
    finally:
        for rt in runtimes:
            sweep(rt)
        for path in dict.fromkeys((work, roots)):
            left = mounts_under(path)
            if left:  # never rmtree through a mount: it could reach host files
                sys.stderr.write(f"bench/run.py: mounts left under {path}, not removing it: "
                                 f"{left[:5]}\n")
            elif args.keep:
                sys.stderr.write(f"bench/run.py: kept {path}\n")
            else:
                shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

"""`run.py --profile`: where one `pyruntime run /bin/true` spends its time.

Owns: the interpreter floor timings, `-X importtime` of the launcher, a cProfile listing and the
`strace -c -f` syscall summaries, plus the parsers for their text output.
Must not touch: the benchmark scenarios (no ratios are computed here except the wall-time context).
(Not named profile.py: that would shadow the stdlib module cProfile imports.)
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from dataclasses import dataclass

from harness import Runtime, call, median, quiet
from machine import launcher_python

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence


IMPORT_RUNS = 5


@dataclass(frozen=True)
class ImportEntry:
    """One `-X importtime` line."""

    self_us: int
    cum_us: int
    depth: int
    name: str
    chain: str = ""  # importers, innermost first: "signal <- pyruntime.cgroups.fsio"


def parse_importtime(text: str) -> list[ImportEntry]:
    """The entries of `-X importtime` stderr; other lines are ignored."""
    out = []
    for line in text.splitlines():
        if not line.startswith("import time:"):
            continue
        parts = line[len("import time:"):].split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue  # the header line
        name = parts[2].rstrip()
        # one space after '|', then two per nesting level
        indent = len(name) - len(name.lstrip(" ")) - 1
        out.append(ImportEntry(int(parts[0]), int(parts[1]), indent // 2, name.strip()))
    return [ImportEntry(e.self_us, e.cum_us, e.depth, e.name, importers(out, k))
            for k, e in enumerate(out)]


def importers(entries: Sequence[ImportEntry], k: int) -> str:
    """Who imported entries[k]: importtime prints a module after everything it imported, so
    its importer is the next entry that is one level shallower."""
    chain, depth = [], entries[k].depth
    for e in entries[k + 1:]:
        if e.depth < depth:
            chain.append(e.name)
            depth = e.depth
    return " <- ".join(chain)


def group_of(name: str) -> str:
    """Bucket for an imported module: pyruntime, cffi or stdlib/other."""
    root = name.split(".")[0]
    if root == "pyruntime":
        return "pyruntime"
    if root in ("_cffi_backend", "cffi") or root.startswith("_shim") or "_cffi" in root:
        return "cffi"
    return "stdlib/other"


def summarize_imports(entries: Sequence[ImportEntry], top: int = 15) -> list[str]:
    """Lines: total self time, per group, the top top-level imports and the top self times."""
    total = sum(e.self_us for e in entries)
    groups: dict[str, int] = {}
    for e in entries:
        groups[group_of(e.name)] = groups.get(group_of(e.name), 0) + e.self_us
    lines = [f"  {len(entries)} modules imported, {total / 1000:.1f} ms of import work in total"]
    lines += [f"    {g:<14}{us / 1000:>8.1f} ms" for g, us in
              sorted(groups.items(), key=lambda kv: -kv[1])]
    lines.append("  top-level imports by cumulative time:")
    roots = sorted((e for e in entries if e.depth == 0), key=lambda e: -e.cum_us)[:top]
    lines += [f"    {e.cum_us / 1000:>7.2f} ms  {e.name}" for e in roots]
    lines.append("  modules by self time (and who imported them):")
    lines += [f"    {e.self_us / 1000:>7.2f} ms  {e.name}"
              + (f"   (via {e.chain})" if e.chain else "")
              for e in sorted(entries, key=lambda e: -e.self_us)[:top]]
    return lines


def parse_strace_summary(text: str, top: int = 15) -> list[str]:
    """The header, the `top` busiest syscalls and the total line of an `strace -c` table."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    header = [ln for ln in lines if ln.lstrip().startswith(("% time", "------"))][:2]
    rows: list[str] = []
    total: list[str] = []
    for ln in lines:
        fields = ln.split()
        if len(fields) < 5 or not _is_number(fields[0]):
            continue  # headers, rules, and strace's notes about detached threads
        (total if fields[-1] == "total" else rows).append(ln)
    return header + rows[:top] + total


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def merge_runs(runs: Sequence[Sequence[ImportEntry]]) -> list[ImportEntry]:
    """One entry per module (first run's order), with the median self and cumulative times."""
    selfs: dict[str, list[int]] = {}
    cums: dict[str, list[int]] = {}
    first: dict[str, ImportEntry] = {}
    for entries in runs:
        for e in entries:
            first.setdefault(e.name, e)
            selfs.setdefault(e.name, []).append(e.self_us)
            cums.setdefault(e.name, []).append(e.cum_us)
    return [ImportEntry(int(median(selfs[n])), int(median(cums[n])), e.depth, n, e.chain)
            for n, e in first.items()]


def wall_ms(cmd: list[str], n: int = 5) -> float:
    """Median wall ms of `cmd` over n runs (failures included: only the time matters here)."""
    return median([call(cmd, check=False)[0] for _ in range(n)]) * 1000


def importtime_runs(python: str, args: Callable[[], list[str]],
                    say: Callable[[str], None]) -> list[ImportEntry]:
    """`-X importtime` of the launcher IMPORT_RUNS times, merged to per-module medians."""
    runs = []
    for _ in range(IMPORT_RUNS):
        argv = args()
        _, code, err = call([python, "-IS", "-X", "importtime", argv[0], *argv[1:]], check=False)
        if code != 0:
            say(f"  (exited {code}: {err.splitlines()[-1] if err else ''})")
        runs.append(parse_importtime(err))
    return merge_runs(runs)


def profile_state(py: Runtime, runc: Runtime, python: str, say: Callable[[str], None]) -> None:
    """Wall time and imports of `state` (the call closest to the bare interpreter floor)."""
    from scenarios import start_sleeper

    for rt in (py, runc):
        start_sleeper(rt, rt.cid("pst"))
    try:
        say("== `state` of a running container")
        for rt in (py, runc):
            say(f"  {rt.name + ' state':<60}{wall_ms(rt.argv('state', rt.cid('pst'))):>8.1f} ms")
        entries = importtime_runs(python, lambda: [py.exe, *py.argv("state", py.cid("pst"))[1:]],
                                  say)
        for line in summarize_imports(entries, top=8):
            say(line)
    finally:
        for rt in (py, runc):
            quiet(rt, "delete", "-f", rt.cid("pst"))


def profile(py: Runtime, runc: Runtime, say: Callable[[str], None]) -> None:
    """Print the profile of a single `pyruntime run /bin/true` (and runc's for context)."""
    interp = launcher_python(py.exe)
    counter = [0]

    def run_argv(rt: Runtime) -> list[str]:
        counter[0] += 1
        return rt.argv("run", "--bundle", rt.bundles["true"], rt.cid(f"prof{counter[0]}"))

    say("== wall time (median of 5)")
    if interp:
        say(f"  {' '.join(interp[:1] + ['-IS', '-c', 'pass']):<60}"
            f"{wall_ms([interp[0], '-IS', '-c', 'pass']):>8.1f} ms   (interpreter floor)")
    say(f"  {'pyruntime --version':<60}{wall_ms([py.exe, '--version']):>8.1f} ms")
    say(f"  {'pyruntime run /bin/true':<60}"
        f"{median([call(run_argv(py))[0] for _ in range(5)]) * 1000:>8.1f} ms")
    say(f"  {'runc run /bin/true':<60}"
        f"{median([call(run_argv(runc))[0] for _ in range(5)]) * 1000:>8.1f} ms")

    if interp:
        say(f"== python -X importtime of `run` (launcher run as python3 -IS -X importtime; "
            f"per-module median of {IMPORT_RUNS} runs)")
        entries = importtime_runs(interp[0], lambda: [py.exe, *run_argv(py)[1:]], say)
        for line in summarize_imports(entries):
            say(line)
        profile_state(py, runc, interp[0], say)

        say("== cProfile of one `run`, top 20 by cumulative time")
        with tempfile.NamedTemporaryFile(prefix="pyrt-prof-", suffix=".pstats") as out:
            call([interp[0], "-IS", "-m", "cProfile", "-o", out.name, py.exe,
                  *run_argv(py)[1:]], check=False)
            import pstats

            buf = io.StringIO()
            try:
                pstats.Stats(out.name, stream=buf).sort_stats("cumulative").print_stats(20)
            except (OSError, EOFError, ValueError) as e:
                buf.write(f"no profile data: {e}\n")
            for line in buf.getvalue().splitlines():
                if line.strip() and not line.startswith(("   Ordered by", "   List reduced")):
                    say("  " + line.rstrip())

    strace = shutil.which("strace")
    if not strace:
        say("== strace not installed (apt-get install strace) - syscall summary skipped")
        return
    for rt in (py, runc):
        say(f"== strace -c -f of one `{rt.name} run` (busiest syscalls by time)")
        with tempfile.NamedTemporaryFile(prefix="pyrt-strace-") as out:
            call([strace, "-f", "-c", "-o", out.name, *run_argv(rt)], check=False)
            text = out.read().decode(errors="replace")
        for line in parse_strace_summary(text, top=15 if rt is py else 8):
            say("  " + line)
    for k in range(1, counter[0] + 1):  # runs that failed half-way may leave state behind
        for rt in (py, runc):
            if os.path.exists(os.path.join(rt.root, rt.cid(f"prof{k}"))):
                quiet(rt, "delete", "-f", rt.cid(f"prof{k}"))

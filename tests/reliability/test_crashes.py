"""A `create` killed with SIGKILL at any moment never loses track of the container.

The creating process is killed at a sweep of delays from 0 to past the typical create
duration, and at the moments each artefact appears (state dir, state.json, cgroup dir, fifo,
the cloned init, the final state.json). Afterwards `state` must say something sensible
(stopped / created / does not exist, one line, no traceback), and `delete --force` must
remove every trace: state dir, cgroup dirs on every controller, the waiting init, mounts.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.conftest import (
    COUNTS,
    call,
    cgroup_dirs,
    debris,
    ok,
    one_line_error,
    processes_of,
    wait_clean,
)

pytestmark = pytest.mark.root

SWEEP_POINTS = int(os.environ.get("PYRUNTIME_CRASH_POINTS", "40"))
EVENT_REPEATS = int(os.environ.get("PYRUNTIME_CRASH_REPEATS", "3"))


def spawn_create(cli: Any, bundle: Path, cid: str) -> subprocess.Popen[bytes]:
    """Start `pyruntime create` without waiting (stdio to /dev/null: the init inherits it)."""
    return subprocess.Popen([*cli.base, "--root", str(cli.root), "create", "-b", str(bundle),
                             cid], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def typical_create_seconds(cli: Any, bundle: Path) -> float:
    """Median wall time of a few undisturbed creates (each deleted again)."""
    times = []
    for _ in range(3):
        cid = cli.new_id("cal")
        t0 = time.monotonic()
        proc = spawn_create(cli, bundle, cid)
        assert proc.wait(30) == 0
        times.append(time.monotonic() - t0)
        ok(cli, "delete", "--force", cid)
    return statistics.median(times)


def force_cleanup(root: Path, cid: str) -> None:
    """Remove what pyruntime failed to remove, so one leak does not poison later tests."""
    for pid in processes_of([cid], []):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    time.sleep(0.05)
    for d in sorted(cgroup_dirs(cid), key=len, reverse=True):
        try:
            os.rmdir(d)
        except OSError:
            pass
    subprocess.run(["rm", "-rf", str(root / cid)], check=False)


def judge(cli: Any, cid: str, bundle: Path, point: str) -> dict[str, Any]:
    """state is sensible, delete --force works; returns what was left (empty: clean)."""
    proc = call(cli, "state", cid)
    if proc.returncode == 0:
        status = json.loads(proc.stdout)["status"]
        assert status in ("stopped", "created", "creating"), f"{point}: {status}"
    else:
        line = one_line_error(proc, f"state after kill at {point}")
        assert "does not exist" in line or "damaged" in line, f"{point}: {line}"
    proc = call(cli, "delete", "--force", cid, timeout=20)
    assert proc.returncode == 0, f"{point}: delete --force: {proc.stderr!r}"
    assert "Traceback" not in proc.stderr.decode(errors="replace")
    left = wait_clean(cli.root, [cid], [str(bundle)])
    if left:
        force_cleanup(cli.root, cid)
    return left


def phase(root: Path, cid: str, create_pid: int) -> str:
    """How far a (stopped) create got: the last artefact that is visible."""
    if _state_pid(root, cid) > 0:
        return "pid saved"
    if any(p != create_pid for p in processes_of([cid], [])):
        return "init cloned"
    if (root / cid / "exec.fifo").exists():
        return "exec.fifo"
    if cgroup_dirs(cid):
        return "cgroup dir"
    if (root / cid / "state.json").exists():
        return "state.json"
    if (root / cid / ".lock").exists():
        return "state dir"
    if (root / cid).exists():
        # killed between mkdir and creating .lock
        return "empty state dir"
    return "nothing yet"


# Phases in which the cgroup exists but state.json does not yet record it (nor the init).
WINDOW = ("cgroup dir", "exec.fifo", "init cloned")


def stop_and_kill(proc: subprocess.Popen[bytes], root: Path, cid: str) -> str:
    """Freeze create, note how far it got, then SIGKILL it; returns the phase."""
    try:
        proc.send_signal(signal.SIGSTOP)
    except ProcessLookupError:
        pass
    # kill() returns before the target has stopped: wait until /proc shows it stopped
    deadline = time.monotonic() + 2
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with open(f"/proc/{proc.pid}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] in (b"T", b"t"):
                    break
        except OSError:
            break
    if proc.poll() is not None:
        return "finished"
    where = phase(root, cid, proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    return where if proc.returncode == -signal.SIGKILL else "finished"


def kill_after(cli: Any, bundle: Path, cid: str, delay: float) -> str:
    proc = spawn_create(cli, bundle, cid)
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline:
        pass  # busy-wait: sleep() granularity would blur the sweep
    return stop_and_kill(proc, cli.root, cid)


def kill_when(cli: Any, bundle: Path, cid: str, event: Callable[[Path, str, int], bool]) -> str:
    """Kill create as soon as `event` holds; returns the phase ("finished": too late)."""
    proc = spawn_create(cli, bundle, cid)
    deadline = time.monotonic() + 10
    while proc.poll() is None and time.monotonic() < deadline:
        if event(cli.root, cid, proc.pid):
            return stop_and_kill(proc, cli.root, cid)
    proc.wait(30)
    return "finished"


def _state_pid(root: Path, cid: str) -> int:
    try:
        return int(json.loads((root / cid / "state.json").read_bytes()).get("pid") or 0)
    except (OSError, ValueError):
        return 0


EVENTS: dict[str, Callable[[Path, str, int], bool]] = {
    "state dir": lambda root, cid, pid: (root / cid).exists(),
    "state.json": lambda root, cid, pid: (root / cid / "state.json").exists(),
    "cgroup dir": lambda root, cid, pid: bool(cgroup_dirs(cid)),
    "exec.fifo": lambda root, cid, pid: (root / cid / "exec.fifo").exists(),
    "init cloned": lambda root, cid, pid: any(p != pid for p in processes_of([cid], [])),
    "pid saved": lambda root, cid, pid: _state_pid(root, cid) > 0,
}


def summary(leaks: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """{kill point: [kinds of debris]} for a readable failure message."""
    return {k: sorted(v) for k, v in leaks.items()}


def test_create_killed_at_any_point_leaves_nothing_after_delete(
        cli: Any, make_bundle: Any) -> None:
    """SIGKILL at SWEEP_POINTS delays from 0 to 1.3x the typical create time, and the moment
    each artefact appears: every kill point cleans up completely."""
    bundle = make_bundle("sleep", "1000")
    typical = typical_create_seconds(cli, bundle.path)
    # (label, delay or None, event or None)
    points: list[tuple[str, float | None, Callable[[Path, str, int], bool] | None]] = []
    for i in range(SWEEP_POINTS):
        delay = typical * 1.3 * i / max(1, SWEEP_POINTS - 1)
        points.append((f"{delay * 1000:.1f} ms", delay, None))
    for name, event in EVENTS.items():
        points += [(f"{name} #{n}", None, event) for n in range(EVENT_REPEATS)]
    leaks: dict[str, dict[str, Any]] = {}
    phases: dict[str, int] = {}
    for label, at, trigger in points:
        cid = cli.new_id("crash")
        if at is not None:
            where = kill_after(cli, bundle.path, cid, at)
        else:
            assert trigger is not None
            where = kill_when(cli, bundle.path, cid, trigger)
        phases[where] = phases.get(where, 0) + 1
        COUNTS["kill points"] += 1
        left = judge(cli, cid, bundle.path, f"{label} ({where})")
        if left:
            COUNTS["crash leaks"] += 1
            leaks[f"{label} ({where})"] = left
    assert not leaks, f"typical create {typical * 1000:.0f} ms; leaks: {summary(leaks)}"
    assert len([p for p in phases if p not in ("finished", "nothing yet")]) >= 3, phases


def test_create_killed_inside_cgroup_window_leaves_nothing_after_delete(
        cli: Any, make_bundle: Any) -> None:
    """SIGKILL after the cgroup exists and before state.json records the init's pid."""
    bundle = make_bundle("sleep", "1000")
    leaks: dict[str, dict[str, Any]] = {}
    hits = 0
    for name in WINDOW:
        for n in range(EVENT_REPEATS):
            cid = cli.new_id("crash")
            where = kill_when(cli, bundle.path, cid, EVENTS[name])
            hits += where in WINDOW
            COUNTS["kill points"] += 1
            left = judge(cli, cid, bundle.path, f"{name} #{n} ({where})")
            if left:
                COUNTS["crash leaks"] += 1
                leaks[f"{name} #{n} ({where})"] = left
    assert hits, "no kill landed inside the window"
    assert not leaks, summary(leaks)


def test_create_killed_then_same_id_reusable_after_delete(cli: Any, make_bundle: Any) -> None:
    """After a crash and `delete --force`, the id can be created, started and deleted."""
    bundle = make_bundle("sleep", "1000")
    cid = cli.new_id("crash")
    kill_when(cli, bundle.path, cid, EVENTS["state.json"])
    COUNTS["kill points"] += 1
    ok(cli, "delete", "--force", cid)
    ok(cli, "create", "-b", str(bundle.path), cid)
    ok(cli, "start", cid)
    ok(cli, "delete", "--force", cid)
    assert not debris(cli.root, [cid], [str(bundle.path)])

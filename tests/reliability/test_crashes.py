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
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.reliability.conftest import (COUNTS, call, cgroup_dirs, debris, one_line_error, ok,
                                        processes_of, wait_clean)

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


def kill_after(cli: Any, bundle: Path, cid: str, delay: float) -> None:
    proc = spawn_create(cli, bundle, cid)
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline:
        pass  # busy-wait: sleep() granularity would blur the sweep
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)


def kill_when(cli: Any, bundle: Path, cid: str, event: Callable[[Path, str, int], bool]) -> bool:
    """Kill create as soon as `event` holds; False when create finished first."""
    proc = spawn_create(cli, bundle, cid)
    deadline = time.monotonic() + 10
    while proc.poll() is None and time.monotonic() < deadline:
        if event(cli.root, cid, proc.pid):
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
            return True
    proc.wait(30)
    return False


def _state_pid(root: Path, cid: str) -> int:
    try:
        return int(json.loads((root / cid / "state.json").read_bytes()).get("pid") or 0)
    except (OSError, ValueError):
        return 0


EVENTS: dict[str, Callable[[Path, str, int], bool]] = {
    "state dir": lambda root, cid, pid: (root / cid).exists(),
    "state.json": lambda root, cid, pid: (root / cid / "state.json").exists(),
    "cgroup dir": lambda root, cid, pid: os.path.isdir(f"/sys/fs/cgroup/pids/{cid}"),
    "exec.fifo": lambda root, cid, pid: (root / cid / "exec.fifo").exists(),
    "init cloned": lambda root, cid, pid: any(p != pid for p in processes_of([cid], [])),
    "pid saved": lambda root, cid, pid: _state_pid(root, cid) > 0,
}


@pytest.mark.xfail(reason="BUG: create saves state.json with cgroup_path unset before it makes the "
                   "cgroup and clones the init, so a create killed in that window leaves "
                   "cgroup dirs (and a waiting init) that delete --force does not remove",
                   strict=True)
def test_create_killed_at_sweep_of_delays_leaves_nothing_after_delete(
        cli: Any, make_bundle: Any) -> None:
    """SIGKILL at SWEEP_POINTS delays from 0 to 1.3x the typical create time."""
    bundle = make_bundle("sleep", "1000")
    typical = typical_create_seconds(cli, bundle.path)
    leaks: dict[str, dict[str, Any]] = {}
    for i in range(SWEEP_POINTS):
        delay = typical * 1.3 * i / max(1, SWEEP_POINTS - 1)
        cid = cli.new_id("crash")
        kill_after(cli, bundle.path, cid, delay)
        COUNTS["kill points"] += 1
        left = judge(cli, cid, bundle.path, f"{delay * 1000:.1f} ms")
        if left:
            leaks[f"{delay * 1000:.1f} ms"] = left
    COUNTS["crash leaks"] += len(leaks)
    assert not leaks, f"typical create {typical * 1000:.0f} ms; leaks: {leaks}"


@pytest.mark.parametrize("event", sorted(EVENTS))
def test_create_killed_when_artefact_appears_leaves_nothing_after_delete(
        cli: Any, make_bundle: Any, event: str, request: Any) -> None:
    """SIGKILL the moment a given step of create becomes visible."""
    bundle = make_bundle("sleep", "1000")
    leaks: dict[str, Any] = {}
    hits = 0
    for n in range(EVENT_REPEATS):
        cid = cli.new_id("crash")
        hit = kill_when(cli, bundle.path, cid, EVENTS[event])
        hits += hit
        COUNTS["kill points"] += 1
        left = judge(cli, cid, bundle.path, f"{event} #{n}")
        if left:
            leaks[f"{event} #{n}"] = left
    COUNTS["crash leaks"] += len(leaks)
    assert not leaks, leaks
    assert hits, f"create always finished before {event} was seen"


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

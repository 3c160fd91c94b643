"""Soak: many lifecycles and many live containers leak nothing and do not slow down.

- PYRUNTIME_SOAK_CYCLES (default 200; 1000 locally) create/start/kill/delete cycles through
  the CLI: no state dir, cgroup dir, mount, process or zombie left, the init inherits the
  same fds every time, and the median cycle time of the last 10% is at most 1.5x that of
  the first 10%.
- The same cycles through `pyruntime.cli.main.main()` inside one long-lived process: its
  open fds stay constant (a short-lived CLI process hides fd leaks; a daemon using the API
  would not).
- PYRUNTIME_SOAK_ALIVE (default 50; 200 locally) containers running at once, all listed and
  running, then all removed: nothing left.
"""

from __future__ import annotations

import glob
import json
import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import cgroup_dirs_matching
from tests.reliability.conftest import (
    COUNTS,
    call,
    debris,
    mount_lines,
    ok,
    state_of,
    wait_clean,
)

pytestmark = [pytest.mark.root, pytest.mark.slow]

CYCLES = int(os.environ.get("PYRUNTIME_SOAK_CYCLES", "200"))
ALIVE = int(os.environ.get("PYRUNTIME_SOAK_ALIVE", "50"))


def zombies_of(parent: int) -> list[int]:
    """Zombie children of a process."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                rest = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if rest[0] == b"Z" and int(rest[1]) == parent:
            out.append(int(name))
    return out


def all_zombies() -> int:
    """Zombies on the whole host (reported, not asserted: other suites may run)."""
    n = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    n += f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
            except OSError:
                pass
    return n


def snapshot(cli: Any, prefix: str, tmp_path: Path) -> dict[str, int]:
    with open("/proc/self/mountinfo") as f:
        all_mounts = len(f.readlines())
    return {
        "state dirs": len(os.listdir(cli.root)) if cli.root.exists() else 0,
        "cgroups": len(cgroup_dirs_matching(glob.escape(prefix) + "*")),
        "test mounts": len(mount_lines(str(tmp_path))),
        "our zombies": len(zombies_of(os.getpid())),
        "host mounts (info)": all_mounts,
        "host zombies (info)": all_zombies(),
    }


def leaked(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before[k] for k in before
            if "(info)" not in k and after[k] != before[k]}


def init_fds(pid: int, cid: str) -> list[str]:
    """What the init holds open while it waits, normalised (id, inode numbers) so that two
    containers compare equal unless one inherited more."""
    import re

    out = []
    for fd in sorted(os.listdir(f"/proc/{pid}/fd"), key=int):
        target = os.readlink(f"/proc/{pid}/fd/{fd}").replace(cid, "<id>")
        out.append(fd + ":" + re.sub(r"[#\[]\d+\]?", "#", target))
    return out


def delete_when_stopped(cli: Any, cid: str) -> None:
    """`delete` (no force) as a daemon does after kill: retry while the init is dying."""
    for _ in range(200):
        proc = call(cli, "delete", cid)
        if proc.returncode == 0:
            return
        assert b"not stopped" in proc.stderr, proc.stderr
        time.sleep(0.01)
    raise AssertionError(f"{cid} never stopped")


def test_soak_cli_cycles_leak_nothing_and_stay_flat(cli: Any, make_bundle: Any,
                                                    tmp_path: Path) -> None:
    """CYCLES create/start/kill/delete cycles: zero leaks, flat time per cycle."""
    bundle = make_bundle("sleep", "1000")
    prefix = "soak-"
    cli.root.mkdir(parents=True, exist_ok=True)
    before = snapshot(cli, prefix, tmp_path)
    times: list[float] = []
    fd_sets: set[tuple[str, ...]] = set()
    for i in range(CYCLES):
        cid = f"{prefix}{os.getpid()}-{i}"
        cli.ids.append(cid)
        t0 = time.monotonic()
        ok(cli, "create", "-b", str(bundle.path), cid)
        if i % 20 == 0:
            fd_sets.add(tuple(init_fds(state_of(cli, cid)["pid"], cid)))
        ok(cli, "start", cid)
        ok(cli, "kill", cid, "KILL")
        delete_when_stopped(cli, cid)
        times.append(time.monotonic() - t0)
        COUNTS["soak cycles"] += 1
    after = snapshot(cli, prefix, tmp_path)
    left = wait_clean(cli.root, [f"{prefix}{os.getpid()}-{i}" for i in range(0, CYCLES, 7)],
                      [str(bundle.path)])
    tenth = max(1, CYCLES // 10)
    first, last = statistics.median(times[:tenth]), statistics.median(times[-tenth:])
    report = (f"{CYCLES} cycles, median first 10% {first * 1000:.1f} ms, last 10% "
              f"{last * 1000:.1f} ms, total {sum(times):.1f} s; before {before} after {after}")
    print(report)
    COUNTS["soak leaks"] += len(leaked(before, after)) + len(left) + (len(fd_sets) > 1)
    assert not leaked(before, after), report
    assert not left, left
    assert len(fd_sets) == 1, fd_sets
    assert last <= 1.5 * first, report


DRIVER = textwrap.dedent("""
    import os, sys
    from pyruntime.cli.main import main

    root, bundle, cycles, report = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    out = open(report, "w")

    def run(*argv):
        try:
            return main(["--root", root, *argv])
        except SystemExit as e:
            return e.code

    def reap():
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return

    for i in range(cycles):
        cid = f"drv-{os.getpid()}-{i}"
        codes = [run("create", "-b", bundle, cid), run("start", cid), run("state", cid),
                 run("kill", cid, "KILL")]
        for _ in range(500):
            reap()
            if run("delete", cid) == 0:
                break
        else:
            codes.append("delete never succeeded")
        reap()
        fds = len(os.listdir("/proc/self/fd"))
        out.write(f"{i} {fds} {codes}\\n")
        out.flush()
""")


def test_soak_in_process_cycles_keep_fd_count_constant(cli: Any, make_bundle: Any,
                                                       tmp_path: Path) -> None:
    """CYCLES lifecycles through main() in one process: its fd count never grows."""
    bundle = make_bundle("sleep", "1000")
    report = tmp_path / "driver.txt"
    with open(tmp_path / "driver.out", "wb") as out:
        proc = subprocess.run([sys.executable, "-c", DRIVER, str(cli.root), str(bundle.path),
                               str(CYCLES), str(report)], stdin=subprocess.DEVNULL,
                              stdout=out, stderr=subprocess.STDOUT, timeout=60 + CYCLES)
    lines = report.read_text().splitlines()
    assert proc.returncode == 0, (tmp_path / "driver.out").read_text()[-2000:]
    assert len(lines) == CYCLES
    codes = {line.split(" ", 2)[2] for line in lines}
    assert codes == {"[0, 0, 0, 0]"}, codes
    fds = [int(line.split()[1]) for line in lines]
    COUNTS["soak cycles"] += CYCLES
    COUNTS["soak leaks"] += fds[-1] != fds[0]
    print(f"driver fds: first {fds[0]}, last {fds[-1]}, max {max(fds)}")
    assert fds[-1] == fds[0] and max(fds) == fds[0], fds[:5] + fds[-5:]
    assert not [p for p in os.listdir(cli.root) if p.startswith("drv-")]


def test_soak_many_alive_containers_all_tracked_then_nothing_left(cli: Any, make_bundle: Any,
                                                                   tmp_path: Path) -> None:
    """ALIVE running containers at once: each running with its own pid, all listed, then all
    deleted with nothing left."""
    bundle = make_bundle("sleep", "1000")
    prefix = "alive-"
    cli.root.mkdir(parents=True, exist_ok=True)
    before = snapshot(cli, prefix, tmp_path)
    ids = [f"{prefix}{os.getpid()}-{i}" for i in range(ALIVE)]
    cli.ids.extend(ids)
    t0 = time.monotonic()
    for cid in ids:
        ok(cli, "create", "-b", str(bundle.path), cid)
        ok(cli, "start", cid)
    up = time.monotonic() - t0
    listing = json.loads(ok(cli, "list", "--format", "json").stdout)
    mine = {c["id"]: c for c in listing if c["id"].startswith(prefix)}
    assert sorted(mine) == sorted(ids)
    assert {c["status"] for c in mine.values()} == {"running"}
    assert len({c["pid"] for c in mine.values()}) == ALIVE
    t1 = time.monotonic()
    for cid in ids:
        ok(cli, "delete", "--force", cid)
    down = time.monotonic() - t1
    COUNTS["soak alive"] += ALIVE
    after = snapshot(cli, prefix, tmp_path)
    left = wait_clean(cli.root, ids, [str(bundle.path)])
    report = (f"{ALIVE} alive: up {up:.1f} s, down {down:.1f} s; before {before} "
              f"after {after}")
    print(report)
    COUNTS["soak leaks"] += len(leaked(before, after)) + len(left)
    assert not leaked(before, after), report
    assert not left, left
    assert not debris(cli.root, ids)

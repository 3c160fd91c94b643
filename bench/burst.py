"""N containers started at once: wall time until all N are running, then wall time to delete them.

Owns: the concurrent `run -d` burst and its concurrent `delete -f` cleanup.
Must not touch: per-call scenarios (scenarios.py).
"""

from __future__ import annotations

import os
import subprocess
import time

from harness import BenchError, Runtime, quiet
from scenarios import pid_from_file


def spawn_all(cmds: list[list[str]]) -> tuple[float, list[int]]:
    """Start every command at once, wait for all; (wall seconds, exit codes)."""
    start = time.perf_counter()
    procs = [subprocess.Popen(c, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for c in cmds]
    codes = [p.wait() for p in procs]
    return time.perf_counter() - start, codes


def alive(pid: int) -> bool:
    """True if `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def burst(rt: Runtime, n: int, i: int) -> tuple[float, float]:
    """`run -d` n sleepers concurrently, check all run, `delete -f` them concurrently.

    Returns (seconds until all n were running, seconds to delete all n).

    Raises:
        BenchError: a start failed or a container was not running afterwards.
    """
    ids = [rt.cid(f"b{i}x{k}") for k in range(n)]
    piddir = rt.root + ".pids"
    os.makedirs(piddir, exist_ok=True)
    try:
        up, codes = spawn_all([rt.argv("run", "-d", "--bundle", rt.bundles["sleep"], "--pid-file",
                                       os.path.join(piddir, c), c) for c in ids])
        failed = [c for c, code in zip(ids, codes, strict=False) if code != 0]
        if failed:
            raise BenchError(f"{rt.name}: {len(failed)}/{n} concurrent run -d failed")
        dead = [c for c in ids if not alive(pid_from_file(os.path.join(piddir, c)))]
        if dead:
            raise BenchError(f"{rt.name}: {len(dead)}/{n} containers not running after run -d")
        down, codes = spawn_all([rt.argv("delete", "-f", c) for c in ids])
        if any(codes):
            raise BenchError(f"{rt.name}: {sum(1 for c in codes if c)}/{n} delete -f failed")
        return up, down
    finally:
        for c in ids:  # anything the cleanup above missed (no-op when it worked)
            if os.path.exists(os.path.join(rt.root, c)):
                quiet(rt, "delete", "-f", c)

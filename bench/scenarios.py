"""The per-call scenarios: latency of lifecycle calls, peak RSS per call, the waiting init's size.

Owns: what each scenario does and which of its calls are on the clock.
Must not touch: statistics and printing (report.py), process plumbing (harness.py).

Each latency scenario is `fn(rt, round) -> seconds`; only the calls it names are timed, its
setup and cleanup are not. Bundles used: "true" (`/bin/true`) and "sleep" (`sleep 1000`).
Long-lived containers: `rt.cid("st")`, one sleeper per runtime for `state` and `exec`.
"""

from __future__ import annotations

import os
import time

from harness import BenchError, RssMeter, Runtime, quiet, timed

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

PID_WAIT_S = 5.0


def pid_from_file(path: str) -> int:
    """The pid a runtime wrote with --pid-file.

    Raises:
        BenchError: no pid file or garbage in it.
    """
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError) as e:
        raise BenchError(f"pid file {path}: {e}") from e


def wait_gone(pid: int, timeout: float = PID_WAIT_S) -> None:
    """Wait until `pid` is gone or a zombie (its parent, pid 1 by now, reaps it).

    Raises:
        BenchError: still alive after `timeout`.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return
        except FileNotFoundError:
            return
        time.sleep(0.001)
    raise BenchError(f"container init {pid} still alive {timeout}s after SIGKILL")


def start_sleeper(rt: Runtime, cid: str) -> int:
    """`run -d` a sleeper (untimed); returns its init pid.

    Raises:
        BenchError: the runtime failed.
    """
    pidfile = os.path.join(rt.root + ".pids", cid)
    os.makedirs(os.path.dirname(pidfile), exist_ok=True)
    timed(rt, "run", "-d", "--bundle", rt.bundles["sleep"], "--pid-file", pidfile, cid)
    return pid_from_file(pidfile)


def s_run(rt: Runtime, i: int) -> float:
    """`run /bin/true` in the foreground (create + start + wait + delete in one call)."""
    return timed(rt, "run", "--bundle", rt.bundles["true"], rt.cid(f"run{i}"))


def s_cycle(rt: Runtime, i: int) -> float:
    """create -> start -> delete -f of `/bin/true`, the three calls summed."""
    cid = rt.cid(f"csd{i}")
    return (timed(rt, "create", "--bundle", rt.bundles["true"], cid)
            + timed(rt, "start", cid) + timed(rt, "delete", "-f", cid))


def s_state(rt: Runtime, i: int) -> float:
    """`state` of the running sleeper."""
    return timed(rt, "state", rt.cid("st"))


def s_exec(rt: Runtime, i: int) -> float:
    """`exec /bin/true` into the running sleeper, waiting for it."""
    return timed(rt, "exec", rt.cid("st"), "/bin/true")


def s_kill_delete(rt: Runtime, i: int) -> float:
    """`kill KILL` + `delete` of a running sleeper; waiting for the init to die is off the clock."""
    cid = rt.cid(f"kd{i}")
    pid = start_sleeper(rt, cid)
    t = timed(rt, "kill", cid, "KILL")
    wait_gone(pid)
    return t + timed(rt, "delete", cid)


LATENCY: dict[str, Callable[[Runtime, int], float]] = {
    "run": s_run,
    "create-start-delete": s_cycle,
    "state": s_state,
    "exec": s_exec,
    "kill+delete": s_kill_delete,
}


def rss_round(rt: Runtime, meter: RssMeter, i: int) -> dict[str, int]:
    """Peak RSS (KiB) of each verb once: run, create, state, start, exec, kill, delete.

    Every call is a separate runtime process, so the container's init (not the runtime's child
    after `create` returns) never counts.

    Raises:
        BenchError: a call failed.
    """
    out: dict[str, int] = {}
    out["run"] = meter.measure(rt.argv("run", "--bundle", rt.bundles["true"], rt.cid(f"rr{i}")))
    cid = rt.cid(f"rss{i}")
    pidfile = os.path.join(rt.root + ".pids", cid)
    os.makedirs(os.path.dirname(pidfile), exist_ok=True)
    out["create"] = meter.measure(rt.argv("create", "--bundle", rt.bundles["sleep"],
                                          "--pid-file", pidfile, cid))
    try:
        pid = pid_from_file(pidfile)
        out["state"] = meter.measure(rt.argv("state", cid))
        out["start"] = meter.measure(rt.argv("start", cid))
        out["exec"] = meter.measure(rt.argv("exec", cid, "/bin/true"))
        out["kill"] = meter.measure(rt.argv("kill", cid, "KILL"))
        wait_gone(pid)
        out["delete"] = meter.measure(rt.argv("delete", cid))
    finally:
        quiet(rt, "delete", "-f", cid)
    return out


def cgroup_memory_bytes(pid: int) -> int | None:
    """Memory charged to the memory cgroup of `pid` (v1 usage_in_bytes or v2 memory.current)."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    candidates = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            candidates.append(f"/sys/fs/cgroup/memory{path}/memory.usage_in_bytes")
        elif controllers == "":
            candidates += [f"/sys/fs/cgroup{path}/memory.current",
                           f"/sys/fs/cgroup/unified{path}/memory.current"]
    for path in candidates:
        try:
            with open(path) as f:
                return int(f.read())
        except (OSError, ValueError):
            continue
    return None


def proc_kib(path: str, key: str) -> int:
    """The KiB value of line `key:` in a /proc file like status or smaps_rollup (0 if gone)."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def init_footprint(rt: Runtime, i: int) -> dict[str, int]:
    """Size of the init waiting between `create` and `start`: RSS, PSS, cgroup memory (KiB).

    Raises:
        BenchError: create failed or the cgroup could not be read.
    """
    cid = rt.cid(f"fp{i}")
    pidfile = os.path.join(rt.root + ".pids", cid)
    os.makedirs(os.path.dirname(pidfile), exist_ok=True)
    timed(rt, "create", "--bundle", rt.bundles["sleep"], "--pid-file", pidfile, cid)
    try:
        pid = pid_from_file(pidfile)
        charged = cgroup_memory_bytes(pid)
        if charged is None:
            raise BenchError(f"no memory cgroup readable for pid {pid}")
        # RSS counts pages shared with other processes; PSS splits them among the sharers
        return {"init_rss": proc_kib(f"/proc/{pid}/status", "VmRSS"),
                "init_pss": proc_kib(f"/proc/{pid}/smaps_rollup", "Pss"),
                "init_cgroup": charged // 1024}
    finally:
        quiet(rt, "delete", "-f", cid)

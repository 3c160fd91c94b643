"""Helpers for the reliability suite: debris detection, one-line error checks, counters.

Owns: finding everything a container can leave behind (state dir, fifo, cgroup dirs on every
controller, mounts, processes), the "exit 1, one clear line, no traceback" check, the
hypothesis profile of this suite, and the counts the issue asks for (printed at the end).
Must not touch: pyruntime itself (tests drive the installed CLI), other test directories.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tests.conftest import cgroup_dirs

# One profile for the whole suite: no example database in the checkout, reproducible runs in CI,
# no per-example deadline (a create takes ~80 ms, more on a loaded machine).
settings.register_profile(
    "reliability", database=None, deadline=None, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                           HealthCheck.data_too_large, HealthCheck.filter_too_much])
RELIABILITY = settings.get_profile("reliability")

# What the suite tried, reported at the end of the run (the closing counts).
COUNTS: Counter[str] = Counter()


def examples(default: int) -> int:
    """Example count of a property test, scaled by PYRUNTIME_FUZZ_SCALE (a float, default 1)."""
    scale = float(os.environ.get("PYRUNTIME_FUZZ_SCALE", "1"))
    return max(1, int(default * scale))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if COUNTS:
        parts = ", ".join(f"{k}={v}" for k, v in sorted(COUNTS.items()))
        terminalreporter.write_line(f"reliability counts: {parts}")


# ---------------------------------------------------------------- running the CLI

def call(cli: Any, *args: str, input: bytes | None = None, timeout: float = 30,
         glob: tuple[str, ...] = ()) -> subprocess.CompletedProcess[bytes]:
    """Run pyruntime with stdout/stderr in temp files, not pipes.

    A container's init inherits the stdio of `create`; with pipes, waiting for EOF would
    wait for the container.
    """
    import tempfile

    cmd = [*cli.base, "--root", str(cli.root), *glob, *args]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        if input is None:
            stdin: Any = subprocess.DEVNULL
        else:
            stdin = tempfile.TemporaryFile()
            stdin.write(input)
            stdin.seek(0)
        try:
            rc = subprocess.run(cmd, stdin=stdin, stdout=out, stderr=err,
                                timeout=timeout).returncode
        finally:
            if input is not None:
                stdin.close()
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(cmd, rc, out.read(), err.read())


def ok(cli: Any, *args: str, **kw: Any) -> subprocess.CompletedProcess[bytes]:
    """call() that must succeed."""
    proc = call(cli, *args, **kw)
    assert proc.returncode == 0, f"{args}: rc={proc.returncode} {proc.stderr!r}"
    return proc


def state_of(cli: Any, cid: str) -> dict[str, Any]:
    """`state` as a dict (asserting it succeeds)."""
    import json

    proc = call(cli, "state", cid)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


# ---------------------------------------------------------------- output checks

def error_lines(proc: subprocess.CompletedProcess[bytes]) -> list[str]:
    """Non-empty stderr lines, split at newlines as a log reader splits them (str.splitlines
    would also split at \x1c-\x1e, \x85 and \u2028, which an id or flag may contain)."""
    text = proc.stderr.decode(errors="replace").replace("\r\n", "\n")
    return [line for line in text.split("\n") if line.strip()]


def one_line_error(proc: subprocess.CompletedProcess[bytes], what: str = "") -> str:
    """Assert exit 1, exactly one stderr line and no traceback; return the line."""
    err = proc.stderr.decode(errors="replace")
    lines = error_lines(proc)
    context = f"{what}: rc={proc.returncode} stderr={err!r}"
    assert proc.returncode == 1, context
    assert "Traceback" not in err, context
    assert len(lines) == 1, context
    return lines[0]


def no_traceback(proc: subprocess.CompletedProcess[bytes], what: str = "") -> None:
    """Assert the command neither crashed (exit >1 from Python) nor printed a traceback."""
    err = proc.stderr.decode(errors="replace")
    assert "Traceback" not in err, f"{what}: {err!r}"
    assert proc.returncode in (0, 1), f"{what}: rc={proc.returncode} stderr={err!r}"
    if proc.returncode == 1:
        assert len(error_lines(proc)) == 1, f"{what}: {err!r}"


# ---------------------------------------------------------------- debris

def mount_lines(*words: str) -> list[str]:
    """Lines of our mountinfo that mention any of the words (paths under test dirs, ids)."""
    with open("/proc/self/mountinfo") as f:
        return sorted(line for line in f if any(w and w in line for w in words))


def processes_of(ids: Iterable[str], paths: Iterable[str]) -> list[int]:
    """Live (non-zombie) processes with an id as a whole argv word, or rooted under a path.

    Before exec the container's init is a clone of `pyruntime create ... ID`; after pivot_root
    /proc/PID/root points into the bundle's rootfs.
    """
    words = {i.encode() for i in ids if i}
    roots = [p for p in paths if p]
    out = []
    me = os.getpid()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
            if stat[stat.rindex(b")") + 2:][:1] in (b"Z", b"X"):
                continue
            with open(f"/proc/{name}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            hit = bool(words.intersection(argv))
            if not hit and roots:
                root = os.readlink(f"/proc/{name}/root")
                hit = any(root == r or root.startswith(r.rstrip("/") + "/") for r in roots)
        except (OSError, ValueError):
            continue
        if hit:
            out.append(int(name))
    return sorted(out)


def fifos_under(path: str) -> list[str]:
    """Every fifo below a directory (exec.fifo left behind)."""
    import stat

    out = []
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            full = os.path.join(dirpath, f)
            try:
                if stat.S_ISFIFO(os.lstat(full).st_mode):
                    out.append(full)
            except OSError:
                pass
    return out


def debris(root: Path, ids: Iterable[str], paths: Iterable[str] = ()) -> dict[str, list[Any]]:
    """Everything left behind by containers `ids` under state root `root` (empty lists: clean).

    `paths` are test directories (bundles) whose mounts or rooted processes count as debris.
    """
    ids = [i for i in ids if i]
    paths = [str(p) for p in paths]
    # ids that could appear as a path component in mountinfo (no blanks, not . or ..)
    words = [i for i in ids if i not in (".", "..") and not any(c.isspace() for c in i)]
    state = [str(root / i) for i in ids
             if i not in (".", "..") and "/" not in i and os.path.lexists(root / i)]
    found: dict[str, list[Any]] = {
        "state": state,
        "fifo": [f for d in state for f in fifos_under(d)],
        "cgroup": [d for i in ids if i not in (".", "..") and "/" not in i
                   for d in cgroup_dirs(i)],
        "mount": mount_lines(*paths, *[f"/{i}/" for i in words], *[f"/{i} " for i in words]),
        "process": processes_of(ids, [os.path.join(p, "") for p in paths]),
    }
    return {k: v for k, v in found.items() if v}


def wait_clean(root: Path, ids: Iterable[str], paths: Iterable[str] = (),
               timeout: float = 2.0) -> dict[str, list[Any]]:
    """debris(), retried briefly: a killed process can take a moment to leave /proc."""
    ids, paths = list(ids), list(paths)
    deadline = time.monotonic() + timeout
    while True:
        left = debris(root, ids, paths)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.02)


def wait_status(cli: Any, cid: str, want: str, timeout: float = 5.0) -> str:
    """Poll `state` until the status is `want`; return the last status seen."""
    import json

    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        proc = call(cli, "state", cid)
        if proc.returncode == 0:
            status = str(json.loads(proc.stdout)["status"])
            if status == want:
                return status
        else:
            status = "error"
        time.sleep(0.02)
    return status


def alive(pid: int) -> bool:
    """The pid is a live, non-zombie process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(b")") + 2:][:1] not in (b"Z", b"X")


@pytest.fixture
def bystander(cli: Any, make_bundle: Any) -> Any:
    """A created container that bad input aimed at other ids must never touch."""
    cid = cli.new_id("bystander")
    bundle = make_bundle("sleep", "1000")
    assert call(cli, "create", "-b", str(bundle.path), cid).returncode == 0
    state = state_of(cli, cid)
    yield cid, state
    assert state_of(cli, cid)["pid"] == state["pid"]

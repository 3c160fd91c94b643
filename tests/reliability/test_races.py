"""Concurrent commands on one container: one winner, no torn state, no crash, no PID reuse.

- N concurrent `create` with one id: exactly one container (one init, one cgroup).
- kill / delete / state / pause / resume / start fired at once at one container, while a
  reader parses state.json in a loop: every command exits 0 or 1 with one line, state.json
  is always a whole JSON document, and `delete --force` then leaves nothing.
- PID reuse: a container whose init died and whose pid now names another live process is
  `stopped` and that process is never signalled (pyruntime compares /proc/PID/stat start
  times).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.conftest import (
    COUNTS,
    alive,
    call,
    debris,
    no_traceback,
    ok,
    one_line_error,
    processes_of,
    state_of,
    wait_clean,
    wait_status,
)

pytestmark = pytest.mark.root

CREATE_ROUNDS = int(os.environ.get("PYRUNTIME_RACE_ROUNDS", "10"))
CREATE_RACERS = 8
MIX_ROUNDS = 2 * CREATE_ROUNDS


def launch(cli: Any, *args: str) -> tuple[subprocess.Popen[bytes], Any]:
    """Start a pyruntime command now; stderr goes to a temp file (the init may inherit it)."""
    err = tempfile.TemporaryFile()
    proc = subprocess.Popen([*cli.base, "--root", str(cli.root), *args],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    return proc, err


def finish(proc: subprocess.Popen[bytes], err: Any,
           timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
    rc = proc.wait(timeout)
    err.seek(0)
    data = err.read()
    err.close()
    return subprocess.CompletedProcess(proc.args, rc, b"", data)


def test_create_concurrent_same_id_exactly_one_container(cli: Any, make_bundle: Any) -> None:
    """CREATE_RACERS creates of one id at once: one exit 0, the rest one clean line each."""
    bundle = make_bundle("sleep", "1000")
    for _ in range(CREATE_ROUNDS):
        cid = cli.new_id("race")
        racers = [launch(cli, "create", "-b", str(bundle.path), cid)
                  for _ in range(CREATE_RACERS)]
        results = [finish(p, e) for p, e in racers]
        COUNTS["races"] += 1
        winners = [r for r in results if r.returncode == 0]
        assert len(winners) == 1, [(r.returncode, r.stderr) for r in results]
        for r in results:
            if r.returncode != 0:
                line = one_line_error(r, "losing create")
                assert "exists" in line, line
        st = state_of(cli, cid)
        assert st["status"] == "created"
        inits = [p for p in processes_of([cid], []) if p != os.getpid()]
        assert inits == [st["pid"]], (inits, st)
        ok(cli, "delete", "--force", cid)
        assert not wait_clean(cli.root, [cid], [str(bundle.path)])


class StateReader(threading.Thread):
    """Parses state.json as fast as it can; any torn or invalid read is recorded."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.stop = threading.Event()
        self.reads = 0
        self.torn: list[bytes] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                data = self.path.read_bytes()
            except (FileNotFoundError, NotADirectoryError):
                continue
            self.reads += 1
            try:
                doc = json.loads(data)
                assert isinstance(doc, dict) and doc["id"] == self.path.parent.name
            except (ValueError, AssertionError, KeyError):
                self.torn.append(data[:200])


MIX = [("state",), ("kill", "SIGCONT"), ("kill", "KILL"), ("kill", "--all", "SIGCONT"),
       ("pause",), ("resume",), ("delete",), ("delete", "--force"), ("start",), ("ps",),
       ("update", "--pids-limit", "100"), ("events", "--stats")]


def test_verbs_concurrent_on_one_container_never_tear_state_or_crash(
        cli: Any, make_bundle: Any) -> None:
    """A random mix of 12 verbs at once, MIX_ROUNDS times, half on created and half on
    running containers: exit 0/1, one line, state.json never torn, then nothing left."""
    bundle = make_bundle("sleep", "1000")
    rng = random.Random(10)
    torn: list[bytes] = []
    reads = 0
    for n in range(MIX_ROUNDS):
        cid = cli.new_id("mix")
        ok(cli, "create", "-b", str(bundle.path), cid)
        if n % 2:
            ok(cli, "start", cid)
        reader = StateReader(cli.root / cid / "state.json")
        reader.start()
        verbs = [rng.choice(MIX) for _ in range(12)]
        racers = []
        for v in verbs:
            args = ("kill", *v[1:-1], cid, v[-1]) if v[0] == "kill" else (*v, cid)
            racers.append((v, *launch(cli, *args)))
        results = [(v, finish(p, e)) for v, p, e in racers]
        reader.stop.set()
        reader.join()
        COUNTS["races"] += 1
        reads += reader.reads
        torn += reader.torn
        for verb, r in results:
            no_traceback(r, " ".join(verb))
        proc = call(cli, "state", cid)
        if proc.returncode == 0:
            assert json.loads(proc.stdout)["status"] in ("created", "running", "paused",
                                                         "stopped")
        else:
            assert "does not exist" in one_line_error(proc, "state after the race")
        no_traceback(call(cli, "delete", "--force", cid), "final delete --force")
        left = wait_clean(cli.root, [cid], [str(bundle.path)])
        assert not left, (verbs, left)
    assert not torn, torn[:3]
    assert reads > 0


def test_pause_resume_kill_storm_ends_in_consistent_state(cli: Any, make_bundle: Any) -> None:
    """Many pause/resume pairs racing a final kill: the container ends stopped, never stuck
    frozen, and delete (without force) works."""
    bundle = make_bundle("sleep", "1000")
    cid = cli.new_id("storm")
    ok(cli, "create", "-b", str(bundle.path), cid)
    ok(cli, "start", cid)
    racers = [launch(cli, verb, cid) for _ in range(6) for verb in ("pause", "resume")]
    racers.append(launch(cli, "kill", cid, "KILL"))
    for p, e in racers:
        no_traceback(finish(p, e), "storm")
    COUNTS["races"] += 1
    # a SIGKILL to a frozen process is delivered on thaw: resume until it is gone
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = state_of(cli, cid)["status"]
        if status == "stopped":
            break
        if status == "paused":
            call(cli, "resume", cid)
        else:
            call(cli, "kill", cid, "KILL")
        time.sleep(0.05)
    assert state_of(cli, cid)["status"] == "stopped"
    ok(cli, "delete", cid)
    assert not wait_clean(cli.root, [cid], [str(bundle.path)])


# ---------------------------------------------------------------- PID reuse

@pytest.fixture
def stranger() -> Any:
    """A live process of ours that a stale state.json will point at."""
    proc = subprocess.Popen(["sleep", "1000"])
    yield proc
    proc.kill()
    proc.wait()


def reuse_pid(cli: Any, make_bundle: Any, stranger: Any, started: bool) -> str:
    """A container whose init died and whose recorded pid now names `stranger`."""
    bundle = make_bundle("sleep", "1000")
    cid = cli.new_id("reuse")
    ok(cli, "create", "-b", str(bundle.path), cid)
    if started:
        ok(cli, "start", cid)
    ok(cli, "kill", cid, "KILL")
    assert wait_status(cli, cid, "stopped") == "stopped"
    path = cli.root / cid / "state.json"
    doc = json.loads(path.read_bytes())
    doc["pid"] = stranger.pid  # keep pyruntime.start_time: the dead init's
    path.write_text(json.dumps(doc))
    return str(cid)


@pytest.mark.parametrize("started", [False, True], ids=["created", "running"])
def test_state_reused_pid_reports_stopped_and_never_signals(cli: Any, make_bundle: Any,
                                                             stranger: Any,
                                                             started: bool) -> None:
    """Every verb treats the container as stopped; the stranger survives all of them."""
    cid = reuse_pid(cli, make_bundle, stranger, started)
    COUNTS["races"] += 1
    assert state_of(cli, cid)["status"] == "stopped"
    assert state_of(cli, cid)["pid"] == 0
    for verb in (("kill", cid, "KILL"), ("kill", cid, "TERM"), ("pause", cid), ("start", cid),
                 ("update", "--pids-limit", "5", cid), ("ps", cid)):
        one_line_error(call(cli, *verb), " ".join(verb))
        assert alive(stranger.pid), verb
    no_traceback(call(cli, "kill", "--all", cid, "KILL"), "kill --all")
    list_out = call(cli, "list", "--format", "json")
    assert list_out.returncode == 0
    assert [c["status"] for c in json.loads(list_out.stdout or b"[]") if c["id"] == cid] == [
        "stopped"]
    ok(cli, "delete", cid)
    assert alive(stranger.pid)
    ok(cli, "delete", "--force", cid)
    assert alive(stranger.pid)
    assert not debris(cli.root, [cid])


def test_delete_force_reused_pid_never_signals(cli: Any, make_bundle: Any,
                                               stranger: Any) -> None:
    """`delete --force` straight away (the path a daemon takes) spares the stranger."""
    cid = reuse_pid(cli, make_bundle, stranger, True)
    COUNTS["races"] += 1
    ok(cli, "delete", "--force", cid)
    time.sleep(0.05)
    assert alive(stranger.pid)
    assert stranger.poll() is None
    assert not debris(cli.root, [cid])


def test_state_reused_pid_with_matching_start_time_is_the_same_process(
        cli: Any, make_bundle: Any) -> None:
    """Control for the test above: with the real start time kept, the live init is found
    (so `stopped` there really comes from the start-time check)."""
    bundle = make_bundle("sleep", "1000")
    cid = cli.new_id("reuse")
    ok(cli, "create", "-b", str(bundle.path), cid)
    path = cli.root / cid / "state.json"
    doc = json.loads(path.read_bytes())
    path.write_text(json.dumps(doc))
    assert state_of(cli, cid)["status"] == "created"
    doc["pyruntime"]["start_time"] = int(doc["pyruntime"]["start_time"]) + 1
    path.write_text(json.dumps(doc))
    assert state_of(cli, cid)["status"] == "stopped"
    pid = doc["pid"]
    one_line_error(call(cli, "kill", cid, "KILL"), "kill with a wrong start time")
    assert alive(pid)
    os.kill(pid, signal.SIGKILL)
    ok(cli, "delete", "--force", cid)
    assert not wait_clean(cli.root, [cid], [str(bundle.path)])

"""A damaged state directory gives clear one-line errors, and `delete --force` still cleans up.

Damage done to a live, created container: truncated or garbage state.json, state.json from
another container, a missing or replaced exec.fifo, a removed, held or replaced lock file,
and leftovers of a crashed create (a dir with only the lock, a stray temp file).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.conftest import (
    COUNTS,
    alive,
    call,
    cgroup_dirs,
    no_traceback,
    ok,
    one_line_error,
    processes_of,
    state_of,
    wait_clean,
)

pytestmark = pytest.mark.root


class Victim:
    """A created container (init waiting on exec.fifo) about to have its state damaged."""

    def __init__(self, cli: Any, bundle: Any, cid: str) -> None:
        self.cli = cli
        self.bundle = bundle
        self.cid = cid
        ok(cli, "create", "-b", str(bundle.path), cid)
        self.state = state_of(cli, cid)
        self.pid: int = self.state["pid"]
        self.dir: Path = cli.root / cid
        self.json = self.dir / "state.json"
        self.raw = self.json.read_bytes()

    def leftovers(self) -> dict[str, list[Any]]:
        return wait_clean(self.cli.root, [self.cid], [str(self.bundle.path)])

    def reap(self) -> None:
        """Remove by hand whatever pyruntime left (so a known bug does not spread)."""
        for pid in processes_of([self.cid], [str(self.bundle.rootfs) + "/"]):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
        for d in sorted(cgroup_dirs(self.cid), key=len, reverse=True):
            try:
                os.rmdir(d)
            except OSError:
                pass
        subprocess.run(["rm", "-rf", str(self.dir)], check=False)


@pytest.fixture
def victim(cli: Any, make_bundle: Any) -> Any:
    v = Victim(cli, make_bundle("sleep", "1000"), cli.new_id("dmg"))
    yield v
    v.reap()


def truncations(raw: bytes) -> list[bytes]:
    return [b"", raw[:1], raw[: len(raw) // 3], raw[: len(raw) // 2], raw[:-1]]


GARBAGE: dict[str, Callable[[bytes], bytes]] = {
    "nul bytes": lambda raw: b"\0" * 300,
    "not json": lambda raw: b"this is not json",
    "binary": lambda raw: bytes(range(256)),
    "array": lambda raw: b"[]",
    "null": lambda raw: b"null",
    "number": lambda raw: b"42",
    "no id": lambda raw: json.dumps({k: v for k, v in json.loads(raw).items()
                                     if k != "id"}).encode(),
    "pid is text": lambda raw: json.dumps({**json.loads(raw), "pid": "abc"}).encode(),
    "pid is list": lambda raw: json.dumps({**json.loads(raw), "pid": [1]}).encode(),
    "ext is list": lambda raw: json.dumps({**json.loads(raw), "pyruntime": [1]}).encode(),
    "start_time text": lambda raw: json.dumps(
        {**json.loads(raw), "pyruntime": {**json.loads(raw)["pyruntime"],
                                          "start_time": "x"}}).encode(),
    "cgroup_paths list": lambda raw: json.dumps(
        {**json.loads(raw), "pyruntime": {**json.loads(raw)["pyruntime"],
                                          "cgroup_paths": ["x"]}}).encode(),
    "invalid utf-8": lambda raw: raw.replace(b'"ociVersion"', b'"\xff\xfe"'),
    "huge": lambda raw: b'{"id": "' + b"x" * 5_000_000 + b'"}',
}
DEEP = b"[" * 100_000 + b"]" * 100_000


# Damage to one field only: pyruntime may still read the rest (e.g. a bad start time makes
# the container `stopped`), so these need not make `state` fail.
FIELD_DAMAGE = {"pid is text", "pid is list", "ext is list", "start_time text",
                "cgroup_paths list"}


def damaged_inputs(raw: bytes) -> list[tuple[str, bytes]]:
    cases = [(f"truncated to {len(t)}", t) for t in truncations(raw)]
    return cases + [(name, make(raw)) for name, make in GARBAGE.items()]


def check_damaged_commands(cli: Any, cid: str, label: str) -> None:
    """Every verb: exit 0/1, one line, no traceback; an unreadable file makes state,
    kill, start and delete fail."""
    for verb in (("state", cid), ("kill", cid, "KILL"), ("start", cid), ("delete", cid),
                 ("pause", cid), ("ps", cid), ("list",), ("kill", "--all", cid, "KILL")):
        proc = call(cli, *verb, timeout=20)
        COUNTS["state damage"] += 1
        if label in FIELD_DAMAGE or verb[0] in ("pause", "ps", "list") or "--all" in verb:
            no_traceback(proc, f"{label}: {' '.join(verb)}")
        else:
            one_line_error(proc, f"{label}: {' '.join(verb)}")


def test_state_damaged_json_gives_one_line_and_delete_force_removes_dir(
        cli: Any, make_bundle: Any) -> None:
    """Truncated or garbage state.json: one line from every verb, `delete --force` exit 0 and
    the state dir is gone."""
    bundle = make_bundle("sleep", "1000")
    problems = []
    probe = Victim(cli, bundle, cli.new_id("dmg"))
    cases = damaged_inputs(probe.raw)
    probe.reap()
    for label, data in cases:
        v = Victim(cli, bundle, cli.new_id("dmg"))
        try:
            v.json.write_bytes(data)
            check_damaged_commands(cli, v.cid, label)
            proc = call(cli, "delete", "--force", v.cid)
            no_traceback(proc, f"{label}: delete --force")
            if proc.returncode != 0 or v.dir.exists():
                problems.append((label, proc.returncode, proc.stderr))
        finally:
            v.reap()
    assert not problems, problems


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_delete_force_damaged_json_kills_init_and_removes_cgroups(
        cli: Any, victim: Victim, damage: str) -> None:
    """With state.json unreadable, `delete --force` must still find the init and cgroups."""
    victim.json.write_bytes(victim.raw[: len(victim.raw) // 2] if damage == "truncated"
                            else b"\0garbage")
    COUNTS["state damage"] += 1
    ok(cli, "delete", "--force", victim.cid)
    assert not victim.leftovers()


def test_delete_force_deeply_nested_state_json_removes_dir(cli: Any, victim: Victim) -> None:
    """[[[[...]]]] 100000 deep: one line from state, and delete --force still works."""
    victim.json.write_bytes(DEEP)
    COUNTS["state damage"] += 1
    one_line_error(call(cli, "state", victim.cid), "state")
    ok(cli, "delete", "--force", victim.cid)
    assert not victim.dir.exists()


def test_delete_force_foreign_state_json_spares_other_container(
        cli: Any, make_bundle: Any, victim: Victim) -> None:
    """state.json copied from container B into A's dir: deleting A never touches B."""
    other = Victim(cli, make_bundle("sleep", "1000"), cli.new_id("other"))
    try:
        victim.json.write_bytes(other.raw)
        COUNTS["state damage"] += 1
        no_traceback(call(cli, "delete", "--force", victim.cid), "delete --force")
        assert alive(other.pid)
        assert cgroup_dirs(other.cid)
        assert state_of(cli, other.cid)["status"] == "created"
    finally:
        other.reap()


def test_state_missing_fifo_is_sensible_and_delete_force_cleans(cli: Any,
                                                                victim: Victim) -> None:
    """exec.fifo removed behind pyruntime's back: state answers, start fails cleanly or
    starts, and `delete --force` removes everything."""
    (victim.dir / "exec.fifo").unlink()
    COUNTS["state damage"] += 1
    assert state_of(cli, victim.cid)["status"] in ("created", "running", "stopped")
    no_traceback(call(cli, "start", victim.cid, timeout=10), "start")
    no_traceback(call(cli, "kill", victim.cid, "TERM"), "kill")
    ok(cli, "delete", "--force", victim.cid)
    assert not victim.leftovers()


def test_start_fifo_replaced_by_file_does_not_hang(cli: Any, victim: Victim) -> None:
    """exec.fifo replaced by a regular file: start returns (0 or one line), delete cleans."""
    fifo = victim.dir / "exec.fifo"
    fifo.unlink()
    fifo.write_bytes(b"")
    COUNTS["state damage"] += 1
    no_traceback(call(cli, "start", victim.cid, timeout=10), "start")
    ok(cli, "delete", "--force", victim.cid)
    assert not victim.leftovers()


def test_lock_file_removed_commands_still_work(cli: Any, victim: Victim) -> None:
    """A state dir without .lock (another tool, or a careless cleanup) is still usable."""
    (victim.dir / ".lock").unlink()
    COUNTS["state damage"] += 1
    assert state_of(cli, victim.cid)["status"] == "created"
    ok(cli, "start", victim.cid)
    ok(cli, "kill", victim.cid, "KILL")
    ok(cli, "delete", "--force", victim.cid)
    assert not victim.leftovers()


def hold_lock(path: Path) -> subprocess.Popen[bytes]:
    """A separate process that takes the flock and sleeps (a hung pyruntime command)."""
    code = ("import fcntl, os, sys, time\n"
            f"fd = os.open({str(path)!r}, os.O_RDWR)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "sys.stdout.write('locked\\n'); sys.stdout.flush()\n"
            "time.sleep(1000)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"locked\n"
    return proc


def test_lock_held_by_killed_process_is_released(cli: Any, victim: Victim) -> None:
    """A command SIGKILLed while holding the lock (the 'stale lock'): the next one proceeds."""
    holder = hold_lock(victim.dir / ".lock")
    waiter = subprocess.Popen([*cli.base, "--root", str(cli.root), "delete", "--force",
                               victim.cid], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.3)
    assert waiter.poll() is None, "delete did not wait for the lock"
    # state does not take the lock: it answers while a command is stuck
    assert state_of(cli, victim.cid)["status"] == "created"
    holder.kill()
    holder.wait()
    COUNTS["state damage"] += 1
    assert waiter.wait(10) == 0, waiter.stderr.read() if waiter.stderr else b""
    assert not victim.leftovers()


def test_lock_file_replaced_by_directory_delete_force_cleans(cli: Any,
                                                            victim: Victim) -> None:
    """.lock turned into a directory: one-line errors, and `delete --force` still cleans."""
    lock = victim.dir / ".lock"
    lock.unlink()
    lock.mkdir()
    COUNTS["state damage"] += 1
    no_traceback(call(cli, "state", victim.cid), "state")
    one_line_error(call(cli, "delete", victim.cid), "delete")
    ok(cli, "delete", "--force", victim.cid)
    assert not victim.leftovers()


def test_state_dir_with_only_lock_is_absent_and_delete_force_removes_it(cli: Any) -> None:
    """What a create killed right after mkdir leaves: `state` says it does not exist, list
    skips it, and `delete --force` removes the directory."""
    cid = cli.new_id("dmg")
    (cli.root / cid).mkdir(parents=True)
    (cli.root / cid / ".lock").write_bytes(b"")
    (cli.root / cid / ".state.json.tmp").write_bytes(b'{"id": "half')
    COUNTS["state damage"] += 1
    assert "does not exist" in one_line_error(call(cli, "state", cid))
    listing = ok(cli, "list", "--format", "json").stdout
    assert cid not in listing.decode()
    ok(cli, "delete", "--force", cid)
    assert not (cli.root / cid).exists()


def test_delete_force_empty_state_dir_removes_it(cli: Any, make_bundle: Any) -> None:
    """What a create killed right after mkdir leaves: delete --force removes it, and the id
    can be used again."""
    cid = cli.new_id("dmg")
    (cli.root / cid).mkdir(parents=True)
    COUNTS["state damage"] += 1
    assert "does not exist" in one_line_error(call(cli, "state", cid))
    ok(cli, "delete", "--force", cid)
    assert not (cli.root / cid).exists()
    bundle = make_bundle("true")
    ok(cli, "create", "-b", str(bundle.path), cid)
    ok(cli, "delete", "--force", cid)


def test_state_json_symlink_elsewhere_is_never_followed_for_writes(cli: Any, victim: Victim,
                                                                   tmp_path: Path) -> None:
    """state.json replaced by a symlink to a file outside the root: errors are one line and
    delete --force removes the link, not its target."""
    target = tmp_path / "precious.json"
    target.write_bytes(b"precious")
    victim.json.unlink()
    victim.json.symlink_to(target)
    COUNTS["state damage"] += 1
    one_line_error(call(cli, "state", victim.cid), "state")
    no_traceback(call(cli, "delete", "--force", victim.cid), "delete --force")
    assert target.read_bytes() == b"precious"
    assert not victim.dir.exists()

"""Shared tools of the advisory regression tests: host snapshots, a view of the container's
mount namespace before pivot_root, a symlink-exchange racer, a runtime running on a private
copy of the interpreter, and a console-socket receiver.

Everything these helpers touch lives under the test's tmp dir; mounts a test makes on the
host are unmounted at teardown. The bundle fixtures (`make_bundle`, `cli`) come from
tests/conftest.py.
"""

from __future__ import annotations

import array
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli, run_out

MOUNTINFO = "/proc/self/mountinfo"


# ---------------------------------------------------------------------------- host snapshots


def mount_points(text: str) -> list[str]:
    """Mount points (field 5) of a mountinfo text, in order."""
    out = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) > 4:
            out.append(fields[4].replace("\\040", " "))
    return out


def host_mount_points() -> list[str]:
    with open(MOUNTINFO) as f:
        return mount_points(f.read())


def tree_digest(path: Path) -> dict[str, str]:
    """{relative path: kind+content digest} of everything under path (symlinks not followed)."""
    out: dict[str, str] = {}
    if not os.path.lexists(path):
        return out
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, path)
            if os.path.islink(full):
                out[rel] = "link:" + os.readlink(full)
            elif os.path.isdir(full):
                out[rel] = "dir"
            else:
                with open(full, "rb") as f:
                    out[rel] = "file:" + hashlib.sha256(f.read()).hexdigest()
    return out


def file_digest(path: str | Path) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class HostGuard:
    """Snapshots of host state a test must not change: the mount table and some trees."""

    def __init__(self, *trees: Path) -> None:
        self.trees = list(trees)
        self.mounts = host_mount_points()
        self.digests = {t: tree_digest(t) for t in self.trees}

    def assert_untouched(self) -> None:
        assert host_mount_points() == self.mounts, "the host mount table changed"
        for tree, before in self.digests.items():
            assert tree_digest(tree) == before, f"{tree} changed on the host"


def make_fake_proc(path: Path) -> Path:
    """A directory dressed up as procfs: the files a runtime writes to."""
    for rel, text in [("self/attr/exec", ""), ("self/attr/current", "unconfined\n"),
                      ("self/attr/apparmor/exec", ""), ("thread-self/attr/exec", ""),
                      ("self/oom_score_adj", "0\n"), ("sys/net/ipv4/ip_forward", "0\n"),
                      ("sys/kernel/domainname", "(none)\n")]:
        f = path / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    return path


# ---------------------------------------------------------------------------- mounts before pivot


def add_premount_probe(bundle: Any, out: Path) -> None:
    """A createContainer hook (runs in the container's mount namespace, before pivot_root)
    that saves that namespace's mountinfo: every mount the runtime made, wherever it landed."""
    hooks = bundle.config.setdefault("hooks", {})
    hooks.setdefault("createContainer", []).append(
        {"path": "/bin/sh", "args": ["sh", "-c", f"cat /proc/self/mountinfo > {out}"]})
    bundle.write()


def mounts_outside_rootfs(premount: str, rootfs: Path, host_points: list[str]) -> list[str]:
    """Mount points of the pre-pivot namespace that are neither the host's nor in the rootfs."""
    root = os.path.realpath(rootfs)
    known = set(host_points)
    return [p for p in mount_points(premount)
            if p not in known and p != root and not p.startswith(root + "/")]


class Probed:
    """The outcome of one `run` with the pre-pivot probe."""

    def __init__(self, proc: subprocess.CompletedProcess[bytes], outside: list[str]) -> None:
        self.proc = proc
        self.outside = outside

    @property
    def ok(self) -> bool:
        return self.proc.returncode == 0

    @property
    def out(self) -> str:
        return str(self.proc.stdout.decode())

    def assert_refused_cleanly(self) -> None:
        err = self.proc.stderr.decode().strip()
        assert self.proc.returncode != 0 and "Traceback" not in err, err
        assert len(err.splitlines()) == 1, err


def run_probed(cli: Any, bundle: Any, probe: Path) -> Probed:
    """`run` the bundle with the pre-pivot mountinfo probe; report where mounts landed."""
    if probe.exists():
        probe.unlink()
    if not any(h.get("args", [""])[-1].endswith(f"> {probe}")
               for h in bundle.config.get("hooks", {}).get("createContainer", [])):
        add_premount_probe(bundle, probe)
    host_points = host_mount_points()
    proc = cli("run", "-b", str(bundle.path), cli.new_id())
    outside: list[str] = []
    if probe.exists():
        root = bundle.config["root"]["path"]
        rootfs = Path(root) if os.path.isabs(root) else bundle.path / root
        outside = mounts_outside_rootfs(probe.read_text(), rootfs, host_points)
    elif proc.returncode == 0:
        raise AssertionError("the createContainer probe did not run")
    return Probed(proc, outside)


# ---------------------------------------------------------------------------- races


EXCHANGER = r"""
import ctypes, signal, sys, time
libc = ctypes.CDLL(None, use_errno=True)
a, b, limit = sys.argv[1].encode(), sys.argv[2].encode(), float(sys.argv[3])
AT_FDCWD, RENAME_EXCHANGE = -100, 2
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
end = time.monotonic() + limit
n = 0
while not stop and time.monotonic() < end:
    for _ in range(100):
        if libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) == 0:
            n += 1
print(n, flush=True)
"""


class Exchanger:
    """A helper process that swaps two names (renameat2 RENAME_EXCHANGE) in a tight loop,
    standing in for a container process attacking a shared volume."""

    def __init__(self, a: Path, b: Path, limit: float) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", EXCHANGER, str(a), str(b),
                                      str(limit)], stdout=subprocess.PIPE)

    def stop(self) -> int:
        """Stop swapping; returns how many swaps were made."""
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=10)
        return int(out.decode().strip() or 0)


@pytest.fixture
def exchanger() -> Iterator[Callable[[Path, Path, float], Exchanger]]:
    made: list[Exchanger] = []

    def start(a: Path, b: Path, limit: float = 15.0) -> Exchanger:
        ex = Exchanger(a, b, limit)
        made.append(ex)
        return ex

    yield start
    for ex in made:
        if ex.proc.poll() is None:
            ex.proc.kill()
            ex.proc.wait()


def drive(attempt: Callable[[], None], seconds: float = 8.0, max_rounds: int = 400) -> int:
    """Call attempt() repeatedly for a bounded time; returns the number of rounds."""
    end = time.monotonic() + seconds
    rounds = 0
    while time.monotonic() < end and rounds < max_rounds:
        attempt()
        rounds += 1
    return rounds



def race_runs(cli: Any, bundle: Any, premount: Path, ex: Exchanger,
              guard: HostGuard) -> tuple[int, int, dict[str, int]]:
    """Run `bundle` again and again while `ex` swaps names under it: every run must stay
    inside the rootfs, and either succeed or be refused cleanly. Then stop the swapping and
    check the host. Returns (rounds, swaps, {"ok": n, "refused": n})."""
    outcomes = {"ok": 0, "refused": 0}

    def attempt() -> None:
        res = run_probed(cli, bundle, premount)
        assert res.outside == [], res.outside
        if res.ok:
            outcomes["ok"] += 1
        else:
            res.assert_refused_cleanly()
            outcomes["refused"] += 1

    rounds = drive(attempt, seconds=8)
    swaps = ex.stop()
    print(f"rounds={rounds} swaps={swaps} {outcomes}")
    guard.assert_untouched()
    return rounds, swaps, outcomes

# ---------------------------------------------------------------------------- host mounts


@pytest.fixture
def host_mounts() -> Iterator[list[Path]]:
    """Mount points a test makes on the host; lazily unmounted at teardown."""
    made: list[Path] = []
    yield made
    for path in reversed(made):
        subprocess.run(["umount", "-R", "-l", str(path)], capture_output=True)


# ---------------------------------------------------------------------------- interpreter copy


class CopyCli(Cli):
    """A Cli whose runtime runs on a private copy of the interpreter binary, so that
    /proc/PID/exe of every runtime process the container can see is that copy, never the
    host's python (an attack that works would damage only the copy)."""

    def __init__(self, root: Path, python: Path) -> None:
        super().__init__(root)
        self.python = python
        self.base = [str(python), "-m", "pyruntime"]
        # the same installed package as `cli`; only the interpreter binary differs
        self.env = dict(os.environ, PYTHONHOME=sys.base_prefix)

    def __call__(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[bytes]:
        kw.setdefault("env", self.env)
        return super().__call__(*args, **kw)


@pytest.fixture
def copy_cli(tmp_path: Path) -> Iterator[CopyCli]:
    real = os.path.realpath(sys.executable)
    copy = tmp_path / "python-copy"
    shutil.copy2(real, copy)
    assert os.stat(copy).st_ino != os.stat(real).st_ino
    c = CopyCli(tmp_path / "state-copy", copy)
    yield c
    c.cleanup()


# ---------------------------------------------------------------------------- console


class ConsoleSocket:
    """A --console-socket listener: accepts one connection, takes the pty master and
    collects what the container writes to its terminal."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="pyrt-con-")
        self.path = os.path.join(self.dir, "sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(1)
        self.output = bytearray()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(30)
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            fds = array.array("i")
            _, anc, _, _ = conn.recvmsg(64, socket.CMSG_SPACE(fds.itemsize))
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(data[:fds.itemsize])
        if not fds:
            return
        master = fds[0]
        try:
            while True:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break  # EIO: every slave end is closed
                if not chunk:
                    break
                self.output += chunk
        finally:
            os.close(master)

    def text(self, timeout: float = 10) -> str:
        self.thread.join(timeout)
        return self.output.decode(errors="replace").replace("\r\n", "\n")

    def close(self) -> None:
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def console_socket() -> Iterator[ConsoleSocket]:
    con = ConsoleSocket()
    yield con
    con.close()


def detached(cli: Any, *args: str, timeout: float = 30, check: bool = True) -> tuple[int, str]:
    """Run a runtime command whose container keeps running (`run -d`, `create`, `exec -d`):
    its stdio goes to /dev/null and a log file, never to pipes we would wait on.
    Returns (exit code, stderr); with check, the command must succeed."""
    log = tempfile.TemporaryFile()
    with log:
        proc = subprocess.run([*cli.base, "--root", str(cli.root), *args],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                              timeout=timeout, env=getattr(cli, "env", None))
        log.seek(0)
        err = log.read().decode(errors="replace")
    if check:
        assert proc.returncode == 0, (args, err)
    return proc.returncode, err


CAP_SETS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")


def cap_status(text: str) -> dict[str, int]:
    """The five capability masks of a /proc/PID/status text."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in CAP_SETS:
            out[key] = int(value.strip(), 16)
    assert set(out) == set(CAP_SETS), text
    return out


run_ok = run_out  # stdout of a `run` that must succeed (shared with the integration tests)


def one_line_error(proc: subprocess.CompletedProcess[bytes]) -> str:
    """The single error line of a failed runtime call (no traceback)."""
    assert proc.returncode != 0, proc.stdout
    text = proc.stderr.decode().strip()
    assert "Traceback" not in text, text
    assert len(text.splitlines()) == 1, text
    return text

"""Shared fixtures: busybox bundles, a private state root, and a CLI runner.

Integration tests run the real `pyruntime` command (the installed one, or the checkout's
module when PYRUNTIME is unset and nothing is installed) against real busybox containers.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

REPO = Path(__file__).resolve().parent.parent

# The same generated examples on every run: CI must never meet a new, pathological one (a
# libseccomp rule set that takes minutes to compile was found that way).
settings.register_profile("pyruntime", derandomize=True, deadline=None)
settings.load_profile("pyruntime")


def one_line_error(proc: subprocess.CompletedProcess[bytes]) -> str:
    """The single stderr line of a command that failed with exit 1 (and no traceback)."""
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    text = proc.stderr.decode().strip()
    assert "Traceback" not in text
    assert len(text.splitlines()) == 1, text
    return text

def processes_with_arg(word: str) -> list[int]:
    """Pids of the processes with `word` as one of their arguments."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    if word.encode() in f.read().split(b"\0"):
                        out.append(int(name))
            except OSError:
                pass
    return out


def v1_cgroups(pid: int | str) -> dict[str, str]:
    """{v1 hierarchy (its controllers, as mounted): cgroup path} of /proc/PID/cgroup; read
    here, not with pyruntime's own parser, so that tests check it independently."""
    with open(f"/proc/{pid}/cgroup") as f:
        rows = (line.rstrip("\n").split(":", 2) for line in f)
        return {ctrls: path for _, ctrls, path in rows if ctrls and not ctrls.startswith("name=")}


def cgroup_dirs_matching(pattern: str) -> list[str]:
    """The cgroup directories matching a glob pattern, sorted, at /sys/fs/cgroup or up to
    five levels below it (a container without cgroupsPath gets one under the caller's own
    cgroup, as with runc)."""
    return sorted(d for depth in range(6)
                  for d in glob.glob("/sys/fs/cgroup/" + "*/" * depth + pattern))


def cgroup_dirs(name: str) -> list[str]:
    """The cgroup directories called `name` (see cgroup_dirs_matching)."""
    return cgroup_dirs_matching(glob.escape(name))

def run_bundle(cli: Any, bundle: Any, *flags: str) -> subprocess.CompletedProcess[bytes]:
    """`run [flags]` the bundle once under a fresh id."""
    proc: subprocess.CompletedProcess[bytes] = cli("run", *flags, "-b", str(bundle.path),
                                                   cli.new_id())
    return proc


def run_out(cli: Any, bundle: Any, *flags: str) -> str:
    """stdout of a `run` of the bundle, which must succeed."""
    proc = run_bundle(cli, bundle, *flags)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.decode()

def runtime_command() -> list[str]:
    """argv prefix that runs pyruntime: $PYRUNTIME, the installed launcher, or the checkout."""
    env = os.environ.get("PYRUNTIME")
    if env:
        return [env]
    for launcher in (Path("/opt/pyruntime/bin/pyruntime"), Path(sys.prefix) / "bin" / "pyruntime"):
        if launcher.exists():  # the venv install .ci/setup makes (.ci/runtime-path), or ours
            return [str(launcher)]
    return [sys.executable, "-m", "pyruntime"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One busybox rootfs per session; bundles copy it."""
    from pyruntime.bundle import make_rootfs

    path = tmp_path_factory.mktemp("rootfs-template") / "rootfs"
    make_rootfs(str(path))
    return path


class Bundle:
    """A bundle directory with a config that tests edit before creating the container."""

    def __init__(self, path: Path, config: dict[str, Any]) -> None:
        self.path = path
        self.config = config

    @property
    def rootfs(self) -> Path:
        return self.path / "rootfs"

    def write(self) -> Bundle:
        (self.path / "config.json").write_text(json.dumps(self.config, indent=2))
        return self


@pytest.fixture
def make_bundle(tmp_path: Path, busybox_rootfs: Path) -> Callable[..., Bundle]:
    """make_bundle(*args) -> Bundle with a fresh copy of the busybox rootfs."""
    from pyruntime.bundle import make_config

    counter = iter(range(1000))

    def make(*args: str, **kw: Any) -> Bundle:
        path = tmp_path / f"bundle{next(counter)}"
        path.mkdir()
        shutil.copytree(busybox_rootfs, path / "rootfs", symlinks=True)
        config = make_config(args or ("true",), **kw)
        return Bundle(path, config).write()

    return make


class Cli:
    """Runs pyruntime with a private --root; remembers ids to delete at teardown."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ids: list[str] = []
        self.base = runtime_command()

    def new_id(self, prefix: str = "t") -> str:
        cid = f"{prefix}-{uuid.uuid4().hex[:10]}"
        self.ids.append(cid)
        return cid

    def __call__(self, *args: str, check: bool = False, timeout: float = 30,
                 input: bytes | None = None, glob: tuple[str, ...] = (),
                 **kw: Any) -> subprocess.CompletedProcess[bytes]:
        cmd = self.base + ["--root", str(self.root), *glob, *args]
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout, input=input, **kw)
        if check and proc.returncode != 0:
            raise AssertionError(f"{cmd} -> {proc.returncode}\n{proc.stdout!r}\n{proc.stderr!r}")
        return proc

    def state(self, cid: str) -> dict[str, Any]:
        out = self("state", cid, check=True).stdout
        return json.loads(out)  # type: ignore[no-any-return]

    def cleanup(self) -> None:
        for cid in self.ids:
            subprocess.run(self.base + ["--root", str(self.root), "delete", "--force", cid],
                           capture_output=True, timeout=30)


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    """A CLI runner with its own state root."""
    c = Cli(tmp_path / "state")
    yield c
    c.cleanup()

"""Fixtures for the daemon tests: real dockerd / containerd started by `.ci/daemons.sh start`.

Owns: finding the private daemons (through /run/pyrt-ci/env or $PYRT_CI_ENV), command runners
for `docker` and `ctr` with bounded timeouts, and removal of every container a test made.
Must not touch: the host's own docker/containerd, networks (containers always use no network).
Every test here skips with a reason when the daemons are not running, so the normal suite
passes without them. Scenarios are parametrized over runc and pyruntime: runc proves the
scenario itself is right, pyruntime is the runtime under test.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ENV_FILE = Path(os.environ.get("PYRT_CI_ENV", "/run/pyrt-ci/env"))
RUNTIMES = ("runc", "pyruntime")
# Debian's 20.10 client matches the daemon; a newer docker earlier in PATH would also work.
DOCKER_CANDIDATES = ("/usr/bin/docker", "docker")


def runtimes(bug: str | None = None, *, bug_runtime: str = "pyruntime") -> list[Any]:
    """Parameters runc/pyruntime; `bug` marks the pyruntime one xfail(strict) with that reason."""
    params: list[Any] = []
    for rt in RUNTIMES:
        marks = []
        if bug and rt == bug_runtime:
            marks.append(pytest.mark.xfail(strict=True, reason=f"BUG: {bug}"))
        params.append(pytest.param(rt, marks=marks, id=rt))
    return params


def read_env() -> dict[str, str]:
    """KEY=VALUE lines written by daemons.sh start; empty when it has not run."""
    if not ENV_FILE.is_file():
        return {}
    env: dict[str, str] = {}
    for line in ENV_FILE.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            env[key.strip()] = value.strip()
    return env


def wait_until(check: Callable[[], bool], timeout: float = 15, step: float = 0.1) -> bool:
    """Poll `check` until true or `timeout` seconds pass; returns the last result."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)


def cgroup_file(controller: str, cgroups_path: str, name: str) -> Path:
    """Host path of a v1 cgroup file for a container's cgroupsPath."""
    return Path("/sys/fs/cgroup") / controller / cgroups_path.lstrip("/") / name


class Result:
    """A finished command: returncode, text stdout/stderr, and the argv for messages."""

    def __init__(self, argv: list[str], proc: subprocess.CompletedProcess[str]) -> None:
        self.argv = argv
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    def __repr__(self) -> str:
        return (f"{' '.join(self.argv)} -> {self.returncode}\n"
                f"stdout: {self.stdout!r}\nstderr: {self.stderr!r}")


class Docker:
    """Runs the docker client against the private daemon; removes what it created."""

    def __init__(self, binary: str, host: str, image: str, bundles: str, state_root: str) -> None:
        self.binary = binary
        self.host = host
        self.image = image
        self.bundles = bundles  # containerd's task dir of namespace "moby"
        self.state_root = state_root  # --root docker gives every runtime
        self.containers: list[str] = []
        self.volumes: list[str] = []

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["DOCKER_HOST"] = self.host
        env.pop("DOCKER_CONTEXT", None)
        return env

    def __call__(self, *args: str, timeout: float = 60, input: str | None = None,
                 check: bool = False) -> Result:
        argv = [self.binary, *args]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                  check=False,
                                  input=input, env=self.env,
                                  stdin=None if input is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise AssertionError(f"{' '.join(argv)} timed out after {timeout}s: {e}") from e
        res = Result(argv, proc)
        if check and res.returncode != 0:
            raise AssertionError(repr(res))
        return res

    def name(self, prefix: str = "pyrt") -> str:
        """A unique container name that teardown removes."""
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        self.containers.append(name)
        return name

    def run(self, runtime: str, *args: str, opts: tuple[str, ...] = (), timeout: float = 60,
            input: str | None = None, rm: bool = True) -> Result:
        """`docker run [--rm] --network=none --runtime RT [opts] IMAGE args`."""
        base = ["run", "--network=none", "--runtime", runtime, "--name", self.name()]
        if rm:
            base.insert(1, "--rm")
        if input is not None:
            base.append("-i")
        return self(*base, *opts, self.image, *args, timeout=timeout, input=input)

    def run_detached(self, runtime: str, *args: str, opts: tuple[str, ...] = ()) -> str:
        """Start a detached container; returns its full id."""
        name = self.name()
        res = self("run", "-d", "--network=none", "--runtime", runtime, "--name", name,
                   *opts, self.image, *(args or ("sleep", "600")))
        assert res.returncode == 0, repr(res)
        return res.stdout.strip()

    def inspect(self, name: str) -> dict[str, Any]:
        res = self("inspect", name, check=True)
        return json.loads(res.stdout)[0]  # type: ignore[no-any-return]

    def cgroups_path(self, cid: str) -> str:
        """cgroupsPath docker gave the runtime (cgroupfs driver: /docker/<id>)."""
        return f"/docker/{cid}"

    def log_json(self, cid: str) -> str:
        """The runtime's --log file of a live container (empty when gone)."""
        log = Path(self.bundles) / cid / "log.json"
        return log.read_text() if log.exists() else ""

    def cleanup(self) -> None:
        if self.containers:
            self("rm", "-f", "-v", *self.containers, timeout=120)
        for vol in self.volumes:
            self("volume", "rm", "-f", vol, timeout=60)
        leaked_state(self.state_root, self.bundles)


def leaked_state(state_root: str, bundles: str) -> None:
    """Fail when runtime state or shim bundles outlive the test's containers.

    Tests run one at a time and remove all their containers, so both directories must
    empty out (the shim's delete and the cleanup shim's delete --force run asynchronously).
    """
    def entries(d: str) -> list[str]:
        # dot entries are runtime-wide caches (pyruntime's .seccomp-cache), not containers
        return sorted(e for e in os.listdir(d) if not e.startswith(".")) if os.path.isdir(d) else []

    if wait_until(lambda: not entries(state_root) and not entries(bundles), timeout=15):
        return
    logs = {cid: (Path(bundles) / cid / "log.json").read_text()
            for cid in entries(bundles) if (Path(bundles) / cid / "log.json").exists()}
    raise AssertionError(f"leftover runtime state {entries(state_root)} in {state_root}, "
                         f"bundles {entries(bundles)} in {bundles}; log.json: {logs}")


class Ctr:
    """Runs ctr against the private containerd in its own namespace; removes its containers."""

    def __init__(self, address: str, namespace: str, image: str, runtime_paths: dict[str, str],
                 runc_root: str, state: str) -> None:
        self.address = address
        self.namespace = namespace
        self.image = image
        self.runtime_paths = runtime_paths
        self.runc_root = runc_root
        self.state = state
        self.ids: list[str] = []

    def __call__(self, *args: str, timeout: float = 60, input: str | None = None,
                 check: bool = False) -> Result:
        argv = ["ctr", "--address", self.address, "--namespace", self.namespace, *args]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                  check=False,
                                  input=input,
                                  stdin=None if input is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise AssertionError(f"{' '.join(argv)} timed out after {timeout}s: {e}") from e
        res = Result(argv, proc)
        if check and res.returncode != 0:
            raise AssertionError(repr(res))
        return res

    def new_id(self) -> str:
        cid = f"pyrt-{uuid.uuid4().hex[:10]}"
        self.ids.append(cid)
        return cid

    def runtime_opts(self, runtime: str) -> list[str]:
        return ["--runc-binary", self.runtime_paths[runtime], "--runc-root", self.runc_root]

    def run(self, runtime: str, cid: str, *args: str, opts: tuple[str, ...] = (),
            timeout: float = 60, input: str | None = None) -> Result:
        """`ctr run --rm --runc-binary RT [opts] IMAGE ID args` (no network: a new, empty netns)."""
        return self("run", "--rm", *self.runtime_opts(runtime), *opts, self.image, cid, *args,
                    timeout=timeout, input=input)

    def task_status(self, cid: str) -> str:
        res = self("task", "ls")
        for line in res.stdout.splitlines()[1:]:
            fields = line.split()
            if fields and fields[0] == cid:
                return fields[-1]
        return ""

    def task_gone_or_stopped(self, cid: str) -> bool:
        return self.task_status(cid) in ("STOPPED", "")

    def log_json(self, cid: str) -> str:
        log = Path(self.state) / "io.containerd.runtime.v2.task" / self.namespace / cid / "log.json"
        return log.read_text() if log.exists() else ""

    def cleanup(self) -> None:
        for cid in self.ids:
            if self.task_status(cid):
                self("task", "kill", "-a", "-s", "SIGKILL", cid, timeout=30)
                wait_until(functools.partial(self.task_gone_or_stopped, cid), timeout=15)
                self("task", "delete", "-f", cid, timeout=30)
            self("container", "delete", cid, timeout=30)
        leaked_state(os.path.join(self.runc_root, self.namespace),
                     os.path.join(self.state, "io.containerd.runtime.v2.task", self.namespace))


def _daemon_env() -> dict[str, str]:
    if os.geteuid() != 0:
        pytest.skip("daemon tests need root")
    env = read_env()
    if not env:
        pytest.skip(f"daemons not started ({ENV_FILE} missing): run .ci/daemons.sh start")
    return env


@pytest.fixture(scope="session")
def daemon_env() -> dict[str, str]:
    return _daemon_env()


def _runtime_paths(env: dict[str, str]) -> dict[str, str]:
    return {"runc": env.get("PYRT_CI_RUNC", "/usr/sbin/runc"),
            "pyruntime": env["PYRT_CI_PYRUNTIME"]}


@pytest.fixture(scope="session")
def docker_session(daemon_env: dict[str, str]) -> Iterator[Docker]:
    binary = next((b for b in (shutil.which(c) for c in DOCKER_CANDIDATES) if b), None)
    if binary is None:
        pytest.skip("docker client not installed (apt-get install docker.io)")
    host = daemon_env.get("PYRT_CI_DOCKER_HOST", "")
    sock = host.removeprefix("unix://")
    if not sock or not Path(sock).is_socket():
        pytest.skip(f"dockerd not running (no socket {sock!r}): run .ci/daemons.sh start")
    bundles = f"{daemon_env['PYRT_CI_CONTAINERD_STATE']}/io.containerd.runtime.v2.task/moby"
    d = Docker(binary, host, daemon_env["PYRT_CI_IMAGE"], bundles,
               daemon_env["PYRT_CI_DOCKER_RUNTIME_ROOT"])
    try:
        ok = d("version", "--format", "{{.Server.Version}}", timeout=15).returncode == 0
    except AssertionError:
        ok = False
    if not ok:
        pytest.skip("dockerd does not answer: run .ci/daemons.sh start")
    yield d


@pytest.fixture
def docker(docker_session: Docker) -> Iterator[Docker]:
    """A docker runner whose containers and volumes are removed after the test."""
    d = Docker(docker_session.binary, docker_session.host, docker_session.image,
               docker_session.bundles, docker_session.state_root)
    yield d
    d.cleanup()


@pytest.fixture(scope="session")
def ctr_session(daemon_env: dict[str, str]) -> Ctr:
    if shutil.which("ctr") is None:
        pytest.skip("ctr not installed (apt-get install containerd)")
    address = daemon_env.get("PYRT_CI_CONTAINERD_ADDRESS", "")
    if not address or not Path(address).is_socket():
        pytest.skip(f"containerd not running (no socket {address!r}): run .ci/daemons.sh start")
    c = Ctr(address, daemon_env["PYRT_CI_NAMESPACE"], daemon_env["PYRT_CI_CTR_IMAGE"],
            _runtime_paths(daemon_env), daemon_env["PYRT_CI_RUNC_ROOT"],
            daemon_env["PYRT_CI_CONTAINERD_STATE"])
    try:
        ok = c("version", timeout=15).returncode == 0
    except AssertionError:
        ok = False
    if not ok:
        pytest.skip("containerd does not answer: run .ci/daemons.sh start")
    return c


@pytest.fixture
def ctr(ctr_session: Ctr) -> Iterator[Ctr]:
    """A ctr runner whose containers are removed after the test."""
    c = Ctr(ctr_session.address, ctr_session.namespace, ctr_session.image,
            ctr_session.runtime_paths, ctr_session.runc_root, ctr_session.state)
    yield c
    c.cleanup()

"""The Python API: pyruntime.run with capture, and Container step by step."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

import pyruntime
from pyruntime.bundle import make_bundle

pytestmark = pytest.mark.root


def test_api_run_captures_stdout_stderr_and_exit_code(tmp_path: Path) -> None:
    bundle = make_bundle(str(tmp_path / "b"), ["sh", "-c", "echo out; echo err >&2; exit 5"])
    r = pyruntime.run(bundle, root=str(tmp_path / "s"), stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE, timeout=30)
    assert (r.returncode, r.stdout, r.stderr) == (5, b"out\n", b"err\n")
    assert not list((tmp_path / "s").iterdir())  # deleted afterwards


def test_api_run_input_and_check(tmp_path: Path) -> None:
    bundle = make_bundle(str(tmp_path / "b"), ["sh", "-c", "read x; echo got $x; exit 1"])
    with pytest.raises(subprocess.CalledProcessError):
        pyruntime.run(bundle, root=str(tmp_path / "s"), input=b"hi\n",
                      stdout=subprocess.PIPE, check=True, timeout=30)


def test_api_run_timeout_kills_and_cleans_up(tmp_path: Path) -> None:
    bundle = make_bundle(str(tmp_path / "b"), ["sleep", "60"])
    with pytest.raises(subprocess.TimeoutExpired):
        pyruntime.run(bundle, root=str(tmp_path / "s"), stdout=subprocess.PIPE, timeout=0.5)
    assert not list((tmp_path / "s").iterdir())


def test_api_container_step_by_step(tmp_path: Path) -> None:
    bundle = make_bundle(str(tmp_path / "b"), ["sleep", "60"])
    with pyruntime.Container.create("api-t1", bundle, root=str(tmp_path / "s")) as c:
        st: Any = c.state()
        assert (st.status, st.id) == ("created", "api-t1") and st.pid > 0
        c.start()
        assert c.state().status == "running"
        out = tmp_path / "out"
        with open(out, "wb") as f:
            assert c.exec(["sh", "-c", "echo from-exec"], stdout=f) == 0
        assert out.read_bytes() == b"from-exec\n"
        c.update({"pids": {"limit": 50}})
        c.pause()
        assert c.state().status == "paused"
        c.resume()
        loaded = pyruntime.Container.load("api-t1", root=str(tmp_path / "s"))
        assert loaded.state().pid == c.state().pid
        c.kill(9)  # pid 1 of its namespace: TERM without a handler is ignored
        assert c.wait(timeout=10) == 137
    with pytest.raises(pyruntime.ContainerError):
        pyruntime.Container.load("api-t1", root=str(tmp_path / "s"))


def test_api_spec_writes_a_valid_bundle(tmp_path: Path) -> None:
    from pyruntime.bundle import make_rootfs

    make_rootfs(str(tmp_path / "b" / "rootfs"))
    bundle = pyruntime.Spec(["sh", "-c", "echo $GREETING"]).env("GREETING", "hello") \
        .pids_limit(16).write(tmp_path / "b")
    r = pyruntime.run(bundle, root=str(tmp_path / "s"), stdout=subprocess.PIPE, timeout=30)
    assert (r.returncode, r.stdout) == (0, b"hello\n")

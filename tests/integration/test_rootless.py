"""Rootless mode: pyruntime run by an unprivileged user with `spec --rootless`'s config.

The installed interpreter lives under /root (mode 0700 here), so the test runs the checkout's
package, copied somewhere readable, with Debian's /usr/bin/python3 (same 3.11 ABI) and its
python3-cffi-backend, as user nobody.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
SYSTEM_PYTHON = "/usr/bin/python3"
NOBODY = 65534


def _usable() -> str | None:
    if not Path(SYSTEM_PYTHON).exists() or shutil.which("setpriv") is None:
        return "needs /usr/bin/python3 and setpriv"
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import _cffi_backend"], capture_output=True)
    if probe.returncode != 0:
        return "needs Debian's python3-cffi-backend"
    if not list((REPO / "pyruntime").glob("_shim*.so")):
        return "the shim is not built in the checkout"
    return None


@pytest.fixture
def rootless_env(tmp_path: Path) -> Any:
    reason = _usable()
    if reason:
        pytest.skip(reason)
    from pyruntime.bundle import make_bundle
    from pyruntime.spec.default import default_config

    base = tmp_path / "rl"
    shutil.copytree(REPO / "pyruntime", base / "pkg" / "pyruntime",
                    ignore=shutil.ignore_patterns("__pycache__"))

    def bundle(args: list[str]) -> Path:
        config = default_config(rootless=True, uid=NOBODY, gid=NOBODY)
        config["process"]["terminal"] = False
        config["process"]["args"] = args
        return Path(make_bundle(str(base / "bundle"), config=config))

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        subprocess.run(["chown", "-R", f"{NOBODY}:{NOBODY}", str(base)], check=True)
        for p in [base, *base.parents]:
            p.chmod(p.stat().st_mode | 0o011)  # let nobody traverse pytest's 0700 dirs
        cmd = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "env",
               f"HOME={base}", f"XDG_RUNTIME_DIR={base}/run", f"PYTHONPATH={base}/pkg",
               SYSTEM_PYTHON, "-m", "pyruntime", *argv]
        if "-d" in argv:
            # a detached container keeps our stdio: never give it a pipe we wait on
            proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  timeout=60, cwd=str(base))
            return subprocess.CompletedProcess(cmd, proc.returncode, "", "")
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=str(base))

    (base / "run").mkdir(parents=True)
    return bundle, run


@pytest.mark.root
@pytest.mark.userns
def test_rootless_run_maps_caller_to_root(rootless_env: Any) -> None:
    bundle, run = rootless_env
    b = bundle(["sh", "-c", "id -u; cat /proc/self/uid_map; hostname; ls /dev/null"])
    proc = run("run", "--bundle", str(b), "rl1")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split("\n")
    assert lines[0] == "0"
    assert lines[1].split() == ["0", str(NOBODY), "1"]
    assert "/dev/null" in proc.stdout


@pytest.mark.root
@pytest.mark.userns
def test_rootless_state_root_defaults_to_xdg_runtime_dir(rootless_env: Any) -> None:
    bundle, run = rootless_env
    b = bundle(["sleep", "30"])
    assert run("run", "-d", "--bundle", str(b), "rl2").returncode == 0
    try:
        state = run("state", "rl2")
        assert state.returncode == 0, state.stderr
        assert '"running"' in state.stdout
        assert "rl2" in run("list", "-q").stdout
    finally:
        assert run("delete", "--force", "rl2").returncode == 0


@pytest.mark.root
@pytest.mark.userns
def test_rootless_resource_limits_without_delegation_fail_clearly(rootless_env: Any) -> None:
    bundle, run = rootless_env
    b = bundle(["true"])
    import json

    config = json.loads((b / "config.json").read_text())
    config["linux"]["resources"] = {"pids": {"limit": 10}}
    (b / "config.json").write_text(json.dumps(config))
    proc = run("run", "--bundle", str(b), "rl3")
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr

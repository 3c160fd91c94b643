"""OCI hooks: every kind runs with the state on stdin, in order, with args/env/timeout, and
the spec's failure rules (prestart/createRuntime/createContainer abort `create` and leave
nothing behind; poststart/poststop only warn; startContainer runs in the container).

Host hooks are small /bin/sh scripts in the test's tmp dir. They append their name to a
log directory that is also bind-mounted into the container at /hooklog, so the
startContainer hook (which runs inside the container) writes to the same log.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import cgroup_dirs, processes_with_arg

pytestmark = pytest.mark.root

HOST_KINDS = ("prestart", "createRuntime", "createContainer", "poststart", "poststop")
ENV = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]


def script(path: Path, body: str, interpreter: str = "/bin/sh") -> str:
    path.write_text(f"#!{interpreter}\n{body}\n")
    path.chmod(0o755)
    return str(path)


def recorder(tmp_path: Path, logdir: Path, kind: str, extra: str = "") -> dict[str, Any]:
    """A host hook that saves its stdin, argv and env and appends its kind to the log."""
    path = script(tmp_path / f"hook-{kind}.sh",
                  f'cat > "{logdir}/{kind}.json"\n'
                  f'echo "$@" > "{logdir}/{kind}.args"\n'
                  f'env > "{logdir}/{kind}.env"\n'
                  f'hostname > "{logdir}/{kind}.hostname"\n'
                  f'echo {kind} >> "{logdir}/order"\n{extra}')
    return {"path": path, "args": [path, "first-arg", kind], "env": ENV + [f"HOOK_KIND={kind}"]}


def start_recorder(bundle: Any) -> dict[str, Any]:
    """A startContainer hook: a script inside the rootfs, run with the container's busybox."""
    script(bundle.rootfs / "start-hook.sh",
           "cat > /hooklog/startContainer.json\n"
           "hostname > /hooklog/startContainer.hostname\n"
           "cat /marker > /hooklog/startContainer.marker\n"
           "echo startContainer >> /hooklog/order")
    (bundle.rootfs / "marker").write_text("inside-rootfs\n")
    return {"path": "/start-hook.sh", "env": ["PATH=/bin"]}


def hooked_bundle(make_bundle: Any, tmp_path: Path, *args: str) -> tuple[Any, Path]:
    logdir = tmp_path / "hooklog"
    logdir.mkdir(exist_ok=True)
    b = make_bundle(*(args or ("true",)), hostname="hooked-box")
    b.config["mounts"].append({"destination": "/hooklog", "type": "bind",
                               "source": str(logdir), "options": ["rbind", "rw"]})
    b.write()
    return b, logdir


def create(cli: Any, bundle: Any, cid: str) -> tuple[int, str]:
    err = bundle.path / f"{cid}.err"
    with open(err, "wb") as e:
        rc = subprocess.run([*cli.base, "--root", str(cli.root), "create", "-b",
                             str(bundle.path), cid], stdin=subprocess.DEVNULL, stdout=e,
                            stderr=e, timeout=30, check=False).returncode
    return rc, err.read_text()


def wait_stopped(cli: Any, cid: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while cli.state(cid)["status"] != "stopped":
        assert time.monotonic() < deadline
        time.sleep(0.02)


def assert_nothing_left(cli: Any, cid: str) -> None:
    assert not (cli.root / cid).exists()
    assert cgroup_dirs(cid) == []
    assert processes_with_arg(cid) == []


# ---------------------------------------------------------------------------- all kinds


def test_hooks_all_kinds_run_in_order_with_state(cli: Any, make_bundle: Any,
                                                 tmp_path: Path) -> None:
    b, logdir = hooked_bundle(make_bundle, tmp_path)
    hooks = {kind: [recorder(tmp_path, logdir, kind)] for kind in HOST_KINDS}
    hooks["startContainer"] = [start_recorder(b)]
    b.config["hooks"] = hooks
    b.write()
    cid = cli.new_id()
    rc, err = create(cli, b, cid)
    assert rc == 0, err
    assert (logdir / "order").read_text().split() == ["prestart", "createRuntime",
                                                      "createContainer"]
    cli("start", cid, check=True)
    wait_stopped(cli, cid)
    cli("delete", cid, check=True)
    assert (logdir / "order").read_text().split() == [
        "prestart", "createRuntime", "createContainer", "startContainer", "poststart",
        "poststop"]
    expected_status = {"prestart": "creating", "createRuntime": "creating",
                       "createContainer": "creating", "startContainer": "created",
                       "poststart": "running", "poststop": "stopped"}
    for kind, status in expected_status.items():
        doc = json.loads((logdir / f"{kind}.json").read_text())
        assert doc["id"] == cid, kind
        assert doc["status"] == status, kind
        assert doc["bundle"] == os.path.realpath(b.path), kind
        assert doc["ociVersion"] == b.config["ociVersion"], kind
        if kind != "poststop":
            assert doc["pid"] > 0, kind


def test_hooks_args_and_env_passed(cli: Any, make_bundle: Any, tmp_path: Path) -> None:
    b, logdir = hooked_bundle(make_bundle, tmp_path)
    b.config["hooks"] = {"createRuntime": [recorder(tmp_path, logdir, "createRuntime")]}
    b.write()
    assert cli("run", "-b", str(b.path), cli.new_id()).returncode == 0
    assert (logdir / "createRuntime.args").read_text().split() == ["first-arg", "createRuntime"]
    env = (logdir / "createRuntime.env").read_text().splitlines()
    assert "HOOK_KIND=createRuntime" in env
    assert not any(line.startswith("PYTEST") for line in env)


def test_hooks_create_runtime_runs_in_host_namespaces(cli: Any, make_bundle: Any,
                                                      tmp_path: Path) -> None:
    b, logdir = hooked_bundle(make_bundle, tmp_path)
    b.config["hooks"] = {"createRuntime": [recorder(tmp_path, logdir, "createRuntime")]}
    b.write()
    assert cli("run", "-b", str(b.path), cli.new_id()).returncode == 0
    assert (logdir / "createRuntime.hostname").read_text().strip() == os.uname().nodename


def test_hooks_create_container_runs_in_container_namespaces(cli: Any, make_bundle: Any,
                                                             tmp_path: Path) -> None:
    b, logdir = hooked_bundle(make_bundle, tmp_path)
    b.config["hooks"] = {"createContainer": [recorder(tmp_path, logdir, "createContainer")]}
    b.write()
    assert cli("run", "-b", str(b.path), cli.new_id()).returncode == 0
    assert (logdir / "createContainer.hostname").read_text().strip() == "hooked-box"


def test_hooks_start_container_runs_in_container(cli: Any, make_bundle: Any,
                                                 tmp_path: Path) -> None:
    b, logdir = hooked_bundle(make_bundle, tmp_path)
    b.config["hooks"] = {"startContainer": [start_recorder(b)]}
    b.write()
    proc = cli("run", "-b", str(b.path), cli.new_id())
    assert proc.returncode == 0, proc.stderr
    assert (logdir / "startContainer.hostname").read_text().strip() == "hooked-box"
    # its path and files resolve in the container's mount namespace
    assert (logdir / "startContainer.marker").read_text() == "inside-rootfs\n"


def test_hooks_cwd_is_bundle(cli: Any, make_bundle: Any, tmp_path: Path) -> None:
    b, logdir = hooked_bundle(make_bundle, tmp_path)
    hook = script(tmp_path / "pwd-hook.sh", f'pwd > "{logdir}/pwd"')
    b.config["hooks"] = {"createRuntime": [{"path": hook}]}
    b.write()
    assert cli("run", "-b", str(b.path), cli.new_id()).returncode == 0
    assert os.path.realpath((logdir / "pwd").read_text().strip()) == os.path.realpath(b.path)


def test_hooks_several_of_one_kind_run_in_order(cli: Any, make_bundle: Any,
                                                tmp_path: Path) -> None:
    b, logdir = hooked_bundle(make_bundle, tmp_path)
    b.config["hooks"] = {"prestart": [
        {"path": script(tmp_path / f"h{i}.sh", f'echo {i} >> "{logdir}/order"')}
        for i in range(3)]}
    b.write()
    assert cli("run", "-b", str(b.path), cli.new_id()).returncode == 0
    assert (logdir / "order").read_text().split() == ["0", "1", "2"]


# ---------------------------------------------------------------------------- failures


@pytest.mark.parametrize("kind", ["prestart", "createRuntime", "createContainer"])
def test_hooks_create_phase_failure_aborts_and_cleans_up(cli: Any, make_bundle: Any,
                                                         tmp_path: Path, kind: str) -> None:
    b, logdir = hooked_bundle(make_bundle, tmp_path)
    failing = script(tmp_path / "fail.sh", "echo hook-said-no >&2; exit 3")
    b.config["hooks"] = {kind: [{"path": failing}],
                         "poststart": [recorder(tmp_path, logdir, "poststart")]}
    b.write()
    cid = cli.new_id()
    rc, err = create(cli, b, cid)
    assert rc == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert kind in lines[0] and "fail.sh" in lines[0]
    assert_nothing_left(cli, cid)
    assert not (logdir / "order").exists()


def test_hooks_later_hooks_skipped_after_failure(cli: Any, make_bundle: Any,
                                                 tmp_path: Path) -> None:
    b, logdir = hooked_bundle(make_bundle, tmp_path)
    b.config["hooks"] = {
        "createRuntime": [{"path": script(tmp_path / "fail.sh", "exit 1")}],
        "createContainer": [recorder(tmp_path, logdir, "createContainer")],
    }
    b.write()
    rc, _ = create(cli, b, cli.new_id())
    assert rc == 1
    assert not (logdir / "order").exists()


def test_hooks_missing_program_fails_create(cli: Any, make_bundle: Any, tmp_path: Path) -> None:
    b, _ = hooked_bundle(make_bundle, tmp_path)
    b.config["hooks"] = {"createRuntime": [{"path": str(tmp_path / "no-such-hook")}]}
    b.write()
    cid = cli.new_id()
    rc, err = create(cli, b, cid)
    assert rc == 1
    assert "no-such-hook" in err and len(err.strip().splitlines()) == 1
    assert_nothing_left(cli, cid)


def test_hooks_timeout_kills_hook_and_fails(cli: Any, make_bundle: Any, tmp_path: Path) -> None:
    b, _ = hooked_bundle(make_bundle, tmp_path)
    b.config["hooks"] = {"prestart": [{"path": script(tmp_path / "slow.sh", "exec sleep 20"),
                                       "timeout": 1}]}
    b.write()
    cid = cli.new_id()
    started = time.monotonic()
    rc, err = create(cli, b, cid)
    assert rc == 1
    assert time.monotonic() - started < 10
    assert "timed out" in err or "timeout" in err
    assert_nothing_left(cli, cid)
    assert processes_with_arg(str(tmp_path / "slow.sh")) == []


def test_hooks_start_container_failure_fails_start(cli: Any, make_bundle: Any,
                                                   tmp_path: Path) -> None:
    b, logdir = hooked_bundle(make_bundle, tmp_path, "sleep", "30")
    script(b.rootfs / "fail-hook.sh", "exit 4")
    b.config["hooks"] = {"startContainer": [{"path": "/fail-hook.sh"}],
                         "poststart": [recorder(tmp_path, logdir, "poststart")]}
    b.write()
    cid = cli.new_id()
    rc, err = create(cli, b, cid)
    assert rc == 0, err
    pid = cli.state(cid)["pid"]
    proc = cli("start", cid)
    assert proc.returncode == 1
    assert len(proc.stderr.decode().strip().splitlines()) == 1
    wait_stopped(cli, cid)
    assert not Path(f"/proc/{pid}").exists() or processes_with_arg(cid) == []
    assert not (logdir / "poststart.json").exists()


def test_hooks_poststart_failure_fails_start_and_stops(cli: Any, make_bundle: Any,
                                                       tmp_path: Path) -> None:
    # runtime-spec 1.1+ (runtime.md step 9): a failing poststart hook is an error and the
    # runtime stops the container (runc does the same); poststop still runs at delete
    b, logdir = hooked_bundle(make_bundle, tmp_path, "sleep", "30")
    b.config["hooks"] = {"poststart": [{"path": script(tmp_path / "fail.sh", "exit 2")}],
                         "poststop": [recorder(tmp_path, logdir, "poststop")]}
    b.write()
    cid = cli.new_id()
    assert create(cli, b, cid)[0] == 0
    proc = cli("start", cid)
    assert proc.returncode == 1
    text = proc.stderr.decode().strip()
    assert len(text.splitlines()) == 1 and "fail.sh" in text and "poststart" in text
    wait_stopped(cli, cid)
    cli("delete", cid, check=True)
    assert (logdir / "poststop.json").exists()


def test_hooks_poststart_all_run_in_order(cli: Any, make_bundle: Any, tmp_path: Path) -> None:
    b, logdir = hooked_bundle(make_bundle, tmp_path, "sleep", "30")
    b.config["hooks"] = {"poststart": [
        {"path": script(tmp_path / f"p{i}.sh", f'echo p{i} >> "{logdir}/order"')}
        for i in range(2)]}
    b.write()
    cid = cli.new_id()
    assert create(cli, b, cid)[0] == 0
    cli("start", cid, check=True)
    assert (logdir / "order").read_text().split() == ["p0", "p1"]
    assert cli.state(cid)["status"] == "running"


def test_hooks_poststop_failure_only_warns(cli: Any, make_bundle: Any, tmp_path: Path) -> None:
    b, logdir = hooked_bundle(make_bundle, tmp_path)
    b.config["hooks"] = {"poststop": [{"path": script(tmp_path / "fail.sh", "exit 2")},
                                      recorder(tmp_path, logdir, "poststop")]}
    b.write()
    cid = cli.new_id()
    assert create(cli, b, cid)[0] == 0
    cli("start", cid, check=True)
    wait_stopped(cli, cid)
    proc = cli("delete", cid)
    assert proc.returncode == 0, proc.stderr
    assert not (cli.root / cid).exists()
    assert (logdir / "poststop.json").exists()


def test_hooks_poststop_runs_on_run(cli: Any, make_bundle: Any, tmp_path: Path) -> None:
    b, logdir = hooked_bundle(make_bundle, tmp_path)
    b.config["hooks"] = {"poststop": [recorder(tmp_path, logdir, "poststop")]}
    b.write()
    assert cli("run", "-b", str(b.path), cli.new_id()).returncode == 0
    assert json.loads((logdir / "poststop.json").read_text())["status"] == "stopped"

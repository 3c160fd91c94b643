"""The cgroup-backed verbs through the CLI: pause/resume, update, ps, events, kill --all,
and a container under pids.limit = 1 with a 1 MiB memory limit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import v1_cgroups

V1 = Path("/sys/fs/cgroup")
pytestmark = [pytest.mark.root, pytest.mark.cgroup_v1]


def _cgroup(cli: Any, cid: str, controller: str) -> Path:
    """The container's cgroup dir in a v1 hierarchy, from its init's /proc/PID/cgroup (with
    no cgroupsPath it is under the caller's own cgroup, as with runc)."""
    for controllers, path in v1_cgroups(cli.state(cid)["pid"]).items():
        if controller in controllers.split(","):
            return V1 / controllers / path.lstrip("/")
    raise AssertionError(f"{cid} has no {controller} cgroup")


def _running(cli: Any, make_bundle: Any, *args: str) -> str:
    import subprocess

    b = make_bundle(*(args or ("sleep", "60")))
    cid = cli.new_id()
    # a detached container keeps its stdio: never hand it a pipe we would wait on
    proc = subprocess.run([*cli.base, "--root", str(cli.root), "run", "-d", "--bundle",
                           str(b.path), cid], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, timeout=30)
    assert proc.returncode == 0
    return cid


def test_cgroup_verbs_pause_resume_change_status_and_freezer(cli: Any, make_bundle: Any) -> None:
    cid = _running(cli, make_bundle)
    assert cli("pause", cid).returncode == 0
    assert cli.state(cid)["status"] == "paused"
    assert (_cgroup(cli, cid, "freezer") / "freezer.state").read_text().strip() == "FROZEN"
    assert cli("resume", cid).returncode == 0
    assert cli.state(cid)["status"] == "running"
    assert b"not paused" in cli("resume", cid).stderr


def test_cgroup_verbs_update_flags_and_resources_file(cli: Any, make_bundle: Any) -> None:
    cid = _running(cli, make_bundle)
    assert cli("update", "--memory", "64m", "--pids-limit", "20", cid).returncode == 0
    assert (_cgroup(cli, cid, "memory") / "memory.limit_in_bytes").read_text().strip() == "67108864"
    assert (_cgroup(cli, cid, "pids") / "pids.max").read_text().strip() == "20"
    # Docker's zeros mean "unchanged"
    zeros = {"memory": {"limit": 0, "reservation": 0}, "cpu": {"shares": 0, "quota": 0},
             "blockIO": {"weight": 0}, "pids": {"limit": 30}}
    proc = cli("update", "-r", "-", cid, input=json.dumps(zeros).encode())
    assert proc.returncode == 0, proc.stderr
    assert (_cgroup(cli, cid, "memory") / "memory.limit_in_bytes").read_text().strip() == "67108864"
    assert (_cgroup(cli, cid, "pids") / "pids.max").read_text().strip() == "30"


def test_cgroup_verbs_ps_json_is_bare_pid_array(cli: Any, make_bundle: Any) -> None:
    cid = _running(cli, make_bundle)
    proc = cli("ps", "--format", "json", cid)
    assert proc.returncode == 0 and proc.stderr == b""
    pids = json.loads(proc.stdout)
    assert pids == [cli.state(cid)["pid"]]
    table = cli("ps", cid).stdout.decode().splitlines()
    assert "PID" in table[0] and len(table) == 2


def test_cgroup_verbs_events_stats_has_runc_fields(cli: Any, make_bundle: Any) -> None:
    cid = _running(cli, make_bundle)
    proc = cli("events", "--stats", cid)
    assert proc.returncode == 0, proc.stderr
    event = json.loads(proc.stdout)
    assert event["type"] == "stats" and event["id"] == cid
    for key in ("cpu", "memory", "pids", "blkio"):
        assert key in event["data"], event["data"].keys()
    assert event["data"]["pids"]["current"] >= 1


def test_cgroup_verbs_kill_all_signals_every_process(cli: Any, make_bundle: Any) -> None:
    cid = _running(cli, make_bundle, "sh", "-c", "sleep 60 & sleep 60 & wait")
    assert cli("kill", "--all", cid, "KILL").returncode == 0
    import time

    deadline = time.monotonic() + 5
    while cli.state(cid)["status"] != "stopped" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cli.state(cid)["status"] == "stopped"
    assert cli("kill", "--all", cid, "KILL").returncode == 0  # stopped: still exit 0


def test_cgroup_verbs_tiny_container_pids_one_memory_one_mib(cli: Any,
                                                            make_bundle: Any) -> None:
    """runc fails here ("unable to set memory limit ... current usage"); the init's setup
    is charged almost nothing to the container's cgroup."""
    b = make_bundle("/bin/echo", "tiny")
    b.config["linux"]["resources"].update({"memory": {"limit": 1 << 20},
                                           "pids": {"limit": 1}})
    b.write()
    proc = cli("run", "--bundle", str(b.path), cli.new_id())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"tiny\n"


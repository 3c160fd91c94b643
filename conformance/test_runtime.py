"""runtime.md: state, lifecycle and the operations (state/create/start/kill/delete).

Owns the requirement tests of runtime.md except hooks (test_hooks.py).  Each
test drives the runtime through its CLI and observes the host side.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from conformance import harness
from conformance.harness import Bundle, Runtime, create_ok, start_ok
from conformance.marks import req, runc_bug

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "pyruntime" / "spec" / "schema"


def _validate_state(state: dict[str, Any]) -> None:
    pytest.importorskip("jsonschema")
    from jsonschema import Draft4Validator  # type: ignore[import-untyped]
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    path = SCHEMA_DIR / "state-schema.json"
    if not path.exists():
        pytest.skip(f"state schema not vendored at {path}")
    registry: Registry = Registry()
    for f in SCHEMA_DIR.glob("*.json"):
        registry = registry.with_resource(
            f.name, Resource.from_contents(json.loads(f.read_text()), DRAFT4))
    Draft4Validator(json.loads(path.read_text()), registry=registry).validate(state)


# --- State ------------------------------------------------------------------------

@req("runtime.md#state", "state MUST carry ociVersion, id, status and bundle (REQUIRED)")
def test_state_created_has_required_properties(rt: Runtime, bundle: Bundle, cid: str) -> None:
    st = create_ok(rt, cid, bundle)
    for key in ("ociVersion", "id", "status", "bundle"):
        assert key in st, f"state lacks {key}: {st}"
    assert isinstance(st["ociVersion"], str) and st["ociVersion"]


@req("runtime.md#state", "id is the container's ID")
def test_state_id_matches_created_id(rt: Runtime, bundle: Bundle, cid: str) -> None:
    assert create_ok(rt, cid, bundle)["id"] == cid


@req("runtime.md#state", "status `created`: create finished, program neither exited nor executed")
def test_state_after_create_status_created(rt: Runtime, bundle: Bundle, cid: str) -> None:
    assert create_ok(rt, cid, bundle)["status"] == "created"


@req("runtime.md#state", "pid is REQUIRED when status is created (container process, runtime view)")
def test_state_created_pid_is_live_container_process(rt: Runtime, bundle: Bundle,
                                                     cid: str) -> None:
    st = create_ok(rt, cid, bundle)
    pid = st.get("pid")
    assert isinstance(pid, int) and pid > 0, st
    assert harness.pid_alive(pid)
    assert harness.ns_inode(pid, "uts") != harness.ns_inode("self", "uts")


@req("runtime.md#state", "status `running`: the user-specified program has been executed")
def test_state_after_start_status_running(rt: Runtime, bundle: Bundle, cid: str) -> None:
    create_ok(rt, cid, bundle)
    start_ok(rt, cid)
    assert rt.status(cid) == "running"


@req("runtime.md#state", "pid is REQUIRED when status is running: the process running the program")
def test_state_running_pid_runs_user_program(rt: Runtime, bundle: Bundle, cid: str) -> None:
    create_ok(rt, cid, bundle, "sleep 300; exit 0")
    start_ok(rt, cid)
    st = rt.state(cid)
    assert st is not None and st.get("pid", 0) > 0, st
    cmdline = harness.read_text(f"/proc/{st['pid']}/cmdline").split("\0")
    assert cmdline[:3] == ["sh", "-c", "sleep 300; exit 0"], cmdline


@req("runtime.md#state", "status `stopped`: the container process has exited")
def test_state_after_exit_status_stopped(rt: Runtime, bundle: Bundle, cid: str) -> None:
    create_ok(rt, cid, bundle, "true")
    start_ok(rt, cid)
    assert rt.wait_status(cid, "stopped") == "stopped"


@req("runtime.md#state", "status `creating`: the container is being created")
def test_state_creating_status() -> None:
    pytest.skip("`creating` lasts only inside the create call; not observable from outside")


@req("runtime.md#state", "bundle is the absolute path to the container's bundle directory")
def test_state_bundle_absolute_when_created_with_relative_path(rt: Runtime, bundle: Bundle,
                                                                cid: str) -> None:
    bundle.shell("sleep 300")
    bundle.write()
    res = rt.create(cid, bundle, cwd=bundle.path.parent, bundle_arg=bundle.path.name)
    assert res.ok, str(res)
    st = rt.state(cid)
    assert st is not None
    assert os.path.isabs(st["bundle"]), st["bundle"]
    assert os.path.realpath(st["bundle"]) == os.path.realpath(bundle.path)


@req("runtime.md#state", "annotations: the annotations associated with the container")
def test_state_annotations_match_config(rt: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.config["annotations"] = {"com.example.key": "value", "org.example.other": "x y"}
    st = create_ok(rt, cid, bundle)
    assert st.get("annotations") == bundle.config["annotations"]


@req("runtime.md#state", "state JSON MUST adhere to schema/state-schema.json")
@pytest.mark.parametrize("phase", ["created", "running", "stopped"])
def test_state_matches_schema(rt: Runtime, bundle: Bundle, cid: str, phase: str) -> None:
    create_ok(rt, cid, bundle, "sleep 300" if phase != "stopped" else "true")
    if phase != "created":
        start_ok(rt, cid)
    if phase == "stopped":
        rt.wait_status(cid, "stopped")
    st = rt.state(cid)
    assert st is not None and st["status"] == phase, st
    _validate_state(st)


@req("runtime.md#state", "id MUST be unique across all containers on this host")
def test_state_id_unique_second_create_fails(rt: Runtime, tmp_path: Path, bundle: Bundle,
                                             cid: str) -> None:
    create_ok(rt, cid, bundle)
    other = harness.make_bundle(tmp_path / "other", ("sleep", "300"))
    other.write()
    assert not rt.create(cid, other).ok


# --- Lifecycle ----------------------------------------------------------------------

@req("runtime.md#lifecycle", "step 2: the user-specified program MUST NOT be run at create")
def test_create_does_not_run_process_args(rt: Runtime, bundle: Bundle, cid: str) -> None:
    create_ok(rt, cid, bundle, "touch /tmp/ran; sleep 300")
    time.sleep(0.3)
    assert not (bundle.rootfs / "tmp" / "ran").exists()


@req("runtime.md#lifecycle", "step 2: the resources requested (namespaces) MUST be created by create")
def test_create_sets_up_namespaces(rt: Runtime, bundle: Bundle, cid: str) -> None:
    pid = create_ok(rt, cid, bundle)["pid"]
    for ns in ("pid", "network", "ipc", "uts", "mount"):
        assert harness.ns_inode(pid, ns) != harness.ns_inode("self", ns), ns


@req("runtime.md#lifecycle", "step 2: the resources requested (cgroup) MUST be created by create")
def test_create_places_process_in_cgroup(rt: Runtime, bundle: Bundle, cid: str) -> None:
    pid = create_ok(rt, cid, bundle)["pid"]
    rel = bundle.linux["cgroupsPath"]
    lines = harness.read_text(f"/proc/{pid}/cgroup").splitlines()
    assert any(line.split(":", 2)[2] == rel for line in lines), lines


@req("runtime.md#lifecycle", "step 2: the resources requested (mounts) MUST be created by create")
def test_create_sets_up_mounts(rt: Runtime, bundle: Bundle, cid: str) -> None:
    pid = create_ok(rt, cid, bundle)["pid"]
    mounts = harness.parse_mountinfo(harness.read_text(f"/proc/{pid}/mountinfo"))
    points = {m.mountpoint for m in mounts}
    assert {"/proc", "/dev", "/dev/shm", "/sys"} <= points, points


@req("runtime.md#lifecycle", "step 2: updates to config.json after create MUST NOT affect the container")
def test_config_change_after_create_has_no_effect(rt: Runtime, bundle: Bundle, cid: str) -> None:
    create_ok(rt, cid, bundle, "echo original > /tmp/out")
    bundle.shell("echo changed > /tmp/out")
    bundle.config["hostname"] = "changed"
    bundle.write()
    start_ok(rt, cid)
    assert harness.poll(lambda: (bundle.rootfs / "tmp" / "out").exists())
    rt.wait_status(cid, "stopped")
    assert (bundle.rootfs / "tmp" / "out").read_text().strip() == "original"


@req("runtime.md#lifecycle", "step 8: the runtime MUST run the user-specified program")
def test_start_runs_user_program(rt: Runtime, bundle: Bundle, cid: str) -> None:
    create_ok(rt, cid, bundle, "echo started > /tmp/ran")
    start_ok(rt, cid)
    assert harness.poll(lambda: (bundle.rootfs / "tmp" / "ran").exists())


@req("runtime.md#lifecycle", "step 12: the container MUST be destroyed by undoing create (delete)")
def test_delete_destroys_created_resources(rt: Runtime, bundle: Bundle, cid: str) -> None:
    create_ok(rt, cid, bundle, "true")
    start_ok(rt, cid)
    rt.wait_status(cid, "stopped")
    res = rt.delete(cid)
    assert res.ok, str(res)
    assert harness.leftovers(rt, cid, bundle) == []


# --- Query state -----------------------------------------------------------------

@req("runtime.md#query-state", "state MUST generate an error if not provided the container ID")
def test_state_without_id_fails(rt: Runtime) -> None:
    assert not rt.cmd("state").ok


@req("runtime.md#query-state", "querying a container that does not exist MUST generate an error")
def test_state_unknown_container_fails(rt: Runtime, cid: str) -> None:
    assert not rt.cmd("state", cid).ok


@req("runtime.md#query-state", "state MUST return the state of the container (State section)")
def test_state_returns_json_state(rt: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.shell("sleep 300")
    bundle.write()
    assert rt.create(cid, bundle).ok
    res = rt.cmd("state", cid)
    assert res.ok, str(res)
    st = json.loads(res.out)
    assert st["id"] == cid and st["status"] == "created"


# --- Create -------------------------------------------------------------------------

@req("runtime.md#create", "create MUST generate an error if not provided the container ID")
def test_create_without_id_fails(rt: Runtime, bundle: Bundle) -> None:
    bundle.write()
    res = rt.cmd("create", "--bundle", str(bundle.path), cwd=bundle.path)
    assert not res.ok
    assert harness.processes_under(bundle.path) == []


@req("runtime.md#create", "create MUST generate an error if not provided a path to a bundle")
def test_create_without_bundle_fails(rt: Runtime, tmp_path: Path, cid: str) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    res = rt.cmd("create", cid, cwd=empty)
    assert not res.ok
    assert rt.state(cid) is None


@req("runtime.md#create", "a non-unique ID MUST generate an error; no new container is created")
def test_create_duplicate_id_leaves_existing_untouched(rt: Runtime, tmp_path: Path,
                                                       bundle: Bundle, cid: str) -> None:
    first = create_ok(rt, cid, bundle)
    other = harness.make_bundle(tmp_path / "other", ("sleep", "300"))
    other.write()
    assert not rt.create(cid, other).ok
    again = rt.state(cid)
    assert again is not None and again["pid"] == first["pid"]
    assert os.path.realpath(again["bundle"]) == os.path.realpath(bundle.path)
    assert again["status"] == "created"
    assert harness.processes_under(other.path) == []


@req("runtime.md#create", "an ID not valid in any other way MUST generate an error; no container")
@pytest.mark.parametrize("bad_id", ["../escape", "a/b", ".."], ids=["dotdot-slash", "slash",
                                                                    "dotdot"])
def test_create_invalid_id_fails(rt: Runtime, bundle: Bundle, bad_id: str) -> None:
    bundle.shell("sleep 300")
    bundle.write()
    res = rt.create(bad_id, bundle)
    assert not res.ok
    assert harness.processes_under(bundle.path) == []
    assert not (rt.root.parent / "escape").exists()


@req("runtime.md#create", "this operation MUST create a new container")
def test_create_new_container_listed(rt: Runtime, bundle: Bundle, cid: str) -> None:
    create_ok(rt, cid, bundle)
    res = rt.cmd("list", "--format", "json")
    assert res.ok and cid in res.out, str(res)


# --- Start --------------------------------------------------------------------------

@req("runtime.md#start", "start MUST generate an error if not provided the container ID")
def test_start_without_id_fails(rt: Runtime) -> None:
    assert not rt.cmd("start").ok


@req("runtime.md#start", "start on a container that does not exist MUST generate an error")
def test_start_unknown_container_fails(rt: Runtime, cid: str) -> None:
    assert not rt.start(cid).ok


@req("runtime.md#start", "start on a running container MUST generate an error")
def test_start_running_container_fails(rt: Runtime, bundle: Bundle, cid: str) -> None:
    create_ok(rt, cid, bundle)
    start_ok(rt, cid)
    assert not rt.start(cid).ok


@req("runtime.md#start", "start on a running container MUST have no effect on it")
def test_start_running_container_no_effect(rt: Runtime, bundle: Bundle, cid: str) -> None:
    create_ok(rt, cid, bundle, "echo x >> /tmp/count; sleep 300")
    start_ok(rt, cid)
    pid = rt.state(cid)["pid"]  # type: ignore[index]
    rt.start(cid)
    time.sleep(0.2)
    st = rt.state(cid)
    assert st is not None and st["status"] == "running" and st["pid"] == pid
    assert (bundle.rootfs / "tmp" / "count").read_text().count("x") == 1


@req("runtime.md#start", "start on a stopped container MUST generate an error")
def test_start_stopped_container_fails(rt: Runtime, bundle: Bundle, cid: str) -> None:
    create_ok(rt, cid, bundle, "true")
    start_ok(rt, cid)
    rt.wait_status(cid, "stopped")
    assert not rt.start(cid).ok


@req("runtime.md#start", "start on a stopped container MUST have no effect (program not re-run)")
def test_start_stopped_container_no_effect(rt: Runtime, bundle: Bundle, cid: str) -> None:
    create_ok(rt, cid, bundle, "echo x >> /tmp/count")
    start_ok(rt, cid)
    rt.wait_status(cid, "stopped")
    rt.start(cid)
    time.sleep(0.2)
    assert rt.status(cid) == "stopped"
    assert (bundle.rootfs / "tmp" / "count").read_text().count("x") == 1


@req("runtime.md#start", "start MUST generate an error if `process` was not set")
def test_start_without_process_fails(rt: Runtime, bundle: Bundle, cid: str) -> None:
    del bundle.config["process"]
    bundle.write()
    created = rt.create(cid, bundle).ok
    started = created and rt.start(cid).ok
    assert not started


# --- Kill ---------------------------------------------------------------------------

@req("runtime.md#kill", "kill MUST generate an error if not provided the container ID")
def test_kill_without_id_fails(rt: Runtime) -> None:
    assert not rt.cmd("kill").ok


@req("runtime.md#kill", "kill on a container that does not exist MUST generate an error")
def test_kill_unknown_container_fails(rt: Runtime, cid: str) -> None:
    assert not rt.kill(cid, "KILL").ok


@req("runtime.md#kill", "kill MUST send the signal to the container process (created)")
def test_kill_created_container_delivers_signal(rt: Runtime, bundle: Bundle, cid: str) -> None:
    pid = create_ok(rt, cid, bundle)["pid"]
    res = rt.kill(cid, "KILL")
    assert res.ok, str(res)
    assert harness.poll(lambda: not harness.pid_alive(pid))
    assert rt.wait_status(cid, "stopped") == "stopped"


@req("runtime.md#kill", "kill MUST send the specified signal to the container process (running)")
def test_kill_running_container_delivers_signal(rt: Runtime, bundle: Bundle, cid: str) -> None:
    create_ok(rt, cid, bundle,
              "trap 'echo got-usr1 > /tmp/sig; exit 0' USR1; touch /tmp/ready; "
              "while true; do sleep 0.1; done")
    start_ok(rt, cid)
    assert harness.poll(lambda: (bundle.rootfs / "tmp" / "ready").exists())
    res = rt.kill(cid, "USR1")
    assert res.ok, str(res)
    assert harness.poll(lambda: (bundle.rootfs / "tmp" / "sig").exists())


@req("runtime.md#kill", "kill accepts the signal by name or number (SIGTERM == 15)")
def test_kill_signal_number_delivered(rt: Runtime, bundle: Bundle, cid: str) -> None:
    create_ok(rt, cid, bundle,
              "trap 'echo term > /tmp/sig; exit 0' TERM; touch /tmp/ready; "
              "while true; do sleep 0.1; done")
    start_ok(rt, cid)
    assert harness.poll(lambda: (bundle.rootfs / "tmp" / "ready").exists())
    assert rt.kill(cid, "15").ok
    assert harness.poll(lambda: (bundle.rootfs / "tmp" / "sig").exists())


@req("runtime.md#kill", "kill on a stopped container MUST generate an error")
def test_kill_stopped_container_fails(rt: Runtime, bundle: Bundle, cid: str) -> None:
    create_ok(rt, cid, bundle, "true")
    start_ok(rt, cid)
    rt.wait_status(cid, "stopped")
    assert not rt.kill(cid, "KILL").ok


@req("runtime.md#kill", "kill on a stopped container MUST have no effect on it")
def test_kill_stopped_container_no_effect(rt: Runtime, bundle: Bundle, cid: str) -> None:
    create_ok(rt, cid, bundle, "true")
    start_ok(rt, cid)
    rt.wait_status(cid, "stopped")
    before = rt.state(cid)
    rt.kill(cid, "KILL")
    after = rt.state(cid)
    assert before is not None and after is not None
    assert after["status"] == "stopped" and after["bundle"] == before["bundle"]
    assert rt.delete(cid).ok


# --- Delete -------------------------------------------------------------------------

@req("runtime.md#delete", "delete MUST generate an error if not provided the container ID")
def test_delete_without_id_fails(rt: Runtime) -> None:
    assert not rt.cmd("delete").ok


@req("runtime.md#delete", "delete on a container that does not exist MUST generate an error")
def test_delete_unknown_container_fails(rt: Runtime, cid: str) -> None:
    assert not rt.delete(cid).ok


@req("runtime.md#delete", "delete on a running container MUST generate an error")
def test_delete_running_container_fails(rt: Runtime, bundle: Bundle, cid: str) -> None:
    create_ok(rt, cid, bundle)
    start_ok(rt, cid)
    assert not rt.delete(cid).ok


@req("runtime.md#delete", "delete on a running container MUST have no effect on it")
def test_delete_running_container_no_effect(rt: Runtime, bundle: Bundle, cid: str) -> None:
    create_ok(rt, cid, bundle)
    start_ok(rt, cid)
    pid = rt.state(cid)["pid"]  # type: ignore[index]
    rt.delete(cid)
    st = rt.state(cid)
    assert st is not None and st["status"] == "running" and st["pid"] == pid
    assert harness.pid_alive(pid)
    assert harness.cgroup_dirs(bundle.linux["cgroupsPath"])


@runc_bug("`delete` of a created (not stopped) container kills and deletes it without error")
@req("runtime.md#delete", "delete on a created (not stopped) container MUST generate an error")
def test_delete_created_container_fails(rt: Runtime, bundle: Bundle, cid: str) -> None:
    create_ok(rt, cid, bundle)
    assert not rt.delete(cid).ok
    assert rt.status(cid) == "created"


@req("runtime.md#delete", "deleting MUST delete the resources created during create")
def test_delete_stopped_container_removes_state(rt: Runtime, bundle: Bundle, cid: str) -> None:
    create_ok(rt, cid, bundle, "true")
    start_ok(rt, cid)
    rt.wait_status(cid, "stopped")
    assert rt.delete(cid).ok
    assert rt.state(cid) is None


@req("runtime.md#delete", "deleting MUST delete the resources created during create (cgroups)")
def test_delete_removes_cgroups(rt: Runtime, bundle: Bundle, cid: str) -> None:
    create_ok(rt, cid, bundle, "true")
    assert harness.cgroup_dirs(bundle.linux["cgroupsPath"])
    start_ok(rt, cid)
    rt.wait_status(cid, "stopped")
    assert rt.delete(cid).ok
    assert harness.cgroup_dirs(bundle.linux["cgroupsPath"]) == []


@req("runtime.md#delete", "once deleted, the ID MAY be used by a subsequent container")
def test_delete_id_reusable(rt: Runtime, bundle: Bundle, cid: str) -> None:
    create_ok(rt, cid, bundle, "true")
    start_ok(rt, cid)
    rt.wait_status(cid, "stopped")
    assert rt.delete(cid).ok
    res = rt.create(cid, bundle)
    assert res.ok, str(res)
    assert rt.status(cid) == "created"


@req("runtime.md#delete", "resources associated with but not created by the container MUST NOT be deleted")
def test_delete_keeps_foreign_resources(rt: Runtime, bundle: Bundle, cid: str) -> None:
    src = bundle.hostdir("hostdata")
    (src / "keep.txt").write_text("keep")
    bundle.add_mount("/mnt/data", "bind", str(src), ["rbind", "rw"])
    holder = harness.spawn_ns_holder(["--net"])
    try:
        netns = f"/proc/{holder.pid}/ns/net"
        bundle.linux["namespaces"] = [n for n in bundle.linux["namespaces"]
                                      if n["type"] != "network"]
        bundle.linux["namespaces"].append({"type": "network", "path": netns})
        create_ok(rt, cid, bundle, "echo hi > /mnt/data/new.txt")
        start_ok(rt, cid)
        rt.wait_status(cid, "stopped")
        assert rt.delete(cid).ok
        assert (src / "keep.txt").read_text() == "keep"
        assert (src / "new.txt").exists()
        assert holder.proc.poll() is None and harness.pid_alive(holder.pid)
    finally:
        holder.stop()


# --- Operations / scope --------------------------------------------------------------

@req("runtime.md#scope-of-a-container", "the creating entity MUST be able to use all operations on it")
def test_full_lifecycle_by_creator(rt: Runtime, bundle: Bundle, cid: str) -> None:
    create_ok(rt, cid, bundle, "sleep 300")
    assert rt.status(cid) == "created"
    start_ok(rt, cid)
    assert rt.status(cid) == "running"
    assert rt.kill(cid, "KILL").ok
    assert rt.wait_status(cid, "stopped") == "stopped"
    assert rt.delete(cid).ok
    assert rt.state(cid) is None

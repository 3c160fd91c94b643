"""How delete removes a container's cgroup without the managers (operations.remove_idle_cgroup).

Plain directories stand in for cgroupfs here: rmdir(2) refuses a non-empty one as cgroupfs
refuses a cgroup that still holds a task or a child (the real case is in
tests/integration/test_lifecycle.py).
"""

from __future__ import annotations

from pathlib import Path

from pyruntime.operations import remove_idle_cgroup
from pyruntime.state import State


def state_with(paths: dict[str, str], mounts: dict[str, str] | None = None,
               cgroup_path: str | None = "/c1") -> State:
    return State(id="c1", bundle="/b", rootfs="/b/rootfs", created="now",
                 cgroup_path=cgroup_path, cgroup_paths=paths, cgroup_mounts=mounts)


def test_idle_directories_are_removed_shared_and_missing_ones_are_fine(tmp_path: Path) -> None:
    (tmp_path / "cpu,cpuacct" / "c1").mkdir(parents=True)
    (tmp_path / "memory" / "c1").mkdir(parents=True)
    comounted = str(tmp_path / "cpu,cpuacct" / "c1")
    st = state_with({"cpu": comounted, "cpuacct": comounted,
                     "memory": str(tmp_path / "memory" / "c1"),
                     "pids": str(tmp_path / "pids" / "c1")})  # never created: fine
    assert remove_idle_cgroup(st) is True
    assert not (tmp_path / "cpu,cpuacct" / "c1").exists()
    assert not (tmp_path / "memory" / "c1").exists()


def test_a_busy_directory_leaves_the_rest_to_the_manager(tmp_path: Path) -> None:
    for name in ("memory", "pids"):
        (tmp_path / name / "c1").mkdir(parents=True)
    (tmp_path / "memory" / "c1" / "child").mkdir()  # as a child cgroup would
    st = state_with({"memory": str(tmp_path / "memory" / "c1"),
                     "pids": str(tmp_path / "pids" / "c1")})
    assert remove_idle_cgroup(st) is False
    assert (tmp_path / "memory" / "c1" / "child").is_dir()
    assert (tmp_path / "pids" / "c1").is_dir()  # untouched after the first refusal


def test_a_hierarchy_root_is_never_removed(tmp_path: Path) -> None:
    (tmp_path / "memory").mkdir()
    root = str(tmp_path / "memory")
    assert remove_idle_cgroup(state_with({"memory": root}, {"memory": root})) is False
    assert (tmp_path / "memory").is_dir()
    (tmp_path / "unified").mkdir()  # empty: only the guard keeps it
    v2_root = str(tmp_path / "unified")
    v2 = state_with({"": v2_root})  # a v2 cgroupsPath of "/": the cgroup root itself
    v2.cgroup_root = v2_root
    assert remove_idle_cgroup(v2) is False
    assert (tmp_path / "unified").is_dir()


def test_without_recorded_directories() -> None:
    assert remove_idle_cgroup(state_with({}, cgroup_path=None)) is True  # no cgroup at all
    assert remove_idle_cgroup(state_with({})) is False  # a path but no dirs: the manager's job

"""Unit tests of cgroup path resolution (pyruntime.cgroups.paths and open_manager)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from pyruntime.cgroups import detect_version, open_manager
from pyruntime.cgroups import paths as cgpaths
from pyruntime.errors import CgroupError, SpecError

V1_DIRS = ("cpu,cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "systemd")


def make_v1_root(tmp_path: Path) -> Path:
    root = tmp_path / "cg"
    for d in V1_DIRS:
        (root / d).mkdir(parents=True)
        (root / d / "cgroup.procs").write_text("")
    # The usual aliases of a co-mounted hierarchy.
    os.symlink("cpu,cpuacct", root / "cpu")
    os.symlink("cpu,cpuacct", root / "cpuacct")
    (root / "unified").mkdir()
    (root / "unified" / "cgroup.procs").write_text("")
    (root / "unified" / "cgroup.controllers").write_text("")
    return root


def make_v2_root(tmp_path: Path) -> Path:
    root = tmp_path / "cg2"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu memory pids\n")
    (root / "cgroup.procs").write_text("")
    return root


def proc_file(tmp_path: Path, text: str) -> str:
    p = tmp_path / "proc-cgroup"
    p.write_text(text)
    return str(p)


def test_expand_slice_nested_dashes_expands():
    assert cgpaths.expand_slice("test-a-b.slice") == "/test.slice/test-a.slice/test-a-b.slice"


def test_expand_slice_root_slice_is_root():
    assert cgpaths.expand_slice("-.slice") == "/"


@pytest.mark.parametrize("bad", ["foo", ".slice"[:3], "a--b.slice", "-a.slice", "a/b.slice"])
def test_expand_slice_invalid_raises(bad):
    with pytest.raises(SpecError, match="invalid slice name"):
        cgpaths.expand_slice(bad)


def test_parse_target_systemd_scope_named_like_runc():
    t = cgpaths.parse_target("system.slice:test:c6", "c6", systemd=True)
    assert t.inner == "/system.slice/test-c6.scope"


def test_parse_target_systemd_slice_name_kept():
    t = cgpaths.parse_target("user.slice:x:my.slice", "id", systemd=True)
    assert t.inner == "/user.slice/my.slice"


def test_parse_target_systemd_empty_parent_defaults_system_slice():
    assert (
        cgpaths.parse_target(":docker:abc", "abc", systemd=True).inner
        == "/system.slice/docker-abc.scope"
    )


def test_parse_target_systemd_absent_uses_runc_prefix():
    assert cgpaths.parse_target(None, "abc", systemd=True).inner == "/system.slice/runc-abc.scope"


def test_parse_target_systemd_wrong_form_raises():
    with pytest.raises(SpecError, match='"slice:prefix:name"'):
        cgpaths.parse_target("/docker/abc", "abc", systemd=True)


def test_parse_target_systemd_not_running_warns(monkeypatch, caplog):
    monkeypatch.setattr(cgpaths, "SYSTEMD_RUNNING_DIR", "/nonexistent/run/systemd/system")
    with caplog.at_level(logging.WARNING):
        cgpaths.parse_target("system.slice:test:c6", "c6", systemd=True)
    assert "systemd is not running" in caplog.text


def test_parse_target_absent_is_the_id_under_the_callers_cgroup():
    t = cgpaths.parse_target(None, "abc", systemd=False)
    assert t.inner == "abc" and t.relative


def test_parse_target_absolute_is_cleaned():
    assert cgpaths.parse_target("/a/../../b//c/", "x", systemd=False).inner == "/b/c"


def test_parse_target_relative_cannot_escape():
    t = cgpaths.parse_target("../../x/y", "x", systemd=False)
    assert t.inner == "x/y" and t.relative


def test_parse_proc_cgroup_splits_comounts_and_v2():
    text = "9:name=systemd:/s\n4:cpu,cpuacct:/c\n0::/u\n"
    assert cgpaths.parse_proc_cgroup(text) == {
        "name=systemd": "/s",
        "cpu": "/c",
        "cpuacct": "/c",
        "": "/u",
    }


def test_discover_v1_tree_finds_every_hierarchy(tmp_path):
    root = make_v1_root(tmp_path)
    m = cgpaths.discover_v1(str(root))
    assert m["cpu"] == m["cpuacct"] == str(root / "cpu,cpuacct")
    assert m["name=systemd"] == str(root / "systemd")
    assert m[""] == str(root / "unified")
    assert set(m) == {
        "cpu",
        "cpuacct",
        "cpuset",
        "memory",
        "devices",
        "freezer",
        "blkio",
        "pids",
        "name=systemd",
        "",
    }


def test_detect_version_v1_and_v2_trees(tmp_path):
    assert detect_version(str(make_v1_root(tmp_path))) == 1
    assert detect_version(str(make_v2_root(tmp_path))) == 2


def test_open_manager_v1_absolute_path_in_every_hierarchy(tmp_path):
    root = make_v1_root(tmp_path)
    mgr = open_manager("/docker/abc", "abc", root=str(root))
    assert mgr.version == 1 and mgr.path == "/docker/abc"
    jp = mgr.joinable_paths()
    assert jp["memory"] == str(root / "memory/docker/abc")
    assert jp["cpu"] == str(root / "cpu,cpuacct/docker/abc")
    assert jp[""] == str(root / "unified/docker/abc")


def test_open_manager_v1_relative_per_hierarchy_own_cgroup(tmp_path):
    root = make_v1_root(tmp_path)
    proc = proc_file(tmp_path, "4:memory:/outer/me\n3:pids:/\n0::/\n")
    mgr = open_manager("rel/c", "c", root=str(root), proc_cgroup=proc)
    jp = mgr.joinable_paths()
    assert jp["memory"] == str(root / "memory/outer/me/rel/c")
    assert jp["pids"] == str(root / "pids/rel/c")
    # Unknown own cgroup (not listed) falls back to the hierarchy root.
    assert jp["devices"] == str(root / "devices/rel/c")
    assert mgr.path == "/rel/c"


def test_open_manager_v1_reopen_from_joinable_paths_is_exact(tmp_path):
    root = make_v1_root(tmp_path)
    proc = proc_file(tmp_path, "4:memory:/outer/me\n0::/\n")
    first = open_manager("rel/c", "c", root=str(root), proc_cgroup=proc)
    again = open_manager(first.path, "c", root=str(root), paths=first.joinable_paths())
    assert again.joinable_paths() == first.joinable_paths()


def test_open_manager_reopen_absolute_path_same_dirs(tmp_path):
    root = make_v1_root(tmp_path)
    first = open_manager("/abc", "abc", root=str(root))
    assert first.path == "/abc"
    assert (
        open_manager(first.path, "abc", root=str(root)).joinable_paths() == first.joinable_paths()
    )


def test_open_manager_v2_relative_is_sibling_of_own_cgroup(tmp_path):
    root = make_v2_root(tmp_path)
    proc = proc_file(tmp_path, "0::/user.slice/session-1.scope\n")
    mgr = open_manager("ctr", "ctr", root=str(root), proc_cgroup=proc)
    assert mgr.version == 2
    assert mgr.path == "/user.slice/ctr"
    assert mgr.joinable_paths() == {"": str(root / "user.slice/ctr")}


def test_open_manager_v2_systemd_path(tmp_path):
    root = make_v2_root(tmp_path)
    mgr = open_manager("system.slice:docker:abc", "abc", systemd=True, root=str(root))
    assert mgr.path == "/system.slice/docker-abc.scope"
    again = open_manager(None, "abc", root=str(root), paths=mgr.joinable_paths())
    assert again.path == mgr.path


def test_open_manager_empty_root_raises(tmp_path):
    with pytest.raises(CgroupError, match="no cgroup hierarchies"):
        open_manager(None, "x", root=str(tmp_path))


def test_open_manager_does_not_import_ctypes_or_stats():
    import subprocess
    import sys

    code = (
        "import sys; from pyruntime.cgroups import open_manager; "
        "open_manager(None, 'x'); "
        "bad = [m for m in ('ctypes', 'pyruntime.cgroups.stats', 'pyruntime.shim', 'json') "
        "if m in sys.modules]; print(bad)"
    )
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "[]"

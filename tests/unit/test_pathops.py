"""pathops must give exactly what os / os.path give (the hot path uses it instead of os)."""

from __future__ import annotations

import os
import posixpath
import site
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyruntime import pathops

# paths made of the parts that matter to POSIX path logic
PART = st.sampled_from(["", ".", "..", "a", "b", "c.d", "...", " "])
PATH = st.builds(lambda lead, parts, trail: lead + "/".join(parts) + trail,
                 st.sampled_from(["", "/", "//", "///"]), st.lists(PART, max_size=6),
                 st.sampled_from(["", "/", "//"]))


@given(PATH)
def test_normpath_split_dirname_basename_isabs(path: str) -> None:
    assert pathops.normpath(path) == posixpath.normpath(path)
    assert pathops.split(path) == posixpath.split(path)
    assert pathops.dirname(path) == posixpath.dirname(path)
    assert pathops.basename(path) == posixpath.basename(path)
    assert pathops.isabs(path) == posixpath.isabs(path)
    assert pathops.abspath(path) == posixpath.abspath(path)


@given(PATH, st.lists(PATH, max_size=3))
def test_join(first: str, rest: list[str]) -> None:
    assert pathops.join(first, *rest) == posixpath.join(first, *rest)


@given(PATH.filter(bool), PATH.filter(bool))
def test_relpath(path: str, start: str) -> None:
    assert pathops.relpath(path, start) == posixpath.relpath(path, start)


def test_relpath_refuses_empty() -> None:
    with pytest.raises(ValueError):
        pathops.relpath("")


@pytest.fixture
def tree(tmp_path):  # type: ignore[no-untyped-def]
    """Files, dirs and symlinks: relative, absolute, chained, dangling and looping."""
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "f").write_text("x")
    (tmp_path / "rel").symlink_to("d/e")
    (tmp_path / "abs").symlink_to(tmp_path / "d")
    (tmp_path / "chain").symlink_to("rel")
    (tmp_path / "up").symlink_to("d/e/../../f")
    (tmp_path / "dangling").symlink_to("nowhere/x")
    (tmp_path / "loop1").symlink_to("loop2")
    (tmp_path / "loop2").symlink_to("loop1")
    return tmp_path


NAMES = ["d", "d/e", "f", "rel", "abs", "chain", "up", "dangling", "loop1", "missing",
         "rel/..", "abs/e/../e", "chain/x/y", "f/x", "d/../rel", "loop1/x", ".", ""]


@pytest.mark.parametrize("name", NAMES)
def test_filesystem_helpers_match_os(tree, name: str) -> None:  # type: ignore[no-untyped-def]
    path = str(tree / name) if name else str(tree)
    assert pathops.realpath(path) == os.path.realpath(path)
    assert pathops.exists(path) == os.path.exists(path)
    assert pathops.isdir(path) == os.path.isdir(path)
    assert pathops.isfile(path) == os.path.isfile(path)


def test_realpath_relative_to_cwd(tree, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tree)
    for name in ("chain", "./up", "d/../abs/e", "missing/x"):
        assert pathops.realpath(name) == os.path.realpath(name)


def test_makedirs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = str(tmp_path / "a" / "b" / "c")
    pathops.makedirs(target, 0o711)
    assert os.path.isdir(target)
    assert os.stat(tmp_path / "a").st_mode & 0o777 == 0o711 & ~_umask()
    pathops.makedirs(target + "/", exist_ok=True)
    with pytest.raises(FileExistsError):
        pathops.makedirs(target)
    (tmp_path / "file").write_text("")
    with pytest.raises(FileExistsError):
        pathops.makedirs(str(tmp_path / "file"), exist_ok=True)


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


def test_getenv_sees_os_environ(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PYRT_PATHOPS_T", "v\udcff")
    assert pathops.getenv("PYRT_PATHOPS_T") == "v\udcff"
    monkeypatch.delenv("PYRT_PATHOPS_T")
    assert pathops.getenv("PYRT_PATHOPS_T") is None


def test_fsencode() -> None:
    assert pathops.fsencode("a\udcffb") == os.fsencode("a\udcffb")
    assert pathops.fsencode(b"x") == b"x"


def test_hot_path_never_imports_os() -> None:
    """The verbs every caller hits import neither os nor posixpath (worth ~1.9 ms a call)."""
    paths = [os.path.dirname(os.path.dirname(pathops.__file__)), *site.getsitepackages()]
    code = (f"import sys\nsys.path[:0] = {paths!r}\n"
            "import pyruntime.cli.main, pyruntime.cli.state, pyruntime.cli.kill, "
            "pyruntime.cli.delete, pyruntime.cli.start, pyruntime.cli.run, pyruntime.cli.create,"
            " pyruntime.container, pyruntime.plan, pyruntime.shim, pyruntime.spec.load, "
            "pyruntime.spec.validate, pyruntime.cgroups.v1, pyruntime.cgroups.v2, "
            "pyruntime.seccomp, pyruntime.hooks, pyruntime.failure\n"
            "print(sorted(m for m in ('os', 'posixpath', '_collections_abc', 'typing', 're',"
            " 'json', 'logging', 'dataclasses', 'enum') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "[]"


def test_read_bytes(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"x" * 70000 + b"end")  # more than one read(2)
    assert pathops.read_bytes(str(f)) == f.read_bytes()
    assert pathops.read_bytes("/proc/self/stat").startswith(str(os.getpid()).encode())
    with pytest.raises(FileNotFoundError):
        pathops.read_bytes(str(tmp_path / "missing"))

"""pytest plumbing for the OCI runtime-spec conformance suite.

Owns: the ``--runtime PATH`` option, per-test runtime state dirs and bundles,
module-scoped probe runners, the runc-only strict xfails, the requirement
text attached to every report (junitxml properties, failure sections) and the
per-spec-file summary table.  Must not touch anything outside tmp dirs except
cgroups the runtime itself creates under ``/oci-conformance``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conformance import harness
from conformance.marks import SPEC_VERSION, spec_file

CGROUP_PARENT = "oci-conformance"
SPEC_FILES = ("runtime.md", "runtime-linux.md", "config.md", "config-linux.md")
_FLAVOR_KEY = pytest.StashKey[str]()
_PATH_KEY = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("oci-conformance")
    group.addoption("--runtime", action="store", default=None, metavar="PATH",
                    help="OCI runtime binary to test (default: pyruntime from PATH)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "req(ref, text): runtime-spec statement checked")
    config.addinivalue_line("markers", "runc_bug(reason): known runc 1.1.5 deviation")
    path = config.getoption("--runtime", default=None) or shutil.which("pyruntime") or ""
    if path and not os.path.isabs(path):
        path = shutil.which(path) or os.path.abspath(path)
    config.stash[_PATH_KEY] = path
    config.stash[_FLAVOR_KEY] = _flavor(path) if path else ""


def _flavor(path: str) -> str:
    """First line of `RUNTIME --version`, lower-cased ('' when it fails)."""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True,
                             timeout=20, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    return (out.splitlines() or [""])[0].strip().lower()


def is_runc(config: pytest.Config) -> bool:
    return config.stash.get(_FLAVOR_KEY, "").startswith("runc")


def _in_suite(item: pytest.Item) -> bool:
    return Path(__file__).parent in Path(str(item.fspath)).parents


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    path = config.stash.get(_PATH_KEY, "")
    skip_reason = None
    if not path or not os.access(path, os.X_OK):
        skip_reason = "no runtime: pass --runtime PATH or put pyruntime on PATH"
    elif os.geteuid() != 0:
        skip_reason = "the conformance suite needs root"
    runc = is_runc(config)
    for item in items:
        if not _in_suite(item):
            continue
        mark = item.get_closest_marker("req")
        if mark is not None:
            ref, text = mark.args
            item.user_properties.append(("requirement", f"{ref}: {text}"))
            item.user_properties.append(("spec_file", spec_file(ref)))
        if skip_reason:
            item.add_marker(pytest.mark.skip(reason=skip_reason))
            continue
        if runc:
            for bug in item.iter_markers("runc_bug"):
                item.add_marker(pytest.mark.xfail(strict=True, reason="runc 1.1.5: "
                                                  + bug.args[0]))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    mark = item.get_closest_marker("req")
    longrepr: Any = report.longrepr
    if mark is not None and report.failed and hasattr(longrepr, "addsection"):
        ref, text = mark.args
        longrepr.addsection("OCI runtime-spec " + SPEC_VERSION, f"{ref}: {text}")
    return report


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int,
                            config: pytest.Config) -> None:
    """Table of outcomes per spec file; a test counts once, worst outcome wins."""
    rank = {"failed": 5, "error": 5, "xpassed": 4, "xfailed": 3, "skipped": 2, "passed": 1}
    outcome: dict[str, tuple[str, str]] = {}
    for key, reports in terminalreporter.stats.items():
        if key not in rank:
            continue
        for rep in reports:
            props = dict(getattr(rep, "user_properties", []) or [])
            sfile = props.get("spec_file")
            nodeid = getattr(rep, "nodeid", "")
            if not sfile or not nodeid:
                continue
            name = "failed" if key == "error" else key
            prev = outcome.get(nodeid)
            if prev is None or rank[name] > rank[prev[1]]:
                outcome[nodeid] = (sfile, name)
    if not outcome:
        return
    cols = ("passed", "failed", "skipped", "xfailed", "xpassed")
    table: dict[str, dict[str, int]] = {}
    for sfile, name in outcome.values():
        table.setdefault(sfile, dict.fromkeys(cols, 0))[name] += 1
    tr = terminalreporter
    runtime = config.stash.get(_PATH_KEY, "")
    tr.write_sep("=", f"OCI runtime-spec {SPEC_VERSION} conformance: {runtime}")
    tr.write_line(f"{'spec file':<20}" + "".join(f"{c:>9}" for c in cols) + f"{'total':>9}")
    order = sorted(table, key=lambda f: (SPEC_FILES.index(f) if f in SPEC_FILES else 99, f))
    totals = dict.fromkeys(cols, 0)
    for sfile in order:
        row = table[sfile]
        for c in cols:
            totals[c] += row[c]
        tr.write_line(f"{sfile:<20}" + "".join(f"{row[c]:>9}" for c in cols)
                      + f"{sum(row.values()):>9}")
    tr.write_line(f"{'total':<20}" + "".join(f"{totals[c]:>9}" for c in cols)
                  + f"{sum(totals.values()):>9}")


# --- fixtures -------------------------------------------------------------------

@pytest.fixture(scope="session")
def runtime_path(pytestconfig: pytest.Config) -> str:
    return pytestconfig.stash[_PATH_KEY]


@pytest.fixture(scope="session")
def runtime_is_runc(pytestconfig: pytest.Config) -> bool:
    return is_runc(pytestconfig)


@pytest.fixture(scope="session", autouse=True)
def _cgroup_parent_cleanup() -> Iterator[None]:
    yield
    for d in harness.cgroup_dirs("/" + CGROUP_PARENT):
        try:
            d.rmdir()
        except OSError:
            pass


def cgroups_path_for(cid: str) -> str:
    return f"/{CGROUP_PARENT}/{cid}"


@pytest.fixture
def rt(runtime_path: str, tmp_path: Path) -> Iterator[harness.Runtime]:
    """The runtime under test with a private --root; force-deletes what it made."""
    runtime = harness.Runtime(runtime_path, tmp_path / "state")
    yield runtime
    runtime.cleanup()


@pytest.fixture
def cid() -> str:
    return harness.new_id()


@pytest.fixture
def bundle(tmp_path: Path, cid: str) -> harness.Bundle:
    """A busybox bundle whose cgroupsPath is unique to this test's container id."""
    b = harness.make_bundle(tmp_path / "bundle")
    b.linux["cgroupsPath"] = cgroups_path_for(cid)
    return b


@dataclass
class Probe:
    """One finished `run` of a probe script and what it printed."""

    result: harness.Result
    out: dict[str, str]
    bundle: harness.Bundle
    cid: str

    def __getitem__(self, key: str) -> str:
        assert self.result.ok, str(self.result)
        assert key in self.out, f"probe section {key!r} missing:\n{self.result}"
        return self.out[key]

    def mounts(self) -> list[harness.MountEntry]:
        return harness.parse_mountinfo(self["mountinfo"])


ProbeFn = Callable[..., Probe]


@pytest.fixture(scope="module")
def probe(runtime_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProbeFn]:
    """Factory: run one container with a probe script; module-scoped and cached.

    probe(items, setup=None, key=None): `setup(bundle)` edits the config
    before the run; the same key returns the cached Probe, so many tests can
    assert on one container run.
    """
    base = tmp_path_factory.mktemp("probe")
    runtime = harness.Runtime(runtime_path, base / "state")
    cache: dict[str, Probe] = {}

    def run(items: dict[str, str] | None = None,
            setup: Callable[[harness.Bundle], None] | None = None,
            key: str | None = None) -> Probe:
        if key is not None and key in cache:
            return cache[key]
        cid = harness.new_id("pr")
        b = harness.make_bundle(base / cid)
        b.linux["cgroupsPath"] = cgroups_path_for(cid)
        b.shell(harness.probe_script(items if items is not None else harness.STANDARD_PROBE))
        if setup is not None:
            setup(b)
        b.write()
        res = runtime.run(cid, b)
        runtime.delete(cid, force=True)
        p = Probe(res, harness.parse_probe(res.out), b, cid)
        if key is not None:
            cache[key] = p
        return p

    yield run
    runtime.cleanup()

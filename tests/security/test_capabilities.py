"""Capabilities: every name the kernel knows in each of the five sets, unknown names (a
warning, and the container still runs, as runc), the ambient rules, and Docker's
`--cap-drop ALL` form (`"capabilities": {}`).

The kernel's names and numbers come from <linux/capability.h>, not from pyruntime's table.
Two views are used: the created (not started) init, whose /proc/PID/status shows the sets
exactly as the runtime left them before execve, and the started process, which shows what
survives execve (for a non-root user: bounding, inheritable, and ambient, which also
becomes permitted and effective).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.security.conftest import cap_status, detached, run_ok

pytestmark = pytest.mark.root

SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")
STATUS_KEY = {"bounding": "CapBnd", "effective": "CapEff", "permitted": "CapPrm",
              "inheritable": "CapInh", "ambient": "CapAmb"}
HEADER = Path("/usr/include/linux/capability.h")


def kernel_caps() -> dict[str, int]:
    """CAP_* name -> number for every capability of the running kernel."""
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    if HEADER.exists():
        found = {m.group(1): int(m.group(2)) for m in
                 re.finditer(r"^#define\s+(CAP_[A-Z_]+)\s+(\d+)\s*$", HEADER.read_text(), re.M)
                 if m.group(1) != "CAP_LAST_CAP"}
    else:  # no kernel headers: fall back to the runtime's own table
        from pyruntime.spec.constants import CAP_NUMBERS

        found = dict(CAP_NUMBERS)
    caps = {name: num for name, num in found.items() if num <= last}
    assert len(set(caps.values())) == last + 1, caps
    return caps


def own_permitted() -> int:
    """Our permitted set: the runtime cannot hand out a capability it does not hold (some
    sandboxes drop CAP_SYS_RESOURCE from everything)."""
    return cap_status(Path("/proc/self/status").read_text())["CapPrm"]


KERNEL_CAPS = kernel_caps()
HELD = own_permitted()
CAPS = {name: num for name, num in KERNEL_CAPS.items() if HELD & (1 << num)}
FULL = sum(1 << num for num in CAPS.values())


def status_of_created(cli: Any, bundle: Any) -> dict[str, int]:
    """Capability masks of the created init: what the runtime set, before execve."""
    cid = cli.new_id()
    detached(cli, "create", "-b", str(bundle.path), cid)
    pid = cli.state(cid)["pid"]
    text = Path(f"/proc/{pid}/status").read_text()
    cli("delete", "--force", cid)
    return cap_status(text)


def with_caps(bundle: Any, caps: dict[str, list[str]], *, uid: int = 0) -> Any:
    bundle.config["process"]["capabilities"] = caps
    bundle.config["process"]["user"] = {"uid": uid, "gid": uid}
    return bundle.write()


def test_caps_all_kernel_names_all_five_sets_full_masks(cli: Any, make_bundle: Any) -> None:
    """Every name the kernel knows (that we hold) in all five sets: every bit set."""
    b = with_caps(make_bundle("cat", "/proc/self/status"), {k: list(CAPS) for k in SETS})
    caps = cap_status(run_ok(cli, b))
    assert caps == {key: FULL for key in caps}


@pytest.mark.parametrize("name", [n for n, _ in sorted(KERNEL_CAPS.items(), key=lambda kv: kv[1])])
def test_caps_each_name_in_five_sets_non_root_exact_bit(cli: Any, make_bundle: Any,
                                                        name: str) -> None:
    """One capability in all five sets for uid 1000: after execve it is in each set (through
    ambient for permitted/effective), and no other bit is."""
    if name not in CAPS:
        pytest.skip(f"{name} is not in this host's permitted set")
    b = with_caps(make_bundle("cat", "/proc/self/status"), {k: [name] for k in SETS}, uid=1000)
    caps = cap_status(run_ok(cli, b))
    assert caps == {key: 1 << CAPS[name] for key in caps}


@pytest.mark.parametrize("given", [
    ("bounding",),
    ("permitted",),
    ("permitted", "effective"),
    ("bounding", "inheritable"),
    ("bounding", "permitted", "inheritable", "ambient"),
], ids=lambda g: "+".join(g))
def test_caps_every_name_in_given_sets_set_exactly_before_exec(cli: Any, make_bundle: Any,
                                                               given: tuple[str, ...]) -> None:
    """Every name in some sets and none in the others: the created init holds exactly that."""
    b = with_caps(make_bundle("true"), {k: list(CAPS) if k in given else [] for k in SETS})
    caps = status_of_created(cli, b)
    assert caps == {STATUS_KEY[k]: FULL if k in given else 0 for k in SETS}


def test_caps_unknown_name_warns_and_container_runs(cli: Any, make_bundle: Any) -> None:
    b = with_caps(make_bundle("cat", "/proc/self/status"),
                  {k: ["CAP_KILL", "CAP_NOT_A_REAL_CAP"] for k in SETS})
    proc = cli("run", "-b", str(b.path), cli.new_id())
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr.decode()
    assert "CAP_NOT_A_REAL_CAP" in err and "warn" in err.lower(), err
    caps = cap_status(proc.stdout.decode())
    assert caps == {key: 1 << CAPS["CAP_KILL"] for key in caps}


def test_caps_ambient_in_permitted_and_inheritable_raised(cli: Any, make_bundle: Any) -> None:
    net = "CAP_NET_BIND_SERVICE"
    b = with_caps(make_bundle("cat", "/proc/self/status"),
                  {"bounding": [net], "permitted": [net], "inheritable": [net],
                   "ambient": [net]}, uid=1000)
    caps = cap_status(run_ok(cli, b))
    bit = 1 << CAPS[net]
    assert caps["CapAmb"] == caps["CapPrm"] == caps["CapEff"] == bit


@pytest.mark.parametrize("missing", ["inheritable", "permitted"])
def test_caps_ambient_without_permitted_or_inheritable_not_raised(
        cli: Any, make_bundle: Any, missing: str) -> None:
    """Ambient needs the cap in both permitted and inheritable; otherwise it is skipped (runc
    ignores the failed raise) and the container still runs."""
    net = "CAP_NET_BIND_SERVICE"
    sets = {"bounding": [net], "permitted": [net], "inheritable": [net], "ambient": [net]}
    sets[missing] = []
    b = with_caps(make_bundle("cat", "/proc/self/status"), sets, uid=1000)
    caps = cap_status(run_ok(cli, b))
    assert caps["CapAmb"] == 0
    assert caps["CapPrm"] == caps["CapEff"] == 0


def test_caps_ambient_default_spec_without_inheritable_is_empty(cli: Any,
                                                                make_bundle: Any) -> None:
    """`spec`'s default lists ambient caps but no inheritable set: ambient stays empty."""
    b = make_bundle("cat", "/proc/self/status")
    b.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    b.write()
    assert b.config["process"]["capabilities"].get("ambient")
    caps = cap_status(run_ok(cli, b))
    assert caps["CapAmb"] == caps["CapInh"] == 0


def test_caps_docker_cap_drop_all_empty_object_all_zero(cli: Any, make_bundle: Any) -> None:
    b = with_caps(make_bundle("cat", "/proc/self/status"), {})
    caps = cap_status(run_ok(cli, b))
    assert caps == {key: 0 for key in caps}


def test_caps_docker_cap_drop_all_zero_before_exec(cli: Any, make_bundle: Any) -> None:
    caps = status_of_created(cli, with_caps(make_bundle("true"), {}))
    assert caps == {key: 0 for key in caps}


def test_caps_exec_empty_capabilities_all_zero(cli: Any, make_bundle: Any,
                                               tmp_path: Path) -> None:
    import json

    b = make_bundle("sleep", "30")
    cid = cli.new_id()
    detached(cli, "run", "-d", "-b", str(b.path), cid)
    process = {"args": ["cat", "/proc/self/status"], "cwd": "/", "user": {"uid": 0, "gid": 0},
               "env": ["PATH=/bin"], "capabilities": {}}
    (tmp_path / "p.json").write_text(json.dumps(process))
    proc = cli("exec", "-p", str(tmp_path / "p.json"), cid)
    assert proc.returncode == 0, proc.stderr
    caps = cap_status(proc.stdout.decode())
    assert caps == {key: 0 for key in caps}

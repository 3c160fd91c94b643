"""CVE-2022-29162: the runtime granted the inheritable capability set by default, so a
non-root container user who executes a file with inheritable file capabilities gained them.

pyruntime fills each set only from its own key of process.capabilities: with Docker's
config (no `inheritable`) the inheritable and ambient sets are empty, and `exec --cap` or
`spec` add nothing to them.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pyruntime.spec.constants import CAP_NUMBERS
from tests.security.conftest import cap_status, detached, run_ok

pytestmark = pytest.mark.root

# Docker's default capability list (moby oci/caps defaults).
DOCKER_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
               "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
               "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
DOCKER_MASK = sum(1 << CAP_NUMBERS[c] for c in DOCKER_CAPS)


def docker_caps() -> dict[str, list[str]]:
    """process.capabilities as Docker writes it since the fix: no inheritable set."""
    return {k: list(DOCKER_CAPS) for k in ("bounding", "effective", "permitted")}


def add_file_caps_busybox(bundle: Any) -> str:
    """A copy of busybox carrying inheritable file capabilities (all of them) with the
    effective bit: exec'ing it raises exactly the caps the process has inheritable."""
    target = bundle.rootfs / "opt" / "fcap" / "busybox"
    target.parent.mkdir(parents=True)
    shutil.copy2(bundle.rootfs / "bin" / "busybox", target)
    # struct vfs_cap_data, revision 2, VFS_CAP_FLAGS_EFFECTIVE; permitted 0, inheritable all
    data = struct.pack("<IIIII", 0x02000000 | 1, 0, 0xFFFFFFFF, 0, 0xFFFFFFFF)
    os.setxattr(target, "security.capability", data)
    return "/opt/fcap/busybox"


def test_docker_config_root_inheritable_and_ambient_empty(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("cat", "/proc/self/status")
    b.config["process"]["capabilities"] = docker_caps()
    b.write()
    caps = cap_status(run_ok(cli, b))
    assert caps["CapInh"] == 0
    assert caps["CapAmb"] == 0
    assert caps["CapBnd"] == caps["CapPrm"] == caps["CapEff"] == DOCKER_MASK


def test_docker_config_non_root_file_inheritable_caps_gain_nothing(cli: Any,
                                                                   make_bundle: Any) -> None:
    """The attack: uid 1000 executes a binary with fI = everything."""
    b = make_bundle()
    prog = add_file_caps_busybox(b)
    b.config["process"].update(args=[prog, "cat", "/proc/self/status"],
                               user={"uid": 1000, "gid": 1000}, noNewPrivileges=False,
                               capabilities=docker_caps())
    b.write()
    caps = cap_status(run_ok(cli, b))
    assert caps == {"CapInh": 0, "CapPrm": 0, "CapEff": 0, "CapBnd": DOCKER_MASK, "CapAmb": 0}


def test_explicit_inheritable_non_root_file_caps_raise_exactly_those(
        cli: Any, make_bundle: Any) -> None:
    """Control for the test above: the pre-fix Docker config, which asks for inheritable
    caps, does let the file's fI raise them (the probe binary works)."""
    b = make_bundle()
    prog = add_file_caps_busybox(b)
    caps_cfg = docker_caps()
    caps_cfg["inheritable"] = list(DOCKER_CAPS)
    b.config["process"].update(args=[prog, "cat", "/proc/self/status"],
                               user={"uid": 1000, "gid": 1000}, noNewPrivileges=False,
                               capabilities=caps_cfg)
    b.write()
    caps = cap_status(run_ok(cli, b))
    assert caps["CapInh"] == DOCKER_MASK
    assert caps["CapPrm"] == caps["CapEff"] == DOCKER_MASK


def test_exec_cap_flag_grants_no_inheritable(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("sleep", "30")
    b.config["process"]["capabilities"] = docker_caps()
    b.write()
    cid = cli.new_id()
    detached(cli, "run", "-d", "-b", str(b.path), cid)
    proc = cli("exec", "--cap", "CAP_NET_ADMIN", cid, "cat", "/proc/self/status")
    assert proc.returncode == 0, proc.stderr
    caps = cap_status(proc.stdout.decode())
    assert caps["CapInh"] == 0 and caps["CapAmb"] == 0
    assert caps["CapBnd"] == DOCKER_MASK | (1 << CAP_NUMBERS["CAP_NET_ADMIN"])


def test_exec_process_json_without_inheritable_grants_none(cli: Any, make_bundle: Any,
                                                           tmp_path: Path) -> None:
    b = make_bundle("sleep", "30")
    cid = cli.new_id()
    detached(cli, "run", "-d", "-b", str(b.path), cid)
    process = {"args": ["cat", "/proc/self/status"], "cwd": "/", "user": {"uid": 0, "gid": 0},
               "env": ["PATH=/bin"], "capabilities": docker_caps()}
    (tmp_path / "process.json").write_text(json.dumps(process))
    proc = cli("exec", "-p", str(tmp_path / "process.json"), cid)
    assert proc.returncode == 0, proc.stderr
    caps = cap_status(proc.stdout.decode())
    assert caps["CapInh"] == 0 and caps["CapAmb"] == 0
    assert caps["CapPrm"] == DOCKER_MASK


def test_spec_default_config_has_no_inheritable(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "spec"
    out.mkdir()
    subprocess.run([*cli.base, "spec"], cwd=out, check=True, capture_output=True, timeout=30)
    caps = json.loads((out / "config.json").read_text())["process"]["capabilities"]
    assert not caps.get("inheritable")

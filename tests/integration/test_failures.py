"""Bad bundles and failing setup steps: every failure is one line on stderr (exit 1, no
traceback) and leaves nothing behind: no state dir, no cgroup, no mount, no process.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import cgroup_dirs, processes_with_arg

pytestmark = pytest.mark.root

Mutator = Callable[[Any, Path], None]


def mounts_mentioning(*words: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if any(w in line for w in words)]


def create(cli: Any, bundle_path: Path, cid: str, *flags: str) -> tuple[int, str]:
    err = bundle_path.parent / f"{cid}.err"
    with open(err, "wb") as e:
        rc = subprocess.run([*cli.base, "--root", str(cli.root), "create", *flags, "-b",
                             str(bundle_path), cid], stdin=subprocess.DEVNULL, stdout=e,
                            stderr=e, timeout=30, check=False).returncode
    return rc, err.read_text()


def assert_failed_cleanly(cli: Any, cid: str, rc: int, err: str, tmp_path: Path,
                          mounts_before: list[str]) -> str:
    """One error line, exit 1, and no trace of the container anywhere."""
    assert rc == 1, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert not (cli.root / cid).exists()
    assert cgroup_dirs(cid) == []
    assert processes_with_arg(cid) == []
    assert mounts_mentioning(str(tmp_path), cid) == mounts_before
    return lines[0]


def _set(path: str, value: Any) -> Mutator:
    def mutate(b: Any, tmp: Path) -> None:
        node = b.config
        keys = path.split(".")
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        node[keys[-1]] = value
        b.write()
    return mutate


def _raw(text: str) -> Mutator:
    def mutate(b: Any, tmp: Path) -> None:
        (b.path / "config.json").write_text(text)
    return mutate


def _no_config(b: Any, tmp: Path) -> None:
    (b.path / "config.json").unlink()


def _no_rootfs(b: Any, tmp: Path) -> None:
    subprocess.run(["rm", "-rf", str(b.rootfs)], check=True)


def _add_mount(mount: dict[str, Any]) -> Mutator:
    def mutate(b: Any, tmp: Path) -> None:
        m = dict(mount)
        m["source"] = str(m["source"]).replace("TMP", str(tmp))
        b.config["mounts"].append(m)
        b.write()
    return mutate


def _join_ns(kind: str, path: str) -> Mutator:
    def mutate(b: Any, tmp: Path) -> None:
        for ns in b.config["linux"]["namespaces"]:
            if ns["type"] == kind:
                ns["path"] = path.replace("TMP", str(tmp))
        b.write()
    return mutate


def _plain_file_ns(b: Any, tmp: Path) -> None:
    (tmp / "plain").write_text("")
    _join_ns("network", "TMP/plain")(b, tmp)


CASES: dict[str, tuple[Mutator, str]] = {
    "invalid-json": (_raw("{not json"), "config.json"),
    "invalid-json-in-object": (_raw('{"ociVersion" "1.2.0"}'), "config.json"),
    "empty-config": (_raw(""), "config.json"),
    "config-not-object": (_raw("[1, 2]"), ""),
    "missing-config": (_no_config, "config.json"),
    "args-not-list": (_set("process.args", "sh"), "process.args"),
    "args-empty": (_set("process.args", []), "process.args"),
    "cwd-not-string": (_set("process.cwd", 5), "process.cwd"),
    "uid-negative": (_set("process.user.uid", -1), "process.user.uid"),
    "bad-oci-version": (_set("ociVersion", "9.9.9"), "ociVersion"),
    "unknown-namespace": (_set("linux.namespaces.0.type", "bogus"), "linux.namespaces"),
    "bad-rlimit-type": (_set("process.rlimits", [{"type": "RLIMIT_BOGUS", "soft": 1,
                                                   "hard": 1}]), "rlimits"),
    "missing-rootfs": (_no_rootfs, "rootfs"),
    "rootfs-path-missing": (_set("root.path", "no-such-rootfs"), "no-such-rootfs"),
    "bad-mount-source": (_add_mount({"destination": "/mnt/x", "type": "bind",
                                     "source": "TMP/no-such-source", "options": ["bind"]}),
                         "no-such-source"),
    "bad-mount-type": (_add_mount({"destination": "/mnt/x", "type": "nosuchfs",
                                   "source": "none"}), "/mnt/x"),
    "bad-namespace-path": (_join_ns("network", "TMP/no-such-ns"), "no-such-ns"),
    "namespace-path-not-ns": (_plain_file_ns, "plain"),
    "namespace-wrong-type": (_join_ns("ipc", "/proc/self/ns/net"), "ipc"),
    "exec-not-found": (_set("process.args", ["no-such-program"]), "no-such-program"),
    "exec-no-such-file": (_set("process.args", ["/no/such/file"]), "/no/such/file"),
    "cwd-is-file": (_set("process.cwd", "/etc/passwd"), "/etc/passwd"),
    "sysctl-host": (_set("linux.sysctl", {"kernel.pid_max": "1"}), "kernel.pid_max"),
    "sysctl-unknown": (_set("linux.sysctl", {"net.ipv4.nope": "1"}), "net.ipv4.nope"),
    "hostname-without-uts": (_set("linux.namespaces", [{"type": "mount"}]), "hostname"),
    "bad-device-type": (_set("linux.devices", [{"path": "/dev/x", "type": "q", "major": 1,
                                                "minor": 1}]), "devices"),
    "bad-personality": (_set("linux.personality", {"domain": "BOGUS"}), "personality"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_create_bad_bundle_fails_cleanly(cli: Any, make_bundle: Any, tmp_path: Path,
                                         case: str) -> None:
    mutate, needle = CASES[case]
    b = make_bundle("true")
    mutate(b, tmp_path)
    cid = cli.new_id()
    before = mounts_mentioning(str(tmp_path), cid)
    rc, err = create(cli, b.path, cid)
    line = assert_failed_cleanly(cli, cid, rc, err, tmp_path, before)
    assert needle in line.replace('\\"', '"'), line


@pytest.mark.parametrize("case", ["bad-mount-type", "exec-not-found", "cwd-is-file",
                                  "bad-namespace-path"])
def test_run_bad_bundle_fails_cleanly(cli: Any, make_bundle: Any, tmp_path: Path,
                                      case: str) -> None:
    mutate, needle = CASES[case]
    b = make_bundle("true")
    mutate(b, tmp_path)
    cid = cli.new_id()
    before = mounts_mentioning(str(tmp_path), cid)
    proc = cli("run", "-b", str(b.path), cid)
    line = assert_failed_cleanly(cli, cid, proc.returncode, proc.stderr.decode(), tmp_path,
                                 before)
    assert needle in line.replace('\\"', '"')


def test_create_missing_bundle_dir_fails_cleanly(cli: Any, tmp_path: Path) -> None:
    cid = cli.new_id()
    rc, err = create(cli, tmp_path / "no-bundle-here", cid)
    assert_failed_cleanly(cli, cid, rc, err, tmp_path, [])


def test_create_schema_error_names_json_path(cli: Any, make_bundle: Any, tmp_path: Path) -> None:
    b = make_bundle("true")
    b.config["process"]["args"] = "sh"
    b.write()
    rc, err = create(cli, b.path, cli.new_id())
    assert rc == 1
    assert "process.args" in err


def test_create_child_failure_removes_custom_cgroup(cli: Any, make_bundle: Any,
                                                    tmp_path: Path) -> None:
    name = f"pyrt-fail-{uuid.uuid4().hex[:8]}"
    b = make_bundle("no-such-program")
    b.config["linux"]["cgroupsPath"] = f"/{name}/inner"
    b.write()
    cid = cli.new_id()
    try:
        rc, err = create(cli, b.path, cid)
        assert_failed_cleanly(cli, cid, rc, err, tmp_path, [])
        # the container's own cgroup goes; its parents stay, as with runc
        assert [d for d in cgroup_dirs(f"{name}/inner")] == []
    finally:
        for parent in cgroup_dirs(name):
            try:
                os.rmdir(parent)
            except OSError:
                pass


def test_create_failure_with_log_json_writes_error_line(cli: Any, make_bundle: Any,
                                                        tmp_path: Path) -> None:
    b = make_bundle("true")
    b.config["mounts"].append({"destination": "/mnt/x", "type": "bind",
                               "source": str(tmp_path / "gone"), "options": ["bind"]})
    b.write()
    log = tmp_path / "log.json"
    cid = cli.new_id()
    proc = cli("create", "-b", str(b.path), cid, glob=("--log", str(log), "--log-format",
                                                      "json"))
    assert proc.returncode == 1
    doc = json.loads(log.read_text().splitlines()[-1])
    assert doc["level"] == "error" and "gone" in doc["msg"]
    assert not (cli.root / cid).exists()


def test_create_failure_leaves_other_containers_alone(cli: Any, make_bundle: Any,
                                                      tmp_path: Path) -> None:
    good = cli.new_id()
    rc, err = create(cli, make_bundle("true").path, good)
    assert rc == 0, err
    bad = make_bundle("no-such-program")
    rc, _ = create(cli, bad.path, cli.new_id())
    assert rc == 1
    assert cli.state(good)["status"] == "created"


def test_create_same_id_failure_keeps_existing_container(cli: Any, make_bundle: Any) -> None:
    cid = cli.new_id()
    rc, err = create(cli, make_bundle("true").path, cid)
    assert rc == 0, err
    bad = make_bundle("true")
    (bad.path / "config.json").write_text("{broken")
    rc, err = create(cli, bad.path, cid)
    assert rc == 1 and len(err.strip().splitlines()) == 1
    assert cli.state(cid)["status"] == "created"

"""config.md / config-linux.md validity: invalid values MUST fail create and
leave nothing behind (runtime.md#errors); unknown properties and
annotations MUST be ignored.

Owns the invalid-config table.  Each case runs `create` once (cached per
module); two tests judge it: the error, and that nothing was left behind.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from conformance import harness
from conformance.conftest import cgroups_path_for
from conformance.harness import Bundle, Runtime
from conformance.marks import req, req_mark, runc_bug


def _set(path: str, value: Any) -> Callable[[Bundle], None]:
    """Setter for a dotted config path, e.g. 'process.cwd'."""
    def setup(b: Bundle) -> None:
        node: Any = b.config
        keys = path.split(".")
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value
    return setup


def _seccomp(**sc: Any) -> Callable[[Bundle], None]:
    base: dict[str, Any] = {"defaultAction": "SCMP_ACT_ALLOW",
                            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}
    base.update(sc)
    return _set("linux.seccomp", base)


def _add_ns(entry: dict[str, str]) -> Callable[[Bundle], None]:
    def setup(b: Bundle) -> None:
        b.linux["namespaces"] = [n for n in b.linux["namespaces"] if n["type"] != entry["type"]]
        b.linux["namespaces"] += [entry]
    return setup


def _dup_ns(b: Bundle) -> None:
    b.linux["namespaces"].append({"type": "uts"})


def _mount_uidmap_only(b: Bundle) -> None:
    src = b.hostdir("idsrc")
    b.add_mount("/mnt/t", "bind", str(src), ["rbind"],
                uidMappings=[{"containerID": 0, "hostID": 100000, "size": 1000}])


def _raw_config(text: str) -> Callable[[Bundle], None]:
    def setup(b: Bundle) -> None:
        b.config = {"__raw__": text}
    return setup


@dataclass(frozen=True)
class Case:
    name: str
    ref: str
    text: str
    setup: Callable[[Bundle], None]
    runc_bug: str | None = None


CASES = [
    Case("root-path-missing", "config.md#root", "a directory MUST exist at root.path",
         _set("root.path", "no-such-rootfs")),
    Case("ociversion-not-semver", "config.md#specification-version",
         "ociVersion MUST be SemVer v2.0.0", _set("ociVersion", "not a version"),
         "ociVersion is not validated"),
    Case("cwd-relative", "config.md#process", "cwd MUST be an absolute path",
         _set("process.cwd", "tmp")),
    Case("args-empty", "config.md#process", "args: at least one entry is REQUIRED",
         _set("process.args", [])),
    Case("rlimit-unknown-type", "config.md#posix-process", "rlimit types that cannot be mapped "
         "MUST generate an error", _set("process.rlimits", [
             {"type": "RLIMIT_NOT_A_LIMIT", "soft": 1, "hard": 1}])),
    Case("rlimit-duplicate", "config.md#posix-process", "duplicated rlimit types MUST generate "
         "an error", _set("process.rlimits", [
             {"type": "RLIMIT_NOFILE", "soft": 100, "hard": 100},
             {"type": "RLIMIT_NOFILE", "soft": 200, "hard": 200}])),
    Case("namespace-duplicate", "config-linux.md#namespaces", "duplicated namespace types MUST "
         "generate an error", _dup_ns),
    Case("namespace-unknown-type", "config.md#valid-values", "invalid values MUST generate an "
         "error (namespace type)", _add_ns({"type": "no-such-ns"})),
    Case("namespace-path-missing", "config-linux.md#namespaces", "a path not associated with a "
         "namespace MUST generate an error",
         _add_ns({"type": "network", "path": "/nonexistent/netns"})),
    Case("hook-path-relative", "config.md#posix-platform-hooks", "hook path MUST be absolute",
         _set("hooks", {"createRuntime": [{"path": "bin/true"}]})),
    Case("hook-timeout-zero", "config.md#posix-platform-hooks", "hook timeout MUST be greater "
         "than zero", _set("hooks", {"createRuntime": [{"path": "/bin/true", "timeout": 0}]})),
    Case("masked-path-relative", "config-linux.md#masked-paths", "maskedPaths MUST be absolute",
         _set("linux.maskedPaths", ["proc/kcore"]), "relative maskedPaths are accepted"),
    Case("readonly-path-relative", "config-linux.md#readonly-paths", "readonlyPaths MUST be "
         "absolute", _set("linux.readonlyPaths", ["proc/sys"]),
         "relative readonlyPaths are accepted"),
    Case("seccomp-errnoret-with-kill", "config-linux.md#seccomp", "errnoRet with an action that "
         "does not support it: the runtime MUST print an error and fail",
         _seccomp(syscalls=[{"names": ["mkdir"], "action": "SCMP_ACT_KILL", "errnoRet": 5}]),
         "errnoRet is silently ignored for SCMP_ACT_KILL"),
    Case("seccomp-default-errnoret-with-allow", "config-linux.md#seccomp", "defaultErrnoRet "
         "with an action that does not support it: the runtime MUST print an error and fail",
         _seccomp(defaultErrnoRet=18), "defaultErrnoRet is silently ignored for SCMP_ACT_ALLOW"),
    Case("seccomp-names-empty", "config-linux.md#seccomp", "names MUST contain at least one entry",
         _seccomp(syscalls=[{"names": [], "action": "SCMP_ACT_ERRNO"}]),
         "an empty syscall names list is accepted"),
    Case("seccomp-unknown-action", "config.md#valid-values", "invalid values MUST generate an "
         "error (seccomp action)", _seccomp(defaultAction="SCMP_ACT_NOT_AN_ACTION")),
    Case("seccomp-unknown-arch", "config.md#valid-values", "invalid values MUST generate an error "
         "(seccomp architecture)", _seccomp(architectures=["SCMP_ARCH_NOT_AN_ARCH"])),
    Case("seccomp-unknown-op", "config.md#valid-values", "invalid values MUST generate an error "
         "(seccomp operator)", _seccomp(syscalls=[{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                                                   "args": [{"index": 0, "value": 1,
                                                             "op": "SCMP_CMP_BOGUS"}]}])),
    Case("seccomp-metadata-without-listener", "config-linux.md#seccomp", "listenerMetadata MUST "
         "NOT be set if listenerPath is not set", _seccomp(listenerMetadata="x"),
         "listenerMetadata without listenerPath is accepted"),
    Case("annotation-empty-key", "config.md#annotations", "keys MUST NOT be an empty string",
         _set("annotations", {"": "value"}), "an empty annotation key is accepted"),
    Case("sysctl-unknown", "config.md#valid-values", "a property that cannot be applied MUST "
         "generate an error (sysctl)", _set("linux.sysctl", {"cf.no.such.key": "1"})),
    Case("mount-uidmappings-without-gidmappings", "config.md#posix-platform-mounts",
         "uidMappings MUST be specified along with gidMappings", _mount_uidmap_only,
         "mount uidMappings/gidMappings are ignored"),
    Case("rootfs-propagation-invalid", "config-linux.md#rootfs-mount-propagation",
         "rootfsPropagation is shared, slave, private or unbindable",
         _set("linux.rootfsPropagation", "sideways")),
    Case("device-type-invalid", "config-linux.md#devices", "device type is c, b, u or p",
         _set("linux.devices", [{"path": "/dev/cfx", "type": "x", "major": 1, "minor": 3}])),
    Case("user-uid-not-integer", "config.md#valid-values", "invalid values MUST generate an error "
         "(user.uid type)", _set("process.user", {"uid": "root", "gid": 0})),
    Case("personality-invalid", "config.md#valid-values", "invalid values MUST generate an error "
         "(personality domain)", _set("linux.personality", {"domain": "NOT_A_DOMAIN"}),
         "linux.personality is ignored"),
    Case("scheduler-invalid", "config.md#valid-values", "invalid values MUST generate an error "
         "(scheduler policy)", _set("process.scheduler", {"policy": "SCHED_NOT_A_POLICY"}),
         "process.scheduler is ignored"),
    Case("iopriority-invalid", "config.md#valid-values", "invalid values MUST generate an error "
         "(ioPriority class)", _set("process.ioPriority", {"class": "IOPRIO_CLASS_NONE_SUCH",
                                                           "priority": 1}),
         "process.ioPriority is ignored"),
    Case("mount-without-destination", "config.md#mounts", "destination is REQUIRED",
         lambda b: b.config["mounts"].append({"type": "tmpfs", "source": "tmpfs"})),
    Case("config-not-json", "config.md#valid-values", "an unparsable config.json MUST generate "
         "an error", _raw_config("{ this is not json")),
    Case("memory-swap-below-limit", "config.md#valid-values", "a property that cannot be applied "
         "MUST generate an error (memory swap < limit)",
         _set("linux.resources.memory", {"limit": 64 << 20, "swap": 32 << 20})),
]


@dataclass
class Outcome:
    result: harness.Result
    leftovers: list[str]


@pytest.fixture(scope="module")
def attempt(runtime_path: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[Case], Outcome]]:
    base = tmp_path_factory.mktemp("invalid")
    rt = Runtime(runtime_path, base / "state")
    cache: dict[str, Outcome] = {}

    def run(case: Case) -> Outcome:
        if case.name not in cache:
            cid = harness.new_id("iv")
            b = harness.make_bundle(base / case.name)
            b.linux["cgroupsPath"] = cgroups_path_for(cid)
            b.shell("touch /tmp/ran; sleep 300")
            case.setup(b)
            if "__raw__" in b.config:
                (b.path / "config.json").write_text(b.config["__raw__"])
                b.config = {"linux": {"cgroupsPath": cgroups_path_for(cid)}}
            else:
                b.write()
            res = rt.create(cid, b)
            time.sleep(0.05)
            cache[case.name] = Outcome(res, harness.leftovers(rt, cid, b))
            rt.delete(cid, force=True)
        return cache[case.name]

    yield run
    rt.cleanup()


def _params() -> list[Any]:
    out = []
    for c in CASES:
        marks = [req_mark(c.ref, c.text)]
        if c.runc_bug:
            marks.append(runc_bug(c.runc_bug))
        out.append(pytest.param(c, id=c.name, marks=marks))
    return out


@pytest.mark.parametrize("case", _params())
def test_invalid_config_create_fails(attempt: Callable[[Case], Outcome], case: Case) -> None:
    """The runtime MUST generate an error when invalid values are encountered."""
    out = attempt(case)
    assert not out.result.ok, f"{case.ref}: create succeeded\n{out.result}"


@pytest.mark.parametrize("case", _params())
def test_invalid_config_leaves_nothing(attempt: Callable[[Case], Outcome], case: Case) -> None:
    """runtime.md#errors: an error MUST leave the environment as if never attempted."""
    out = attempt(case)
    assert out.leftovers == [], f"{case.ref}: {out.leftovers}\n{out.result}"


# --- things that MUST be ignored ------------------------------------------------------

@req("config.md#extensibility", "runtimes MUST ignore unknown properties (top level)")
def test_unknown_top_level_property_ignored(rt: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.config["comExampleUnknown"] = {"nested": [1, 2, 3]}
    bundle.shell("echo ok")
    bundle.write()
    res = rt.run(cid, bundle)
    assert res.ok and res.out.strip() == "ok", str(res)


@req("config.md#extensibility", "runtimes MUST ignore unknown properties (nested objects)")
def test_unknown_nested_property_ignored(rt: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.process["comExampleUnknown"] = True
    bundle.linux["comExampleUnknown"] = "x"
    bundle.shell("echo ok")
    bundle.write()
    res = rt.run(cid, bundle)
    assert res.ok and res.out.strip() == "ok", str(res)


@req("config.md#annotations", "runtimes MUST handle unknown annotation keys like unknown properties")
def test_unknown_annotations_ignored(rt: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.config["annotations"] = {"org.opencontainers.cf.unknown": "x",
                                    "com.example.whatever": "y"}
    bundle.shell("echo ok")
    bundle.write()
    res = rt.run(cid, bundle)
    assert res.ok and res.out.strip() == "ok", str(res)


@req("config.md#specification-version", "ociVersion in SemVer form is accepted (this spec: 1.3.0)")
def test_oci_version_current_accepted(rt: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.config["ociVersion"] = "1.3.0"
    bundle.shell("echo ok")
    bundle.write()
    res = rt.run(cid, bundle)
    assert res.ok and res.out.strip() == "ok", str(res)

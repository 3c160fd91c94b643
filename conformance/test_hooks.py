"""config.md hooks and runtime.md lifecycle steps 3-13 as seen through hooks.

Owns the hook requirement tests.  One module-scoped container runs the whole
lifecycle with two recording hooks of every type; the tests assert on what
the hooks wrote.  Failure semantics use their own containers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conformance import harness
from conformance.conftest import cgroups_path_for
from conformance.harness import Bundle, Runtime, create_ok, start_ok
from conformance.marks import req, runc_bug

HOOK_TYPES = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart",
              "poststop"]
RUNTIME_NS_HOOKS = ["prestart", "createRuntime", "poststart", "poststop"]
CONTAINER_NS_HOOKS = ["createContainer", "startContainer"]
CREATE_HOOKS = ["prestart", "createRuntime", "createContainer"]

ANCHOR = {
    "prestart": "config.md#prestart",
    "createRuntime": "config.md#createruntime-hooks",
    "createContainer": "config.md#createcontainer-hooks",
    "startContainer": "config.md#startcontainer-hooks",
    "poststart": "config.md#poststart",
    "poststop": "config.md#poststop",
}

# POSIX sh: runs as the host's /bin/sh and as busybox sh inside the container.
HOOK_SCRIPT = r"""#!/bin/sh
name=$1; out=$2
cat > "$out/$name.state"
echo "$name" >> "$out/order"
for n in mnt pid net uts ipc; do echo "$n $(readlink /proc/self/ns/$n)"; done > "$out/$name.ns"
for a in "$@"; do echo "$a"; done > "$out/$name.argv"
echo "HOOKVAR=$HOOKVAR" > "$out/$name.env"
pid=$(sed -n 's/.*"pid": *\([0-9][0-9]*\).*/\1/p' "$out/$name.state")
echo "$pid" > "$out/$name.pid"
if [ -n "$pid" ] && [ "$pid" != 0 ]; then
  readlink /proc/$pid/root > "$out/$name.pidroot" 2>&1
  tr '\0' ' ' < /proc/$pid/cmdline > "$out/$name.pidcmd" 2>&1
fi
if [ -d "$3" ]; then echo yes; else echo no; fi > "$out/$name.seeshost"
if [ -n "$4" ]; then
  "$4" --root "$5" state "$6" > /dev/null 2>&1; echo $? > "$out/$name.staterc"
fi
exit 0
"""


def install_hook_script(bundle: Bundle) -> tuple[str, str]:
    """Host-only copy (runtime namespace) and rootfs-only copy (container namespace)."""
    host = bundle.hostdir("hookbin") / "hook.sh"
    host.write_text(HOOK_SCRIPT)
    host.chmod(0o755)
    inner = bundle.rootfs / "hookbin" / "hook.sh"
    inner.parent.mkdir(exist_ok=True)
    inner.write_text(HOOK_SCRIPT)
    inner.chmod(0o755)
    return str(host), "/hookbin/hook.sh"


def recording_hook(path: str, name: str, out: str, probe_dir: str = "/nonexistent",
                   extra: tuple[str, ...] = ()) -> dict[str, object]:
    return {"path": path, "args": ["hook.sh", name, out, probe_dir, *extra],
            "env": ["PATH=/usr/local/bin:/usr/bin:/bin", f"HOOKVAR=value-{name}"]}


@dataclass
class HookRun:
    """Everything the hooks of one full lifecycle recorded."""

    out: Path
    bundle: Bundle
    cid: str
    host_ns: dict[str, str]
    container_ns: dict[str, str] = field(default_factory=dict)
    container_pid: int = 0
    after_create: list[str] = field(default_factory=list)
    after_start: list[str] = field(default_factory=list)
    after_delete: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def read(self, name: str, what: str) -> str:
        p = self.out / f"{name}.{what}"
        assert p.exists(), f"hook {name} did not write {what} (errors: {self.errors})"
        return p.read_text()

    def ns(self, name: str) -> dict[str, str]:
        return dict(line.split(" ", 1) for line in self.read(name, "ns").splitlines())


def _order(out: Path) -> list[str]:
    p = out / "order"
    return p.read_text().split() if p.exists() else []


@pytest.fixture(scope="module")
def hooked(runtime_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HookRun]:
    base = tmp_path_factory.mktemp("hooks")
    rt = Runtime(runtime_path, base / "state")
    cid = harness.new_id("hk")
    bundle = harness.make_bundle(base / "bundle")
    bundle.linux["cgroupsPath"] = cgroups_path_for(cid)
    host_hook, inner_hook = install_hook_script(bundle)
    out = bundle.hostdir("hooks")
    out.chmod(0o777)
    bundle.add_mount("/hooks", "bind", str(out), ["rbind", "rw"])
    hooks: dict[str, list[dict[str, object]]] = {}
    for t in HOOK_TYPES:
        entries = []
        for i in (1, 2):
            name = f"{t}-{i}"
            if t == "startContainer":
                path = inner_hook if i == 1 else "/bin/sh"
                args_path = path
                entry = recording_hook(args_path, name, "/hooks")
                if i == 2:
                    entry["args"] = ["sh", "/hookbin/hook.sh", name, "/hooks"]
            else:
                extra: tuple[str, ...] = ()
                if t == "poststop":
                    extra = (runtime_path, str(rt.root), cid)
                entry = recording_hook(host_hook, name, str(out), str(bundle.path), extra)
            entries.append(entry)
        hooks[t] = entries
    bundle.config["hooks"] = hooks
    run = HookRun(out, bundle, cid, {n: harness.ns_inode("self", n)
                                     for n in ("mnt", "pid", "net", "uts", "ipc")})
    bundle.shell("if [ -e /hooks/startContainer-1.state ]; then echo yes; else echo no; fi "
                 "> /hooks/program-saw-startcontainer; sleep 300; exit 0")
    bundle.write()
    res = rt.create(cid, bundle)
    if not res.ok:
        run.errors.append(str(res))
    run.after_create = _order(out)
    st = rt.state(cid) or {}
    run.container_pid = st.get("pid", 0)
    if run.container_pid:
        run.container_ns = {n: harness.ns_inode(run.container_pid, n)
                            for n in ("mnt", "pid", "net", "uts", "ipc")}
    res = rt.start(cid)
    if not res.ok:
        run.errors.append(str(res))
    run.after_start = _order(out)
    rt.kill(cid, "KILL")
    rt.wait_status(cid, "stopped")
    res = rt.delete(cid)
    if not res.ok:
        run.errors.append(str(res))
    run.after_delete = _order(out)
    yield run
    rt.cleanup()


def _names(t: str) -> list[str]:
    return [f"{t}-1", f"{t}-2"]


# --- invocation, order, input -----------------------------------------------------

@req("runtime.md#lifecycle", "steps 3,4,5,7,9,13: each hook type MUST be invoked by the runtime")
@pytest.mark.parametrize("hook", HOOK_TYPES)
def test_hook_invoked(hooked: HookRun, hook: str) -> None:
    assert set(_names(hook)) <= set(hooked.after_delete), (hooked.after_delete, hooked.errors)


@req("config.md#posix-platform-hooks", "hooks MUST be called in the listed order")
@pytest.mark.parametrize("hook", HOOK_TYPES)
def test_hook_entries_called_in_listed_order(hooked: HookRun, hook: str) -> None:
    seen = [n for n in hooked.after_delete if n.startswith(hook + "-")]
    assert seen == _names(hook), hooked.after_delete


@runc_bug("poststart hooks run during create, before startContainer and the user program")
@req("runtime.md#lifecycle", "hooks run at their lifecycle steps: prestart, createRuntime, "
     "createContainer, startContainer, poststart, poststop")
def test_hook_types_called_in_lifecycle_order(hooked: HookRun) -> None:
    firsts = [n.rsplit("-", 1)[0] for n in hooked.after_delete if n.endswith("-1")]
    assert firsts == HOOK_TYPES, hooked.after_delete


@req("config.md#posix-platform-hooks", "the state of the container MUST be passed to hooks over stdin")
@pytest.mark.parametrize("hook", HOOK_TYPES)
def test_hook_receives_state_on_stdin(hooked: HookRun, hook: str) -> None:
    import json
    state = json.loads(hooked.read(f"{hook}-1", "state"))
    assert state.get("id") == hooked.cid, state
    assert "ociVersion" in state and "status" in state, state
    assert Path(state["bundle"]).resolve() == hooked.bundle.path.resolve(), state


@req("runtime.md#state", "hooks in the runtime namespace get the pid as seen by the runtime")
@pytest.mark.parametrize("hook", ["prestart", "createRuntime", "poststart"])
def test_hook_state_pid_seen_by_runtime(hooked: HookRun, hook: str) -> None:
    assert hooked.read(f"{hook}-1", "pid").strip() == str(hooked.container_pid)


@req("runtime.md#state", "hooks in the container namespace get the pid as seen by the container")
@pytest.mark.parametrize("hook", CONTAINER_NS_HOOKS)
def test_hook_state_pid_seen_by_container(hooked: HookRun, hook: str) -> None:
    assert hooked.read(f"{hook}-1", "pid").strip() == "1"


@req("config.md#posix-platform-hooks", "path/args/env have execv semantics (args and env passed)")
@pytest.mark.parametrize("hook", HOOK_TYPES)
def test_hook_args_and_env_passed(hooked: HookRun, hook: str) -> None:
    name = f"{hook}-1"
    argv = hooked.read(name, "argv").splitlines()
    assert argv[:2] == [name, "/hooks" if hook == "startContainer" else str(hooked.out)], argv
    assert hooked.read(name, "env").strip() == f"HOOKVAR=value-{name}"


# --- namespaces and path resolution -----------------------------------------------

@req("config.md#posix-platform-hooks", "prestart/createRuntime/poststart/poststop MUST be executed "
     "in the runtime namespace")
@pytest.mark.parametrize("hook", RUNTIME_NS_HOOKS)
def test_hook_runs_in_runtime_namespace(hooked: HookRun, hook: str) -> None:
    ns = hooked.ns(f"{hook}-1")
    for kind in ("mnt", "pid", "net", "uts", "ipc"):
        assert ns[kind] == hooked.host_ns[kind], (kind, ns)


@req("config.md#posix-platform-hooks", "createContainer/startContainer MUST be executed in the "
     "container namespace")
@pytest.mark.parametrize("hook", CONTAINER_NS_HOOKS)
def test_hook_runs_in_container_namespace(hooked: HookRun, hook: str) -> None:
    ns = hooked.ns(f"{hook}-1")
    assert hooked.container_ns, hooked.errors
    for kind in ("mnt", "pid", "net", "uts", "ipc"):
        assert ns[kind] == hooked.container_ns[kind], (kind, ns, hooked.container_ns)


@req("config.md#posix-platform-hooks", "the path of runtime-resolved hooks MUST resolve in the "
     "runtime namespace (host-only path)")
@pytest.mark.parametrize("hook", ["prestart", "createRuntime", "createContainer", "poststart",
                                  "poststop"])
def test_hook_path_resolves_in_runtime_namespace(hooked: HookRun, hook: str) -> None:
    assert not (hooked.bundle.rootfs / str(hooked.bundle.path).lstrip("/")).exists()
    assert f"{hook}-1" in hooked.after_delete


@req("config.md#startcontainer-hooks", "the startContainer path MUST resolve in the container "
     "namespace (rootfs-only path)")
def test_startcontainer_path_resolves_in_container(hooked: HookRun) -> None:
    assert not Path("/hookbin/hook.sh").exists()
    assert "startContainer-1" in hooked.after_delete


# --- timing ------------------------------------------------------------------------

@req("config.md#prestart", "prestart/createRuntime/createContainer MUST be called as part of create")
@pytest.mark.parametrize("hook", CREATE_HOOKS)
def test_create_hooks_called_during_create(hooked: HookRun, hook: str) -> None:
    assert _names(hook) == [n for n in hooked.after_create if n.startswith(hook + "-")]


@req("config.md#prestart", "prestart hooks MUST be called before the createRuntime hooks")
def test_prestart_before_createruntime(hooked: HookRun) -> None:
    order = hooked.after_create
    assert order.index("prestart-2") < order.index("createRuntime-1"), order


@req("config.md#createcontainer-hooks", "createContainer hooks MUST be called after createRuntime")
def test_createcontainer_after_createruntime(hooked: HookRun) -> None:
    order = hooked.after_create
    assert order.index("createRuntime-2") < order.index("createContainer-1"), order


@req("config.md#prestart", "create hooks run before pivot_root: the container root is still the host /")
@pytest.mark.parametrize("hook", ["prestart", "createRuntime"])
def test_runtime_create_hooks_before_pivot_root(hooked: HookRun, hook: str) -> None:
    assert hooked.read(f"{hook}-1", "pidroot").strip() == "/"


@req("config.md#createcontainer-hooks", "createContainer runs before pivot_root: the host tree is visible")
def test_createcontainer_before_pivot_root(hooked: HookRun) -> None:
    assert hooked.read("createContainer-1", "seeshost").strip() == "yes"


@req("config.md#startcontainer-hooks", "startContainer MUST be called as part of start, before the "
     "user-specified process is executed")
def test_startcontainer_during_start_before_program(hooked: HookRun) -> None:
    assert "startContainer-1" not in hooked.after_create
    assert "startContainer-1" in hooked.after_start
    saw = hooked.out / "program-saw-startcontainer"
    assert saw.exists() and saw.read_text().strip() == "yes"


@runc_bug("poststart hooks run during create, while the init still waits to exec the program")
@req("config.md#poststart", "poststart MUST be called after the user-specified process is executed")
def test_poststart_after_program_executed(hooked: HookRun) -> None:
    cmd = hooked.read("poststart-1", "pidcmd")
    assert cmd.startswith("sh -c "), cmd


@req("config.md#poststart", "poststart MUST be called before the start operation returns")
def test_poststart_before_start_returns(hooked: HookRun) -> None:
    assert _names("poststart") == [n for n in hooked.after_start if n.startswith("poststart")]


@req("config.md#poststop", "poststop MUST be called after the container is deleted")
def test_poststop_after_container_deleted(hooked: HookRun) -> None:
    assert "poststop-1" not in hooked.after_start
    assert hooked.read("poststop-1", "staterc").strip() != "0"


@req("config.md#poststop", "poststop MUST be called before the delete operation returns")
def test_poststop_before_delete_returns(hooked: HookRun) -> None:
    assert _names("poststop") == [n for n in hooked.after_delete if n.startswith("poststop")]


# --- failure semantics --------------------------------------------------------------

def _failing_setup(bundle: Bundle, failing: str, timeout: int | None = None) -> Path:
    """Hooks: `failing` runs /bin/false (or sleeps past timeout); poststop records."""
    host_hook, _ = install_hook_script(bundle)
    out = bundle.hostdir("hooks")
    bad: dict[str, object] = {"path": "/bin/false", "args": ["false"]}
    if timeout is not None:
        bad = {"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": timeout}
    hooks: dict[str, list[dict[str, object]]] = {
        failing: [bad],
        "poststop": [recording_hook(host_hook, "poststop-1", str(out))],
    }
    if failing == "poststop":
        hooks["poststop"] = [bad, recording_hook(host_hook, "poststop-2", str(out))]
    bundle.config["hooks"] = hooks
    return out


@req("runtime.md#lifecycle", "steps 3-5: a failing create-phase hook MUST generate an error (create fails)")
@pytest.mark.parametrize("hook", CREATE_HOOKS)
def test_failing_create_hook_fails_create(rt: Runtime, bundle: Bundle, cid: str,
                                          hook: str) -> None:
    _failing_setup(bundle, hook)
    bundle.shell("sleep 300")
    bundle.write()
    assert not rt.create(cid, bundle).ok


@req("runtime.md#errors", "a failing create-phase hook stops the container: nothing is left behind")
@pytest.mark.parametrize("hook", CREATE_HOOKS)
def test_failing_create_hook_leaves_nothing(rt: Runtime, bundle: Bundle, cid: str,
                                            hook: str) -> None:
    _failing_setup(bundle, hook)
    bundle.shell("touch /tmp/ran; sleep 300")
    bundle.write()
    rt.create(cid, bundle)
    time.sleep(0.2)
    assert harness.leftovers(rt, cid, bundle) == []
    assert not (bundle.rootfs / "tmp" / "ran").exists()


@req("runtime.md#lifecycle", "steps 3-5 -> 12 -> 13: after a failing create hook, poststop MUST run")
@pytest.mark.parametrize("hook", CREATE_HOOKS)
def test_failing_create_hook_runs_poststop(rt: Runtime, bundle: Bundle, cid: str,
                                           hook: str) -> None:
    out = _failing_setup(bundle, hook)
    bundle.shell("sleep 300")
    bundle.write()
    rt.create(cid, bundle)
    rt.delete(cid, force=True)
    assert (out / "poststop-1.state").exists()


@runc_bug("start returns success; the startContainer hook fails later inside runc init")
@req("runtime.md#lifecycle", "step 7: a failing startContainer hook MUST generate an error")
def test_failing_startcontainer_fails_start(rt: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.config["hooks"] = {"startContainer": [{"path": "/bin/false", "args": ["false"]}]}
    create_ok(rt, cid, bundle, "touch /tmp/ran; sleep 300")
    assert not rt.start(cid).ok


@req("runtime.md#lifecycle", "step 7: a failing startContainer hook stops the container; the "
     "program is not run")
def test_failing_startcontainer_stops_container(rt: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.config["hooks"] = {"startContainer": [{"path": "/bin/false", "args": ["false"]}]}
    create_ok(rt, cid, bundle, "touch /tmp/ran; sleep 300")
    rt.start(cid)
    assert rt.wait_status(cid, "stopped") in ("stopped", None)
    assert not (bundle.rootfs / "tmp" / "ran").exists()


@runc_bug("poststart hooks run during create, so their failure fails create, not start")
@req("runtime.md#lifecycle", "step 9: a failing poststart hook MUST generate an error")
def test_failing_poststart_fails_start(rt: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.config["hooks"] = {"poststart": [{"path": "/bin/false", "args": ["false"]}]}
    create_ok(rt, cid, bundle, "sleep 300")
    assert not rt.start(cid).ok


@runc_bug("poststart hooks run during create, so their failure fails create, not start")
@req("runtime.md#lifecycle", "step 9: a failing poststart hook MUST stop the container")
def test_failing_poststart_stops_container(rt: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.config["hooks"] = {"poststart": [{"path": "/bin/false", "args": ["false"]}]}
    pid = create_ok(rt, cid, bundle, "sleep 300")["pid"]
    rt.start(cid)
    assert harness.poll(lambda: not harness.pid_alive(pid), timeout=5)
    assert rt.status(cid) in ("stopped", None)


@req("runtime.md#lifecycle", "step 13: a failing poststop hook only logs a warning (delete succeeds)")
def test_failing_poststop_delete_succeeds(rt: Runtime, bundle: Bundle, cid: str) -> None:
    _failing_setup(bundle, "poststop")
    create_ok(rt, cid, bundle, "true")
    start_ok(rt, cid)
    rt.wait_status(cid, "stopped")
    res = rt.delete(cid)
    assert res.ok, str(res)
    assert rt.state(cid) is None


@runc_bug("the first failing poststop hook skips the remaining poststop hooks")
@req("runtime.md#lifecycle", "step 13: after a failing poststop hook the remaining hooks still run")
def test_failing_poststop_remaining_hooks_run(rt: Runtime, bundle: Bundle, cid: str) -> None:
    out = _failing_setup(bundle, "poststop")
    create_ok(rt, cid, bundle, "true")
    start_ok(rt, cid)
    rt.wait_status(cid, "stopped")
    rt.delete(cid)
    assert (out / "poststop-2.state").exists()


@req("config.md#posix-platform-hooks", "timeout: seconds before aborting the hook (create fails)")
def test_hook_timeout_aborts_create(rt: Runtime, bundle: Bundle, cid: str) -> None:
    _failing_setup(bundle, "createRuntime", timeout=1)
    bundle.shell("sleep 300")
    bundle.write()
    t0 = time.monotonic()
    res = rt.create(cid, bundle)
    elapsed = time.monotonic() - t0
    assert not res.ok
    assert elapsed < 20, f"create took {elapsed:.1f}s with a 1s hook timeout"
    assert harness.leftovers(rt, cid, bundle) == []

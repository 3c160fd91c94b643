"""Turn a child's failure record into the one line the user reads.

Owns: wording of setup failures (runc's wording where Docker/containerd parse it, e.g.
`exec: "cmd": executable file not found in $PATH`).
Must not touch: the kernel, state.
"""

from __future__ import annotations

import posix

from pyruntime.errors import ChildSetupError
from pyruntime.plan import ChildPlan
from pyruntime.shim import ChildRecord, Step, step_name

PREFIX = "unable to start container process: "


def errtext(errno: int) -> str:
    """Go-style lower-case strerror ("no such file or directory")."""
    text = posix.strerror(errno)
    return text[:1].lower() + text[1:]


def _step_text(plan: ChildPlan, rec: ChildRecord) -> tuple[str, str]:
    err = errtext(rec.errno)
    arg0 = plan.argv[0] if plan.argv else ""
    if rec.step == Step.OP and 0 <= rec.index < len(plan.ops):
        op = plan.ops[rec.index]
        return op.path, f"{op.label or op.kind.lower() + ' ' + op.path}: {err}"
    if rec.step == Step.EXEC_LOOKUP:
        if rec.index < 0:
            return arg0, f'exec: "{arg0}": executable file not found in $PATH'
        cand = plan.exec_candidates[rec.index]
        return cand, f'exec: "{arg0}": stat {cand}: {err}'
    if rec.step == Step.EXEC:
        return arg0, f'exec: "{arg0}": {err}'
    if rec.step == Step.CWD:
        return plan.cwd, f"chdir to cwd ({plan.cwd!r}) set in config.json failed: {err}"
    if rec.step == Step.SETNS and 0 <= rec.index < len(plan.join_namespaces):
        kind, path = plan.join_namespaces[rec.index]
        return path, f"join {kind} namespace {path}: {err}"
    if rec.step == Step.RLIMIT and 0 <= rec.index < len(plan.rlimits):
        return str(plan.rlimits[rec.index][0]), f"set rlimit {plan.rlimits[rec.index][0]}: {err}"
    if rec.step == Step.PIVOT:
        return plan.rootfs, f"pivot_root {plan.rootfs}: {err}"
    if rec.step == Step.ROOTFS:
        return plan.rootfs, f"prepare rootfs {plan.rootfs}: {err}"
    if rec.step == Step.CAPSET or rec.step == Step.CAPBSET:
        return "", f"unable to apply caps: {err}"
    if rec.step == Step.SETUID:
        return str(plan.uid), f"setuid {plan.uid}: {err}"
    if rec.step == Step.SETGID:
        return str(plan.gid), f"setgid {plan.gid}: {err}"
    return "", f"{step_name(rec.step).replace('_', ' ')}: {err}"


def describe(plan: ChildPlan, rec: ChildRecord) -> ChildSetupError:
    """The ChildSetupError for a failure record."""
    detail, text = _step_text(plan, rec)
    return ChildSetupError(step_name(rec.step), rec.errno, detail, PREFIX + text)

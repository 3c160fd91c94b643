"""`pyruntime exec [flags] <container-id> [command args...]` (or --process FILE)."""

from __future__ import annotations

import copy
import os

from pyruntime.cli.args import Flag, Parsed, UsageError
from pyruntime.cli.common import runtime

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


SYNOPSIS = ("[command options] <container-id> <command> [command options]"
            "  || -p process.json <container-id>")
ERROR_PREFIX = "exec failed: "
FLAGS = (
    Flag(("--console-socket",), "path to an AF_UNIX socket which will receive the pty master",
         "PATH"),
    Flag(("--cwd",), "current working directory in the container", "DIR"),
    Flag(("--env", "-e"), "set environment variables", "KEY=VALUE", multiple=True),
    Flag(("--tty", "-t"), "allocate a pseudo-TTY"),
    Flag(("--user", "-u"), "UID (format: <uid>[:<gid>])", "UID[:GID]"),
    Flag(("--additional-gids", "-g"), "additional gids", "GID", multiple=True),
    Flag(("--process", "-p"), "path to the process.json", "FILE"),
    Flag(("--detach", "-d"), "detach from the container's process"),
    Flag(("--pid-file",), "specify the file to write the process id to", "PATH"),
    Flag(("--process-label",), "set the asm process label for the process (SELinux)", "LABEL"),
    Flag(("--apparmor",), "set the apparmor profile for the process", "PROFILE"),
    Flag(("--no-new-privs",), "set the no new privileges value for the process"),
    Flag(("--cap", "-c"), "add a capability to the bounding set for the process", "CAP",
         multiple=True),
    Flag(("--preserve-fds",), "pass N additional file descriptors to the container", "N",
         default="0"),
    Flag(("--cgroup",), "run the process in an (existing) sub-cgroup(s)", "PATH", multiple=True),
    Flag(("--ignore-paused",), "allow exec in a paused container"),
)


def process_from_flags(parsed: Parsed, base: dict[str, Any]) -> dict[str, Any]:
    """runc's rules: start from the container's process, override with the flags.

    Raises:
        UsageError: no command, or a malformed --user / --additional-gids.
    """
    if len(parsed.args) < 2:
        raise UsageError("exec args cannot be empty")
    proc: dict[str, Any] = (copy.deepcopy(base) if base
                            else {"user": {"uid": 0, "gid": 0}, "cwd": "/"})
    proc["args"] = parsed.args[1:]
    proc["terminal"] = bool(parsed.get("tty"))
    proc.pop("consoleSize", None)
    if parsed.get("cwd"):
        proc["cwd"] = parsed.get("cwd")
    env = list(proc.get("env") or [])
    env.extend(parsed.get("env") or [])
    proc["env"] = env
    user = dict(proc.get("user") or {})
    if parsed.get("user"):
        uid, _, gid = parsed.get("user").partition(":")
        try:
            user["uid"] = int(uid)
            if gid:
                user["gid"] = int(gid)
        except ValueError:
            raise UsageError(f"parsing {parsed.get('user')} as int for uid failed") from None
    if parsed.get("additional_gids"):
        try:
            user["additionalGids"] = [int(g) for g in parsed.get("additional_gids")]
        except ValueError:
            raise UsageError("additional-gids must be numbers") from None
    proc["user"] = user
    if parsed.get("no_new_privs"):
        proc["noNewPrivileges"] = True
    if parsed.get("apparmor"):
        proc["apparmorProfile"] = parsed.get("apparmor")
    if parsed.get("process_label"):
        proc["selinuxLabel"] = parsed.get("process_label")
    caps = parsed.get("cap") or []
    if caps:
        sets = dict(proc.get("capabilities") or {})
        for key in ("bounding", "effective", "permitted"):
            have = list(sets.get(key) or [])
            sets[key] = have + [c for c in caps if c not in have]
        proc["capabilities"] = sets
    return proc


def run(parsed: Parsed, ctx: Any) -> int:
    """Exec a process in the container; exit code is the process's (255 if it can't start)."""
    from pyruntime.cli.common import create_options
    from pyruntime.spec.load import parse_json

    if not parsed.args:
        raise UsageError("requires at least 1 argument: container id")
    cid = parsed.args[0]
    rt = runtime(ctx)
    if parsed.get("process"):
        path = parsed.get("process")
        try:
            with open(path, "rb") as f:
                process = parse_json(f.read(), path)
        except OSError as e:
            raise UsageError(f"open {path}: {os.strerror(e.errno or 0).lower()}") from None
    else:
        state = rt.store.load(cid)
        process = process_from_flags(parsed, state.config_process)
    return int(rt.exec(cid, process, create_options(parsed, ctx.systemd_cgroup),
                       detach=bool(parsed.get("detach")),
                       ignore_paused=bool(parsed.get("ignore_paused"))))

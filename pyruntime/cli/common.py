"""Flags shared by create and run, and helpers the verb modules share."""

from __future__ import annotations

import sys

from pyruntime.cli.args import Flag, Parsed, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


CREATE_FLAGS = (
    Flag(("--bundle", "-b"), "path to the root of the bundle directory", "PATH", default=""),
    Flag(("--console-socket",), "path to an AF_UNIX socket which will receive the pty master",
         "PATH"),
    Flag(("--pid-file",), "specify the file to write the process id to", "PATH"),
    Flag(("--no-pivot",), "do not use pivot root to jail process inside rootfs"),
    Flag(("--no-new-keyring",), "do not create a new session keyring for the container"),
    Flag(("--preserve-fds",), "pass N additional file descriptors to the container", "N",
         default="0"),
)


def create_options(parsed: Parsed, systemd: bool) -> Any:
    """CreateOptions from create/run flags.

    Raises:
        UsageError: --preserve-fds is not a number.
    """
    from pyruntime.container import CreateOptions

    try:
        preserve = int(parsed.get("preserve_fds", "0"))
    except ValueError:
        raise UsageError("--preserve-fds must be a number") from None
    if preserve < 0:
        raise UsageError("--preserve-fds must not be negative")
    return CreateOptions(
        pid_file=parsed.get("pid_file"), console_socket=parsed.get("console_socket"),
        no_pivot=bool(parsed.get("no_pivot")), no_new_keyring=bool(parsed.get("no_new_keyring")),
        preserve_fds=preserve, systemd_cgroup=systemd)


def one_id(parsed: Parsed) -> str:
    """The single container-id argument.

    Raises:
        UsageError: none or several.
    """
    if len(parsed.args) != 1:
        raise UsageError(f"requires exactly 1 argument(s): container id (got {len(parsed.args)})")
    return parsed.args[0]


def print_json(doc: Any, indent: int | None = 2) -> None:
    """Write JSON like Go's json.MarshalIndent and a newline."""
    from pyruntime.jsonio import dumps

    sys.stdout.write(dumps(doc, indent) + "\n")
    sys.stdout.flush()


def runtime(ctx: Any) -> Any:
    """The Runtime for the global flags."""
    from pyruntime.container import Runtime

    return Runtime(ctx.root, systemd_cgroup=ctx.systemd_cgroup)


def operations(ctx: Any) -> Any:
    """The Operations for the global flags: start, kill and delete without the code that
    makes containers."""
    from pyruntime.operations import Operations

    return Operations(ctx.root, systemd_cgroup=ctx.systemd_cgroup)


def for_each_id(method: str) -> Any:
    """A verb's run(): call Runtime.<method>(id) for each container id given."""

    def run(parsed: Parsed, ctx: Any) -> int:
        if not parsed.args:
            raise UsageError("requires at least 1 argument: container id")
        rt = runtime(ctx)
        for cid in parsed.args:
            getattr(rt, method)(cid)
        return 0

    return run

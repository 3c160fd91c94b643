"""Entry point: global flags, dispatch to one module per command, errors to exit codes.

Owns: runc's global flags (--root --log --log-format --debug --systemd-cgroup, accepted
--criu --rootless), --version, --help, and turning exceptions into one line + exit 1.
Must not touch: container logic (each verb module calls pyruntime.container).
"""

from __future__ import annotations

import sys

from pyruntime import pathops
from pyruntime.cli.args import Flag, UsageError, parse
from pyruntime.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn


VERSION = "0.1.0"

COMMANDS = {
    "create": "create a container",
    "start": "executes the user defined process in a created container",
    "run": "create and run a container",
    "state": "output the state of a container",
    "kill": "kill sends the specified signal (default: SIGTERM) to the container's init process",
    "delete": "delete any resources held by the container often used with detached container",
    "list": "lists containers started by pyruntime with the given root",
    "spec": "create a new specification file",
    "exec": "execute new process inside the container",
    "pause": "pause suspends all processes inside the container",
    "resume": "resumes all processes that have been previously paused",
    "ps": "ps displays the processes running inside a container",
    "update": "update container resource constraints",
    "events": "display container events such as OOM notifications, cpu, memory, and IO usage "
              "statistics",
    "features": "show the enabled features",
    "validate": "check a bundle's config.json against the full runtime-spec JSON schema",
}
ALIASES = {"ls": "list", "del": "delete", "rm": "delete"}
MODULE_NAMES = {"list": "list_", "delete": "delete", "validate": "validate"}

GLOBAL_FLAGS = (
    Flag(("--root",), "root directory for storage of container state", "PATH", default=None),
    Flag(("--log",), "set the log file to write pyruntime logs to (default is stderr)", "FILE"),
    Flag(("--log-format",), "set the log format ('text' (default), or 'json')", "FORMAT",
         default="text"),
    Flag(("--debug",), "enable debug logging"),
    Flag(("--systemd-cgroup",), "enable systemd cgroup support"),
    Flag(("--criu",), "path to the criu binary (accepted for compatibility)", "PATH"),
    Flag(("--rootless",), "ignore cgroup permission errors (true, false, auto)", "VALUE"),
    Flag(("--version", "-v"), "print the version"),
    Flag(("--help", "-h"), "show help"),
)


class Context(Record):
    """What every command gets from the global flags."""

    __slots__ = ("root", "log", "log_format", "debug", "systemd_cgroup")
    root: str
    log: str | None
    log_format: str
    debug: bool
    systemd_cgroup: bool


def version_text() -> str:
    """`--version` output: first line as dockerd parses it, then commit and spec."""
    from pyruntime.spec.constants import OCI_VERSION

    return (f"pyruntime version {VERSION}\ncommit: none\nspec: {OCI_VERSION}\n"
            f"python: {sys.version.split()[0]}\n")


def main_help() -> str:
    """Top-level help."""
    lines = ["NAME:", "   pyruntime - Open Container Initiative runtime (a runc replacement)", "",
             "USAGE:", "   pyruntime [global options] command [command options] [arguments...]",
             "", "COMMANDS:"]
    lines += [f"   {name:<10} {text}" for name, text in COMMANDS.items()]
    lines += ["", "GLOBAL OPTIONS:"]
    lines += [f"   {', '.join(f.names) + (' ' + f.value if f.value else ''):<24} {f.help}"
              for f in GLOBAL_FLAGS]
    return "\n".join(lines) + "\n"


def fail(message: str, code: int = 1) -> NoReturn:
    """Log one error line (stderr, and --log) and exit."""
    from pyruntime import log

    log.error(message)
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    """Run one pyruntime command; returns the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        g = parse(argv, GLOBAL_FLAGS)
    except UsageError as e:
        sys.stderr.write("pyruntime: " + str(e).replace("\n", "\\n") + "\n")
        return 1
    if g.get("version"):
        sys.stdout.write(version_text())
        return 0
    if not g.args or g.get("help") and not g.args:
        sys.stdout.write(main_help())
        return 0 if g.get("help") else 1
    command = ALIASES.get(g.args[0], g.args[0])
    from pyruntime import log
    from pyruntime.state import default_root

    ctx = Context(
        root=g.get("root") or pathops.getenv("PYRUNTIME_ROOT") or default_root(),
        log=g.get("log"), log_format=g.get("log_format", "text"), debug=bool(g.get("debug")),
        systemd_cgroup=bool(g.get("systemd_cgroup")))
    if ctx.log_format not in ("text", "json"):
        sys.stderr.write(f"pyruntime: unknown log-format {ctx.log_format!r}\n")
        return 1
    log.setup(ctx.log, ctx.log_format, ctx.debug)
    name = f"pyruntime.cli.{MODULE_NAMES.get(command, command)}"
    try:
        __import__(name)
        module = sys.modules[name]
    except ModuleNotFoundError:
        fail(f"No help topic for '{command}'" if command != "help" else main_help())
    log.debug(f"pyruntime {command} {' '.join(g.args[1:])} (root {ctx.root})")
    return run_command(module, command, g.args[1:], ctx)


def run_command(module: object, command: str, argv: list[str], ctx: Context) -> int:
    """Parse a command's flags and run it, mapping errors to runc's exit codes."""
    from pyruntime.cli.args import usage

    flags = getattr(module, "FLAGS") + (Flag(("--help", "-h"), "show help"),)
    try:
        parsed = parse(argv, flags)
    except UsageError as e:
        fail(f"{command}: {e}")
    if parsed.get("help"):
        sys.stdout.write(usage(command, getattr(module, "SYNOPSIS"), COMMANDS.get(command, ""),
                               flags))
        return 0
    try:
        return int(getattr(module, "run")(parsed, ctx))
    except UsageError as e:
        fail(f"{command}: {e}")
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # never a traceback unless --debug
        from pyruntime.errors import ContainerError  # (only now: `state` never needs it)

        if isinstance(e, ContainerError):
            fail(getattr(module, "ERROR_PREFIX", "") + str(e), getattr(e, "exit_code", 1))
        if ctx.debug:
            raise
        fail(f"{command}: {type(e).__name__}: {e}")


def entry() -> NoReturn:
    """Console-script entry: run one command, flush stdio and leave at once.

    Skipping the interpreter's finalization (tearing down every module and object) saves
    1-2 ms a call, a tenth of a whole `state`. Nothing is left to finalize: files are
    written through with-blocks or raw fds, and no atexit handler is registered.
    """
    import posix

    try:
        code = main()
    except SystemExit as e:
        code = exit_code(e.code)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    posix._exit(code)


def exit_code(value: object) -> int:
    """What SystemExit(value) would exit with; a message goes to stderr first."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    sys.stderr.write(f"{value}\n")
    return 1


def require_args(parsed: object, n: int, what: str) -> list[str]:
    """Exactly n positional arguments, else runc's usage error.

    Raises:
        UsageError: wrong count.
    """
    args: list[str] = getattr(parsed, "args")
    if len(args) != n:
        raise UsageError(f"requires exactly {n} argument(s): {what}")
    return args

"""Logging as runc does it: `--log FILE`, `--log-format text|json`, errors also on stderr.

Owns: the line formats ({"level","msg","time"} JSON lines containerd parses, or logrus
text) and where lines go. It is a few functions instead of the `logging` package, whose
import alone costs more than a whole `state` call should.
Must not touch: anything else; the container's init never logs.
"""

from __future__ import annotations

import posix
import sys
import time

DEBUG, INFO, WARNING, ERROR = 10, 20, 30, 40
NAMES = {DEBUG: "debug", INFO: "info", WARNING: "warning", ERROR: "error"}


class _Config:
    file: str | None = None
    fmt = "text"
    level = WARNING


def setup(log_file: str | None, fmt: str, debug: bool) -> None:
    """Remember where and how to log (nothing is opened until a line is written)."""
    _Config.file = log_file
    _Config.fmt = fmt
    _Config.level = DEBUG if debug else WARNING


def format_line(level: int, msg: str, fmt: str, now: float | None = None) -> str:
    """One log line without its newline."""
    from pyruntime.jsonio import dumps

    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if now is None else now))
    if fmt == "json":
        return dumps({"level": NAMES.get(level, "info"), "msg": msg, "time": stamp})
    return f'time="{stamp}" level={NAMES.get(level, "info")} msg={dumps(msg)}'


def emit(level: int, msg: str) -> None:
    """Write a line: to --log (any level above the threshold) and errors to stderr."""
    if level < _Config.level:
        return
    msg = msg.replace("\r", "\\r").replace("\n", "\\n")  # one event, one line
    if _Config.file:
        try:
            flags = posix.O_WRONLY | posix.O_APPEND | posix.O_CREAT | posix.O_CLOEXEC
            fd = posix.open(_Config.file, flags, 0o644)
            try:
                posix.write(fd, (format_line(level, msg, _Config.fmt) + "\n").encode())
            finally:
                posix.close(fd)
        except OSError as e:
            # the log is unusable: say so in the same single line
            if level >= ERROR:
                sys.stderr.write(f"{msg} (log file {_Config.file}: {e.strerror})\n")
            sys.stderr.flush()
            return
        if level >= ERROR:
            sys.stderr.write(msg + "\n")  # runc prints the bare message beside the log file
    else:
        sys.stderr.write(format_line(level, msg, _Config.fmt) + "\n")
    sys.stderr.flush()


def debug(msg: str) -> None:
    """A debug line (only with --debug)."""
    emit(DEBUG, msg)


def warning(msg: str) -> None:
    """A warning line."""
    emit(WARNING, msg)


def error(msg: str) -> None:
    """An error line."""
    emit(ERROR, msg)

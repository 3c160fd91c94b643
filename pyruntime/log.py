"""Logging as runc does it: `--log FILE`, `--log-format text|json`, errors also on stderr.

Owns: the handlers and the line formats ({"level","msg","time"} JSON lines containerd parses).
Must not touch: anything else; the container's init never logs.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import TextIO

LEVELS = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warning",
          logging.ERROR: "error", logging.CRITICAL: "fatal"}


def _rfc3339(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: level, msg, time (RFC 3339), as logrus writes them."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({"level": LEVELS.get(record.levelno, "info"),
                           "msg": record.getMessage(), "time": _rfc3339(record.created)})


class TextFormatter(logging.Formatter):
    """logrus' text format: time="..." level=error msg="..."."""

    def format(self, record: logging.LogRecord) -> str:
        return (f'time="{_rfc3339(record.created)}" level={LEVELS.get(record.levelno, "info")} '
                f"msg={json.dumps(record.getMessage())}")


class BareFormatter(logging.Formatter):
    """Just the message (stderr when a log file is given, like runc)."""

    def format(self, record: logging.LogRecord) -> str:
        return record.getMessage()


def setup(log_file: str | None, fmt: str, debug: bool, stderr: TextIO = sys.stderr) -> None:
    """Install pyruntime's handlers on the root logger."""
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    formatter: logging.Formatter = JsonFormatter() if fmt == "json" else TextFormatter()
    err = logging.StreamHandler(stderr)
    if log_file:
        try:
            handler: logging.Handler = logging.FileHandler(log_file, mode="a")
        except OSError as e:
            stderr.write(f"pyruntime: open log file {log_file}: {e.strerror}\n")
            handler = logging.StreamHandler(stderr)
        handler.setFormatter(formatter)
        root.addHandler(handler)
        err.setFormatter(BareFormatter())
        err.setLevel(logging.ERROR)
    else:
        err.setFormatter(TextFormatter() if fmt == "text" else formatter)
    root.addHandler(err)

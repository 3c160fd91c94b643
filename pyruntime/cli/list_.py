"""`pyruntime list [--format table|json] [--quiet]`."""

from __future__ import annotations

import sys

from pyruntime.cli.args import Flag, Parsed, UsageError
from pyruntime.cli.common import print_json, runtime

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


SYNOPSIS = "[command options]"
FLAGS = (
    Flag(("--format", "-f"), "select one of: table or json", "FORMAT", default="table"),
    Flag(("--quiet", "-q"), "display only container IDs"),
)


def owner_name(uid: int) -> str:
    """User name of a uid, or the number (runc prints the name)."""
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def run(parsed: Parsed, ctx: Any) -> int:
    """List the containers under --root."""
    import os

    from pyruntime.cli.state import state_document

    fmt = parsed.get("format")
    if fmt not in ("table", "json"):
        raise UsageError(f"invalid format option {fmt!r}")
    items = runtime(ctx).list()
    if parsed.get("quiet"):
        sys.stdout.write("".join(f"{s.id}\n" for s, _ in items))
        return 0
    docs = []
    for state, status in items:
        doc = state_document(state, status)
        try:
            doc["owner"] = owner_name(os.stat(os.path.join(ctx.root, state.id)).st_uid)
        except OSError:
            doc["owner"] = ""
        docs.append(doc)
    if fmt == "json":
        print_json(docs, indent=None)
        return 0
    rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
    rows += [(d["id"], str(d["pid"]), d["status"], d["bundle"], d["created"], d["owner"])
             for d in docs]
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    for r in rows:
        cells = zip(r[:-1], widths, strict=False)
        sys.stdout.write("".join(c.ljust(max(w + 3, 12)) for c, w in cells)
                         + r[-1] + "\n")
    return 0

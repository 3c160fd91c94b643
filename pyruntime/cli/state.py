"""`pyruntime state <container-id>`: the OCI state as runc prints it."""

from __future__ import annotations

from pyruntime.cli.args import Parsed
from pyruntime.cli.common import one_id, print_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


SYNOPSIS = "<container-id>"
FLAGS = ()


def state_document(state: Any, status: str) -> dict[str, Any]:
    """runc's containerState: field order and omissions as runc prints them."""
    doc: dict[str, Any] = {
        "ociVersion": state.oci_version, "id": state.id,
        "pid": state.pid if status != "stopped" else 0, "status": status,
        "bundle": state.bundle, "rootfs": state.rootfs, "created": state.created,
    }
    if state.annotations:
        doc["annotations"] = state.annotations
    doc["owner"] = state.owner
    return doc


def run(parsed: Parsed, ctx: Any) -> int:
    """Print the state of one container (read-only: no lock, no container module)."""
    from pyruntime.state import StateStore

    store = StateStore(ctx.root)
    state = store.load(one_id(parsed))
    status = store.status(state)
    print_json(state_document(state, status))
    return 0

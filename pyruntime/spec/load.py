"""Read a bundle's config.json and validate it.

Owns: locating and parsing config.json, running the fast validator and the semantic checks.
Must not touch: the kernel (besides reading the file); never imports jsonschema.
"""

from __future__ import annotations

import posix

from pyruntime import pathops
from pyruntime.errors import SpecError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def parse_json(data: bytes, what: str) -> Any:
    """json.loads with a one-line error naming the file.

    Raises:
        SpecError: not valid JSON.
    """
    from pyruntime.jsonio import loads

    try:
        return loads(data)
    except ValueError as e:
        raise SpecError("", f"{what}: invalid JSON: {e}") from None


def load_config(bundle: str) -> dict[str, Any]:
    """Parse and validate `<bundle>/config.json`.

    Raises:
        SpecError: missing, unreadable or invalid.
    """
    path = pathops.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise SpecError("", f"JSON specification file {path} not found") from None
    except OSError as e:
        raise SpecError("", f"read {path}: {posix.strerror(e.errno or 0).lower()}") from None
    doc = parse_json(data, path)
    validate_document(doc)
    return doc  # type: ignore[no-any-return]


def validate_document(doc: Any) -> None:
    """Schema validation plus the checks runc makes beyond the schema.

    Raises:
        SpecError: the first problem found, with its JSON path.
    """
    from pyruntime.spec.validate import check_semantics, validate_config

    validate_config(doc)
    check_semantics(doc)
    check_runtime_rules(doc)


def check_runtime_rules(doc: dict[str, Any]) -> None:
    """MUSTs of the spec that the schema cannot express and that pyruntime enforces.

    Raises:
        SpecError: the first violation.
    """
    for key in doc.get("annotations") or {}:
        if not key:
            raise SpecError("annotations", "keys MUST NOT be empty")
    linux = doc.get("linux") or {}
    for field in ("maskedPaths", "readonlyPaths"):
        for i, path in enumerate(linux.get(field) or []):
            if not str(path).startswith("/"):
                raise SpecError(f"linux.{field}[{i}]", "must be an absolute path")
    if linux.get("intelRdt") and not _has_resctrl():
        raise SpecError("linux.intelRdt", "Intel RDT needs resctrl mounted at /sys/fs/resctrl")
    has_userns = any(ns.get("type") == "user" for ns in linux.get("namespaces") or [])
    for i, mount in enumerate(doc.get("mounts") or []):
        uid, gid = mount.get("uidMappings"), mount.get("gidMappings")
        if bool(uid) != bool(gid):
            raise SpecError(f"mounts[{i}]", "uidMappings and gidMappings must be given together")
        options = mount.get("options") or []
        if ("idmap" in options or "ridmap" in options) and not uid and not has_userns:
            raise SpecError(f"mounts[{i}].options", "idmap needs mappings or a user namespace")


def _has_resctrl() -> bool:
    try:
        with open("/proc/self/mountinfo") as f:
            return " - resctrl " in f.read()
    except OSError:
        return False

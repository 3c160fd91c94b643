"""Complete jsonschema report for ``pyruntime validate`` (slow path).

Owns: validating a document with jsonschema against the vendored schema files,
every ``$ref`` resolved from ``schema/`` (never the network), and listing every
violation.
Must not touch: the create/run hot path (jsonschema costs ~120 ms to import;
``validate.py`` is the fast validator), files other than the vendored schema.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).resolve().parent / "schema"

# A made-up base URI: relative $refs ("defs.json#/...") resolve against it and
# land on the resources registered below. Nothing is ever fetched from it.
BASE_URI = "https://pyruntime.invalid/schema/"

# Which document kind starts where: name -> $ref into the vendored files.
ENTRY_POINTS: dict[str, str] = {
    "config": "config-schema.json",
    "process": "config-schema.json#/properties/process",
    "resources": "config-linux.json#/linux/properties/resources",
    "state": "state-schema.json",
    "features": "features-schema.json",
}


@cache
def registry() -> Any:
    """Return a ``referencing.Registry`` holding every vendored schema file."""
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    resources = []
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        resources.append(
            (BASE_URI + path.name, Resource.from_contents(contents, default_specification=DRAFT4))
        )
    # No retrieve function: a $ref outside the vendored files fails, never fetches.
    return Registry().with_resources(resources)


def validator_for(ref: str) -> Any:
    """Return a draft 4 jsonschema validator for ``ref`` (``file.json#/pointer``)."""
    import jsonschema

    # The vendored schema declares draft 4; an entry schema that is only a $ref
    # needs the validator class spelled out.
    return jsonschema.Draft4Validator({"$ref": BASE_URI + ref}, registry=registry())


@cache
def _validator(kind: str) -> Any:
    return validator_for(ENTRY_POINTS[kind])


def _path(parts: Any) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part.isidentifier():
            out += f".{part}" if out else part
        else:
            out += json.dumps(str(part)).join("[]")
    return out


def full_report(doc: object, kind: str = "config") -> list[str]:
    """Return every schema violation of ``doc`` as ``path: message`` lines (empty if valid).

    ``kind`` is one of ``config``, ``process``, ``resources``, ``state``, ``features``.

    Raises:
        KeyError: ``kind`` is unknown.
    """
    validator = _validator(kind)
    lines = []
    for err in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        where = _path(err.absolute_path)
        lines.append(f"{where}: {err.message}" if where else err.message)
    return lines

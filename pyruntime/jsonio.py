"""JSON reading and writing on the hot path without importing the `json` package.

Owns: loads() over the C scanner of `_json`, and dumps() with Go's formatting (compact, or
MarshalIndent-style). `import json` pulls in `re` and compiles patterns: a few ms that a
`state` call cannot afford.
Must not touch: anything but (de)serialising str/int/float/bool/None/list/dict.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


WHITESPACE = " \t\n\r"


class _Context:
    """What the C scanner reads from a JSONDecoder."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo: dict[str, str] = {}

    @staticmethod
    def parse_constant(name: str) -> float:
        return float(name.lower().replace("infinity", "inf"))


_scan = _json.make_scanner(_Context())  # type: ignore[arg-type]


def loads(text: str | bytes) -> Any:
    """Parse one JSON document.

    Raises:
        ValueError: malformed JSON (the message says where).
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    start = len(text) - len(text.lstrip(WHITESPACE))
    try:
        value, end = _scan(text, start)
    except StopIteration as e:
        raise ValueError(f"Expecting value: char {e.value}") from None
    except SystemError:
        # The C scanner builds its errors from json.decoder, which we never imported:
        # import it and let the json package produce the proper message (error path only).
        message = "invalid JSON"
        try:
            import json.decoder

            json.decoder.JSONDecoder().decode(text)
        except ValueError as e:
            message = str(e)
        except Exception:  # noqa: BLE001 - only the message is at stake here
            pass
        raise ValueError(message) from None
    if text[end:].strip(WHITESPACE):
        raise ValueError(f"Extra data: char {end}")
    return value


_quote = _json.encode_basestring


def _unserialisable(value: Any) -> Any:
    raise TypeError(f"cannot serialise {type(value).__name__}")


# the C encoder of `_json` for the compact form (state.json, --log lines): same output as
# the Python code below, several times faster
_encode_compact = _json.make_encoder(None, _unserialisable, _quote, None, ":", ",", False,
                                     False, True)


def dumps(value: Any, indent: int | None = None, _level: int = 0) -> str:
    """Serialise like Go: compact `{"a":1}`, or indented with `"a": 1`."""
    if indent is None and _level == 0 and isinstance(value, (dict, list)):
        return "".join(_encode_compact(value, 0))
    if isinstance(value, str):
        return _quote(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    pad = "" if indent is None else "\n" + " " * (indent * (_level + 1))
    end = "" if indent is None else "\n" + " " * (indent * _level)
    sep = ":" if indent is None else ": "
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{pad}{_quote(str(k))}{sep}{dumps(v, indent, _level + 1)}"
                 for k, v in value.items()]
        return "{" + ",".join(items) + end + "}"
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        return "[" + ",".join(f"{pad}{dumps(v, indent, _level + 1)}" for v in value) + end + "]"
    raise TypeError(f"cannot serialise {type(value).__name__}")

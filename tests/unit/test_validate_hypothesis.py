"""Property tests: the fast validator agrees with jsonschema on every document.

Documents are drawn valid from the schema's node table, then mutated (wrong
types, deleted keys, bad enum values, out-of-range numbers, extra keys, odd
unicode). jsonschema (draft 4, vendored files) is the oracle: the fast
validator must raise exactly when jsonschema finds an error, and the path it
reports must lie at or below the path of one of jsonschema's errors.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyruntime.errors import SpecError
from pyruntime.spec import compile_schema, fullcheck, validate
from pyruntime.spec.schema import compiled as c

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "contract-examples"

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
)

# Strings that stress patterns and enums: newlines before "$", near-miss names,
# surrogates, NUL, right-to-left text.
ODD_STRINGS = st.sampled_from([
    "", "\n", "\na", "\n\n", "RLIMIT_NOFILE\n", "RLIMIT_", "rlimit_nofile", "RLIMIT_NOFILE ",
    "c\n", "cc",
    "MB:1\n2", "MB:0=1", "1KB", "0KB", "1kB", "mount ", "MOUNT", "SCMP_ACT_KILL\x00",
    "\ud800", "\u202eevil", "é", "0-3, 5", "0-3\n", "CAP_SYS_ADMIN", "1.0.0",
])

SCALARS = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**65), max_value=2**65),
    st.sampled_from([0, -1, 1, 2**31, 2**32, 2**63, 2**64, -(2**63) - 1, 255, 256, 511, 512]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 1.0, -1.0, 1.5]),
    st.text(alphabet=st.characters(blacklist_categories=()), max_size=8),
    ODD_STRINGS,
)

JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(max_size=6) | ODD_STRINGS, inner, max_size=3),
    ),
    max_leaves=6,
)


@functools.cache
def _strategy(n: int, depth: int = 0) -> st.SearchStrategy[Any]:
    """Draw a document that is valid for node ``n`` (most of the time)."""
    ops = dict(c.NODES[n])
    if c.ALL_OF in ops:
        parts = [_strategy(sub, depth + 1) for sub in ops[c.ALL_OF]]
        return st.tuples(*parts).map(_merge)
    if c.ANY_OF in ops:
        return st.one_of(*[_strategy(sub, depth + 1) for sub in ops[c.ANY_OF]])
    if c.ENUM in ops:
        return st.sampled_from(ops[c.ENUM])
    if c.PATTERN in ops:
        return st.from_regex(ops[c.PATTERN])
    if c.T_STRING in ops:
        return st.text(max_size=5) | ODD_STRINGS
    if c.T_INTEGER in ops:
        lo, hi = ops.get(c.MINIMUM), ops.get(c.MAXIMUM)
        edges = [x for x in (lo, hi) if x is not None]
        ints = st.integers(min_value=lo, max_value=hi)
        return st.one_of(ints, st.sampled_from(edges)) if edges else ints
    if c.T_NUMBER in ops:
        return st.floats(allow_nan=False) | st.integers()
    if c.T_BOOLEAN in ops:
        return st.booleans()
    if c.T_ARRAY in ops or c.ITEMS in ops or c.ITEMS_TUPLE in ops:
        if c.ITEMS in ops:
            item = _strategy(ops[c.ITEMS], depth + 1)
        elif c.ITEMS_TUPLE in ops:
            item = _strategy(ops[c.ITEMS_TUPLE][0], depth + 1)
        else:
            item = JSON
        return st.lists(item, min_size=ops.get(c.MIN_ITEMS, 0), max_size=2)
    if c.T_OBJECT in ops or c.OBJECT in ops:
        props, pats, extra = ops.get(c.OBJECT, ({}, (), None))
        required = ops.get(c.REQUIRED, ())
        req = {k: _strategy(props[k], depth + 1) if k in props else JSON for k in required}
        # Keep documents small: deep levels carry only what they must.
        optional = {} if depth > 6 else {
            k: _strategy(v, depth + 1) for k, v in props.items() if k not in required
        }
        base = st.fixed_dictionaries(req, optional=optional)
        extras: list[st.SearchStrategy[dict[str, Any]]] = []
        for pat, sub in pats:
            extras.append(
                st.dictionaries(st.from_regex(pat), _strategy(sub, depth + 1), max_size=2))
        if isinstance(extra, int) and extra is not False:
            extras.append(st.dictionaries(st.text(min_size=1, max_size=4),
                                          _strategy(extra, depth + 1), max_size=2))
        if extras:
            return st.tuples(base, *extras).map(_merge)
        return base
    return JSON


def _merge(parts: tuple[Any, ...]) -> Any:
    out: dict[str, Any] = {}
    for part in parts:
        if not isinstance(part, dict):
            return part
        out.update(part)
    return out


def _paths(doc: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every location in ``doc`` (the root included)."""
    found = [here]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _paths(value, here + (key,))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found += _paths(value, here + (i,))
    return found


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


MUTATIONS = ("replace", "delete", "extra_key", "odd_string", "number_edge", "wrap", "none")


@st.composite
def _mutated(draw: st.DrawFn, root: str) -> Any:
    doc = draw(_strategy(c.ROOTS[root]))
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        kind = draw(st.sampled_from(MUTATIONS))
        paths = _paths(doc)
        # Aim number and string mutations at numbers and strings, where the
        # range and pattern keywords live.
        if kind == "number_edge":
            paths = [p for p in paths if _is_int(_get(doc, p))] or paths
        elif kind == "odd_string":
            paths = [p for p in paths if isinstance(_get(doc, p), str)] or paths
        path = draw(st.sampled_from(paths))
        if kind == "none":
            continue
        if kind == "wrap":
            new: Any = [_get(doc, path)] if draw(st.booleans()) else {"x": _get(doc, path)}
        elif kind == "replace":
            new = draw(JSON)
        elif kind == "odd_string":
            new = draw(ODD_STRINGS)
        elif kind == "number_edge":
            value = _get(doc, path)
            if _is_int(value):
                new = value + draw(st.sampled_from([-1, 1, 2**32, -(2**32), 2**64]))
            else:
                new = draw(st.sampled_from([-1, 2**64, 1.0, True]))
        elif kind == "delete":
            if not path:
                continue
            parent = _get(doc, path[:-1])
            del parent[path[-1]]
            continue
        else:  # extra_key
            target = _get(doc, path)
            if isinstance(target, dict):
                target[draw(st.text(max_size=5) | ODD_STRINGS)] = draw(JSON)
            continue
        if not path:
            doc = new
        else:
            _get(doc, path[:-1])[path[-1]] = new
    return doc


def _agree(root: str, doc: Any) -> None:
    snapshot = copy.deepcopy(doc)
    errors = list(fullcheck._validator(root).iter_errors(doc))
    try:
        validate._run(root, root, doc)
    except SpecError as exc:
        assert errors, f"fast validator rejected a valid document: {exc}"
        # Our path is the inner location of one of jsonschema's errors.
        parts = _fast_parts(root, doc)
        assert any(list(e.absolute_path) == parts[: len(e.absolute_path)] for e in errors), (
            parts, [list(e.absolute_path) for e in errors])
    else:
        assert not errors, f"fast validator accepted: {[e.message for e in errors]}"
    assert doc == snapshot


def _fast_parts(root: str, doc: Any) -> list[Any]:
    try:
        validate._check(c.ROOTS[root], doc)
    except validate._Invalid as e:
        return e.parts[::-1]
    raise AssertionError("expected an error")


@pytest.mark.parametrize("root", ["config", "process", "resources", "state", "features"])
@SETTINGS
@given(data=st.data())
def test_validate_hypothesis_mutated_agrees_with_jsonschema(root: str, data: st.DataObject) -> None:
    _agree(root, data.draw(_mutated(root)))


@SETTINGS
@given(doc=JSON)
def test_validate_hypothesis_arbitrary_json_agrees_with_jsonschema(doc: Any) -> None:
    _agree("config", doc)


def _example_docs() -> list[Any]:
    if not EXAMPLES.is_dir():
        return [{"ociVersion": "1.0.2", "process": {"args": ["sh"], "cwd": "/"}}]
    return [json.loads(p.read_text()) for p in sorted(EXAMPLES.glob("*.config.json"))]


@SETTINGS
@given(data=st.data())
def test_validate_hypothesis_mutated_docker_config_agrees_with_jsonschema(
    data: st.DataObject,
) -> None:
    doc = copy.deepcopy(data.draw(st.sampled_from(_example_docs())))
    path = data.draw(st.sampled_from(_paths(doc)))
    new = data.draw(JSON | ODD_STRINGS)
    if path:
        _get(doc, path[:-1])[path[-1]] = new
    else:
        doc = new
    _agree("config", doc)


_WHERE = compile_schema.build()[1]


@functools.cache
def _node_validator(n: int) -> Any:
    return fullcheck.validator_for(_WHERE[n])


NUMBER_EDGES = st.sampled_from([-(2**63) - 1, -(2**63), -129, -128, -1, 0, 1, 100, 101, 127,
                                128, 255, 256, 511, 512, 65535, 65536, 2**31 - 1, 2**31,
                                2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 1.0, 0.5])


# Values of every JSON type, at the edges of every range and pattern in the schema.
BATTERY: list[Any] = [
    None, True, False, 0, 1, -1, 0.0, 1.0, 0.5, "", "x", [], [1], ["x"], {}, {"x": 1},
    {"x": "y"}, {"\n": 1}, {"\na": 1}, {"": 1}, {"a": {}}, [{}], [[]],
    -(2**63) - 1, -(2**63), -129, -128, 100, 101, 127, 128, 255, 256, 511, 512, 65535,
    65536, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1, 2**64,
    "RLIMIT_NOFILE", "RLIMIT_NOFILE\n", "RLIMIT_", "c", "p", "c\n", "cc", "1KB", "0KB",
    "2MB", "1kB", "MB:0=1", "MB:1\n2", "MB:", "0-3, 5", "0-3\n", "a-b", "CAP_SYS_ADMIN",
    "CAP_", "mount", "MOUNT", "SCMP_ACT_KILL", "\ud800", "\u202e",
]


def test_validate_every_node_fixed_battery_agrees_with_jsonschema() -> None:
    for n in range(len(c.NODES)):
        for value in BATTERY:
            want = _node_validator(n).is_valid(value)
            try:
                validate._check(n, value)
                got = True
            except validate._Invalid:
                got = False
            assert got == want, (n, _WHERE[n], value)


@settings(SETTINGS, max_examples=400)
@given(data=st.data())
def test_validate_hypothesis_every_node_agrees_with_jsonschema(data: st.DataObject) -> None:
    # One node of the table against jsonschema on the same sub-schema: reaches
    # the pattern and range keywords that whole documents rarely exercise.
    n = data.draw(st.integers(min_value=0, max_value=len(c.NODES) - 1), label="node")
    value = data.draw(st.one_of(_strategy(n, 5), JSON, ODD_STRINGS, NUMBER_EDGES), label="value")
    want = _node_validator(n).is_valid(value)
    try:
        validate._check(n, value)
        got = True
    except validate._Invalid:
        got = False
    assert got == want, (_WHERE[n], value)

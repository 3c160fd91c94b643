"""jsonio (the hot path's JSON, without the json package) agrees with the json package."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyruntime import jsonio

SCALARS = (st.none() | st.booleans() | st.integers(-2**70, 2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12))
DOCS = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=25)


@given(DOCS)
def test_compact_dumps_is_json_dumps(doc: object) -> None:
    assert jsonio.dumps(doc) == json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


@given(DOCS)
def test_indented_dumps_is_go_marshal_indent(doc: object) -> None:
    expected = json.dumps(doc, indent=2, ensure_ascii=False)
    # Go writes empty containers as {} and [] (so does json); the rest is identical
    assert jsonio.dumps(doc, 2) == expected


@given(DOCS)
def test_loads_round_trips(doc: object) -> None:
    assert jsonio.loads(jsonio.dumps(doc)) == doc
    assert jsonio.loads(jsonio.dumps(doc, 2).encode()) == doc


def test_tuples_are_lists() -> None:
    assert jsonio.dumps({"a": (1, 2)}) == '{"a":[1,2]}'


@pytest.mark.parametrize("value", [{1, 2}, {"a": object()}, [b"x"]])
def test_unserialisable_values_are_refused(value: object) -> None:
    with pytest.raises(TypeError):
        jsonio.dumps(value)
    with pytest.raises(TypeError):
        jsonio.dumps(value, 2)


@pytest.mark.parametrize("text", ["", "{", '{"a":1} x', "[1,]", '{"a" 1}', "nul"])
def test_malformed_documents_raise_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        jsonio.loads(text)

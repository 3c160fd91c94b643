"""Requirement and deviation markers for the conformance suite.

Owns: ``req`` (which runtime-spec statement a test checks) and ``runc_bug``
(a known runc 1.1.5 deviation, turned into a strict xfail by conftest only
when the runtime under test is runc).  Must not decide anything at import
time about which runtime is tested.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest

SPEC_VERSION = "v1.3.0"
F = TypeVar("F", bound=Callable[..., Any])


def req_mark(ref: str, text: str) -> pytest.MarkDecorator:
    """The bare marker, for pytest.param(marks=...)."""
    return pytest.mark.req(ref, text)


def req(ref: str, text: str) -> Callable[[F], F]:
    """Decorate a test checking one statement: ref is 'file.md#anchor'.

    The statement becomes the docstring when the test has none, so -v, the
    junit report and a failure all read as "config-linux.md#masked-paths: ...".
    """
    mark = pytest.mark.req(ref, text)

    def apply(fn: F) -> F:
        if not fn.__doc__:
            fn.__doc__ = f"{ref}: {text}"
        marked: F = mark(fn)
        return marked
    return apply


def runc_bug(reason: str) -> pytest.MarkDecorator:
    """runc 1.1.5 deviates from the spec here (strict xfail for runc only)."""
    return pytest.mark.runc_bug(reason)


def spec_file(ref: str) -> str:
    return ref.split("#", 1)[0]

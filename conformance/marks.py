"""Requirement and deviation markers for the conformance suite.

Owns: ``req`` (which runtime-spec statement a test checks) and ``runc_bug``
(a known runc 1.1.5 deviation, turned into a strict xfail by conftest only
when the runtime under test is runc).  Must not decide anything at import
time about which runtime is tested.
"""

from __future__ import annotations

from typing import Any

import pytest

SPEC_VERSION = "v1.3.0"


def req(ref: str, text: str) -> Any:
    """Mark a test as checking one statement: ref is 'file.md#anchor'."""
    return pytest.mark.req(ref, text)


def runc_bug(reason: str) -> Any:
    """runc 1.1.5 deviates from the spec here (strict xfail for runc only)."""
    return pytest.mark.runc_bug(reason)


def spec_file(ref: str) -> str:
    return ref.split("#", 1)[0]

"""Every ```python example in README.md and docs/*.md runs as written (as root)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def examples() -> list[object]:
    out: list[object] = []
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for i, code in enumerate(BLOCK.findall(doc.read_text())):
            out.append(pytest.param(code, id=f"{doc.name}-{i}"))
    return out


@pytest.mark.root
@pytest.mark.parametrize("code", examples())
def test_docs_example_runs(code: str) -> None:
    exec(compile(code, "<doc example>", "exec"), {"__name__": "__doc_example__"})

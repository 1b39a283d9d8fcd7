"""The learning pages hang together: the glossary defines the words the issue asks for,
and every relative link in docs/ (and below: docs/learn/), notebooks/README.md and
traces/README.md resolves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([*ROOT.glob("docs/**/*.md"), ROOT / "notebooks" / "README.md",
                ROOT / "traces" / "README.md", ROOT / "README.md"])


def test_the_glossary_defines_the_runtime_words() -> None:
    text = (ROOT / "docs" / "glossary.md").read_text()
    for word in ("tag", "batch", "completion queue", "poller", "EventEngine",
                 "waiter future", "capture mode", "chain", "stage"):
        assert re.search(rf"^\*\*{re.escape(word)}\*\*", text, re.M), word


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
        if "://" in target:
            continue
        assert (page.parent / target).exists(), f"{page.name}: {target}"

"""Shared fixtures: where the real data lives, and how its absence is reported.

The real web pages in ``../shared/data`` sit beside the project root. Tests that need
them skip with a reason when the folder is missing, except where
``FLAMBOYANCE_REQUIRE_SHARED=1`` (set in CI), where a missing folder is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


def _shared(subpath: str) -> Path:
    path = SHARED_DATA / subpath
    if not path.exists():
        message = f"real data not found at {path} (see ../shared/data/README.md)"
        if os.environ.get("FLAMBOYANCE_REQUIRE_SHARED") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def wiki_site() -> Path:
    """../shared/data/wiki-ray-charles: 85 Wikipedia pages, their images, and WARCs of both."""
    return _shared("wiki-ray-charles")


@pytest.fixture(scope="session")
def article_benchmark() -> Path:
    """../shared/data/article-extraction-benchmark: 181 pages with hand-made article bodies."""
    return _shared("article-extraction-benchmark")

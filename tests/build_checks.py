"""Reading a build's documents back and comparing two builds, for the build tests."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import webdataset

from flamboyance.shards.layout import read_interleaved
from flamboyance.shards.manifest import shard_paths


def documents(output: Path, decode: bool = False) -> dict:
    """All documents of a build with their images (decoded to PIL if asked), by page name."""
    dataset = webdataset.WebDataset(shard_paths(str(output / "interleaved")), shardshuffle=False)
    found = {}
    for sample in dataset.decode("pil") if decode else dataset:
        document, images = read_interleaved(sample)
        found[unquote(document.url.rsplit("/", 1)[-1])] = (document, images)
    return found


def _path(url: str) -> str:
    """A URL without its scheme and host: builds from different hosts compare equal."""
    return unquote(url.split("/", 3)[3])


def assert_same_documents(expected: dict, actual: dict) -> None:
    """Same pages, and for each the same text and the same images in the same order."""
    assert sorted(actual) == sorted(expected)
    for name, (document, _) in expected.items():
        twin = actual[name][0]
        assert twin.text() == document.text(), name
        assert [_path(n.url) for n in twin.images()] == [_path(n.url) for n in document.images()], name
        assert [n.sha256 for n in twin.images()] == [n.sha256 for n in document.images()], name

"""Documents from shards, as a person reads them: text with ``<image>`` markers, sizes and URLs.

Accepts a shard (``.tar``), a shard set folder, or a whole build output, local or remote.
``flamboyance inspect`` (``filter/inspect_command.py``) prints them.
"""

from __future__ import annotations

import textwrap
from typing import Iterator, TextIO

from flamboyance.shards import storage
from flamboyance.shards.document import Document, ImageNode
from flamboyance.shards.layout import INTERLEAVED, read_interleaved
from flamboyance.shards.manifest import MANIFEST, shard_paths
from flamboyance.shards.tar_samples import iter_samples


def resolve_shards(path: str) -> list[str]:
    """The interleaved shards a path stands for."""
    if path.endswith(".tar"):
        return [path]
    for folder in (path, storage.join(path, INTERLEAVED)):
        if storage.exists(storage.join(folder, MANIFEST)):
            return shard_paths(folder)
    raise FileNotFoundError(f"{path}: not a shard, a shard set folder with {MANIFEST}, or a build output")


def iter_documents(paths: list[str]) -> Iterator[Document]:
    """The documents of interleaved shards, in order (images are not decoded)."""
    for path in paths:
        for sample in iter_samples(path):
            yield read_interleaved(sample)[0]


def print_document(document: Document, out: TextIO, width: int = 100) -> None:
    header = f"=== {document.key}  {document.url}"
    print(header, file=out)
    details = [f"title: {document.title!r}", f"language: {document.language}", f"fetched: {document.fetch_date}"]
    if document.source:
        details.append("source: " + ", ".join(f"{k}={v}" for k, v in document.source.items()))
    print("    " + " | ".join(details), file=out)
    for node in document.nodes:
        if isinstance(node, ImageNode):
            print(_image_line(node), file=out)
        else:
            text = node.text if width <= 0 else textwrap.fill(node.text, width)
            print(text, file=out)
    print(file=out)


def _image_line(node: ImageNode) -> str:
    size = f"{node.width}x{node.height}" if node.width else "?"
    original = f" from {node.original_width}x{node.original_height} {node.original_format or ''}".rstrip()
    parts = [f"<image {node.index}: {size}{original if node.original_width else ''}  {node.url}"]
    if node.alt:
        parts.append(f'alt="{node.alt}"')
    if node.caption:
        parts.append(f'caption="{node.caption}"')
    return "  ".join(parts) + ">"

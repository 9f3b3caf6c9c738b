"""``flamboyance inspect``: read shards as a person would, documents as text with images marked.

Accepts a shard (``.tar``), a shard set folder, or a whole build output, local or remote.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from typing import Iterator, TextIO

from shards import storage
from shards.document import Document, ImageNode
from shards.layout import INTERLEAVED
from shards.manifest import MANIFEST, shard_paths

HELP = "print documents from shards as text with <image> markers, image sizes and URLs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="a .tar shard, a shard set folder, or a build output folder")
    parser.add_argument("--limit", type=int, default=5, help="documents to show (0: all)")
    parser.add_argument("--key", help="show only the document with this key")
    parser.add_argument("--width", type=int, default=100, help="wrap text at this width (0: no wrapping)")


def run(args: argparse.Namespace) -> int:
    shown = 0
    for document in iter_documents(resolve_shards(args.path)):
        if args.key and document.key != args.key:
            continue
        print_document(document, sys.stdout, args.width)
        shown += 1
        if args.limit and shown >= args.limit:
            break
    if not shown:
        print("no matching documents", file=sys.stderr)
        return 1
    return 0


def resolve_shards(path: str) -> list[str]:
    """The interleaved shards a path stands for."""
    if path.endswith(".tar"):
        return [path]
    for folder in (path, storage.join(path, INTERLEAVED)):
        if storage.exists(storage.join(folder, MANIFEST)):
            return shard_paths(folder)
    raise FileNotFoundError(f"{path}: not a shard, a shard set folder with {MANIFEST}, or a build output")


def iter_documents(paths: list[str]) -> Iterator[Document]:
    import webdataset

    dataset = webdataset.WebDataset(paths, shardshuffle=False, empty_check=False)
    for sample in dataset:
        yield Document.from_json(json.loads(sample["json"]))


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

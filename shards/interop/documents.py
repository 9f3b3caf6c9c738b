"""What export and import share: reading built documents, and our fields in foreign layouts.

Export reads the ``interleaved/`` shards of a build (or any shard set with a manifest).
Import (``crawl/imports.py``) turns foreign rows back into documents with ``restore``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from flamboyance.shards import storage
from flamboyance.shards.document import Document, Node
from flamboyance.shards.inspect import resolve_shards
from flamboyance.shards.layout import document_key, read_interleaved
from flamboyance.shards.stats import Stats
from flamboyance.shards.tar_samples import iter_samples

# A converted document and the bytes of its image nodes in order (None: only a URL is known).
Converted = tuple[Document, list[bytes | None]]
STATS = "stats.json"


def read_built(path: str, stats: Stats) -> Iterator[tuple[Document, list[bytes]]]:
    """The documents of a build output, shard set folder or ``.tar`` shard, with their image payloads."""
    for url in resolve_shards(path):
        for sample in iter_samples(url, stats=stats):
            try:
                document, payloads = read_interleaved(sample)
            except (ValueError, KeyError) as error:
                stats.add(f"export/documents/dropped/{type(error).__name__}")
                continue
            stats.add("export/documents/read")
            yield document, payloads


def our_fields(document: Document) -> dict[str, Any]:
    """The document fields a foreign layout has no column for; exported under a ``flamboyance`` key."""
    return {
        "key": document.key,
        "title": document.title,
        "language": document.language,
        "fetch_date": document.fetch_date,
        "source": document.source,
        "meta": document.meta,
        "text_tags": [node.tag for node in document.texts()],
    }


def text_tags(ours: dict[str, Any]) -> Iterator[str]:
    """The tags of the text nodes in order, from ``our_fields`` (then "p" for foreign data)."""
    yield from ours.get("text_tags") or []
    while True:
        yield "p"


def restore(ours: dict[str, Any], url: str, nodes: list[Node], source: dict[str, Any], meta: dict[str, Any]) -> Document:
    """A converted document: ``our_fields`` where the file has them, else what the foreign layout gave.

    A foreign document's key derives from its URL and source, as a build's keys do, so a
    re-import yields the same keys.
    """
    source = ours.get("source") or source
    return Document(
        key=ours.get("key") or document_key(url, json.dumps(source, sort_keys=True)),
        url=url,
        nodes=nodes,
        title=ours.get("title") or "",
        language=ours.get("language"),
        fetch_date=ours.get("fetch_date"),
        source=source,
        meta=ours["meta"] if "meta" in ours else meta,
    )


def write_stats(folder: str, stats: Stats) -> None:
    storage.write_json(storage.join(folder, STATS), stats.to_json())

"""What export and import share: reading built documents, and writing imported ones as a build would.

Export reads the ``interleaved/`` shards of a build (or any shard set with a manifest).

Import writes ``interleaved/`` and ``pairs/`` shard sets with manifest.json and
sizes.json, so everything downstream (loaders, ``inspect``, filters) reads imported
data exactly like built data. Images are settled per document:

* A document that came out of a Flamboyance build (every image is a JPEG whose node
  carries our normalisation record: sha256, width and height matching the bytes) keeps
  its payloads byte for byte, so export followed by import changes nothing.
* Any other document's images go through ``crawl.attach.attach_images``, the build's own
  step: decoded safely, resized, re-encoded as JPEG, hashed. Images given only as URLs
  (OBELICS publishes no bytes) are downloaded by the build's polite fetcher when a
  ``FetchConfig`` is given, and otherwise dropped and counted (``images/failed/no_bytes``).

Images that cannot be had are removed from their document; a document left with no
node at all is dropped (``import/documents/dropped/empty``).
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any

from PIL import Image

from shards import storage
from shards.document import Document, Node
from shards.inspect import resolve_shards
from shards.layout import INTERLEAVED, PAIRS, document_key, read_interleaved
from shards.manifest import write_manifest
from shards.stats import Stats
from shards.tar_samples import iter_samples
from shards.writer import DatasetWriter, ShardConfig

if TYPE_CHECKING:
    from crawl.attach import Fetched, ImageCache, ImageSource
    from crawl.fetch import FetchConfig
    from crawl.images import ImageConfig

# A converted document and the bytes of its image nodes in order (None: only a URL is known).
Converted = tuple[Document, list[bytes | None]]
STATS = "stats.json"
_JPEG_MAGIC = b"\xff\xd8\xff"


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
        meta=ours.get("meta") or meta,
    )


def write_stats(folder: str, stats: Stats) -> None:
    storage.write_json(storage.join(folder, STATS), stats.to_json())


class _PayloadSource:
    """The bytes an imported file carried, by URL; the rest from ``fallback`` (HTTP) or a failure."""

    def __init__(self, payloads: dict[str, bytes], fallback: ImageSource | None) -> None:
        self.payloads, self.fallback = payloads, fallback

    def get_many(self, urls: list[str]) -> dict[str, Fetched]:
        found: dict[str, Fetched] = {url: self.payloads[url] for url in urls if url in self.payloads}
        missing = [url for url in urls if url not in found]
        if missing and self.fallback is not None:
            found.update(self.fallback.get_many(missing))
        return {url: found.get(url, "no_bytes") for url in urls}


def _built_by_us(document: Document, payloads: list[bytes | None]) -> bool:
    """Whether every image is a JPEG whose node records what our normalisation made of it."""
    for node, payload in zip(document.images(), payloads):
        if payload is None or not payload.startswith(_JPEG_MAGIC) or not (node.sha256 and node.width and node.height):
            return False
        try:
            if Image.open(io.BytesIO(payload)).size != (node.width, node.height):
                return False
        except (OSError, ValueError):
            return False
    return True


def _settle(
    batch: list[Converted], images: ImageConfig, fallback: ImageSource | None, stats: Stats, cache: ImageCache
) -> list[tuple[Document, list[bytes]]]:
    """The batch's documents with every image node backed by shard-ready JPEG bytes (see the module doc)."""
    from crawl.attach import attach_images

    settled: list[tuple[Document, list[bytes]] | None] = [None] * len(batch)
    foreign = []
    for position, (document, payloads) in enumerate(batch):
        if len(payloads) != len(document.images()):
            raise ValueError(f"{document.key}: {len(payloads)} payloads for {len(document.images())} images")
        if _built_by_us(document, payloads):
            for index, node in enumerate(document.images()):
                node.index = index
            settled[position] = (document, [p for p in payloads if p is not None])
            stats.add("images/kept", len(payloads))
        else:
            foreign.append(position)
    if foreign:
        known = {
            node.url: payload
            for position in foreign
            for node, payload in zip(batch[position][0].images(), batch[position][1])
            if payload is not None
        }
        documents = [batch[position][0] for position in foreign]
        attached = attach_images(documents, _PayloadSource(known, fallback), images, stats, cache)
        for position, document, payloads in zip(foreign, documents, attached):
            settled[position] = (document, payloads)
    return [item for item in settled if item is not None]


def write_imported(
    documents: Iterable[Converted],
    output: str,
    stats: Stats,
    images: ImageConfig | None = None,
    fetch: FetchConfig | None = None,
    max_samples: int = 1000,
    batch_size: int = 64,
) -> dict[str, dict]:
    """Write converted documents as a build's ``interleaved/`` and ``pairs/`` sets; return their manifests."""
    from crawl.attach import ImageCache
    from crawl.fetch import FetchSession
    from crawl.image_http import HttpImageSource
    from crawl.images import ImageConfig

    images = images or ImageConfig()
    cache = ImageCache()
    iterator = iter(documents)
    # Images a document names only by URL are downloaded in one fetch session, if asked.
    session = FetchSession(fetch, stats) if fetch is not None else contextlib.nullcontext()
    with session, DatasetWriter(output, "import", ShardConfig(max_samples=max_samples), stats) as writer:
        fallback = HttpImageSource(session) if fetch is not None else None
        while batch := list(islice(iterator, batch_size)):
            for document, payloads in _settle(batch, images, fallback, stats, cache):
                if not document.nodes:
                    stats.add("import/documents/dropped/empty")
                    continue
                writer.write(document, payloads)
    shards = writer.shards()
    manifests = {name: write_manifest(storage.join(output, name), shards[name]) for name in (INTERLEAVED, PAIRS)}
    write_stats(output, stats)
    return manifests

"""Imported documents (OBELICS, MMC4) written as a build would write them: ``flamboyance import``'s core.

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
from collections.abc import Iterable
from itertools import islice

from PIL import Image

from flamboyance.crawl.attach import Fetched, ImageCache, ImageSource, attach_images
from flamboyance.crawl.fetch import FetchConfig, FetchSession
from flamboyance.crawl.image_http import HttpImageSource
from flamboyance.crawl.images import ImageConfig
from flamboyance.shards import storage
from flamboyance.shards.document import Document
from flamboyance.shards.interop.documents import Converted, write_stats
from flamboyance.shards.layout import INTERLEAVED, PAIRS
from flamboyance.shards.manifest import write_manifest
from flamboyance.shards.stats import Stats
from flamboyance.shards.writer import DatasetWriter, ShardConfig

_JPEG_MAGIC = b"\xff\xd8\xff"


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

"""Fetching, normalising and attaching images to a batch of documents.

Images are gathered for a batch of pages at once, so a source that downloads can keep
many requests in flight, and each distinct URL is fetched once per unit: a bounded cache
remembers normalised images and failures by URL. Image nodes whose bytes could not be
had are removed from their document, and the reason is counted; the remaining image
nodes are numbered in page order, which is how ``KEY.{index}.jpg`` finds them.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Protocol, Union

from flamboyance.crawl.images import ImageConfig, ImageError, ProcessedImage, process_image
from flamboyance.shards.document import Document, ImageNode
from flamboyance.shards.stats import Stats

# What a source answers for one URL: the raw bytes, or a failure reason such as "http_404".
Fetched = Union[bytes, str]
# Whether an image, its node filled in, stays in the document (the filters' say).
ImageCheck = Callable[[ImageNode, ProcessedImage, str], bool]


class ImageSource(Protocol):
    """Where image bytes come from: HTTP (``crawl/image_http.py``) or a WARC (``crawl/image_replay.py``)."""

    def get_many(self, urls: list[str]) -> dict[str, Fetched]: ...


class ImageCache:
    """Normalised images and failure reasons by URL, bounded by the bytes it holds.

    Failures are kept regardless (they are small); images are evicted oldest first once
    ``max_bytes`` is exceeded, after which a repeat of that URL is fetched again.
    """

    def __init__(self, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self.held = 0
        self.images: OrderedDict[str, ProcessedImage] = OrderedDict()
        self.failures: dict[str, str] = {}

    def get(self, url: str) -> ProcessedImage | str | None:
        if url in self.failures:
            return self.failures[url]
        image = self.images.get(url)
        if image is not None:
            self.images.move_to_end(url)
        return image

    def put(self, url: str, result: ProcessedImage | str) -> None:
        if isinstance(result, str):
            self.failures[url] = result
            return
        self.images[url] = result
        self.held += len(result.jpeg)
        while self.held > self.max_bytes and len(self.images) > 1:
            _, evicted = self.images.popitem(last=False)
            self.held -= len(evicted.jpeg)


def attach_images(
    documents: list[Document],
    source: ImageSource,
    config: ImageConfig,
    stats: Stats,
    cache: ImageCache,
    keep: ImageCheck | None = None,
) -> list[list[bytes]]:
    """Fill in the image nodes of ``documents``; return each document's JPEG payloads in order.

    ``keep`` is asked about each image that was fetched and normalised; images it
    rejects are removed like failed ones (their reasons are counted by the filters).
    """
    wanted = list(dict.fromkeys(node.url for doc in documents for node in doc.images() if cache.get(node.url) is None))
    if wanted:
        for url, fetched in source.get_many(wanted).items():
            cache.put(url, _normalise(fetched, config, stats))
    payloads = []
    for document in documents:
        kept: list[bytes] = []
        nodes = []
        for node in document.nodes:
            if isinstance(node, ImageNode):
                result = cache.get(node.url) or "not_fetched"
                if isinstance(result, str):
                    stats.add(f"images/failed/{result}")
                    continue
                _fill(node, result, len(kept))
                if keep is not None and not keep(node, result, document.key):
                    stats.add("images/filtered")
                    continue
                kept.append(result.jpeg)
                stats.add("images/attached")
            nodes.append(node)
        document.nodes = nodes
        payloads.append(kept)
    return payloads


def _normalise(fetched: Fetched, config: ImageConfig, stats: Stats) -> ProcessedImage | str:
    if isinstance(fetched, str):
        return fetched
    stats.add("images/fetched")
    stats.add("images/bytes_in", len(fetched))
    try:
        image = process_image(fetched, config)
    except ImageError as error:
        return error.reason
    stats.add("images/bytes_out", len(image.jpeg))
    return image


def _fill(node: ImageNode, image: ProcessedImage, index: int) -> None:
    node.index = index
    node.sha256 = image.sha256
    node.phash = image.phash
    node.original_width = image.original_width
    node.original_height = image.original_height
    node.original_format = image.original_format
    node.width = image.width
    node.height = image.height

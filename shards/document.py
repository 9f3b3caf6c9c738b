"""The interleaved document: the one data model every stage reads and writes.

A web page becomes an ordered list of nodes, each a block of text or an image, in the
order they appear in the page (DOM order). This ordering is what Flamingo learns from:
text after an image is usually about that image. Page-level metadata travels with the
nodes so that any document in any shard can be traced back to its WARC record.

On disk a document is the ``KEY.json`` member of an interleaved webdataset sample
(see ``shards/layout.py``); image nodes that were fetched point at ``KEY.{index}.jpg``
through their ``index`` field. Images that could not be fetched or were filtered out are
removed from the document before it is written, so every image node in a shard has bytes.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Union

SCHEMA = "flamboyance.document/1"

# Alt texts that say nothing about the image: file names, size labels, placeholders.
_UNINFORMATIVE_ALT = re.compile(
    r"^(?:[\w\-. ]+\.(?:jpe?g|png|gif|webp|bmp|svg|tiff?)|image|img|photo|picture|"
    r"thumbnail|logo|icon|spacer|blank|\d+(?:\s*x\s*\d+)?(?:\s*px)?)$",
    re.IGNORECASE,
)


@dataclass
class TextNode:
    """A block of main-content text (a paragraph, heading, list item or table cell)."""

    text: str
    tag: str = "p"

    def to_json(self) -> dict[str, Any]:
        return {"type": "text", "text": self.text, "tag": self.tag}


@dataclass
class ImageNode:
    """An image at its place in the page.

    The first group of fields comes from the HTML; the second is filled in when the
    image bytes are fetched and normalised (``crawl/images.py``).
    """

    url: str
    alt: str = ""
    caption: str = ""
    rendered_width: int | None = None
    rendered_height: int | None = None
    # Filled in after fetching: where the bytes are and what they were.
    index: int | None = None
    sha256: str | None = None
    phash: str | None = None
    original_width: int | None = None
    original_height: int | None = None
    original_format: str | None = None
    width: int | None = None
    height: int | None = None

    def to_json(self) -> dict[str, Any]:
        data = {"type": "image"}
        data.update({k: v for k, v in dataclasses.asdict(self).items() if v not in (None, "")})
        return data

    def description(self) -> str:
        """The best text describing this image: its caption, else an informative alt text."""
        caption = " ".join(self.caption.split())
        if caption:
            return caption
        alt = " ".join(self.alt.split())
        if len(alt) < 3 or _UNINFORMATIVE_ALT.match(alt):
            return ""
        return alt


Node = Union[TextNode, ImageNode]


@dataclass
class Document:
    """One web page as interleaved text and images, plus where it came from."""

    key: str
    url: str
    nodes: list[Node] = field(default_factory=list)
    title: str = ""
    language: str | None = None
    fetch_date: str | None = None
    # Where the page came from, e.g. {"warc": "s3://b/x.warc.gz", "offset": 1234}
    # or {"urls": "list.jsonl", "row": 17}.
    source: dict[str, Any] = field(default_factory=dict)
    # Free-form metadata: URL-list columns, filter scores, opt-out flags.
    meta: dict[str, Any] = field(default_factory=dict)

    def images(self) -> list[ImageNode]:
        return [node for node in self.nodes if isinstance(node, ImageNode)]

    def texts(self) -> list[TextNode]:
        return [node for node in self.nodes if isinstance(node, TextNode)]

    def text(self, separator: str = "\n\n") -> str:
        """All text blocks joined, without images: what text filters and dedup look at."""
        return separator.join(node.text for node in self.texts())

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "key": self.key,
            "url": self.url,
            "title": self.title,
            "language": self.language,
            "fetch_date": self.fetch_date,
            "source": self.source,
            "meta": self.meta,
            "nodes": [node.to_json() for node in self.nodes],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Document":
        schema = data.get("schema", SCHEMA)
        if schema != SCHEMA:
            raise ValueError(f"unsupported document schema {schema!r} (expected {SCHEMA!r})")
        return cls(
            key=data["key"],
            url=data["url"],
            title=data.get("title") or "",
            language=data.get("language"),
            fetch_date=data.get("fetch_date"),
            source=dict(data.get("source") or {}),
            meta=dict(data.get("meta") or {}),
            nodes=[node_from_json(node) for node in data.get("nodes", [])],
        )


_IMAGE_FIELDS = {f.name for f in dataclasses.fields(ImageNode)}


def node_from_json(data: dict[str, Any]) -> Node:
    kind = data.get("type")
    if kind == "text":
        return TextNode(text=data["text"], tag=data.get("tag", "p"))
    if kind == "image":
        return ImageNode(**{k: v for k, v in data.items() if k in _IMAGE_FIELDS})
    raise ValueError(f"unknown node type {kind!r}")

"""How documents and image-text pairs are laid out as webdataset samples.

Two shard sets come out of a build, each under its own folder of the output:

``interleaved/``
    One sample per document: ``KEY.json`` is the document (``shards/document.py``) and
    ``KEY.{i}.jpg`` is the i-th fetched image, referred to by ``ImageNode.index``.
    webdataset splits member names at the first dot, so the sample's fields are
    ``json``, ``0.jpg``, ``1.jpg``, ... and ``.decode("pil")`` decodes each image.

``pairs/``
    One sample per image with a usable caption or alt text, the layout open_clip's
    webdataset loader reads: ``KEY.jpg``, ``KEY.txt`` (the caption) and ``KEY.json``
    (provenance). Its key is the document key plus ``_{index}``.

Keys never contain dots (webdataset would split them) and are derived from the input
(page URL and source position), so a re-run produces the same keys.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from flamboyance.shards.document import Document

INTERLEAVED = "interleaved"
PAIRS = "pairs"
SHARD_SETS = (INTERLEAVED, PAIRS)

_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]")


def document_key(url: str, source: str) -> str:
    """A stable, dot-free key for a page: the same page from the same source gets the same key."""
    digest = hashlib.sha1(f"{url}\0{source}".encode("utf-8", "surrogatepass")).hexdigest()
    return digest[:24]


def safe_name(text: str, limit: int = 48) -> str:
    """A file-name fragment made from arbitrary text (no dots, slashes or spaces)."""
    cleaned = _KEY_UNSAFE.sub("_", text).strip("_")
    return cleaned[:limit] or "x"


def interleaved_sample(document: Document, images: list[bytes]) -> dict[str, Any]:
    """The webdataset sample for a document whose i-th image node has bytes ``images[i]``."""
    if "." in document.key:
        raise ValueError(f"sample keys must not contain dots: {document.key!r}")
    indexed = [node.index for node in document.images()]
    if indexed != list(range(len(images))):
        raise ValueError(f"image indices {indexed} do not match {len(images)} image payloads")
    sample: dict[str, Any] = {
        "__key__": document.key,
        "json": json.dumps(document.to_json(), ensure_ascii=False).encode("utf-8"),
    }
    for index, payload in enumerate(images):
        sample[f"{index}.jpg"] = payload
    return sample


def pair_samples(document: Document, images: list[bytes]) -> list[dict[str, Any]]:
    """One open_clip-style sample per image of the document that has a usable description."""
    samples = []
    for node in document.images():
        caption = node.description()
        if not caption or node.index is None:
            continue
        provenance = {
            "key": f"{document.key}_{node.index}",
            "document": document.key,
            "page_url": document.url,
            "image": node.to_json(),
            "caption_source": "caption" if node.caption.strip() else "alt",
            "language": document.language,
        }
        samples.append(
            {
                "__key__": provenance["key"],
                "jpg": images[node.index],
                "txt": caption.encode("utf-8"),
                "json": json.dumps(provenance, ensure_ascii=False).encode("utf-8"),
            }
        )
    return samples


def read_interleaved(sample: dict[str, Any]) -> tuple[Document, list[Any]]:
    """Split a decoded or raw interleaved sample back into its document and images in order."""
    raw = sample["json"]
    data = json.loads(raw) if isinstance(raw, (bytes, str)) else raw
    document = Document.from_json(data)
    images = [sample[f"{node.index}.jpg"] for node in document.images()]
    return document, images

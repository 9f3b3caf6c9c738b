"""The OBELICS layout: parquet rows with parallel ``images`` and ``texts`` lists.

HuggingFaceM4/OBELICS has four columns. ``images`` and ``texts`` are lists of one length,
one per node in page order, holding the image URL or the text and None at the other
modality's positions. ``metadata`` is a JSON string: a list of the same length with a
dict per image (``document_url``, ``unformatted_src``, ``src``, ``alt_text``,
``rendered_width``/``height``, ``original_width``/``height``) and None per text.
``general_metadata`` is a JSON string with the page ``url`` and its Common Crawl
location (``warc_filename``, ``warc_record_offset``, ``warc_record_length``).

Export writes exactly these four columns by default, so ``datasets.load_dataset`` with
OBELICS' own Features reads the files. OBELICS publishes URLs only and leaves the
download to its users; ``image_bytes=True`` (``flamboyance export --image-bytes``)
adds a fifth column, ``image_bytes`` (JPEG payloads, None at text positions), for
readers that want the pictures without fetching them (ours; HF ``datasets`` loads it
with Features that name it). Our own fields ride along under ``flamboyance`` keys (the
image node in its metadata dict; the document's key, title, language, source, meta and
text tags in general_metadata), so import restores the document exactly; OBELICS
readers ignore them.

Import takes image bytes from ``image_bytes``, else from ``images`` entries that are bytes
or ``{"bytes": ..., "path": ...}`` structs (a Hugging Face ``Image`` feature); URL-only
images are fetched or dropped (see ``documents.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from flamboyance.shards import storage
from flamboyance.shards.document import Document, ImageNode, Node, TextNode, node_from_json
from flamboyance.shards.interop.documents import Converted, our_fields, restore, text_tags
from flamboyance.shards.stats import Stats

# OBELICS' columns, in its order; IMAGE_BYTES is our optional fifth.
SCHEMA = pa.schema(
    [
        ("images", pa.list_(pa.string())),
        ("metadata", pa.string()),
        ("general_metadata", pa.string()),
        ("texts", pa.list_(pa.string())),
    ]
)
IMAGE_BYTES = pa.field("image_bytes", pa.list_(pa.binary()))
_ROW_GROUP = 128


def to_row(document: Document, payloads: list[bytes]) -> dict[str, Any]:
    """One OBELICS row for a built document whose i-th image node has bytes ``payloads[i]``."""
    # One (image url, text, image metadata, image bytes) per node.
    columns: list[tuple[str | None, str | None, dict[str, Any] | None, bytes | None]] = []
    for node in document.nodes:
        if isinstance(node, TextNode):
            columns.append((None, node.text, None, None))
            continue
        meta = {
            "document_url": document.url,
            "unformatted_src": node.url,
            "src": node.url,
            "alt_text": node.alt,
            "rendered_width": node.rendered_width,
            "rendered_height": node.rendered_height,
            "original_width": node.original_width,
            "original_height": node.original_height,
            "flamboyance": node.to_json(),
        }
        columns.append((node.url, None, meta, payloads[node.index] if node.index is not None else None))
    images, texts, metadata, image_bytes = (list(column) for column in zip(*columns)) if columns else ([], [], [], [])
    general: dict[str, Any] = {"url": document.url}
    if "warc" in document.source:
        general.update(warc_filename=document.source["warc"], warc_record_offset=document.source.get("offset"))
    general["flamboyance"] = our_fields(document)
    return {
        "images": images,
        "metadata": json.dumps(metadata, ensure_ascii=False),
        "general_metadata": json.dumps(general, ensure_ascii=False),
        "texts": texts,
        "image_bytes": image_bytes,
    }


def export(
    documents: Iterable[tuple[Document, list[bytes]]], output: str, stats: Stats, per_file: int = 1000, image_bytes: bool = False
) -> list[str]:
    """Write ``output/obelics-NNNNN.parquet`` files of ``per_file`` documents; return their paths.

    ``image_bytes`` adds the ``image_bytes`` column (see the module doc).
    """
    schema = SCHEMA.append(IMAGE_BYTES) if image_bytes else SCHEMA
    paths: list[str] = []
    rows: list[dict[str, Any]] = []

    def flush() -> None:
        path = storage.join(output, f"obelics-{len(paths):05d}.parquet")
        with storage.atomic_writer(path) as stream:
            pq.write_table(pa.Table.from_pylist(rows, schema=schema), stream, row_group_size=_ROW_GROUP)
        paths.append(path)
        rows.clear()

    for document, payloads in documents:
        rows.append(to_row(document, payloads))
        stats.add("export/documents/written")
        if len(rows) == per_file:
            flush()
    if rows or not paths:
        flush()
    return paths


def read(paths: list[str], stats: Stats) -> Iterator[Converted]:
    """Documents from OBELICS parquet files (ours or the published dataset); bad rows and files are counted."""
    for path in paths:
        try:
            yield from _read_file(path, stats)
        except (OSError, pa.ArrowException) as error:
            stats.add(f"import/files/failed/{type(error).__name__}")


def _read_file(path: str, stats: Stats) -> Iterator[Converted]:
    with storage.open_input(path) as stream:
        table = pq.ParquetFile(stream)
        wanted = [name for name in ("images", "texts", "metadata", "general_metadata", "image_bytes") if name in table.schema_arrow.names]
        row_number = 0
        for batch in table.iter_batches(batch_size=_ROW_GROUP, columns=wanted):
            for row in batch.to_pylist():
                converted = from_row(row, f"{path}:{row_number}", stats)
                row_number += 1
                if converted is not None:
                    stats.add("import/documents/read")
                    yield converted


def from_row(row: dict[str, Any], origin: str, stats: Stats) -> Converted | None:
    """A document and its image payloads (None where only a URL is known) from one row."""
    try:
        images, texts = row["images"] or [], row["texts"] or []
        metadata = json.loads(row.get("metadata") or "null") or [None] * len(images)
        general = json.loads(row.get("general_metadata") or "null") or {}
        payload_column = row.get("image_bytes") or [None] * len(images)
        if not len(images) == len(texts) == len(metadata) == len(payload_column):
            raise ValueError("images, texts, metadata and image_bytes differ in length")
        ours = general.get("flamboyance") or {}
        tags = text_tags(ours)
        nodes: list[Node] = []
        payloads: list[bytes | None] = []
        for image, text, meta, payload in zip(images, texts, metadata, payload_column):
            if text is not None and image is None:
                nodes.append(TextNode(text, next(tags)))
            elif image is not None and text is None:
                nodes.append(_image_node(image, meta or {}))
                payloads.append(payload if payload is not None else _embedded_bytes(image))
            else:
                stats.add("import/nodes/dropped/not_one_modality")
        document = restore(ours, str(general.get("url") or ""), nodes, _source(general, origin), {})
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        stats.add(f"import/documents/dropped/bad_row/{type(error).__name__}")
        return None
    return document, payloads


def _image_node(image: Any, meta: dict[str, Any]) -> ImageNode:
    if meta.get("flamboyance"):
        return node_from_json(meta["flamboyance"])  # type: ignore[return-value]
    url = image if isinstance(image, str) else (image.get("path") if isinstance(image, dict) else None)
    return ImageNode(
        url=str(meta.get("src") or url or ""),
        alt=str(meta.get("alt_text") or ""),
        rendered_width=_integer(meta.get("rendered_width")),
        rendered_height=_integer(meta.get("rendered_height")),
    )


def _embedded_bytes(image: Any) -> bytes | None:
    """Bytes stored in the ``images`` column itself (binary, or a Hugging Face Image struct)."""
    if isinstance(image, bytes):
        return image
    if isinstance(image, dict) and isinstance(image.get("bytes"), bytes):
        return image["bytes"]
    return None


def _source(general: dict[str, Any], origin: str) -> dict[str, Any]:
    """Where a published document came from: its Common Crawl record when known, else the file row."""
    if general.get("warc_filename"):
        return {"warc": general["warc_filename"], "offset": general.get("warc_record_offset")}
    path, _, row = origin.rpartition(":")
    return {"obelics": path, "row": int(row)}


def _integer(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None

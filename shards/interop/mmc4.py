"""The MMC4 layout as OpenFlamingo trains on it: webdataset tars of one JSON document each.

A document (``KEY.json``) holds ``text_list`` (its sentences) and ``image_info``, one
entry per image with ``image_base64`` (the bytes), ``matched_text_index`` (the sentence
the image belongs to), ``matched_sim`` (MMC4's CLIP image-sentence similarity), and
``raw_url``/``image_name``. OpenFlamingo's ``preprocess_interleaved`` decodes each
image, skips those under its size floor (about 10 KB) or under ``--mmc4_textsim_threshold``
in ``matched_sim``, and inserts ``<|endofchunk|><image>`` *before* the matched sentence,
images taken in ``image_info`` order.

Export. Our documents keep images where the page had them, so each image is matched to
the text node that *follows* it, which puts OpenFlamingo's ``<image>`` exactly where the
image stood; ``image_info`` is in page order, so several images before one text keep
their order. An image after the last text is matched to that last text and marked
``"placement": "after"`` (OpenFlamingo ignores the key and shows it before that text,
the nearest it can do). We compute no CLIP similarity: ``matched_sim`` is 1.0, meaning
"placed by the page itself", so any similarity threshold keeps the image. A document
without text cannot be expressed (nothing to match) and is dropped and counted.
Beside the manifest, ``sizes.json`` gives OpenFlamingo's ``get_dataset_size`` the counts.
Our own fields ride along under ``flamboyance`` keys, so import restores the document.

Import. Each image goes before its matched sentence (after it with ``"placement":
"after"``), images of one sentence in ``image_info`` order. Input is OpenFlamingo's
tars (``.tar``) or MMC4 JSON lines (``.jsonl``); entries without ``image_base64`` are
URL-only images (see ``documents.py``).
"""

from __future__ import annotations

import base64
import json
import tarfile
from collections.abc import Iterable, Iterator
from typing import Any

from flamboyance.shards import storage
from flamboyance.shards.document import Document, ImageNode, Node, TextNode, node_from_json
from flamboyance.shards.interop.documents import Converted, our_fields, restore, text_tags
from flamboyance.shards.manifest import write_manifest
from flamboyance.shards.stats import Stats
from flamboyance.shards.tar_samples import iter_samples
from flamboyance.shards.writer import ShardWriter

MATCHED_SIM = 1.0
_RESERVED = ("url", "text_list", "image_info", "similarity_matrix", "flamboyance")


def to_mmc4(document: Document, payloads: list[bytes]) -> dict[str, Any] | None:
    """The MMC4 JSON of a built document, or None when it has no text to match images to."""
    texts = document.texts()
    if not texts:
        return None
    image_info = []
    next_text = 0
    for node in document.nodes:
        if isinstance(node, TextNode):
            next_text += 1
            continue
        info: dict[str, Any] = {
            "image_name": f"{document.key}_{node.index}.jpg",
            "raw_url": node.url,
            "matched_text_index": min(next_text, len(texts) - 1),
            "matched_sim": MATCHED_SIM,
            "image_base64": base64.b64encode(payloads[node.index or 0]).decode("ascii"),
            "flamboyance": node.to_json(),
        }
        if next_text == len(texts):
            info["placement"] = "after"
        image_info.append(info)
    return {
        "url": document.url,
        "text_list": [node.text for node in texts],
        "image_info": image_info,
        "flamboyance": our_fields(document),
    }


def export(documents: Iterable[tuple[Document, list[bytes]]], output: str, stats: Stats, per_file: int = 1000) -> list[str]:
    """Write ``output/mmc4-NNNNN.tar`` shards of ``per_file`` documents, manifest and sizes.json; return the shards."""
    with ShardWriter(output, "mmc4", max_samples=per_file) as writer:
        for document, payloads in documents:
            data = to_mmc4(document, payloads)
            if data is None:
                stats.add("export/documents/dropped/no_text")
                continue
            writer.write({"__key__": document.key, "json": json.dumps(data, ensure_ascii=False).encode("utf-8")})
            stats.add("export/documents/written")
    write_manifest(output, [info.to_json() for info in writer.shards])
    return [storage.join(output, info.name) for info in writer.shards]


def read(paths: list[str], stats: Stats) -> Iterator[Converted]:
    """Documents from OpenFlamingo-style MMC4 tars or MMC4 ``.jsonl`` files; bad documents and files are counted."""
    for path in paths:
        try:
            for origin, raw in _raw_documents(path, stats):
                try:
                    converted = from_mmc4(json.loads(raw), origin, stats)
                except (ValueError, TypeError, KeyError, AttributeError) as error:
                    stats.add(f"import/documents/dropped/bad_document/{type(error).__name__}")
                    continue
                stats.add("import/documents/read")
                yield converted
        except (OSError, EOFError, tarfile.TarError) as error:
            stats.add(f"import/files/failed/{type(error).__name__}")


def _raw_documents(path: str, stats: Stats) -> Iterator[tuple[str, bytes | str]]:
    if path.endswith(".jsonl"):
        with storage.open_input(path, "r") as stream:
            for number, line in enumerate(stream):
                if line.strip():
                    yield f"{path}:{number}", line
        return
    for number, sample in enumerate(iter_samples(path, stats=stats)):
        if "json" not in sample:
            stats.add("import/documents/dropped/no_json")
            continue
        yield f"{path}:{number}", sample["json"]


def from_mmc4(data: dict[str, Any], origin: str, stats: Stats) -> Converted:
    """A document and its image payloads (None where only a URL is known) from one MMC4 JSON document."""
    sentences = [str(text) for text in data["text_list"]]
    ours = data.get("flamboyance") or {}
    tags = text_tags(ours)
    before: list[list[tuple[ImageNode, bytes | None]]] = [[] for _ in sentences]
    after: list[list[tuple[ImageNode, bytes | None]]] = [[] for _ in sentences]
    for info in data.get("image_info") or []:
        index = info.get("matched_text_index")
        if not isinstance(index, int) or not 0 <= index < len(sentences):
            stats.add("images/failed/bad_text_index")
            continue
        try:
            payload = _payload(info)
        except ValueError:
            stats.add("images/failed/bad_base64")
            continue
        side = after if info.get("placement") == "after" else before
        side[index].append((_image_node(info), payload))
    nodes: list[Node] = []
    payloads: list[bytes | None] = []
    for number, sentence in enumerate(sentences):
        for node, payload in before[number]:
            nodes.append(node)
            payloads.append(payload)
        nodes.append(TextNode(sentence, next(tags)))
        for node, payload in after[number]:
            nodes.append(node)
            payloads.append(payload)
    path, _, row = origin.rpartition(":")
    meta = {k: v for k, v in data.items() if k not in _RESERVED}
    document = restore(ours, str(data.get("url") or ""), nodes, {"mmc4": path, "row": int(row)}, meta)
    return document, payloads


def _image_node(info: dict[str, Any]) -> ImageNode:
    if info.get("flamboyance"):
        return node_from_json(info["flamboyance"])  # type: ignore[return-value]
    return ImageNode(url=str(info.get("raw_url") or info.get("image_name") or ""))


def _payload(info: dict[str, Any]) -> bytes | None:
    """The image bytes of an entry; None when it has none; ValueError (binascii.Error) when garbled."""
    encoded = info.get("image_base64")
    return base64.b64decode(encoded, validate=True) if encoded else None

"""The MMC4 layout as OpenFlamingo trains on it: webdataset tars of one JSON document each.

A document (``KEY.json``) has the fields of allenai/mmc4's README: ``url``,
``text_list`` (its sentences), ``similarity_matrix`` (one row per image, one column per
sentence), ``could_have_url_duplicate``, and ``image_info``, one entry per image with
``image_name``, ``raw_url``, ``matched_text_index`` (the sentence the image belongs to),
``matched_sim`` (its similarity) and ``image_base64`` (the bytes, as OpenFlamingo's
shards carry them). OpenFlamingo's ``preprocess_interleaved`` reads only the matrix:
each image goes before the sentence its row ranks highest (``<|endofchunk|><image>``),
images whose best similarity is under ``--mmc4_textsim_threshold`` are skipped, and so
are images of 10 KB or less (``len(bytes) // 1000 <= 10``: 11,000 bytes is the
smallest image it keeps).

Export. ``text_list`` holds our text blocks (a paragraph, heading or list item each).
Without an encoder the matrix is a stand-in: 1.0 at the text that *follows* the image on
the page and 0.0 elsewhere, so OpenFlamingo puts ``<image>`` exactly where the image
stood and any threshold up to 1.0 keeps it (``matched_sim`` is 1.0: "placed by the page
itself"). An image after the last text goes with that last text and is marked
``"placement": "after"`` (OpenFlamingo shows it before that text, the nearest it can
do). With an encoder (``similarity.py``) the matrix holds real CLIP cosine
similarities and each image is matched to its most similar sentence, as OpenFlamingo
places it; ``page_text_index`` keeps the page's own place so import restores the page.

Images keep the build's JPEG bytes (quality 90, shorter side at most 320): on the wiki
pages those pass OpenFlamingo's floor for 78 of their 108 images of 100 px or more,
where the sites' original files would pass for 12 and re-encoding at quality 95 or
100 only for 86 or 96, at up to twice the bytes. Under the floor fall icons, flags and
small simple pictures. The export's own threshold is the floor: a document none of
whose images reaches ``min_image_bytes`` (default 11,000) is dropped and counted
(``export/documents/dropped/no_image_over_floor``), because OpenFlamingo can use
nothing of it, and a shard of nothing but such documents makes its loader re-read the
shard forever (``with_epoch`` repeats a pipeline that yields nothing). Smaller images
in kept documents stay (other readers may want them) and are counted
(``export/images/under_floor``). ``min_image_bytes=0`` exports every document with
text. With an encoder, give ``min_similarity`` the ``--mmc4_textsim_threshold`` the
training will use, and documents none of whose images would pass it are dropped too
(``no_image_over_similarity``) for the same reason. ``could_have_url_duplicate`` is 1 for a document whose URL an earlier exported
document had. Beside the manifest, ``sizes.json`` gives OpenFlamingo's
``get_dataset_size`` the counts. Our own fields ride along under ``flamboyance`` keys,
so import restores the document.

Import. Each image goes before its sentence (``page_text_index`` when the file is ours,
else ``matched_text_index``; after it with ``"placement": "after"``), images of one
sentence in ``image_info`` order. A foreign image's matched sentence becomes its
caption, so it makes an image-text pair as MMC4 pairs them. Input is OpenFlamingo's
tars (``.tar``) or MMC4 JSON lines (``.jsonl``); entries without ``image_base64`` are
URL-only images (see ``crawl/imports.py``).
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
from flamboyance.shards.interop.similarity import Similarity
from flamboyance.shards.manifest import write_manifest
from flamboyance.shards.stats import Stats
from flamboyance.shards.tar_samples import iter_samples
from flamboyance.shards.writer import ShardWriter

# OpenFlamingo's MIN_KB floor: it skips an image when ``len(bytes) // 1000 <= 10``.
OPENFLAMINGO_MIN_BYTES = 11_000
_RESERVED = ("url", "text_list", "image_info", "similarity_matrix", "flamboyance")


def to_mmc4(document: Document, payloads: list[bytes], similarity: Similarity | None = None) -> dict[str, Any] | None:
    """The MMC4 JSON of a built document, or None when it has no text to match images to."""
    texts = document.texts()
    if not texts:
        return None
    sentences = [node.text for node in texts]
    # Each image with the page's text index for it: the text that follows it, else the last text.
    placed: list[tuple[ImageNode, int, bool]] = []
    next_text = 0
    for node in document.nodes:
        if isinstance(node, TextNode):
            next_text += 1
        else:
            placed.append((node, min(next_text, len(texts) - 1), next_text == len(texts)))
    images = [payloads[node.index or 0] for node, _, _ in placed]
    if similarity is None:
        matrix = [[1.0 if column == index else 0.0 for column in range(len(sentences))] for _, index, _ in placed]
    else:
        matrix = similarity(images, sentences)
    image_info = []
    for (node, index, after), payload, row in zip(placed, images, matrix):
        best = max(range(len(row)), key=row.__getitem__)  # the first maximum, as numpy.argmax
        info: dict[str, Any] = {
            "image_name": f"{document.key}_{node.index}.jpg",
            "raw_url": node.url,
            "matched_text_index": best,
            "matched_sim": row[best],
            "image_base64": base64.b64encode(payload).decode("ascii"),
            "page_text_index": index,
            "flamboyance": node.to_json(),
        }
        if after:
            info["placement"] = "after"
        image_info.append(info)
    return {
        "url": document.url,
        "text_list": sentences,
        "image_info": image_info,
        "similarity_matrix": matrix,
        "could_have_url_duplicate": 0,
        "flamboyance": our_fields(document),
    }


def export(
    documents: Iterable[tuple[Document, list[bytes]]],
    output: str,
    stats: Stats,
    per_file: int = 1000,
    similarity: Similarity | None = None,
    min_image_bytes: int = OPENFLAMINGO_MIN_BYTES,
    min_similarity: float | None = None,
) -> list[str]:
    """Write ``output/mmc4-NNNNN.tar`` shards of ``per_file`` documents, manifest and sizes.json; return the shards.

    Documents without text, or without an image of ``min_image_bytes`` or more (whose
    ``matched_sim`` is at least ``min_similarity``, when given: the threshold the
    trainer will use), are dropped and counted.
    """
    seen_urls: set[str] = set()
    with ShardWriter(output, "mmc4", max_samples=per_file) as writer:
        for document, payloads in documents:
            if min_image_bytes > 0 and not any(len(payload) >= min_image_bytes for payload in payloads):
                stats.add("export/documents/dropped/no_image_over_floor")
                continue
            data = to_mmc4(document, payloads, similarity)
            if data is None:
                stats.add("export/documents/dropped/no_text")
                continue
            if min_similarity is not None and not any(
                len(payload) >= min_image_bytes and info["matched_sim"] >= min_similarity for payload, info in zip(payloads, data["image_info"])
            ):
                stats.add("export/documents/dropped/no_image_over_similarity")
                continue
            data["could_have_url_duplicate"] = int(document.url in seen_urls)
            seen_urls.add(document.url)
            writer.write({"__key__": document.key, "json": json.dumps(data, ensure_ascii=False).encode("utf-8")})
            stats.add("export/documents/written")
            stats.add("export/images/written", len(payloads))
            stats.add("export/images/under_floor", sum(len(payload) < min_image_bytes for payload in payloads))
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
        index = info.get("page_text_index", info.get("matched_text_index"))
        if not isinstance(index, int) or not 0 <= index < len(sentences):
            stats.add("images/failed/bad_text_index")
            continue
        try:
            payload = _payload(info)
        except ValueError:
            stats.add("images/failed/bad_base64")
            continue
        side = after if info.get("placement") == "after" else before
        side[index].append((_image_node(info, sentences[index]), payload))
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


def _image_node(info: dict[str, Any], sentence: str) -> ImageNode:
    """Our node when the file is ours; else a node captioned by its matched sentence (MMC4's pair)."""
    if info.get("flamboyance"):
        return node_from_json(info["flamboyance"])  # type: ignore[return-value]
    return ImageNode(url=str(info.get("raw_url") or info.get("image_name") or ""), caption=sentence)


def _payload(info: dict[str, Any]) -> bytes | None:
    """The image bytes of an entry; None when it has none; ValueError (binascii.Error) when garbled."""
    encoded = info.get("image_base64")
    return base64.b64decode(encoded, validate=True) if encoded else None

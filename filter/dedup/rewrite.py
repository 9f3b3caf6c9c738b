"""Phase 3: rewrite one input unit's shards without what the decisions drop.

Documents marked as duplicates are left out; repeated paragraphs and dropped images are
removed from the documents that stay. Image indices are renumbered so that image node
``i`` is again member ``KEY.i.jpg``, and the pair samples are made afresh from the
rewritten document (``shards.layout.pair_samples``, as the build makes them), so no
pair survives for a dropped image.

Every drop is recorded the way filter steps record theirs (``filter/audit.py``): three
steps, ``dedup_documents``, ``dedup_paragraphs`` and ``dedup_images``, count what they
saw, kept and dropped by rule, and keep a bounded sample of drops naming the item each
one duplicates. The unit's marker carries them; the stage merges them into ``dedup.json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from typing import Any

from flamboyance.filter.audit import FilterReport, StepStats
from flamboyance.filter.dedup.config import DedupConfig
from flamboyance.filter.dedup.inputs import InputUnit, read_documents
from flamboyance.filter.dedup.resolve import decisions_path
from flamboyance.filter.pipeline import word_count
from flamboyance.shards import storage
from flamboyance.shards.document import Document, ImageNode, TextNode
from flamboyance.shards.executor import write_marker
from flamboyance.shards.stats import Stats
from flamboyance.shards.writer import DatasetWriter

MARKERS = "units"
STEPS = ("dedup_documents", "dedup_paragraphs", "dedup_images")
_PROGRESS_EVERY = 256
_IMAGE = {"images": 1}

# Called with the number of documents done since the last call (progress bars).
Progress = Callable[[int], None]


def apply_decisions(
    document: Document, images: list[bytes], paragraphs: list[int], image_drops: dict[str, dict[str, Any]],
    steps: dict[str, StepStats],
) -> tuple[Document, list[bytes]]:
    """The document without the text nodes at ``paragraphs`` and the images in ``image_drops``."""
    removed_texts = set(paragraphs)
    nodes: list[TextNode | ImageNode] = []
    kept_images: list[bytes] = []
    texts = pictures = 0
    for node in document.nodes:
        if isinstance(node, TextNode):
            drop = texts in removed_texts
            texts += 1
            steps["dedup_paragraphs"].record(
                not drop, "repeated_in_domain", None, {"key": document.key, "url": document.url, "text": node.text[:300]},
                {"words": word_count(node.text)},
            )
            if not drop:
                nodes.append(node)
            continue
        decision = image_drops.get(str(pictures))
        payload = images[pictures]
        pictures += 1
        if decision is None:
            steps["dedup_images"].record(True, "", None, None, _IMAGE)
            nodes.append(dataclasses.replace(node, index=len(kept_images)))
            kept_images.append(payload)
            continue
        steps["dedup_images"].record(
            False, decision["rule"], decision["score"],
            {"key": document.key, "url": document.url, "image": node.url, "index": pictures - 1,
             "duplicate_of": decision["duplicate_of"]},
            _IMAGE,
        )
    return dataclasses.replace(document, nodes=nodes), kept_images


def rewrite_unit(build: str, unit: InputUnit, output: str, config: DedupConfig, progress: Progress | None = None) -> dict:
    """Write the unit's deduplicated shards and then its marker; return the marker."""
    decisions = storage.read_json(decisions_path(output, unit.id))
    seed = int.from_bytes(hashlib.blake2b(unit.id.encode("utf-8"), digest_size=4).digest(), "big")
    steps = {name: StepStats(name, seed=seed) for name in STEPS}
    stats = Stats()
    with DatasetWriter(output, unit.id, config.shards, stats) as writer:
        for document, images in read_documents(build, unit, stats):
            stats.add("documents/read")
            drop = decisions["documents"].get(document.key)
            # What the document carries, so the build report's funnel follows dedup too.
            volume = {"documents": 1, "images": len(images), "words": word_count(document.text())}
            if drop is not None:
                steps["dedup_documents"].record(
                    False, drop["rule"], drop["score"],
                    {"key": document.key, "url": document.url, "duplicate_of": drop["duplicate_of"]}, volume,
                )
            else:
                steps["dedup_documents"].record(True, "", None, None, volume)
                document, images = apply_decisions(
                    document, images, decisions["paragraphs"].get(document.key, []),
                    decisions["images"].get(document.key, {}), steps,
                )
                writer.write(document, images)
            if progress is not None and stats.get("documents/read") % _PROGRESS_EVERY == 0:
                progress(_PROGRESS_EVERY)
    if progress is not None:
        progress(stats.get("documents/read") % _PROGRESS_EVERY)
    report = FilterReport(steps.values())
    stats.merge(report.counters("dedup"))
    return write_marker(storage.join(output, MARKERS), unit, stats, writer.shards(), dedup=report.to_json())

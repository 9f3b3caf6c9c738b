"""The filter pipeline as the build runs it, around image fetching.

``filter/`` decides; this adapter applies its decisions at the three points of a unit
(before fetching, per fetched image, after fetching) and keeps the build's funnel
counters: ``documents/filtered/before_fetch`` and ``documents/filtered/after_fetch``.
"""

from __future__ import annotations

import io
import zlib
from typing import Iterator

from PIL import Image

from flamboyance.crawl.images import ProcessedImage
from flamboyance.filter.presets import load_pipeline
from flamboyance.shards.document import Document, ImageNode
from flamboyance.shards.stats import Stats


class UnitFilters:
    """One unit's filter pipeline (its drop samples are seeded by the unit id)."""

    def __init__(self, preset_or_path: str, unit_id: str) -> None:
        self.pipeline = load_pipeline(preset_or_path, seed=zlib.crc32(unit_id.encode()))

    def before_fetch(self, documents: Iterator[Document], stats: Stats) -> Iterator[Document]:
        for document in documents:
            kept = self.pipeline.before_fetch(document)
            if kept is None:
                stats.add("documents/filtered/before_fetch")
                continue
            yield kept

    def keep_image(self, node: ImageNode, image: ProcessedImage, label: str) -> bool:
        """The pipeline's decision; the JPEG is opened lazily (header only) and decoded only
        by a pixel step or for the thumbnail of a drop."""
        if not self.pipeline.fetched and not self.pipeline.pixels:
            return True
        return self.pipeline.keep_image(node, Image.open(io.BytesIO(image.jpeg)), label=label)

    def after_fetch(self, document: Document, stats: Stats) -> bool:
        """Whether the document, its images attached, is kept; kept documents are unchanged."""
        if self.pipeline.after_fetch(document) is None:
            stats.add("documents/filtered/after_fetch")
            return False
        return True

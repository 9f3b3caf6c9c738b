"""Document filter steps: what makes a page an interleaved document worth training on."""

from __future__ import annotations

from typing import Any

from flamboyance.filter.base import Filter, Verdict, threshold
from flamboyance.shards.document import Document


class ImageCount(Filter):
    """Keep documents with ``min_images`` to ``max_images`` images (OBELICS: 1 to 30).

    Pages with dozens of images are galleries and shops, whose text is not about them.
    """

    name = "image_count"
    takes = "document"

    def __init__(self, min_images: int | None = 1, max_images: int | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.min_images, self.max_images = min_images, max_images

    def check(self, document: Document) -> Verdict:
        return threshold("images", len(document.images()), self.min_images, self.max_images)


class TextAndImage(Filter):
    """An interleaved document needs at least one text block and one image."""

    name = "text_and_image"
    takes = "document"

    def check(self, document: Document) -> Verdict:
        if not any(node.text.strip() for node in document.texts()):
            return Verdict(False, "no_text")
        if not document.images():
            return Verdict(False, "no_image")
        return Verdict(True)

"""A filter pipeline: steps grouped by what they look at and when they can run.

Order follows OBELICS: images first, then paragraphs (dropping boilerplate blocks before
the document's text is judged), then the document as a whole. A build calls it at
three moments, so that nothing is downloaded for a page that its text already rules
out: ``before_fetch`` (image URLs, paragraphs, document text), ``keep_image`` for each
image once its bytes are in (decoded size, format, pixels), and ``after_fetch`` (document
steps that count the images that survived). ``__call__`` runs every stage that needs no
pixels, for documents that are already built.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from flamboyance.filter.audit import FilterReport
from flamboyance.filter.base import Filter
from flamboyance.shards.document import Document, ImageNode, TextNode

STAGES = ("url", "paragraphs", "documents", "fetched", "pixels", "final")

# What one image carries, for the stats' volumes (``StepStats.volume_in``).
_IMAGE = {"images": 1}


def word_count(text: str) -> int:
    """Whitespace-separated words: the cheap token count the report's funnel follows."""
    return len(text.split())


@dataclass
class FilterPipeline:
    """Filter steps by stage; every step keeps its own stats (``report()``)."""

    url: list[Filter] = field(default_factory=list)
    fetched: list[Filter] = field(default_factory=list)
    pixels: list[Filter] = field(default_factory=list)
    paragraphs: list[Filter] = field(default_factory=list)
    documents: list[Filter] = field(default_factory=list)
    final: list[Filter] = field(default_factory=list)

    def __post_init__(self) -> None:
        names = [step.name for stage in STAGES for step in getattr(self, stage)]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"filter step names must be unique (their stats are keyed by name): {repeated}")
        for stage, takes in (("url", {"image"}), ("fetched", {"image"}), ("pixels", {"pixels"}),
                             ("paragraphs", {"text"}), ("documents", {"text", "document"}),
                             ("final", {"text", "document"})):
            for step in getattr(self, stage):
                if step.takes not in takes:
                    raise ValueError(f"step {step.name!r} takes {step.takes!r} and cannot run in stage {stage!r}")

    def steps(self) -> list[Filter]:
        return [step for stage in STAGES for step in getattr(self, stage)]

    def select_images(self, document: Document, stage: str = "url") -> Document:
        """The document without the images that fail the ``url`` or ``fetched`` steps."""
        steps = getattr(self, stage) if stage in ("url", "fetched") else None
        if steps is None:
            raise ValueError(f"image stage must be 'url' or 'fetched', not {stage!r}")
        nodes = [node for node in document.nodes
                 if not isinstance(node, ImageNode)
                 or all(step(node, label=document.key, volume=_IMAGE) for step in steps)]
        return dataclasses.replace(document, nodes=nodes)

    def keep_pixels(self, image: Any, label: Any = None) -> bool:
        """Whether decoded pixels (PIL image or numpy array) pass the pixel steps."""
        return all(step(image, label=label, volume=_IMAGE) for step in self.pixels)

    def filter_text(self, document: Document) -> Document | None:
        """Drop failing paragraphs, then the document if it fails a ``documents`` step."""
        nodes = [node for node in document.nodes if not isinstance(node, TextNode) or self._keep_paragraph(node, document.key)]
        return self._judge(dataclasses.replace(document, nodes=nodes), self.documents)

    def _keep_paragraph(self, node: TextNode, label: str) -> bool:
        if not self.paragraphs:
            return True
        volume = {"words": word_count(node.text)}  # counted once, whatever the number of steps
        return all(step(node.text, label=label, volume=volume) for step in self.paragraphs)

    def before_fetch(self, document: Document) -> Document | None:
        """Image URL checks, then text: what can be decided before downloading anything."""
        return self.filter_text(self.select_images(document, "url"))

    def keep_image(self, node: ImageNode, pixels: Any | None, label: Any = None) -> bool:
        """Whether a fetched image (its node filled in with decoded size) and its pixels pass.

        Drops on the fetched size or format get a thumbnail of the pixels when given;
        a pixel drop is labelled with the image URL too, as its pixels do not say it.
        """
        if not all(step(node, label=label, volume=_IMAGE, pixels=pixels) for step in self.fetched):
            return False
        return pixels is None or not self.pixels or self.keep_pixels(pixels, label={"document": label, "url": node.url})

    def after_fetch(self, document: Document) -> Document | None:
        """The ``final`` document steps, on the images that survived fetching."""
        return self._judge(document, self.final)

    def __call__(self, document: Document) -> Document | None:
        """Every stage that needs no pixels, for documents that are already built."""
        kept = self.before_fetch(document)
        return None if kept is None else self.after_fetch(self.select_images(kept, "fetched"))

    def _judge(self, document: Document, steps: list[Filter]) -> Document | None:
        text = document.text()
        volume = {"documents": 1, "images": len(document.images()), "words": word_count(text)}
        for step in steps:
            if not step(document if step.takes == "document" else text, label=document.key, volume=volume):
                return None
        return document

    def report(self) -> FilterReport:
        """The stats of every step, to store with the unit (``to_json``) and merge later."""
        return FilterReport(step.stats for step in self.steps())

"""The filter step: one small class with one job, which says keep or drop, and why.

Each step implements ``check(item) -> Verdict``: whether to keep the item, the reason
when it is dropped, and the score that was compared with a threshold. The base class
does the bookkeeping every step needs (inputs, keeps, drops by reason, score
histograms, a sample of drops; see ``filter/audit.py``), so a step's code holds only
its rule and reads top to bottom.
"""

from __future__ import annotations

import base64
import io
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

from flamboyance.filter.audit import StepStats
from flamboyance.shards.document import Document, ImageNode, TextNode


class Verdict(NamedTuple):
    """A decision: keep or drop, the reason for a drop, and the score behind it.

    ``scores`` holds every score the step measured on the way to its decision (a step
    with several rules stops at the first that fails); each is added to that score's
    histogram. ``score`` is the one that decided, for the drop sample. ``limits`` holds
    the ``(low, high)`` thresholds each score was compared with, so a report can draw
    them on the histogram.
    """

    keep: bool
    reason: str = ""
    score: float | None = None
    scores: Mapping[str, float] = {}
    limits: Mapping[str, tuple[float | None, float | None]] = {}


class Rules:
    """Checks of several scores in a row, stopping at the first that fails.

    Each check records its score, so the verdict carries every score measured up to the
    decision::

        rules = Rules()
        if drop := rules.check("words", n, low=50):
            return drop
        ...
        return rules.passed()
    """

    def __init__(self) -> None:
        self.scores: dict[str, float] = {}
        self.limits: dict[str, tuple[float | None, float | None]] = {}

    def check(self, name: str, value: float, low: float | None = None,
              high: float | None = None) -> Verdict | None:
        """A drop (reason ``NAME_below`` or ``NAME_above``) when value is outside [low, high]."""
        self.scores[name] = value
        if low is not None or high is not None:
            self.limits[name] = (low, high)
        if low is not None and value < low:
            return Verdict(False, f"{name}_below", value, self.scores, self.limits)
        if high is not None and value > high:
            return Verdict(False, f"{name}_above", value, self.scores, self.limits)
        return None

    def passed(self, score: float | None = None) -> Verdict:
        return Verdict(True, "", score, self.scores, self.limits)


def threshold(name: str, value: float, low: float | None = None, high: float | None = None) -> Verdict:
    """The verdict of a single-score step: keep when ``low <= value <= high``."""
    rules = Rules()
    return rules.check(name, value, low, high) or rules.passed(value)


# Side of the JPEG thumbnails kept for sampled pixel drops: enough to judge the drop,
# small enough (a few kB) that a sample of 32 stays light in every unit marker.
THUMBNAIL_SIDE = 96


def describe(item: Any, limit: int = 300) -> Any:
    """A short JSON-friendly description of an item, for the sample of drops.

    Only drops are described. Pixels become a small JPEG thumbnail (a ``data:`` URI),
    so the report can show what was dropped without the image being fetched again.
    """
    if isinstance(item, Document):
        return {"key": item.key, "url": item.url}
    if isinstance(item, ImageNode):
        described = {"url": item.url, "alt": item.alt[:limit]}
        if item.original_width:
            described["size"] = f"{item.original_width}x{item.original_height} {item.original_format or ''}".rstrip()
        return described
    if isinstance(item, (Image.Image, np.ndarray)):
        return thumbnail(item)
    if isinstance(item, TextNode):
        return item.text[:limit]
    if isinstance(item, str):
        return item[:limit]
    return repr(item)[:limit]


def thumbnail(image: Image.Image | np.ndarray, side: int = THUMBNAIL_SIDE) -> dict[str, Any]:
    """A JPEG thumbnail of at most ``side`` pixels as a ``data:`` URI, with the original size."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(np.ascontiguousarray(image))
    small = image.copy()
    small.thumbnail((side, side))
    if small.mode != "RGB":
        background = Image.new("RGBA", small.size, (255, 255, 255, 255))
        small = Image.alpha_composite(background, small.convert("RGBA")).convert("RGB")
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=75)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return {"thumbnail": f"data:image/jpeg;base64,{encoded}", "width": image.width, "height": image.height}


class Filter(ABC):
    """A filter step. Subclasses set ``name`` and implement ``check``.

    Call the step (``step(item)``) to get a bool and have the decision counted; call
    ``check`` directly to inspect a decision without counting it.
    """

    name: str = "filter"
    # What ``check`` takes: "text" (a paragraph's or document's text), "document",
    # "image" (an ImageNode) or "pixels" (a PIL image or numpy array).
    takes: str = "text"

    def __init__(self, *, name: str | None = None, seed: int = 0) -> None:
        if name:
            self.name = name
        self.stats = StepStats(self.name, seed=seed)

    @abstractmethod
    def check(self, item: Any) -> Verdict:
        """Decide on one item without side effects."""

    def __call__(self, item: Any, label: Any = None, volume: Mapping[str, int] | None = None,
                 pixels: Image.Image | np.ndarray | None = None) -> bool:
        """Decide on ``item`` and count the decision.

        ``label`` names the item in the drop sample; ``volume`` says what the item
        carries (``documents``, ``images``, ``words``), so the report can follow them
        through the steps (see ``StepStats.volume_in``). ``pixels``, for an image
        judged on its fetched size or format, gives its drop a thumbnail too (made only
        when the image is dropped).
        """
        verdict = self.check(item)
        for score, value in verdict.scores.items():
            self.stats.observe(score, value, verdict.limits.get(score))
        description = None
        if not verdict.keep:
            described = describe(item)
            if pixels is not None and isinstance(described, dict):
                described["thumbnail"] = thumbnail(pixels)["thumbnail"]
            description = described if label is None else {"label": label, "item": described}
        self.stats.record(verdict.keep, verdict.reason, verdict.score, description, volume)
        return verdict.keep

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

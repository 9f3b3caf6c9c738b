"""The filter step: one small class with one job, which says keep or drop, and why.

Each step implements ``check(item) -> Verdict``: whether to keep the item, the reason
when it is dropped, and the score that was compared with a threshold. The base class
does the bookkeeping every step needs (inputs, keeps, drops by reason, score
histograms, a sample of drops; see ``filter/audit.py``), so a step's code holds only
its rule and reads top to bottom.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, NamedTuple

from filter.audit import StepStats
from shards.document import Document, ImageNode, TextNode


class Verdict(NamedTuple):
    """A decision: keep or drop, the reason for a drop, and the score behind it.

    ``scores`` holds every score the step measured on the way to its decision (a step
    with several rules stops at the first that fails); each is added to that score's
    histogram. ``score`` is the one that decided, for the drop sample.
    """

    keep: bool
    reason: str = ""
    score: float | None = None
    scores: Mapping[str, float] = {}


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

    def check(self, name: str, value: float, low: float | None = None,
              high: float | None = None) -> Verdict | None:
        """A drop (reason ``NAME_below`` or ``NAME_above``) when value is outside [low, high]."""
        self.scores[name] = value
        if low is not None and value < low:
            return Verdict(False, f"{name}_below", value, self.scores)
        if high is not None and value > high:
            return Verdict(False, f"{name}_above", value, self.scores)
        return None

    def passed(self, score: float | None = None) -> Verdict:
        return Verdict(True, "", score, self.scores)


def threshold(name: str, value: float, low: float | None = None, high: float | None = None) -> Verdict:
    """The verdict of a single-score step: keep when ``low <= value <= high``."""
    rules = Rules()
    return rules.check(name, value, low, high) or rules.passed(value)


def describe(item: Any, limit: int = 300) -> Any:
    """A short JSON-friendly description of an item, for the sample of drops."""
    if isinstance(item, Document):
        return {"key": item.key, "url": item.url}
    if isinstance(item, ImageNode):
        return {"url": item.url, "alt": item.alt[:limit]}
    if isinstance(item, TextNode):
        return item.text[:limit]
    if isinstance(item, str):
        return item[:limit]
    return repr(item)[:limit]


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

    def __call__(self, item: Any, label: Any = None) -> bool:
        """Decide on ``item`` and count the decision; ``label`` names it in the drop sample."""
        verdict = self.check(item)
        for score, value in verdict.scores.items():
            self.stats.observe(score, value)
        description = describe(item) if label is None else {"label": label, "item": describe(item)}
        self.stats.record(verdict.keep, verdict.reason, verdict.score, description)
        return verdict.keep

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

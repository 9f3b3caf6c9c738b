"""The sampled drops of a build read back as records a person can judge.

Steps describe what they drop in different shapes (``filter.base.describe``): a text,
an image's URL and size, a document's key and URL, or a thumbnail of the pixels, with
the document's key as label. ``Drop`` is one flat shape for the terminal and the report.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from flamboyance.filter.audit import FilterReport

THUMBNAIL_PREFIX = "data:image/jpeg;base64,"


@dataclass
class Drop:
    step: str
    reason: str
    score: float | None = None
    document: str | None = None
    url: str | None = None
    text: str | None = None
    alt: str | None = None
    size: str | None = None
    # A JPEG data URI, only for images dropped on their pixels (they were fetched).
    thumbnail: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def drop_from_record(step: str, record: Mapping[str, Any]) -> Drop:
    """One sampled drop (a ``Reservoir`` record) as a ``Drop``."""
    drop = Drop(step, str(record.get("reason", "")), record.get("score"))
    item = record.get("item")
    if isinstance(item, dict) and set(item) == {"label", "item"}:
        label, item = item["label"], item["item"]
        if isinstance(label, dict):
            drop.document, drop.url = _text(label.get("document")), _text(label.get("url"))
        else:
            drop.document = _text(label)
    if isinstance(item, str):
        drop.text = item
    elif isinstance(item, dict):
        drop.document = _text(item.get("key")) or drop.document
        drop.url = _text(item.get("url")) or drop.url
        drop.alt = _text(item.get("alt"))
        drop.size = _text(item.get("size"))
        if item.get("width") and item.get("height"):
            drop.size = f"{item['width']}x{item['height']}"
        thumbnail = item.get("thumbnail")
        if isinstance(thumbnail, str) and thumbnail.startswith(THUMBNAIL_PREFIX):
            drop.thumbnail = thumbnail
    elif item is not None:
        drop.text = str(item)
    return drop


def _text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def matching_steps(report: FilterReport, name: str) -> list[str]:
    """Steps called ``name``, or of kind ``name`` (``image_size`` matches ``url/image_size``)."""
    if name in report.steps:
        return [name]
    return [step for step in report.steps if step.rsplit("/", 1)[-1] == name]


def drops(report: FilterReport, step: str) -> list[Drop]:
    """The sampled drops of one step."""
    return [drop_from_record(step, record) for record in report[step].sample.records()]


def format_drop(drop: Drop, width: int = 100) -> str:
    """A drop as a few lines of text: reason and score, where it came from, what it was."""
    score = "" if drop.score is None else f"  score={drop.score:.4g}"
    lines = [f"--- {drop.step}: {drop.reason}{score}"]
    where = [f"document {drop.document}" if drop.document else "", drop.url or ""]
    details = [f"size {drop.size}" if drop.size else "", f'alt="{drop.alt}"' if drop.alt else "",
               "thumbnail in the HTML report" if drop.thumbnail else ""]
    for line in ("  ".join(part for part in where if part), "  ".join(part for part in details if part)):
        if line:
            lines.append("    " + line)
    if drop.text:
        lines.append(textwrap.fill(drop.text, width) if width > 0 else drop.text)
    return "\n".join(lines)

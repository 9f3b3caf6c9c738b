"""The funnel of a build: documents, images and words left after each filter step.

A step counts its own items (paragraphs, images or documents), but a person asks how
much data is left, so every step also sums what its items carried (``volume_in`` and
``volume_dropped`` of ``filter.audit.StepStats``). Walking the steps in pipeline order,
each row takes the quantities its step measured and carries the others over from the
row above. Words are whitespace-separated words (``filter.pipeline.word_count``), a
cheap stand-in for tokens: a BPE tokenizer gives about 1.3 tokens per English word.
The output of ``flamboyance dedup`` reads as its build followed by the dedup steps, so
one funnel runs from extraction to the deduplicated shards.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from flamboyance.filter.audit import FilterReport, StepStats
from flamboyance.shards import storage
from flamboyance.shards.executor import PLAN_FILE
from flamboyance.shards.stats import Stats

QUANTITIES = ("documents", "images", "words")
# Steps named STAGE/KIND (the presets' default names) in these stages run on fetched
# images or on documents with their images attached: the fetch happens before them.
AFTER_FETCH = ("fetched", "pixels", "final")

STATS, FILTERS = "stats.json", "filters.json"


@dataclass
class FunnelRow:
    """What is left after ``step``; None where nothing measured it (words with no filters)."""

    step: str
    documents: int | None
    images: int | None
    words: int | None
    dropped: int = 0  # the step's own items dropped: paragraphs, images or documents

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def load_build(output: str) -> tuple[Stats, FilterReport | None]:
    """A build's merged counters and filter report (None when it ran without filters).

    The output of ``flamboyance dedup`` reads as its input build followed by dedup: the
    build's counters and filter steps, then dedup's steps (``dedup.json``), with the
    counts of what was written taken from the dedup output.
    """
    from flamboyance.filter.dedup.stage import REPORT as DEDUP  # the dedup stage's report file

    if storage.exists(storage.join(output, DEDUP)):
        return _deduplicated_build(output, DEDUP)
    stats_path, filters_path = storage.join(output, STATS), storage.join(output, FILTERS)
    if not storage.exists(stats_path):
        raise FileNotFoundError(f"{output}: no {STATS}; is this the output folder of a finished build?")
    stats = Stats.from_json(storage.read_json(stats_path))
    report = FilterReport.from_json(storage.read_json(filters_path)) if storage.exists(filters_path) else None
    return stats, report


def _deduplicated_build(output: str, report_file: str) -> tuple[Stats, FilterReport]:
    """A dedup output with the build it read (named in its plan) in front."""
    build = storage.read_json(storage.join(output, PLAN_FILE))["input"]
    build_stats, build_report = load_build(build)
    dedup_stats = Stats.from_json(storage.read_json(storage.join(output, STATS)))
    dedup = FilterReport.from_json(storage.read_json(storage.join(output, report_file)))
    steps = [*(build_report.steps.values() if build_report is not None else ()), *dedup.steps.values()]
    return Stats({**build_stats.to_json(), **dedup_stats.to_json()}), FilterReport(steps)


def funnel(stats: Stats, report: FilterReport | None) -> list[FunnelRow]:
    """Rows from ``extracted`` through each step (and ``fetched``) to ``written``."""
    steps = list(report.steps.values()) if report is not None else []
    start = {
        "documents": stats.get("pages/parsed") - stats.get("pages/empty"),
        "images": stats.get("images/found") - stats.get("images/failed/optout_meta"),
        "words": None,
    }
    for quantity in QUANTITIES:
        measured = next((step for step in steps if quantity in step.volume_in), None)
        if measured is not None:
            start[quantity] = measured.volume_in[quantity]
    rows = [FunnelRow("extracted", **start)]
    fetched = False
    for step in steps:
        if not fetched and _after_fetch(step):
            rows.append(_fetched_row(rows[-1], step, stats))
            fetched = True
        rows.append(_after(rows[-1], step))
    if not fetched:
        rows.append(_fetched_row(rows[-1], None, stats))
    last = rows[-1]
    measured_images = any("images" in step.volume_in for step in steps if _after_fetch(step))
    images = last.images if measured_images else stats.get("images/attached")
    rows.append(FunnelRow("written", stats.get("documents/written"), images, last.words))
    return rows


def _after_fetch(step: StepStats) -> bool:
    """Whether a step runs once the images are in: a post-fetch filter stage, or dedup (after the build)."""
    return step.name.split("/")[0] in AFTER_FETCH or step.name.startswith("dedup")


def _after(previous: FunnelRow, step: StepStats) -> FunnelRow:
    values = {q: getattr(previous, q) for q in QUANTITIES}
    for quantity in QUANTITIES:
        if quantity in step.volume_in:
            values[quantity] = step.volume_in[quantity] - step.volume_dropped[quantity]
    return FunnelRow(step.name, **values, dropped=step.inputs - step.kept)


def _fetched_row(previous: FunnelRow, first_after: StepStats | None, stats: Stats) -> FunnelRow:
    """Images that were fetched and decoded: what the first post-fetch image step saw."""
    if first_after is not None and "images" in first_after.volume_in:
        images = first_after.volume_in["images"]
    else:
        images = stats.get("images/attached") + stats.get("images/filtered")
    return FunnelRow("fetched", previous.documents, images, previous.words)


def format_funnel(rows: list[FunnelRow]) -> str:
    """The funnel as a text table, each quantity also as a share of what was extracted."""
    width = max(len(row.step) for row in rows)
    lines = [f"{'step':<{width}}  {'documents':>15}  {'images':>15}  {'words':>17}  {'dropped':>8}"]
    first = rows[0]
    for row in rows:
        cells = [_cell(getattr(row, q), getattr(first, q), 17 if q == "words" else 15) for q in QUANTITIES]
        dropped = str(row.dropped) if row.dropped else ""
        lines.append(f"{row.step:<{width}}  " + "  ".join(cells) + f"  {dropped:>8}")
    lines.append("(words: whitespace-separated words, a cheap count of tokens; dropped: the step's own items)")
    return "\n".join(lines)


def _cell(value: int | None, start: int | None, width: int) -> str:
    if value is None:
        return f"{'-':>{width}}"
    share = f" {100 * value / start:5.1f}%" if start else ""
    return f"{value}{share}".rjust(width)

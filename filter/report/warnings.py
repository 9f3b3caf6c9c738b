"""Warnings for filter steps that drop most of what reaches them.

A step that removes more than half of its input is either right about a bad source or
wrong about a good one (the Gopher alphabetic-words rule, read with punctuation tokens,
once removed 79 of 85 Wikipedia articles); either way a person should look. The build
summary and the HTML report both print these lines, naming the step, its share and the
scores (with their thresholds) behind the drops, so the histogram to read is obvious.
"""

from __future__ import annotations

from flamboyance.filter.audit import FilterReport, StepStats
from flamboyance.filter.report.funnel import FILTERS
from flamboyance.shards import storage

# Warn when a step drops more than this share of its inputs (BuildConfig.filter_warning_share).
WARNING_SHARE = 0.5


def _scores(step: StepStats) -> str:
    """The drop reasons with their counts, each score-based reason with its threshold."""
    parts = []
    for reason, count in step.dropped.most_common():
        score, _, side = reason.rpartition("_")
        histogram = step.histograms.get(score)
        if histogram is not None and side in ("below", "above"):
            limit = histogram.low if side == "below" else histogram.high
            parts.append(f"{score} {'<' if side == 'below' else '>'} {limit:g}: {count}")
        else:
            parts.append(f"{reason}: {count}")
    return ", ".join(parts)


def heavy_drops(report: FilterReport | None, share: float = WARNING_SHARE) -> list[str]:
    """One line per step that dropped more than ``share`` of its inputs."""
    lines = []
    for step in (report.steps.values() if report is not None else ()):
        dropped = step.inputs - step.kept
        if step.inputs and dropped / step.inputs > share:
            lines.append(f"WARNING {step.name} dropped {dropped} of {step.inputs} ({dropped / step.inputs:.0%}, "
                         f"more than {share:.0%}): {_scores(step)}")
    return lines


def stored_share(output: str) -> float:
    """The warning share a build recorded in its filters.json (the default when absent)."""
    path = storage.join(output, FILTERS)
    if not storage.exists(path):
        return WARNING_SHARE
    return float(storage.read_json(path).get("warning_share", WARNING_SHARE))

"""The HTML report of a build: one file, readable offline, safe to open.

The data (funnel, step counts, histograms with their thresholds, sampled drops) goes
into ``template.html`` as one JSON block, and the page's own script draws it: Python
decides what the numbers are, the page only how they look. Drop samples hold text from
the web, so the script writes everything as text (never as HTML), the JSON is escaped
so that no ``</script>`` can end its block, and the only images are ``data:`` JPEG
thumbnails: opening the report loads nothing from anywhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flamboyance.filter.audit import FilterReport
from flamboyance.filter.report.drops import drops
from flamboyance.filter.report.funnel import funnel
from flamboyance.filter.report.warnings import heavy_drops, stored_share
from flamboyance.shards import storage
from flamboyance.shards.stats import Stats

TEMPLATE = Path(__file__).with_name("template.html")
PLACEHOLDER = "/*REPORT_DATA*/"
REPORT = "report.html"


def report_data(output: str, stats: Stats, report: FilterReport | None) -> dict[str, Any]:
    """Everything the page shows, as JSON-ready data."""
    steps = []
    for step in (report.steps.values() if report is not None else ()):
        histograms = [dict(histogram.to_json(), score=score) for score, histogram in step.histograms.items()]
        steps.append({
            "name": step.name,
            "inputs": step.inputs,
            "kept": step.kept,
            "dropped": dict(step.dropped),
            "histograms": histograms,
            "drops": [drop.to_json() for drop in drops(report, step.name)],
        })
    return {
        "output": output,
        "warnings": heavy_drops(report, stored_share(output)),
        "funnel": [row.to_json() for row in funnel(stats, report)],
        "steps": steps,
        "counters": stats.to_json(),
    }


def render_html(data: dict[str, Any]) -> str:
    """The report page for ``report_data``'s data."""
    payload = json.dumps(data, ensure_ascii=False, sort_keys=True)
    # Inside <script>, "</" could close the block and "<!--" open a comment: escape "<".
    payload = payload.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return TEMPLATE.read_text(encoding="utf-8").replace(PLACEHOLDER, payload)


def write_report(output: str, stats: Stats, report: FilterReport | None, path: str | None = None) -> str:
    """Write the report (by default OUTPUT/report.html, atomically) and return its path."""
    path = path or storage.join(output, REPORT)
    with storage.atomic_writer(path) as stream:
        stream.write(render_html(report_data(output, stats, report)).encode("utf-8"))
    return path

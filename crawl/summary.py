"""The summary a build prints at the end: what went in, what came out, what was lost and why."""

from __future__ import annotations

import sys
from typing import TextIO

from flamboyance.filter.audit import FilterReport
from flamboyance.filter.report.funnel import FILTERS
from flamboyance.filter.report.warnings import heavy_drops, stored_share
from flamboyance.shards import storage
from flamboyance.shards.executor import StageResult
from flamboyance.shards.layout import SHARD_SETS


def filter_warnings(output: str) -> list[str]:
    """Warnings for filter steps that dropped most of their input (``filter.report.warnings``)."""
    path = storage.join(output, FILTERS)
    if not storage.exists(path):
        return []
    return heavy_drops(FilterReport.from_json(storage.read_json(path)), stored_share(output))


def print_summary(result: StageResult, out: TextIO | None = None) -> None:
    stats = result.stats
    lines = [
        f"build: {result.output}",
        f"  units: {result.units} ({result.skipped} already done, {len(result.failed)} failed)",
        f"  WARC records read: {stats.get('warc/records')}",
        f"  pages: {stats.get('pages/read')} read, {stats.get('pages/parsed')} parsed, "
        f"{stats.get('documents/written')} documents written",
        f"  images: {stats.get('images/found')} found, {stats.get('images/fetched')} fetched, "
        f"{stats.get('images/attached')} attached to documents",
        f"  pairs: {stats.get('pairs/written')}",
    ]
    for title, prefix in (("pages skipped", "pages/skipped"), ("pages failed", "pages/failed"),
                          ("pages truncated (kept)", "pages/truncated"), ("URL rows skipped", "urls/skipped"),
                          ("records skipped", "warc/skipped"), ("corrupt input", "warc/corrupt"),
                          ("images lost", "images/failed"), ("image index problems", "image_index/skipped")):
        reasons = stats.under(prefix)
        if reasons:
            lines.append(f"  {title}: " + ", ".join(f"{reason} {count}" for reason, count in reasons.items()))
    filtered = stats.get("documents/filtered/before_fetch") + stats.get("documents/filtered/after_fetch")
    if filtered or stats.get("images/filtered"):
        lines.append(f"  filters dropped: {filtered} documents, {stats.get('images/filtered')} fetched images")
    drops: dict[str, dict[str, int]] = {}
    for name, count in stats.under("filter").items():
        step, _, reason = name.partition("/dropped/")
        if reason:
            drops.setdefault(step, {})[reason] = count
    for step, reasons in drops.items():
        lines.append(f"    {step}: " + ", ".join(f"{reason} {count}" for reason, count in reasons.items()))
    lines.extend("  " + line for line in filter_warnings(result.output))
    for shard_set in SHARD_SETS:
        manifest = result.manifests.get(shard_set)
        if manifest:
            lines.append(
                f"  {shard_set}: {len(manifest['shards'])} shards, {manifest['samples']} samples, "
                f"{manifest['bytes'] / 1e6:.1f} MB"
            )
    for unit, error in result.failed.items():
        lines.append(f"  FAILED {unit}: {error}")
    if result.failed:
        lines.append("  run the same command again to retry the failed units")
    print("\n".join(lines), file=out or sys.stdout)

"""``flamboyance build``: inputs to shards, one Ray task per unit, resumable.

The driver plans units, and ``shards/executor.py`` runs those without a completion
marker and derives the manifests and merged stats from the markers. See that module for
why "run the same command again after a crash" is safe.

Output layout::

    OUT/plan.json                the plan: inputs, units and config (a re-run must match)
    OUT/units/UNIT.json          completion marker: the unit's stats, filter report, shards
    OUT/interleaved/UNIT-NNNNN.tar, manifest.json, sizes.json
    OUT/pairs/UNIT-NNNNN.tar, manifest.json, sizes.json
    OUT/stats.json               stats merged over all finished units
    OUT/filters.json             filter decisions merged over all units (when filters run)
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flamboyance.crawl.config import BuildConfig
from flamboyance.crawl.unit import MARKERS
from flamboyance.crawl.units import Unit
from flamboyance.filter.audit import FilterReport
from flamboyance.filter.report.funnel import FILTERS
from flamboyance.shards import storage
from flamboyance.shards.config import to_dict
from flamboyance.shards.executor import StageResult, check_plan, load_markers, merge_markers, remove_unlisted_shards, run_pending, start_ray
from flamboyance.shards.layout import SHARD_SETS

log = logging.getLogger(__name__)


def run_build(
    units: list[Unit],
    output: str,
    config: BuildConfig,
    inputs: dict[str, Any],
    image_warcs: list[str] | None = None,
    ray_address: str | None = None,
    show_progress: bool = True,
    save_warc: str | None = None,
) -> StageResult:
    """Run every unfinished unit on Ray, then write manifests, merged stats and filter report.

    ``save_warc`` is a folder where URL units keep every response they fetched.
    """
    check_plan(output, {"inputs": inputs, "config": to_dict(config), "units": [unit.to_json() for unit in units]})
    markers = load_markers(storage.join(output, MARKERS))
    remove_unlisted_shards(output, SHARD_SETS, markers)
    result = StageResult(output=output, units=len(units), skipped=sum(unit.id in markers for unit in units))
    image_index = None

    def submit(unit: Unit, progress: Any) -> Any:
        from flamboyance.crawl.tasks import unit_task

        return unit_task.remote(unit, config, output, image_index, progress, save_warc)

    if image_warcs and result.skipped < len(units):
        import ray

        from flamboyance.crawl.image_replay import build_index

        start_ray(ray_address)
        started = time.monotonic()
        image_index = ray.put(build_index(image_warcs))
        log.info("indexed image WARCs in %.1fs", time.monotonic() - started)
    result.failed = run_pending(units, markers, submit, ray_address, show_progress)
    result.markers = markers
    result.stats, result.manifests = merge_markers(output, SHARD_SETS, markers)
    reports = [FilterReport.from_json(marker["filters"]) for marker in markers.values() if "filters" in marker]
    if reports:
        report = FilterReport.total(reports)
        storage.write_json(storage.join(output, FILTERS), {**report.to_json(), "warning_share": config.filter_warning_share})
    return result

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

from flamboyance.crawl.collected_pages import FOLDER as PAGES
from flamboyance.crawl.config import BuildConfig
from flamboyance.crawl.image_stage import check_image_warcs, index_image_warcs, run_image_stage
from flamboyance.crawl.unit import MARKERS
from flamboyance.crawl.units import Unit
from flamboyance.filter.audit import FilterReport
from flamboyance.filter.report.funnel import FILTERS
from flamboyance.shards import storage
from flamboyance.shards.config import to_dict
from flamboyance.shards.executor import (
    StageResult,
    check_plan,
    connect,
    load_markers,
    merge_markers,
    remove_unlisted_shards,
    run_pending,
)
from flamboyance.shards.layout import SHARD_SETS
from flamboyance.shards.stats import Stats

log = logging.getLogger(__name__)

# From this many WARC units on, images are fetched in a stage of their own (per URL,
# per host) rather than inside each unit.
IMAGE_STAGE_UNITS = 8


def run_build(
    units: list[Unit],
    output: str,
    config: BuildConfig,
    inputs: dict[str, Any],
    image_warcs: list[str] | None = None,
    ray_address: str | None = None,
    show_progress: bool = True,
    save_warc: str | None = None,
    image_stage: bool | None = None,
) -> StageResult:
    """Run every unfinished unit on Ray, then write manifests, merged stats and filter report.

    ``save_warc`` is a folder where URL units keep every response they fetched.
    ``image_stage``: fetch the images of WARC units in a stage of their own, once per URL
    and one fetcher per host (``crawl/image_stage.py``); None: when there are at least
    ``IMAGE_STAGE_UNITS`` WARC units. URL units always fetch their images inline.
    """
    if image_warcs:
        check_image_warcs(image_warcs)
    check_plan(output, {"inputs": inputs, "config": to_dict(config), "units": [unit.to_json() for unit in units]})
    markers = load_markers(storage.join(output, MARKERS))
    remove_unlisted_shards(output, SHARD_SETS, markers)
    result = StageResult(output=output, units=len(units), skipped=sum(unit.id in markers for unit in units))
    pending = [unit for unit in units if unit.id not in markers]
    image_source = None
    stage_stats = Stats()
    if pending and image_warcs:
        connect(ray_address)
        started = time.monotonic()
        image_source = index_image_warcs(image_warcs, output)
        log.info("indexed image WARCs in %.1fs", time.monotonic() - started)
    elif pending and _uses_image_stage(units, image_stage):
        connect(ray_address)
        image_source, stage_stats = run_image_stage(pending, config, output)

    def submit(unit: Unit, progress: Any) -> Any:
        from flamboyance.crawl.tasks import unit_task

        return unit_task.remote(unit, config, output, image_source, progress, save_warc)

    result.failed = run_pending(units, markers, submit, ray_address, show_progress)
    if not result.failed:  # a unit deletes its kept pages itself; this catches one killed in between
        storage.remove_tree(storage.join(output, PAGES))
    result.markers = markers
    result.stats, result.manifests = merge_markers(output, SHARD_SETS, markers, stage_stats)
    reports = [FilterReport.from_json(marker["filters"]) for marker in markers.values() if "filters" in marker]
    if reports:
        report = FilterReport.total(reports)
        storage.write_json(storage.join(output, FILTERS), report.to_json())
    return result


def _uses_image_stage(units: list[Unit], image_stage: bool | None) -> bool:
    warcs = sum(unit.kind == "warc" for unit in units)
    return warcs > 0 and (image_stage if image_stage is not None else warcs >= IMAGE_STAGE_UNITS)

"""``flamboyance dedup``: a finished build in, the same layout minus duplicates out.

Three phases (see ``filter/dedup/__init__.py``), each resumable through the contract of
``shards/executor.py``: the plan is checked first (same input shards and settings, or
refused); phases 1 and 3 run one Ray task per build unit and skip units with a marker;
phase 2 is skipped once its marker exists. Kill the driver anywhere and run the same
command again: finished work is kept, unfinished work is redone, and since every phase
is deterministic given its input the result is byte for byte the uninterrupted one.

Output layout::

    OUT/plan.json                  input units with their shard checksums, and the settings
    OUT/work/records/UNIT.parquet  phase 1: per-document records (and UNIT.json, its marker)
    OUT/work/resolve/              phase 2: the files its partitioned steps exchange (deleted after)
    OUT/work/decisions/UNIT.json   phase 2: what to drop in each unit (decisions.json: done)
    OUT/units/UNIT.json            phase 3 completion markers
    OUT/interleaved/, OUT/pairs/   shards, manifest.json, sizes.json, as a build writes them
    OUT/stats.json                 counters merged over units (dedup/... for the drops)
    OUT/dedup.json                 the drop report: per step, counts by rule and a sample
"""

from __future__ import annotations

import logging
from typing import Any

from flamboyance.filter.audit import FilterReport
from flamboyance.filter.dedup.config import DedupConfig
from flamboyance.filter.dedup.distributed import resolve_distributed
from flamboyance.filter.dedup.inputs import InputUnit, input_units
from flamboyance.filter.dedup.records import RECORDS
from flamboyance.filter.dedup.resolve import RESOLVED
from flamboyance.filter.dedup.rewrite import MARKERS
from flamboyance.shards import storage
from flamboyance.shards.config import to_dict
from flamboyance.shards.executor import (
    StageResult,
    check_plan,
    connect,
    error_summary,
    load_markers,
    merge_markers,
    remove_unlisted_shards,
    run_pending,
)
from flamboyance.shards.layout import SHARD_SETS

log = logging.getLogger(__name__)

REPORT = "dedup.json"


def run_dedup(
    build: str,
    output: str,
    config: DedupConfig,
    ray_address: str | None = None,
    show_progress: bool = True,
) -> StageResult:
    """Deduplicate the finished build in ``build`` into ``output``; resumable, deterministic."""
    units = input_units(build)
    check_plan(output, {"stage": "dedup", "input": build, "config": to_dict(config),
                        "units": [unit.to_json() for unit in units]})
    result = StageResult(output=output, units=len(units), skipped=0)

    def submit_records(unit: InputUnit, progress: Any) -> Any:
        from flamboyance.filter.dedup.tasks import records_task

        return records_task.remote(build, unit, output, config, progress)

    def submit_rewrite(unit: InputUnit, progress: Any) -> Any:
        from flamboyance.filter.dedup.tasks import rewrite_task

        return rewrite_task.remote(build, unit, output, config, progress)

    markers = load_markers(storage.join(output, MARKERS))
    result.skipped = sum(unit.id in markers for unit in units)
    if not storage.exists(storage.join(output, RESOLVED)):
        records = load_markers(storage.join(output, RECORDS))
        result.failed = run_pending(units, records, submit_records, ray_address, show_progress)
        if result.failed:
            return result
        log.info("resolving duplicates over %d units", len(units))
        connect(ray_address)
        try:
            resolve_distributed(output, [unit.id for unit in units], config)
        except Exception as error:  # noqa: BLE001 - reported like a failed unit; a re-run redoes the phase
            result.failed = {"resolve": error_summary(error)}
            log.error("resolving failed: %s", result.failed["resolve"])
            return result
    remove_unlisted_shards(output, SHARD_SETS, markers)
    result.failed = run_pending(units, markers, submit_rewrite, ray_address, show_progress)
    result.markers = markers
    result.stats, result.manifests = merge_markers(output, SHARD_SETS, markers)
    report = FilterReport.total(FilterReport.from_json(marker["dedup"]) for marker in markers.values())
    storage.write_json(storage.join(output, REPORT), report.to_json())
    return result

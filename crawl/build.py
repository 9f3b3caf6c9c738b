"""``flamboyance build``: inputs to shards, one Ray task per unit, resumable.

The driver plans units, skips those whose completion marker exists, runs the rest as
Ray tasks, and at the end derives the manifests and merged stats from the markers.
Nothing else is trusted: a shard that no marker lists (left by a crashed run) is deleted
before the run starts, because the unit that wrote it will write it again. This is what
makes "run the same command again after a crash" safe: no document is lost, and none
appears twice.

Output layout::

    OUT/build.json               the plan: inputs, units and config (a re-run must match)
    OUT/units/UNIT.json          completion marker: the unit's stats and shards
    OUT/interleaved/UNIT-NNNNN.tar, manifest.json, sizes.json
    OUT/pairs/UNIT-NNNNN.tar, manifest.json, sizes.json
    OUT/stats.json               stats merged over all finished units
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from crawl.config import BuildConfig
from crawl.unit import MARKERS, marker_path
from crawl.units import Unit
from shards import storage
from shards.config import to_dict
from shards.layout import SHARD_SETS
from shards.manifest import write_manifest
from shards.stats import Stats

log = logging.getLogger(__name__)

PLAN = "build.json"
STATS = "stats.json"


class PlanMismatch(RuntimeError):
    """The output folder holds a build of other inputs or settings."""


@dataclass
class BuildResult:
    """What a build run leaves behind, for the summary and for tests."""

    output: str
    units: int
    skipped: int
    failed: dict[str, str] = field(default_factory=dict)
    stats: Stats = field(default_factory=Stats)
    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


def prepare_output(output: str, units: list[Unit], config: BuildConfig, inputs: dict[str, Any]) -> dict[str, dict]:
    """Check or record the plan, delete unlisted shards, and return the finished units' markers."""
    storage.makedirs(output)
    plan = {"inputs": inputs, "config": to_dict(config), "units": [unit.to_json() for unit in units]}
    plan = json.loads(json.dumps(plan))  # compare in the form it is stored in
    plan_path = storage.join(output, PLAN)
    if storage.exists(plan_path):
        previous = storage.read_json(plan_path)
        if previous != plan:
            raise PlanMismatch(
                f"{output} holds a build of other inputs or settings ({plan_path}); "
                "use a new output folder, or delete it to start over"
            )
    else:
        storage.write_json(plan_path, plan)
    markers = {}
    for path in storage.listdir(storage.join(output, MARKERS)):
        if path.endswith(".json"):
            marker = storage.read_json(path)
            markers[marker["unit"]["id"]] = marker
    listed = {shard["name"] for marker in markers.values() for shards in marker["shards"].values() for shard in shards}
    for shard_set in SHARD_SETS:
        for path in storage.listdir(storage.join(output, shard_set)):
            name = path.replace("\\", "/").rsplit("/", 1)[-1]
            if (name.endswith(".tar") and name not in listed) or ".tar.tmp-" in name:
                log.info("removing %s: no finished unit lists it", path)
                storage.remove(path)
    return markers


def finalize(output: str, markers: dict[str, dict]) -> tuple[Stats, dict[str, dict[str, Any]]]:
    """Merge the markers into stats.json and each shard set's manifest."""
    stats = Stats.total(Stats.from_json(marker["stats"]) for marker in markers.values())
    stats.add("units/done", len(markers))
    storage.write_json(storage.join(output, STATS), stats.to_json())
    manifests = {}
    for shard_set in SHARD_SETS:
        shards = [shard for marker in markers.values() for shard in marker["shards"][shard_set]]
        manifests[shard_set] = write_manifest(storage.join(output, shard_set), shards)
    return stats, manifests


def run_build(
    units: list[Unit],
    output: str,
    config: BuildConfig,
    inputs: dict[str, Any],
    image_warcs: list[str] | None = None,
    ray_address: str | None = None,
    show_progress: bool = True,
) -> BuildResult:
    """Run every unfinished unit on Ray, then write manifests and merged stats."""
    import ray

    from crawl.progress import ProgressDisplay
    from crawl.tasks import unit_task

    markers = prepare_output(output, units, config, inputs)
    pending = [unit for unit in units if unit.id not in markers]
    result = BuildResult(output=output, units=len(units), skipped=len(units) - len(pending))
    if pending:
        if not ray.is_initialized():
            ray.init(address=ray_address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        image_index = None
        if image_warcs:
            from crawl.image_replay import build_index

            started = time.monotonic()
            image_index = ray.put(build_index(image_warcs))
            log.info("indexed image WARCs in %.1fs", time.monotonic() - started)
        display = ProgressDisplay(total_units=len(units), done_units=result.skipped, enabled=show_progress)
        tasks = {
            unit_task.remote(unit, config, output, image_index, display.actor): unit for unit in pending
        }
        waiting = list(tasks)
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1, timeout=0.5)
            for ref in ready:
                unit = tasks[ref]
                try:
                    marker = ray.get(ref)
                    markers[unit.id] = marker
                except Exception as error:  # noqa: BLE001 - a failed unit is reported, the rest go on
                    result.failed[unit.id] = _error_summary(error)
                    log.error("unit %s failed: %s", unit.id, result.failed[unit.id])
                display.unit_done()
            display.refresh()
        display.close()
    result.stats, result.manifests = finalize(output, markers)
    return result


def _error_summary(error: BaseException) -> str:
    cause = getattr(error, "cause", None) or error
    return f"{type(cause).__name__}: {str(cause).strip().splitlines()[-1] if str(cause).strip() else ''}"

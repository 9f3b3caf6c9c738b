"""Running a stage as units of work on Ray, resumably, with completion markers.

Every stage that writes shards (the build, dedup) follows the same contract, and this
module is its one implementation:

* a **plan** (``PLAN_FILE`` in the output folder) records the inputs, settings and units;
  re-running with other inputs or settings into the same folder is refused;
* each unit writes its shards (named after the unit id) and then, last and atomically,
  a **completion marker** ``{markers}/UNIT.json`` listing them with the unit's stats;
* on a re-run, units with a marker are skipped, and shards that no marker lists (left by
  a crashed attempt) are deleted, because their unit runs again and rewrites them;
* at the end, manifests and merged stats are derived from the markers alone.

So a stage can be interrupted at any point and run again: no sample is lost, none is
duplicated, and the totals stay exact.
"""

from __future__ import annotations

import datetime
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from flamboyance.shards import storage
from flamboyance.shards.manifest import write_manifest
from flamboyance.shards.stats import Stats

log = logging.getLogger(__name__)

PLAN_FILE = "plan.json"
STATS_FILE = "stats.json"


class PlanMismatch(RuntimeError):
    """The output folder holds a run of other inputs or settings."""


@dataclass
class StageResult:
    """What a run of a stage leaves behind, for summaries and tests."""

    output: str
    units: int
    skipped: int
    failed: dict[str, str] = field(default_factory=dict)
    markers: dict[str, dict] = field(default_factory=dict)
    stats: Stats = field(default_factory=Stats)
    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


def check_plan(output: str, plan: dict[str, Any]) -> None:
    """Record the plan of a new run, or refuse one whose plan differs from the recorded one."""
    storage.makedirs(output)
    plan = json.loads(json.dumps(plan))  # compare in the form it is stored in
    path = storage.join(output, PLAN_FILE)
    if not storage.exists(path):
        storage.write_json(path, plan)
    else:
        differences = plan_differences(storage.read_json(path), plan)
        if differences:
            shown = "; ".join(differences[:3]) + (f"; and {len(differences) - 3} more" if len(differences) > 3 else "")
            raise PlanMismatch(
                f"{output} holds a run of other inputs or settings ({shown}); use a new output folder, or delete it to start over"
            )


def plan_differences(recorded: Any, new: Any, where: str = "") -> list[str]:
    """What differs between two plans, as ``path: recorded -> new`` lines (units summarised)."""
    if isinstance(recorded, dict) and isinstance(new, dict):
        lines = []
        for key in sorted(set(recorded) | set(new), key=str):
            path = f"{where}.{key}" if where else str(key)
            if key not in recorded or key not in new:
                lines.append(f"{path}: {'absent' if key not in recorded else _short(recorded[key])} -> {'absent' if key not in new else _short(new[key])}")
            elif path == "units":
                if recorded[key] != new[key]:
                    lines.append(f"units: {len(recorded[key])} planned before, {len(new[key])} now")
            else:
                lines += plan_differences(recorded[key], new[key], path)
        return lines
    return [] if recorded == new else [f"{where}: {_short(recorded)} -> {_short(new)}"]


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def load_markers(folder: str) -> dict[str, dict]:
    """The completion markers in ``folder``, by unit id."""
    markers = {}
    for path in storage.listdir(folder):
        if path.endswith(".json"):
            marker = storage.read_json(path)
            markers[marker["unit"]["id"]] = marker
    return markers


def remove_unlisted_shards(output: str, shard_sets: tuple[str, ...], markers: dict[str, dict]) -> None:
    """Delete shards (and temporary files) that no completion marker lists."""
    listed = {shard["name"] for marker in markers.values() for shards in marker["shards"].values() for shard in shards}
    for shard_set in shard_sets:
        for path in storage.listdir(storage.join(output, shard_set)):
            name = path.replace("\\", "/").rsplit("/", 1)[-1]
            if (name.endswith(".tar") and name not in listed) or ".tar.tmp-" in name:
                log.info("removing %s: no finished unit lists it", path)
                storage.remove(path)


def merge_markers(output: str, shard_sets: tuple[str, ...], markers: dict[str, dict],
                  extra: Stats | None = None) -> tuple[Stats, dict[str, dict]]:
    """Write ``stats.json`` and each shard set's manifest from the markers; return both.

    ``extra``: counters of work done outside the units (a build's image stage), added in.
    """
    stats = Stats.total(Stats.from_json(marker["stats"]) for marker in markers.values())
    stats.add("units/done", len(markers))
    if extra is not None:
        stats.merge(extra)
    storage.write_json(storage.join(output, STATS_FILE), stats.to_json())
    manifests = {}
    for shard_set in shard_sets:
        shards = [shard for marker in markers.values() for shard in marker["shards"][shard_set]]
        manifests[shard_set] = write_manifest(storage.join(output, shard_set), shards)
    return stats, manifests


def write_marker(folder: str, unit: Any, stats: Stats, shards: dict[str, list[dict]], **extra: Any) -> dict:
    """Write a unit's completion marker, last and atomically; return it.

    ``extra`` holds stage-specific reports (a build's filter report, dedup's drops).
    """
    marker = {
        "unit": unit.to_json(),
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "stats": stats.to_json(),
        "shards": shards,
        **extra,
    }
    storage.write_json(storage.join(folder, f"{unit.id}.json"), marker)
    return marker


# Starts one unit as a Ray task: (unit, progress actor) -> object ref of its marker.
Submit = Callable[[Any, Any], Any]


def run_pending(
    units: list[Any],
    markers: dict[str, dict],
    submit: Submit,
    ray_address: str | None = None,
    show_progress: bool = True,
) -> dict[str, str]:
    """Run the units that have no marker; add their markers; return failures by unit id.

    A unit that raises is reported and the others go on; running the stage again
    retries it.
    """
    import ray

    from flamboyance.shards.progress import ProgressDisplay

    pending = [unit for unit in units if unit.id not in markers]
    failed: dict[str, str] = {}
    if not pending:
        return failed
    connect(ray_address)
    display = ProgressDisplay(total_units=len(units), done_units=len(units) - len(pending), enabled=show_progress)
    tasks = {submit(unit, display.actor): unit for unit in pending}
    waiting = list(tasks)
    while waiting:
        ready, waiting = ray.wait(waiting, num_returns=1, timeout=0.5)
        for ref in ready:
            unit = tasks[ref]
            try:
                markers[unit.id] = ray.get(ref)
            except Exception as error:  # noqa: BLE001 - a failed unit is reported, the rest go on
                failed[unit.id] = error_summary(error)
                log.error("unit %s failed: %s", unit.id, failed[unit.id])
            display.unit_done()
        display.refresh()
    display.close()
    return failed


def run_tasks(function: Callable[..., Any], calls: list[tuple], retries: int = 3) -> list[Any]:
    """Run ``function(*call)`` for every call as a Ray task (retried on a lost worker or node); their results in order.

    For steps whose work is a plain module-level function writing its own files, so a
    retry rewrites the same output; the driver gets only what the function returns.
    """
    import ray

    remote = ray.remote(num_cpus=1, max_retries=retries)(_call)
    return ray.get([remote.remote(function, *call) for call in calls])


def _call(function: Callable[..., Any], *args: Any) -> Any:
    return function(*args)


# Environment variables a job forwards to its tasks on a cluster: object-store
# credentials and endpoints, and the project's own settings. FLAMBOYANCE_FORWARD_ENV
# names more (comma-separated).
FORWARDED_PREFIXES = ("AWS_", "FLAMBOYANCE_", "FSSPEC_", "GOOGLE_APPLICATION_CREDENTIALS", "AZURE_STORAGE_", "HF_")


def runtime_env(environ: dict[str, str]) -> dict[str, Any]:
    """The Ray runtime environment of a job on a cluster: the credentials it runs with.

    Workers are other machines: without this, every unit reading s3:// fails with
    ``NoCredentialsError``. The code itself comes with the image (docker/README.md).
    """
    extra = {name.strip() for name in environ.get("FLAMBOYANCE_FORWARD_ENV", "").split(",") if name.strip()}
    forwarded = {name: value for name, value in environ.items() if name.startswith(FORWARDED_PREFIXES) or name in extra}
    return {"env_vars": dict(sorted(forwarded.items()))}


class RayUnavailable(RuntimeError):
    """Ray could not be started or reached; the message says why in one line."""


def connect(ray_address: str | None = None) -> None:
    """Join the Ray cluster at ``ray_address`` with the job's runtime environment, or start a local Ray.

    Does nothing when Ray is already initialised (tests, the Python API). A failure is
    explained in one line (``RayUnavailable``): Ray's own start-up errors are long and name
    internals, and the usual causes are an address that does not answer and a cluster
    that requires an auth token (Ray 2.60+ with ``RAY_AUTH_MODE=token``).
    """
    import os

    import ray

    if ray.is_initialized():
        return
    env = runtime_env(dict(os.environ)) if ray_address else None
    try:
        ray.init(address=ray_address, runtime_env=env, include_dashboard=False, log_to_driver=False, configure_logging=False)
    except Exception as error:  # noqa: BLE001 - every start-up failure becomes one line
        text = " ".join(str(error).split())
        if "token" in text.lower() or "auth" in text.lower():
            hint = "the cluster requires authentication: set RAY_AUTH_MODE=token and the cluster's token (RAY_AUTH_TOKEN) in this environment"
        elif ray_address:
            hint = f"no Ray cluster answered at {ray_address!r} in time: check the address (ray status on the head node) and the network"
        else:
            hint = "a local Ray could not start: check free memory and /tmp space, or pass --ray-address of a running cluster"
        raise RayUnavailable(f"{hint} ({type(error).__name__}: {text[:200]})") from None


def error_summary(error: BaseException) -> str:
    """One line naming a failure's cause, for summaries."""
    cause = getattr(error, "cause", None) or error
    text = str(cause).strip()
    return f"{type(cause).__name__}: {text.splitlines()[-1] if text else ''}"

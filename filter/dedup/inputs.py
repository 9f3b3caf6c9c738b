"""The input of dedup: a finished build, read unit by unit.

Dedup works in the build's own units (one per completion marker), so its tasks have the
same sizes as the build's, its output shards keep the build's unit names, and a unit's
documents are always read in the same order: the order of its shards in its marker,
then file order in each shard.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flamboyance.shards import storage
from flamboyance.shards.document import Document
from flamboyance.shards.executor import PLAN_FILE, load_markers
from flamboyance.shards.layout import INTERLEAVED, read_interleaved
from flamboyance.shards.stats import Stats
from flamboyance.shards.tar_samples import iter_samples

BUILD_MARKERS = "units"


class IncompleteBuild(RuntimeError):
    """The input folder is not a finished build (missing, or units without a marker)."""


@dataclass(frozen=True)
class InputUnit:
    """One unit of the input build: its id and its interleaved shards (name, sha256)."""

    id: str
    shards: tuple[tuple[str, str], ...]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "shards": [{"name": name, "sha256": digest} for name, digest in self.shards]}


def input_units(build: str) -> list[InputUnit]:
    """The units of a finished build, sorted by id; refuses a build with unfinished units."""
    markers = load_markers(storage.join(build, BUILD_MARKERS))
    if not markers:
        raise IncompleteBuild(f"{build} holds no finished build units (no {BUILD_MARKERS}/*.json)")
    plan_path = storage.join(build, PLAN_FILE)
    planned = {unit["id"] for unit in storage.read_json(plan_path).get("units", [])} if storage.exists(plan_path) else set()
    unfinished = sorted(planned - set(markers))
    if unfinished:
        raise IncompleteBuild(
            f"{build}: {len(unfinished)} build unit(s) unfinished (e.g. {unfinished[0]}); run the build again first"
        )
    return [
        InputUnit(unit_id, tuple((shard["name"], shard["sha256"]) for shard in markers[unit_id]["shards"][INTERLEAVED]))
        for unit_id in sorted(markers)
    ]


def read_documents(build: str, unit: InputUnit, stats: Stats) -> Iterator[tuple[Document, list[bytes]]]:
    """The documents of a unit with their image bytes, in a fixed order.

    A sample that is not a valid document is counted (``dedup/input/bad_sample``) and
    skipped; a shard that cannot be read to its end is counted
    (``dedup/input/corrupt_shard``) after the samples before the damage. Every phase
    reads the same bytes, so every phase skips the same samples.
    """
    for name, _digest in unit.shards:
        path = storage.join(build, INTERLEAVED, name)
        try:
            for sample in iter_samples(path):
                try:
                    document, images = read_interleaved(sample)
                except (ValueError, KeyError, TypeError) as error:
                    stats.add("dedup/input/bad_sample")
                    stats.add(f"dedup/input/bad_sample/{type(error).__name__}")
                    continue
                yield document, images
        except (OSError, EOFError, tarfile.TarError):
            stats.add("dedup/input/corrupt_shard")

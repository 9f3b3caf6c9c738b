"""Progress bars for a build: units finished, and documents written across all tasks.

Tasks run in other processes (on other machines, on a cluster), so they report document
counts to a small Ray actor; the driver polls it while it waits for tasks. The actor
lives on the driver's own node, so losing a worker node does not take the bars (and
the driver's wait loop) with it; should it die anyway, the bars just stop counting.
"""

from __future__ import annotations

from typing import Any

import ray
from tqdm import tqdm


@ray.remote(num_cpus=0)
class ProgressCounter:
    """Sums the document counts that tasks report."""

    def __init__(self) -> None:
        self.documents = 0

    def add(self, documents: int) -> None:
        self.documents += documents

    def total(self) -> int:
        return self.documents


class ProgressDisplay:
    """Two tqdm bars on the driver, fed by task completions and the counter actor."""

    def __init__(self, total_units: int, done_units: int, enabled: bool = True) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        self.actor: Any = ProgressCounter.options(scheduling_strategy=here).remote()
        self.units = tqdm(total=total_units, initial=done_units, desc="units", unit="unit", disable=not enabled)
        self.documents = tqdm(desc="documents", unit="doc", disable=not enabled)

    def unit_done(self) -> None:
        self.units.update(1)

    def refresh(self) -> None:
        try:
            total = ray.get(self.actor.total.remote())
        except ray.exceptions.RayActorError:
            return
        self.documents.update(total - self.documents.n)

    def close(self) -> None:
        self.refresh()
        self.units.close()
        self.documents.close()

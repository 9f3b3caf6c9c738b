"""Progress for a build: units finished, and documents written across all tasks.

Tasks run in other processes (on other machines, on a cluster), so they report document
counts to a small Ray actor; the driver polls it while it waits for tasks. In a terminal
that is two tqdm bars; without bars (``--no-progress``, logs, CI) a plain line every
``LINE_EVERY`` seconds, so a long stage never looks hung. The actor lives on the
driver's own node, so losing a worker node does not take the progress (and the driver's
wait loop) with it; should it die anyway, the counts just stop.
"""

from __future__ import annotations

import time
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


LINE_EVERY = 10.0


class ProgressDisplay:
    """Two tqdm bars on the driver (or plain lines when ``enabled`` is off), fed by task completions and the counter actor."""

    def __init__(self, total_units: int, done_units: int, enabled: bool = True) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        self.actor: Any = ProgressCounter.options(scheduling_strategy=here).remote()
        self.units = tqdm(total=total_units, initial=done_units, desc="units", unit="unit", disable=not enabled)
        self.documents = tqdm(desc="documents", unit="doc", disable=not enabled)
        self.lines, self.done_units, self.total_units = not enabled, done_units, total_units
        self.started = self.last_line = time.monotonic()

    def unit_done(self) -> None:
        self.units.update(1)
        self.done_units += 1

    def refresh(self) -> None:
        try:
            total = ray.get(self.actor.total.remote())
        except ray.exceptions.RayActorError:
            return
        self.documents.update(total - self.documents.n)
        now = time.monotonic()
        if self.lines and now - self.last_line >= LINE_EVERY:
            self.last_line = now
            print(f"  {now - self.started:.0f}s: {self.done_units}/{self.total_units} units done, {total} documents", flush=True)

    def close(self) -> None:
        self.refresh()
        self.units.close()
        self.documents.close()

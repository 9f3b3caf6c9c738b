"""Training checkpoints: small, atomic, loaded without unpickling arbitrary objects.

Only what training changes is saved (the trainable weights, optimiser and schedule
state, loader positions, random states), one file per rank since each rank reads its
own part of the data. A checkpoint of step N is complete once ``latest.json`` names it:
that marker is written last, so a run killed mid-save resumes from the previous one.
Files are read with ``torch.load(weights_only=True)``: tensors and plain containers only.
"""

from __future__ import annotations

import io
from typing import Any

import torch
from torch.utils._pytree import tree_map

from shards import storage

LATEST = "latest.json"
KEEP = 2


def checkpoint_path(output: str, step: int, rank: int) -> str:
    return storage.join(output, "checkpoints", f"step-{step:08d}-rank{rank}.pt")


def save(output: str, step: int, rank: int, state: dict[str, Any]) -> None:
    """Write this rank's state for ``step`` (all ranks call this, then ``mark_latest`` on rank 0)."""
    state = tree_map(lambda value: value.cpu() if isinstance(value, torch.Tensor) else value, state)
    with storage.atomic_writer(checkpoint_path(output, step, rank)) as stream:
        torch.save(state, stream)


def mark_latest(output: str, step: int, world_size: int) -> None:
    """Declare ``step`` complete and delete checkpoints older than the last ``KEEP``."""
    storage.write_json(storage.join(output, "checkpoints", LATEST), {"step": step, "world_size": world_size})
    steps = sorted(
        {int(p.rsplit("step-", 1)[1][:8]) for p in storage.listdir(storage.join(output, "checkpoints")) if p.endswith(".pt")}
    )
    for old in steps[:-KEEP]:
        for rank in range(world_size):
            storage.remove(checkpoint_path(output, old, rank))


def load_latest(output: str, rank: int, world_size: int) -> dict[str, Any] | None:
    """This rank's state from the latest complete checkpoint, or None for a fresh run."""
    marker = storage.join(output, "checkpoints", LATEST)
    if not storage.exists(marker):
        return None
    latest = storage.read_json(marker)
    if latest["world_size"] != world_size:
        raise ValueError(f"checkpoint in {output} was written by {latest['world_size']} ranks, this run has {world_size}")
    with storage.open_input(checkpoint_path(output, latest["step"], rank)) as stream:
        return torch.load(io.BytesIO(stream.read()), map_location="cpu", weights_only=True)


def load_trained(output: str) -> dict[str, Any]:
    """The trained weights (``Flamingo.trainable_state_dict``) of a run's latest checkpoint."""
    marker = storage.join(output, "checkpoints", LATEST)
    if not storage.exists(marker):
        raise FileNotFoundError(f"no finished checkpoint in {output}/checkpoints (is this a training run's output?)")
    return load_latest(output, rank=0, world_size=storage.read_json(marker)["world_size"])["model"]

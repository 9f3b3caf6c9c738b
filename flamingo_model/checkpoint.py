"""Flamingo's checkpoints: one file per rank, declared complete by ``latest.json``.

Only what training changes is saved (the trainable weights, optimiser and schedule
state, loader positions, random states), one file per rank since each rank reads its
own part of the data and, under FSDP, holds its own shard of the state. A checkpoint of
step N is complete once ``latest.json`` names it: that marker is written last, so a run
killed mid-save resumes from the previous one. Files are written and read by the
trainers' shared ``pretrain_encoder/checkpoint.py`` (atomic writes, ``weights_only``
loads, the newest ``keep`` steps kept).
"""

from __future__ import annotations

from typing import Any

from flamboyance.pretrain_encoder.checkpoint import announce_resume, checkpoint_path, load, prune, save
from flamboyance.shards import storage

LATEST = "latest.json"


def save_rank(output: str, step: int, rank: int, state: dict[str, Any]) -> None:
    """Write this rank's state for ``step`` (all ranks call this, then ``mark_latest`` on rank 0)."""
    save(checkpoint_path(output, step, rank), state)


def mark_latest(output: str, step: int, world_size: int, keep: int) -> None:
    """Declare ``step`` complete and delete all but the newest ``keep`` steps."""
    storage.write_json(storage.join(output, "checkpoints", LATEST), {"step": step, "world_size": world_size})
    prune(output, keep)


def load_latest(output: str, rank: int, world_size: int, announce: bool = False) -> dict[str, Any] | None:
    """This rank's state from the latest complete checkpoint, or None for a fresh run."""
    marker = storage.join(output, "checkpoints", LATEST)
    if not storage.exists(marker):
        return None
    latest = storage.read_json(marker)
    if latest["world_size"] != world_size:
        raise ValueError(f"checkpoint in {output} was written by {latest['world_size']} ranks, this run has {world_size}")
    path = checkpoint_path(output, latest["step"], rank)
    state = load(path)
    if announce:
        announce_resume(path, latest["step"])
    return state


def load_trained(output: str) -> dict[str, Any]:
    """The trained weights (``Flamingo.trainable_state_dict``) of a run's latest checkpoint."""
    marker = storage.join(output, "checkpoints", LATEST)
    if not storage.exists(marker):
        raise FileNotFoundError(f"no finished checkpoint in {output}/checkpoints (is this a training run's output?)")
    return load_latest(output, rank=0, world_size=storage.read_json(marker)["world_size"])["model"]

"""Training checkpoints for both trainers: written atomically, read with ``torch.load(weights_only=True)`` only.

A checkpoint holds everything an exact resume needs (model, optimiser and schedule
states, the step, random generator states and data-loader positions). It contains only
tensors and plain containers, so loading it never unpickles code. Files are
``OUTPUT/checkpoints/step-00001000.pt``, or ``step-00001000-rank0.pt`` ... when each rank
saves its own part (Flamingo under FSDP); the newest ``keep`` steps are kept, and a
resumed run says where it continued from.
"""

from __future__ import annotations

import io
import random
import re
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._pytree import tree_map

from flamboyance.shards import storage

_NAME = re.compile(r"step-(\d+)(?:-rank\d+)?\.pt$")


@dataclass
class CheckpointConfig:
    # Save every N steps (and after the last step); 0 saves only at the end.
    every: int = 1000
    # How many step checkpoints to keep (the newest).
    keep: int = 2
    # "latest" continues from the newest checkpoint in the output folder if there is one,
    # "none" starts afresh, anything else is the path of a checkpoint to continue from.
    resume: str = "latest"

    def due(self, step: int, last: int) -> bool:
        """Whether to save after ``step`` (1-based) of a run of ``last`` steps."""
        return step == last or (self.every > 0 and step % self.every == 0)


def checkpoint_path(output: str, step: int, rank: int | None = None) -> str:
    suffix = "" if rank is None else f"-rank{rank}"
    return storage.join(output, "checkpoints", f"step-{step:08d}{suffix}.pt")


def checkpoint_step(path: str) -> int | None:
    found = _NAME.search(path)
    return int(found.group(1)) if found else None


def list_checkpoints(output: str) -> list[str]:
    """Checkpoint paths in the run folder, oldest first."""
    found = [path for path in storage.listdir(storage.join(output, "checkpoints")) if _NAME.search(path)]
    return sorted(found, key=lambda path: (checkpoint_step(path), path))


def save(path: str, state: dict[str, Any]) -> None:
    """Write ``state`` (tensors moved to the CPU) so that the file is either complete or absent."""
    state = tree_map(lambda value: value.cpu() if isinstance(value, torch.Tensor) else value, state)
    with storage.atomic_writer(path) as stream:
        torch.save(state, stream)


def load(path: str) -> dict[str, Any]:
    with storage.open_input(path) as stream:
        return torch.load(io.BytesIO(stream.read()), map_location="cpu", weights_only=True)


def prune(output: str, keep: int) -> None:
    """Delete all but the newest ``keep`` steps' checkpoints (every rank's file of a step)."""
    steps = sorted({checkpoint_step(path) for path in list_checkpoints(output)})
    old = set(steps[: -keep if keep > 0 else None])
    for path in list_checkpoints(output):
        if checkpoint_step(path) in old:
            storage.remove(path)


def announce_resume(path: str, step: int) -> None:
    print(f"resumed from {path} at step {step}", flush=True)


def rng_state() -> dict[str, Any]:
    """This process's generator states (Python, torch CPU, CUDA), as tensors and plain values."""
    version, internal, gauss = random.getstate()
    state: dict[str, Any] = {"python": [version, list(internal), gauss], "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])

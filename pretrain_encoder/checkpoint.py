"""Training checkpoints: written atomically, read with ``torch.load(weights_only=True)`` only.

A checkpoint holds everything an exact resume needs: model, optimiser, scheduler and
gradient scaler states, the step, every rank's random generator states and data-loader
positions (gathered to rank 0, which writes the file), plus the run's config for the
record. It contains only tensors and plain containers, so loading it never unpickles
code. Files are ``OUTPUT/checkpoints/step-00001000.pt``; the newest ``keep`` are kept.
"""

from __future__ import annotations

import random
import re
from typing import Any

import torch

from shards import storage

_NAME = re.compile(r"step-(\d+)\.pt$")


def checkpoint_path(output: str, step: int) -> str:
    return storage.join(output, "checkpoints", f"step-{step:08d}.pt")


def list_checkpoints(output: str) -> list[str]:
    """Checkpoint paths in the run folder, oldest first."""
    found = [path for path in storage.listdir(storage.join(output, "checkpoints")) if _NAME.search(path)]
    return sorted(found, key=lambda path: int(_NAME.search(path).group(1)))  # type: ignore[union-attr]


def save(path: str, state: dict[str, Any]) -> None:
    with storage.atomic_writer(path) as stream:
        torch.save(state, stream)


def load(path: str) -> dict[str, Any]:
    with storage.open_input(path) as stream:
        return torch.load(stream, map_location="cpu", weights_only=True)


def prune(output: str, keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoints."""
    for path in list_checkpoints(output)[: -keep if keep > 0 else None]:
        storage.remove(path)


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

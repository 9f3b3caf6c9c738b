"""Where a training run's numbers go: the console, ``metrics.jsonl``, tensorboard, and wandb when asked for.

Both trainers (encoder pretraining and Flamingo) log through ``RunLog``, and both save
their resolved settings as ``config.json`` beside the metrics. Only rank 0 writes. ``metrics.jsonl`` holds one JSON object per logged step and is
appended to across resumes; a step logged twice (a run killed after its last checkpoint
and resumed) appears twice, and the later line is the one that counts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flamboyance.shards import storage


@dataclass
class LogConfig:
    every: int = 10
    tensorboard: bool = True
    # Log to Weights & Biases too (needs the wandb package; off by default).
    wandb: bool = False
    wandb_project: str = "flamboyance"


class RunLog:
    """Rank 0's record of a run: one ``write(step, metrics)`` per logged step, and the run's config."""

    def __init__(self, output: str, enabled: bool, settings: LogConfig, config: dict[str, Any]) -> None:
        self.enabled = enabled
        self.path = storage.join(output, "metrics.jsonl")
        self.board = self.wandb = None
        if not enabled:
            return
        storage.makedirs(output)
        storage.write_json(storage.join(output, "config.json"), config)
        tensorboard, wandb, project = settings.tensorboard, settings.wandb, settings.wandb_project
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.board = SummaryWriter(storage.join(output, "tensorboard"))
        if wandb:
            try:
                import wandb as wandb_module
            except ImportError as error:
                raise RuntimeError("log.wandb is set but the wandb package is not installed (pip install wandb)") from error
            self.wandb = wandb_module.init(project=project, config=config, dir=output, resume="allow")

    def write(self, step: int, metrics: dict[str, float]) -> None:
        """Record ``metrics`` at ``step`` (1-based: the number of optimiser steps done)."""
        if not self.enabled:
            return
        with open(storage.local_path(self.path), "a", encoding="utf-8") as stream:
            stream.write(json.dumps({"step": step, **metrics}) + "\n")
        if self.board is not None:
            for name, value in metrics.items():
                self.board.add_scalar(name, value, step)
        if self.wandb is not None:
            self.wandb.log(metrics, step=step)
        shown = "  ".join(f"{name} {value:.4g}" for name, value in metrics.items())
        print(f"step {step}  {shown}", flush=True)

    def close(self) -> None:
        if self.board is not None:
            self.board.close()
        if self.wandb is not None:
            self.wandb.finish()


def read_metrics(output: str) -> dict[int, dict[str, float]]:
    """The metrics of a run by step (later lines win), from its ``metrics.jsonl``."""
    steps: dict[int, dict[str, float]] = {}
    with storage.open_input(storage.join(output, "metrics.jsonl"), "r") as stream:
        for line in stream:
            entry = json.loads(line)
            steps.setdefault(entry.pop("step"), {}).update(entry)
    return steps

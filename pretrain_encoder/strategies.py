"""How several pair datasets share an optimiser step (Flamingo paper, section 3.3 and its ablation).

A strategy turns the step number and one batch iterator per dataset into the *terms* of
that step: (batch, loss weight) pairs whose weighted losses are back-propagated before
the single optimiser step.

* ``accumulation`` (Flamingo's choice): one batch of every dataset; the gradients of the
  weighted losses add up, then one step. Best in the Flamingo encoder ablation.
* ``merged``: one batch mixed from all datasets, each contributing a share of the batch
  proportional to its weight; one loss over the mixed batch (negatives cross datasets).
* ``round_robin``: one dataset per step, in turn, its loss scaled by its weight.

Datasets with weight 0 are not read at all (``EncoderConfig.active_datasets``), so they
cannot move the weights, not even through Adam's moments or weight decay.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from flamboyance.pretrain_encoder.config import DatasetConfig

Batch = dict[str, torch.Tensor]


@dataclass
class Term:
    """One loss of a step: a batch, the weight of its loss, and the dataset(s) it came from."""

    name: str
    weight: float
    batch: Batch


def batch_sizes(strategy: str, datasets: list[DatasetConfig], batch_size: int) -> list[int]:
    """Per-dataset loader batch sizes: ``batch_size`` each, or shares of it for ``merged``.

    Merged shares follow the weights by largest remainder, and every dataset gets at least
    one sample, so the mixed batch always holds exactly ``batch_size`` pairs.
    """
    if strategy != "merged":
        return [batch_size] * len(datasets)
    if batch_size < len(datasets):
        raise ValueError(f"a merged batch of {batch_size} cannot hold one sample of each of {len(datasets)} datasets")
    total = sum(d.weight for d in datasets)
    spare = batch_size - len(datasets)
    exact = [spare * d.weight / total for d in datasets]
    sizes = [1 + int(share) for share in exact]
    by_remainder = sorted(range(len(datasets)), key=lambda i: exact[i] - int(exact[i]), reverse=True)
    for index in by_remainder[: batch_size - sum(sizes)]:
        sizes[index] += 1
    return sizes


def step_terms(strategy: str, step: int, sources: list[tuple[DatasetConfig, Iterator[Batch]]]) -> list[Term]:
    """The terms of optimiser step ``step`` (the step number makes round-robin resumable)."""
    if strategy == "accumulation":
        return [Term(dataset.name, dataset.weight, next(batches)) for dataset, batches in sources]
    if strategy == "merged":
        parts = [next(batches) for _, batches in sources]
        merged = {key: torch.cat([part[key] for part in parts]) for key in parts[0]}
        return [Term("+".join(dataset.name for dataset, _ in sources), 1.0, merged)]
    if strategy == "round_robin":
        dataset, batches = sources[step % len(sources)]
        return [Term(dataset.name, dataset.weight, next(batches))]
    raise ValueError(f"unknown strategy {strategy!r}")

"""The training mixture: one streaming shard loader per configured dataset."""

from __future__ import annotations

from typing import Any

import torch

from flamboyance.flamingo_model.config import DatasetConfig, TrainConfig
from flamboyance.flamingo_model.examples import FlamingoExamples, FlamingoPairExamples, FlamingoVideoExamples
from flamboyance.flamingo_model.tokens import FlamingoTokenizer, TokenConfig
from flamboyance.flamingo_model.train import TrainDataset
from flamboyance.shards.loader.examples import collate
from flamboyance.shards.loader.reader import LoaderConfig, ShardLoader
from flamboyance.shards.loader.transforms import ImageTransform

# Video datasets hold one media item of T frames per sample: give them max_images: 1.
SAMPLE_FUNCTIONS = {"interleaved": FlamingoExamples, "pairs": FlamingoPairExamples, "video": FlamingoVideoExamples}


def dataset_loader(
    dataset: DatasetConfig,
    tokenizer: Any,
    transform: ImageTransform,
    seed: int,
    rank: int | None = None,
    world_size: int | None = None,
) -> ShardLoader:
    """A loader of ``dataset``'s Flamingo batches for this rank (from torch.distributed unless given)."""
    if dataset.kind not in SAMPLE_FUNCTIONS:
        raise ValueError(f"dataset {dataset.name!r}: kind must be one of {sorted(SAMPLE_FUNCTIONS)}, not {dataset.kind!r}")
    if not dataset.urls:
        raise ValueError(f"dataset {dataset.name!r} has no shard urls")
    tokens = FlamingoTokenizer(tokenizer, TokenConfig(dataset.max_tokens, dataset.max_images, dataset.attend_next_probability))
    options = {"frames": dataset.frames} if dataset.kind == "video" else {}
    sample_fn = SAMPLE_FUNCTIONS[dataset.kind](tokens, transform, **options)
    config = LoaderConfig(
        batch_size=dataset.batch_size,
        num_workers=dataset.num_workers,
        seed=seed,
        multiprocessing_context="fork",
        pin_memory=dataset.pin_memory and torch.cuda.is_available(),
        prefetch_factor=dataset.prefetch_factor,
    )
    return ShardLoader(dataset.urls, sample_fn, collate, config, rank=rank, world_size=world_size)


def training_datasets(config: TrainConfig, tokenizer: Any, transform: ImageTransform) -> list[TrainDataset]:
    """The configured datasets with a positive weight, each with its loader."""
    return [
        TrainDataset(d.name, d.weight, dataset_loader(d, tokenizer, transform, config.seed))
        for d in config.datasets
        if d.weight > 0
    ]

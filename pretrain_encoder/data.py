"""Pair shards to training batches, through the shared streaming loader (``shards.loader.reader``).

Each dataset gets its own ``ShardLoader`` (rank/worker split, equal batches on every
rank, resumable position); this module only says what one pair becomes: an augmented,
normalised image [3, H, W] and its caption's token ids. Augmentation draws from the
loader's per-sample generator, which is seeded by the sample's position, so a resumed
run augments every sample exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageEnhance

from flamboyance.pretrain_encoder.config import AugmentConfig, DataConfig, DatasetConfig
from flamboyance.pretrain_encoder.tokenizer import Tokenize
from flamboyance.shards import storage
from flamboyance.shards.loader.examples import collate, pair_caption
from flamboyance.shards.loader.reader import DropSample, LoaderConfig, ShardLoader
from flamboyance.shards.loader.transforms import ImageTransform
from flamboyance.shards.tar_samples import iter_samples


class Augment:
    """Random resized crop, horizontal flip and colour jitter of a decoded square image.

    The crop is cut from the image already resized to the model's input and scaled back
    up: cheaper than decoding at a larger size, and plenty for small-resolution training.
    """

    def __init__(self, config: AugmentConfig) -> None:
        self.config = config

    def __call__(self, image: Image.Image, rng: random.Random) -> Image.Image:
        config, size = self.config, image.size
        area = size[0] * size[1]
        for _ in range(10):
            scale = rng.uniform(*config.crop_scale)
            ratio = math.exp(rng.uniform(math.log(config.crop_ratio[0]), math.log(config.crop_ratio[1])))
            width, height = round(math.sqrt(area * scale * ratio)), round(math.sqrt(area * scale / ratio))
            if 0 < width <= size[0] and 0 < height <= size[1]:
                left, top = rng.randint(0, size[0] - width), rng.randint(0, size[1] - height)
                image = image.resize(size, Image.Resampling.BILINEAR, box=(left, top, left + width, top + height))
                break
        if config.flip and rng.random() < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        for enhancer, strength in (
            (ImageEnhance.Brightness, config.brightness),
            (ImageEnhance.Contrast, config.contrast),
            (ImageEnhance.Color, config.saturation),
        ):
            if strength > 0:
                image = enhancer(image).enhance(rng.uniform(1 - strength, 1 + strength))
        if config.hue > 0:
            image = _shift_hue(image, rng.uniform(-config.hue, config.hue))
        return image


def _shift_hue(image: Image.Image, shift: float) -> Image.Image:
    """Rotate the hue by ``shift`` turns (-0.5..0.5)."""
    hsv = np.array(image.convert("HSV"))
    hsv[..., 0] = (hsv[..., 0].astype(np.int32) + round(shift * 255)) % 256
    return Image.fromarray(hsv, "HSV").convert("RGB")


class ImageTensors:
    """Encoded image bytes to a normalised tensor, optionally augmented (``augment=None`` for evaluation)."""

    def __init__(self, transform: ImageTransform, augment: Augment | None = None) -> None:
        self.transform, self.augment = transform, augment
        config = transform.config
        self.mean = torch.tensor(config.mean, dtype=torch.float32).view(3, 1, 1)
        self.std = torch.tensor(config.std, dtype=torch.float32).view(3, 1, 1)

    def __call__(self, payload: bytes, rng: random.Random | None = None) -> torch.Tensor:
        image = self.transform.decode(payload)
        if self.augment is not None and rng is not None:
            image = self.augment(image, rng)
        pixels = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float().div_(255)
        return pixels.sub_(self.mean).div_(self.std)


class PairExamples:
    """The loader's sample function: a pair sample to ``{"image": [3, H, W], "text": [context]}``."""

    def __init__(self, images: ImageTensors, tokenize: Tokenize) -> None:
        self.images, self.tokenize = images, tokenize

    def __call__(self, sample: dict[str, Any], rng: random.Random) -> dict[str, torch.Tensor]:
        caption = pair_caption(sample)
        return {"image": self.images(sample["jpg"], rng), "text": self.tokenize([caption])[0]}


def pair_loader(
    dataset: DatasetConfig, examples: PairExamples, data: DataConfig, batch_size: int, seed: int
) -> ShardLoader:
    """The streaming loader of one dataset for this rank (rank and world size from torch.distributed)."""
    config = LoaderConfig(
        batch_size=batch_size,
        num_workers=data.num_workers,
        seed=seed,
        shuffle_buffer=data.shuffle_buffer,
        resample=False,
        multiprocessing_context=data.multiprocessing_context,
    )
    return ShardLoader(dataset.shards, examples, collate, config)


def endless(loader: ShardLoader) -> Iterator[dict[str, torch.Tensor]]:
    """Batches of a loader across epochs without end (each epoch reshuffles)."""
    while True:
        yield from loader


def read_pairs(shards: list[str], limit: int) -> list[tuple[bytes, str]]:
    """The first ``limit`` (image bytes, caption) pairs of a shard list, for retrieval evaluation.

    Samples without an image or a caption are skipped: evaluation measures the model,
    not the data.
    """
    pairs: list[tuple[bytes, str]] = []
    for url in storage.expand(shards):
        for sample in iter_samples(url):
            try:
                pairs.append((sample["jpg"], pair_caption(sample)))
            except (KeyError, DropSample):
                continue
            if len(pairs) >= limit:
                return pairs
    return pairs

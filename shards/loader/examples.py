"""What every training loader shares: the example type, pair captions and batching.

A sample function (``flamingo_model/examples.py``, ``pretrain_encoder/data.py``) is a
picklable callable ``(raw_sample, rng) -> Example``; ``collate`` makes batches of its
examples. A sample that cannot become an example raises ``DropSample`` with a reason (or
a ``ValueError``/``KeyError``/``OSError`` from bad bytes), which the loader counts and skips.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import default_collate

from flamboyance.shards.loader.reader import DropSample

Example = dict[str, torch.Tensor]


def pair_caption(sample: dict[str, Any]) -> str:
    """The caption of a pair sample (``KEY.txt``), whitespace-normalised; DropSample if empty."""
    caption = " ".join(sample["txt"].decode("utf-8").split())
    if not caption:
        raise DropSample("empty_caption")
    return caption



def collate(examples: list[Example]) -> dict[str, torch.Tensor]:
    """Stack examples into a batch; Flamingo images are padded to the ``image_mask`` slots."""
    if "image_mask" not in examples[0]:
        return default_collate(examples)
    first = examples[0]
    images = torch.zeros(len(examples), first["image_mask"].shape[0], *first["images"].shape[1:])
    for row, example in enumerate(examples):
        images[row, : example["images"].shape[0]] = example["images"]
    batch = default_collate([{k: v for k, v in example.items() if k != "images"} for example in examples])
    batch["images"] = images
    return batch

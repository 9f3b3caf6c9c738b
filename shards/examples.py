"""Raw shard samples to training examples: the sample functions a ``ShardLoader`` runs.

Each is a picklable callable ``(raw_sample, rng) -> dict of tensors``; ``collate``
makes batches of them. A sample that cannot become an example
raises ``DropSample`` with a reason (or a ``ValueError``/``KeyError``/``OSError`` from
bad bytes), which the loader counts and skips.

Flamingo examples (interleaved documents, and pairs rendered as ``<image>caption<EOC>``)
hold, for a window of ``max_tokens`` tokens and ``max_images`` image slots:
``input_ids``, ``attention_mask``, ``labels``, ``media_index`` [L] (see ``shards/tokens.py``),
``images`` [n, T, 3, H, W] for the n <= N media items of the window (T = 1 for images, the
frame count for videos), ``image_mask`` [N]
(which slots hold an image) and ``attend_next`` (the document's phi direction). Batched
by ``collate``, images are [B, N, T, 3, H, W] with zeros in empty slots: padding once,
at batch time, saves a copy of every image. Only the images inside the window are
decoded.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.data import default_collate

from shards.document import Document, ImageNode, TextNode
from shards.layout import read_interleaved
from shards.reader import DropSample
from shards.tokens import FlamingoTokenizer
from shards.transforms import ImageTransform
from shards.video import read_frames

Example = dict[str, torch.Tensor]


class FlamingoExamples:
    """Interleaved samples (``KEY.json`` + ``KEY.{i}.jpg``) to Flamingo examples."""

    # Frames per media item: 1 for images (a video sample function sets its T).
    frames = 1

    def __init__(self, tokenizer: FlamingoTokenizer, transform: ImageTransform) -> None:
        self.tokenizer, self.transform = tokenizer, transform

    def __call__(self, sample: dict[str, Any], rng: random.Random) -> Example:
        document, payloads = read_interleaved(sample)
        return self.example(document, payloads, rng)

    def example(self, document: Document, payloads: list[Any], rng: random.Random) -> Example:
        if not document.texts():
            raise DropSample("no_text")
        tokens = self.tokenizer.encode(document, rng)
        size = self.transform.config.size
        images = torch.stack([self.media(payloads[n]) for n in tokens.images]) if tokens.images else None
        image_mask = torch.zeros(self.tokenizer.config.max_images, dtype=torch.bool)
        image_mask[: len(tokens.images)] = True
        return {
            "input_ids": torch.tensor(tokens.input_ids),
            "attention_mask": torch.tensor(tokens.attention_mask),
            "labels": torch.tensor(tokens.labels),
            "media_index": torch.tensor(tokens.media_index),
            "images": images if images is not None else torch.zeros(0, self.frames, 3, size, size),
            "image_mask": image_mask,
            "attend_next": torch.tensor(tokens.attend_next),
        }

    def media(self, payload: Any) -> torch.Tensor:
        """One media item's pixels, [T, 3, H, W]; an image is a video of one frame."""
        return self.transform(payload).unsqueeze(0)


def pair_caption(sample: dict[str, Any]) -> str:
    """The caption of a pair sample (``KEY.txt``), whitespace-normalised; DropSample if empty."""
    caption = " ".join(sample["txt"].decode("utf-8").split())
    if not caption:
        raise DropSample("empty_caption")
    return caption


def captioned_media(sample: dict[str, Any]) -> Document:
    """A pair or video sample as a document of one media item and its caption: ``<image>caption<EOC>``."""
    return Document(key=sample["__key__"], url="", nodes=[ImageNode(url="", index=0), TextNode(pair_caption(sample))])


class FlamingoPairExamples(FlamingoExamples):
    """Pair samples (``KEY.jpg`` + ``KEY.txt``) to Flamingo examples: ``<image>caption<EOC>``."""

    def __call__(self, sample: dict[str, Any], rng: random.Random) -> Example:
        return self.example(captioned_media(sample), [sample["jpg"]], rng)


class FlamingoVideoExamples(FlamingoExamples):
    """Video samples (``KEY.{t}.jpg`` frames + ``KEY.txt``, ``shards/video.py``) to Flamingo examples.

    The video is one media item of ``frames`` frames before its caption,
    ``<image>caption<EOC>``; batched, images are [B, N, T, 3, H, W]. A sample with another
    number of frames is dropped (``frame_count``): a batch needs one T.
    """

    def __init__(self, tokenizer: FlamingoTokenizer, transform: ImageTransform, frames: int = 8) -> None:
        super().__init__(tokenizer, transform)
        self.frames = frames

    def __call__(self, sample: dict[str, Any], rng: random.Random) -> Example:
        clip = read_frames(sample)
        if len(clip) != self.frames:
            raise DropSample("frame_count")
        return self.example(captioned_media(sample), [clip], rng)

    def media(self, payload: Any) -> torch.Tensor:
        return torch.stack([self.transform(frame) for frame in payload])


class EncoderPairExamples:
    """Pair samples to contrastive-encoder examples: ``image`` [3, H, W] and ``text`` token ids.

    ``tokenize`` maps a list of captions to a [n, context] tensor of ids, as open_clip's
    tokenizers (``open_clip.get_tokenizer(name)``) do.
    """

    def __init__(self, transform: ImageTransform, tokenize: Callable[[list[str]], torch.Tensor]) -> None:
        self.transform, self.tokenize = transform, tokenize

    def __call__(self, sample: dict[str, Any], rng: random.Random) -> Example:
        return {"image": self.transform(sample["jpg"]), "text": self.tokenize([pair_caption(sample)])[0]}


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

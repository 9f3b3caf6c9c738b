"""Raw shard samples to Flamingo training examples: the sample functions a ``ShardLoader`` runs.

Flamingo examples (interleaved documents, and pairs rendered as ``<image>caption<EOC>``)
hold, for a window of ``max_tokens`` tokens and ``max_images`` image slots:
``input_ids``, ``attention_mask``, ``labels``, ``media_index`` [L] (see ``flamingo_model/tokens.py``),
``images`` [n, T, 3, H, W] for the n <= N media items of the window (T = 1 for images, the
frame count for videos), ``image_mask`` [N]
(which slots hold an image) and ``attend_next`` (the document's phi direction). Batched
by ``shards.loader.examples.collate``, images are [B, N, T, 3, H, W] with zeros in empty slots: padding once,
at batch time, saves a copy of every image. Only the images inside the window are
decoded.
"""

from __future__ import annotations

import random
from typing import Any

import torch

from flamboyance.flamingo_model.tokens import FlamingoTokenizer
from flamboyance.shards.document import Document, ImageNode, TextNode
from flamboyance.shards.layout import read_interleaved
from flamboyance.shards.loader.examples import Example, pair_caption
from flamboyance.shards.loader.reader import DropSample
from flamboyance.shards.loader.transforms import ImageTransform
from flamboyance.shards.video import read_frames


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

"""Interleaved shards written exactly as the build writes them, for the loader tests."""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from flamboyance.shards.document import Document, ImageNode, TextNode
from flamboyance.shards.layout import interleaved_sample
from flamboyance.shards.loader.examples import Example, pair_caption
from flamboyance.shards.loader.transforms import ImageTransform
from flamboyance.shards.manifest import write_manifest
from flamboyance.shards.writer import ShardWriter


def jpeg(width: int = 40, height: int = 30, shade: int = 128) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (shade, 255 - shade, 60)).save(buffer, format="JPEG")
    return buffer.getvalue()


def document(key: str, images: int = 1) -> Document:
    """'Intro about KEY, then for each image: image, a caption paragraph."""
    nodes: list = [TextNode(f"Intro about {key}.")]
    for index in range(images):
        nodes.append(ImageNode(url=f"https://example.org/{key}/{index}.jpg", index=index))
        nodes.append(TextNode(f"Picture {index} of {key}."))
    return Document(key=key, url=f"https://example.org/{key}", nodes=nodes)


def write_shards(folder: Path, sizes: list[int], images: int = 1, sizes_json: bool = True) -> list[str]:
    """One shard per size, holding documents keyed ``sNdM``, with the build's manifest and sizes.json."""
    written = []
    for shard, size in enumerate(sizes):
        with ShardWriter(str(folder), f"s{shard}", max_samples=size) as writer:
            for number in range(size):
                doc = document(f"s{shard}d{number}", images)
                writer.write(interleaved_sample(doc, [jpeg(shade=(shard * 31 + number) % 256)] * images))
        written += writer.shards
    if sizes_json:
        write_manifest(str(folder), [info.to_json() for info in written])
    return [str(folder / info.name) for info in written]


def key_of(sample: dict, rng) -> str:
    """The simplest sample function: a sample becomes its key."""
    return sample["__key__"]


class EncoderPairExamples:
    """Pair samples to contrastive-encoder examples: ``image`` [3, H, W] and ``text`` token ids.

    ``tokenize`` maps a list of captions to a [n, context] tensor of ids, as open_clip's
    tokenizers (``open_clip.get_tokenizer(name)``) do.
    """

    def __init__(self, transform: ImageTransform, tokenize: Callable[[list[str]], torch.Tensor]) -> None:
        self.transform, self.tokenize = transform, tokenize

    def __call__(self, sample: dict[str, Any], rng: random.Random) -> Example:
        return {"image": self.transform(sample["jpg"]), "text": self.tokenize([pair_caption(sample)])[0]}

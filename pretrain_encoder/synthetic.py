"""Labelled shape pictures as pair shards and image folders, for tests, the demo and benchmarks.

The pictures are ``crawl.sample``'s drawings (a shape of some colour on a textured
background); the captions are varied wordings of what each shows, so a model has to
learn the words, not one sentence pattern. Pair shards are written as the build writes
them (``KEY.jpg``, ``KEY.txt``, ``KEY.json``, with ``manifest.json`` and ``sizes.json``);
labelled folders use the ImageFolder layout that zero-shot evaluation reads
(``root/CLASS/*.jpg``, the class name being the prompt text, e.g. ``red circle``).
"""

from __future__ import annotations

import io
import json
import os
import random

from crawl.sample import BACKGROUNDS, COLOURS, SHAPES, Drawing, draw
from shards.manifest import write_manifest
from shards.writer import ShardWriter

_CAPTIONS = (
    "{caption}",
    "a {colour} {shape}",
    "A drawing of a {shape}, painted {colour}, over a {background} pattern.",
    "{colour} {shape} with a {background} background",
    "Here the {shape} is {colour}.",
    "a picture of a {colour} {shape}",
)


def caption_for(drawing: Drawing, rng: random.Random) -> str:
    """One of several wordings naming the drawing's shape, colour and background."""
    template = rng.choice(_CAPTIONS)
    return template.format(caption=drawing.caption, shape=drawing.shape, colour=drawing.colour, background=drawing.background)


def random_drawing(rng: random.Random) -> Drawing:
    return Drawing(rng.choice(SHAPES), rng.choice(sorted(COLOURS)), rng.choice(BACKGROUNDS))


def jpeg(drawing: Drawing, size: int, rng: random.Random) -> bytes:
    buffer = io.BytesIO()
    draw(drawing, (size, size), rng).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def write_shape_pairs(folder: str, count: int, seed: int = 0, size: int = 64, per_shard: int = 100) -> list[str]:
    """Write ``count`` captioned drawings as pair shards in ``folder``; returns the shard paths."""
    rng = random.Random(seed)
    with ShardWriter(folder, f"shapes{seed}", max_samples=per_shard) as writer:
        for number in range(count):
            drawing = random_drawing(rng)
            key = f"s{seed}n{number:06d}"
            writer.write(
                {
                    "__key__": key,
                    "jpg": jpeg(drawing, size, rng),
                    "txt": caption_for(drawing, rng),
                    "json": json.dumps({"key": key, "shape": drawing.shape, "colour": drawing.colour}),
                }
            )
    write_manifest(folder, [info.to_json() for info in writer.shards])
    return [os.path.join(folder, info.name) for info in writer.shards]


def class_name(drawing: Drawing, classes: str) -> str:
    """The label of a drawing: its shape (``classes="shape"``) or colour and shape (``"colour_shape"``)."""
    if classes == "shape":
        return drawing.shape
    if classes == "colour_shape":
        return f"{drawing.colour} {drawing.shape}"
    raise ValueError(f"classes must be 'shape' or 'colour_shape', not {classes!r}")


def write_shape_folder(root: str, count: int, seed: int = 1, size: int = 64, classes: str = "colour_shape") -> list[str]:
    """Write ``count`` labelled drawings as ``root/CLASS/N.jpg``; returns the sorted class names."""
    rng = random.Random(seed)
    for number in range(count):
        drawing = random_drawing(rng)
        folder = os.path.join(root, class_name(drawing, classes))
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"{number:06d}.jpg"), "wb") as stream:
            stream.write(jpeg(drawing, size, rng))
    return sorted(os.listdir(root))

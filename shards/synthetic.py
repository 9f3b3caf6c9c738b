"""Synthetic labelled pictures: drawings of coloured shapes, as pair shards and image folders.

The demo's sample site (``crawl/sample.py``), tests and benchmarks all draw from this
one kit. A drawing is a shape of some colour on a textured background, so its text can
depend on the image and a model has something to learn. The captions are varied wordings of what each shows, so a model has to
learn the words, not one sentence pattern. Pair shards are written as the build writes
them (``KEY.jpg``, ``KEY.txt``, ``KEY.json``, with ``manifest.json`` and ``sizes.json``);
labelled folders use the ImageFolder layout that zero-shot evaluation reads
(``root/CLASS/*.jpg``, the class name being the prompt text, e.g. ``red circle``).
"""

from __future__ import annotations

import io
import json
import math
import os
import random
import re
from dataclasses import dataclass

from PIL import Image, ImageDraw

from flamboyance.shards.manifest import write_manifest
from flamboyance.shards.writer import ShardWriter

SHAPES = ("circle", "square", "triangle", "star")
COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 205, 30),
    "purple": (140, 60, 190),
    "orange": (245, 140, 20),
}
BACKGROUNDS = ("striped", "dotted", "speckled", "shaded")

@dataclass(frozen=True)
class Drawing:
    """What one content image shows; its caption is generated from these fields."""

    shape: str
    colour: str
    background: str

    @property
    def caption(self) -> str:
        article = "An" if self.colour[0] in "aeiou" else "A"
        return f"{article} {self.colour} {self.shape} on a {self.background} background."

    @classmethod
    def from_caption(cls, caption: str) -> Drawing | None:
        """The drawing a ``caption`` describes, or None for text of another form."""
        found = _CAPTION.fullmatch(caption.strip())
        if found is None or found["shape"] not in SHAPES or found["colour"] not in COLOURS or found["background"] not in BACKGROUNDS:
            return None
        return cls(found["shape"], found["colour"], found["background"])

    def alternatives(self) -> list[str]:
        """The captions of every colour and shape on this drawing's background, its own among them (a close-ended task)."""
        return [Drawing(shape, colour, self.background).caption for colour in COLOURS for shape in SHAPES]


_CAPTION = re.compile(r"An? (?P<colour>\w+) (?P<shape>\w+) on a (?P<background>\w+) background\.")


def draw(drawing: Drawing, size: tuple[int, int], rng: random.Random) -> Image.Image:
    """Render a drawing: a textured background, then the shape in its colour."""
    width, height = size
    base = tuple(rng.randint(200, 250) for _ in range(3))
    image = Image.new("RGB", size, base)
    pen = ImageDraw.Draw(image)
    ink = tuple(max(0, c - 60) for c in base)
    if drawing.background == "striped":
        for x in range(-height, width, 18):
            pen.line([(x, 0), (x + height, height)], fill=ink, width=6)
    elif drawing.background == "dotted":
        for y in range(8, height, 22):
            for x in range(8, width, 22):
                pen.ellipse([x - 3, y - 3, x + 3, y + 3], fill=ink)
    elif drawing.background == "speckled":
        for _ in range(width * height // 60):
            x, y = rng.randrange(width), rng.randrange(height)
            pen.point((x, y), fill=ink)
    else:  # shaded: a vertical gradient from the base colour to the ink
        for y in range(height):
            t = y / max(1, height - 1)
            pen.line([(0, y), (width, y)], fill=tuple(round(b + (i - b) * t) for b, i in zip(base, ink)))
    colour = tuple(min(255, max(0, c + rng.randint(-15, 15))) for c in COLOURS[drawing.colour])
    side = min(width, height) * rng.uniform(0.45, 0.7)
    cx = width / 2 + rng.uniform(-0.1, 0.1) * width
    cy = height / 2 + rng.uniform(-0.1, 0.1) * height
    r = side / 2
    if drawing.shape == "circle":
        pen.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    elif drawing.shape == "square":
        pen.rectangle([cx - r, cy - r, cx + r, cy + r], fill=colour)
    elif drawing.shape == "triangle":
        pen.polygon([(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)], fill=colour)
    else:
        points = []
        for k in range(10):
            radius = r if k % 2 == 0 else r * 0.45
            angle = math.pi / 2 + k * math.pi / 5
            points.append((cx + radius * math.cos(angle), cy - radius * math.sin(angle)))
        pen.polygon(points, fill=colour)
    return image


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


def write_shape_pairs(
    folder: str, count: int, seed: int = 0, size: int = 64, per_shard: int = 100, varied: bool = True
) -> list[str]:
    """Write ``count`` captioned drawings as pair shards in ``folder``; returns the shard paths.

    Captions are varied wordings, or with ``varied=False`` always ``Drawing.caption`` (the
    demo site's own form, which ``Drawing.from_caption`` reads back).
    """
    rng = random.Random(seed)
    with ShardWriter(folder, f"shapes{seed}", max_samples=per_shard) as writer:
        for number in range(count):
            drawing = random_drawing(rng)
            key = f"s{seed}n{number:06d}"
            writer.write(
                {
                    "__key__": key,
                    "jpg": jpeg(drawing, size, rng),
                    "txt": caption_for(drawing, rng) if varied else drawing.caption,
                    "json": json.dumps({"key": key, "shape": drawing.shape, "colour": drawing.colour, "background": drawing.background}),
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

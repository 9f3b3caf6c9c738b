"""Interleaved shards written exactly as the build writes them, for the loader tests."""

from __future__ import annotations

import io
from pathlib import Path

import webdataset
from PIL import Image

from shards import storage
from shards.document import Document, ImageNode, TextNode
from shards.layout import interleaved_sample
from shards.reader import SIZES_FILE


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
    """Shards ``shard-NNNN.tar`` holding ``sizes[n]`` documents keyed ``sNdM``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths, counts = [], {}
    for shard, size in enumerate(sizes):
        path = folder / f"shard-{shard:04d}.tar"
        with webdataset.TarWriter(str(path)) as writer:
            for number in range(size):
                doc = document(f"s{shard}d{number}", images)
                writer.write(interleaved_sample(doc, [jpeg(shade=(shard * 31 + number) % 256)] * images))
        paths.append(str(path))
        counts[path.name] = size
    if sizes_json:
        storage.write_json(str(folder / SIZES_FILE), counts)
    return paths


def key_of(sample: dict, rng) -> str:
    """The simplest sample function: a sample becomes its key."""
    return sample["__key__"]

"""Shard writing: rollover, reproducibility, manifests, and readability by webdataset."""

from __future__ import annotations

import hashlib
import io
import os

import pytest
import webdataset
from PIL import Image

from flamboyance.shards.document import Document, ImageNode, TextNode
from flamboyance.shards.layout import interleaved_sample, pair_samples, read_interleaved
from flamboyance.shards.manifest import read_manifest, shard_paths, write_manifest
from flamboyance.shards.writer import ShardWriter


def _jpeg(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buffer, format="JPEG")
    return buffer.getvalue()


def _document(n: int) -> tuple[Document, list[bytes]]:
    nodes = [
        TextNode("Intro text."),
        ImageNode(url=f"https://example.com/{n}/a.jpg", alt="a red box", index=0, width=40, height=30),
        TextNode("Middle text."),
        ImageNode(url=f"https://example.com/{n}/b.jpg", alt="IMG_0001.jpg", index=1, width=40, height=30),
    ]
    return Document(key=f"doc{n:03d}", url=f"https://example.com/{n}", nodes=nodes), [_jpeg((200, 0, 0)), _jpeg((0, 0, 200))]


def test_rollover_by_count_and_webdataset_reads_both_sets(tmp_path):
    with ShardWriter(str(tmp_path / "interleaved"), "unit", max_samples=3) as docs, ShardWriter(str(tmp_path / "pairs"), "unit", max_samples=3) as pairs:
        for n in range(7):
            document, images = _document(n)
            docs.write(interleaved_sample(document, images))
            for sample in pair_samples(document, images):
                pairs.write(sample)
    assert [s.samples for s in docs.shards] == [3, 3, 1]
    # Only the image with an informative alt text makes a pair; file-name alts do not.
    assert sum(s.samples for s in pairs.shards) == 7
    write_manifest(str(tmp_path / "interleaved"), [s.to_json() for s in docs.shards])

    paths = shard_paths(str(tmp_path / "interleaved"))
    samples = list(webdataset.WebDataset(paths, shardshuffle=False).decode("pil"))
    assert [s["__key__"] for s in samples] == [f"doc{n:03d}" for n in range(7)]
    document, images = read_interleaved(samples[0])
    assert [node.url for node in document.images()] == ["https://example.com/0/a.jpg", "https://example.com/0/b.jpg"]
    assert images[0].size == (40, 30) and images[0].getpixel((20, 15))[0] > 150

    pair_paths = [str(tmp_path / "pairs" / s.name) for s in pairs.shards]
    first = next(iter(webdataset.WebDataset(pair_paths, shardshuffle=False).decode("pil")))
    assert first["__key__"] == "doc000_0" and first["txt"] == "a red box" and first["jpg"].size == (40, 30)


def test_rollover_by_bytes_and_checksums_match(tmp_path):
    with ShardWriter(str(tmp_path), "u", max_samples=1000, max_bytes=4000) as writer:
        for n in range(10):
            document, images = _document(n)
            writer.write(interleaved_sample(document, images))
    assert len(writer.shards) > 1
    for shard in writer.shards:
        data = (tmp_path / shard.name).read_bytes()
        assert len(data) == shard.bytes and hashlib.sha256(data).hexdigest() == shard.sha256
    manifest = write_manifest(str(tmp_path), [s.to_json() for s in writer.shards])
    assert manifest["samples"] == 10 == read_manifest(str(tmp_path))["samples"]


def test_same_input_gives_identical_shards(tmp_path):
    digests = []
    for attempt in ("a", "b"):
        with ShardWriter(str(tmp_path / attempt), "u") as writer:
            for n in range(3):
                writer.write(interleaved_sample(*_document(n)))
        digests.append([s.sha256 for s in writer.shards])
    assert digests[0] == digests[1]


def test_failure_publishes_no_partial_shard(tmp_path):
    with pytest.raises(RuntimeError):
        with ShardWriter(str(tmp_path), "u", max_samples=2) as writer:
            for n in range(3):
                writer.write(interleaved_sample(*_document(n)))
            raise RuntimeError("task died")
    # The first shard was complete and is visible; the one in progress left nothing behind.
    assert sorted(os.listdir(tmp_path)) == ["u-00000.tar"]


def test_keys_with_dots_are_rejected(tmp_path):
    document, images = _document(0)
    document.key = "bad.key"
    with pytest.raises(ValueError, match="dots"):
        interleaved_sample(document, images)

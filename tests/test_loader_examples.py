"""Image transforms and sample functions: real images in, encoder and Flamingo batches out."""

from __future__ import annotations

import dataclasses
import io
import struct
import zlib
from pathlib import Path

import open_clip
import pytest
import torch
import webdataset
from loader_fixtures import EncoderPairExamples, document
from PIL import Image

from flamboyance.flamingo_model.examples import FlamingoExamples, FlamingoPairExamples
from flamboyance.flamingo_model.tokens import FlamingoTokenizer, TokenConfig, render, train_tokenizer
from flamboyance.shards.document import Document, ImageNode, TextNode
from flamboyance.shards.layout import interleaved_sample, pair_samples
from flamboyance.shards.loader.examples import collate
from flamboyance.shards.loader.reader import DropSample, LoaderConfig, ShardLoader
from flamboyance.shards.loader.transforms import CLIP_MEAN, CLIP_STD, ImageTransform, ImageTransformConfig


def png(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_clip_normalisation_and_resize_modes() -> None:
    payload = png(90, 30, (128, 64, 200))
    tensor = ImageTransform()(payload)
    assert tensor.shape == (3, 224, 224)
    expected = [(value / 255 - mean) / std for value, mean, std in zip((128, 64, 200), CLIP_MEAN, CLIP_STD)]
    assert torch.allclose(tensor.mean(dim=(1, 2)), torch.tensor(expected), atol=1e-3)

    padded = ImageTransform(ImageTransformConfig(size=60, resize_mode="longest")).decode(payload)
    assert padded.size == (60, 60) and padded.getpixel((30, 2)) == (0, 0, 0) and padded.getpixel((30, 30)) == (128, 64, 200)
    squashed = ImageTransform(ImageTransformConfig(size=40, resize_mode="squash")).decode(payload)
    assert squashed.size == (40, 40) and squashed.getpixel((0, 0)) == (128, 64, 200)
    with pytest.raises(ValueError, match="resize_mode"):
        ImageTransformConfig(resize_mode="zoom")


def test_config_follows_open_clip_preprocessing() -> None:
    cfg = dataclasses.asdict(open_clip.transform.PreprocessCfg(size=(256, 256), mean=(0.5, 0.5, 0.5)))
    config = ImageTransformConfig.from_preprocess_cfg(cfg)
    assert (config.size, config.mean, config.std, config.resize_mode) == (256, (0.5, 0.5, 0.5), CLIP_STD, "shortest")


def test_decompression_bomb_is_dropped_before_decoding() -> None:
    small = bytearray(png(1, 1, (0, 0, 0)))
    header = struct.pack(">II", 30000, 30000) + bytes(small[24:29])  # IHDR: width, height, rest
    small[16:29] = header
    small[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + header))
    with pytest.raises(DropSample, match="decompression_bomb"):
        ImageTransform()(bytes(small))


def test_real_images_transform(wiki_site: Path) -> None:
    transform = ImageTransform(ImageTransformConfig(size=96))
    photos = sorted((wiki_site / "site/I/m").glob("*.jpg"))[:10]
    for path in photos:
        tensor = transform(path.read_bytes())
        assert tensor.shape == (3, 96, 96) and torch.isfinite(tensor).all() and tensor.std() > 0


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(render(document(f"s0d{n}", images=3)) for n in range(50))


def test_interleaved_shards_to_flamingo_batches(tmp_path: Path, wiki_site: Path, tokenizer) -> None:
    photos = [path.read_bytes() for path in sorted((wiki_site / "site/I/m").glob("*.jpg"))[:12]]
    with webdataset.TarWriter(str(tmp_path / "docs.tar")) as writer:
        for number in range(9):
            images = [photos[(number + k) % 12] for k in range(3)]
            if number == 4:
                images = [b"not an image"] * 3
            writer.write(interleaved_sample(document(f"s0d{number}", images=3), images))
    flamingo = FlamingoTokenizer(tokenizer, TokenConfig(max_tokens=24, max_images=2))
    examples = FlamingoExamples(flamingo, ImageTransform(ImageTransformConfig(size=64)))
    loader = ShardLoader(str(tmp_path / "docs.tar"), examples, collate, LoaderConfig(batch_size=4, num_workers=0))

    batches = list(loader)
    assert len(batches) == 2
    batch = batches[0]
    assert batch["input_ids"].shape == batch["labels"].shape == batch["media_index"].shape == (4, 24)
    assert batch["images"].shape == (4, 2, 1, 3, 64, 64) and batch["image_mask"].shape == (4, 2)
    markers = (batch["input_ids"] == flamingo.image_id).sum(dim=1)
    assert torch.equal(markers, batch["image_mask"].sum(dim=1))
    assert (batch["images"].flatten(2).abs().sum(dim=2) > 0).eq(batch["image_mask"]).all()
    assert (batch["labels"][batch["input_ids"] == flamingo.image_id] == -100).all()
    assert batch["media_index"].max() < 2
    # The document with broken images was dropped, and a refill kept the batches full.
    assert loader.stats.to_json() == {"loader/dropped/UnidentifiedImageError": 1, "loader/wrapped": 1}


def test_pair_shards_to_encoder_and_flamingo_batches(tmp_path: Path, wiki_site: Path, tokenizer) -> None:
    photos = sorted((wiki_site / "site/I/m").glob("*.jpg"))[:6]
    with webdataset.TarWriter(str(tmp_path / "pairs.tar")) as writer:
        for number, path in enumerate(photos):
            doc = Document(
                key=f"d{number}",
                url="https://en.wikipedia.org/A/x.html",
                nodes=[TextNode("text"), ImageNode(url=path.name, caption=path.stem.replace("_", " "), index=0)],
            )
            for sample in pair_samples(doc, [path.read_bytes()]):
                writer.write(sample)
    config = LoaderConfig(batch_size=3, num_workers=0)
    transform = ImageTransform(ImageTransformConfig(size=32))

    encoder = EncoderPairExamples(transform, open_clip.get_tokenizer("ViT-B-32"))
    batch = next(iter(ShardLoader(str(tmp_path / "pairs.tar"), encoder, collate, config)))
    assert batch["image"].shape == (3, 3, 32, 32) and batch["text"].shape == (3, 77)

    flamingo = FlamingoTokenizer(tokenizer, TokenConfig(max_tokens=40, attend_next_probability=0.0))
    pairs = FlamingoPairExamples(flamingo, transform)
    batch = next(iter(ShardLoader(str(tmp_path / "pairs.tar"), pairs, collate, config)))
    assert batch["images"].shape == (3, 5, 1, 3, 32, 32) and batch["image_mask"].sum() == 3
    assert (batch["input_ids"][:, 0] == flamingo.image_id).all()
    text = tokenizer.decode(batch["input_ids"][0][batch["attention_mask"][0].bool()])
    assert text.startswith("<image>") and text.endswith("<EOC>")
    assert (batch["media_index"][batch["attention_mask"].bool()] == 0).all()

"""Models built offline from configs: the Flamingo-like NFNet + BERT, a from-scratch HF text tower
with its locally trained tokenizer, spatial features of every tower type, and colour-safe augmentation."""

from __future__ import annotations

import json
import random
from pathlib import Path

import open_clip
import pytest
import torch
from PIL import Image

from flamboyance.pretrain_encoder.config import AugmentConfig, DatasetConfig, EncoderConfig
from flamboyance.pretrain_encoder.data import Augment
from flamboyance.pretrain_encoder.image_tower import load_image_tower, spatial_features
from flamboyance.pretrain_encoder.models import CONFIG_DIR, build_model, model_config
from flamboyance.pretrain_encoder.tokenizer import build_tokenizer
from flamboyance.pretrain_encoder.train import train
from flamboyance.shards.config import load
from flamboyance.shards.synthetic import write_shape_pairs


def test_flamingo_like_model_nfnet_and_bert_from_scratch(tmp_path: Path) -> None:
    config = model_config("flamingo-nfnet-f0-bert", image_size=64)
    tokenize = build_tokenizer(config, str(tmp_path / "tokenizer"), lambda: ["a red circle on dots", "a blue star"] * 20, 300)
    model = build_model(config)
    assert type(model.visual.trunk).__name__ == "NormFreeNet"
    assert type(model.text.transformer).__name__ == "BertModel" and type(model.text.pooler).__name__ == "MeanPooler"
    image_features, text_features, _scale = model(torch.randn(2, 3, 64, 64), tokenize(["a red circle", "a blue star"]))
    assert image_features.shape == text_features.shape == (2, 512)
    # NFNet-F0 at 64 px: a 2 x 2 map of 3072 channels before global average pooling.
    assert spatial_features(model.visual, torch.randn(2, 3, 64, 64)).shape == (2, 4, 3072)


def test_resnet_tower_spatial_features_are_the_last_feature_map() -> None:
    model = build_model(model_config("tiny-rn"))
    assert spatial_features(model.visual, torch.randn(2, 3, 64, 64)).shape == (2, 4, 512)


def test_hf_text_tower_trains_exports_and_loads_in_open_clip(tmp_path: Path) -> None:
    """A tiny BERT text tower from a local config.json; its WordPiece is trained on the run's captions."""
    bert = tmp_path / "bert-tiny"
    bert.mkdir()
    (bert / "config.json").write_text(
        json.dumps(
            {"model_type": "bert", "vocab_size": 512, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
             "intermediate_size": 128, "max_position_embeddings": 32, "pad_token_id": 0}
        )
    )  # fmt: skip
    tiny = json.loads((CONFIG_DIR / "tiny-vit.json").read_text())
    tiny["text_cfg"] = {"context_length": 32, "hf_model_name": str(bert), "hf_proj_type": "linear", "hf_pooler_type": "mean_pooler"}
    (tmp_path / "tiny-vit-bert.json").write_text(json.dumps(tiny))
    shards = write_shape_pairs(str(tmp_path / "pairs"), 32, seed=6)
    config = load(
        EncoderConfig,
        None,
        [f"output={tmp_path / 'run'}", "steps=2", f"model.name={tmp_path / 'tiny-vit-bert.json'}", "model.tokenizer_vocab=200",
         "data.batch_size=8", "data.num_workers=0", "log.tensorboard=false", "log.every=1"],
    )  # fmt: skip
    config.datasets = [DatasetConfig("shapes", shards)]
    train(config)

    assert (tmp_path / "run" / "tokenizer" / "tokenizer.json").is_file()
    export = tmp_path / "run" / "export" / "open_clip"
    model = open_clip.create_model(f"local-dir:{export}").eval()
    tokenizer = open_clip.get_tokenizer(f"local-dir:{export}")
    tokens = tokenizer(["a red circle on a striped background."])
    assert tokens[0, 0].item() == 2 and 1 not in tokens[0].tolist()  # [CLS] first; every word known
    assert model.encode_text(tokens).shape == (1, 64)
    _tower, tower_config = load_image_tower(str(tmp_path / "run" / "export" / "image_tower"))
    assert tower_config["spatial_tokens"] == 64


def test_augmentation_without_hue_jitter_keeps_colour_words_true() -> None:
    """A red square stays red under crop, flip and jitter; a hue shift would make it another colour."""
    image = Image.new("RGB", (64, 64), (220, 40, 40))
    keep = Augment(AugmentConfig())
    shift = Augment(AugmentConfig(brightness=0, contrast=0, saturation=0, hue=0.3))
    for seed in range(5):
        r, g, b = keep(image, random.Random(seed)).getpixel((32, 32))
        assert r > 2 * g and r > 2 * b
    shifted = [shift(image, random.Random(seed)).getpixel((32, 32)) for seed in range(5)]
    assert any(pixel[0] < max(pixel[1:]) for pixel in shifted)


def test_unknown_model_name_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown model config 'no-such-model'"):
        model_config("no-such-model")

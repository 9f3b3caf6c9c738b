"""A short CPU pretraining run on generated shape pictures: it learns, and its exports load.

The pairs are drawings of 4 shapes x 6 colours on 4 textures with varied captions
(``pretrain_encoder.synthetic``); evaluation uses pictures drawn with another seed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import open_clip
import pytest
import torch

from flamboyance.pretrain_encoder import command
from flamboyance.pretrain_encoder.image_tower import load_image_tower, spatial_features
from flamboyance.pretrain_encoder.models import build_model
from flamboyance.pretrain_encoder.run_log import read_metrics
from flamboyance.shards import storage
from flamboyance.shards.synthetic import write_shape_folder, write_shape_pairs


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``flamboyance pretrain-encoder`` for 40 steps of batch 48 on 1500 pairs (20-60 s on 2 cores)."""
    root = tmp_path_factory.mktemp("encoder")
    write_shape_pairs(str(root / "train"), 1500, seed=0)
    write_shape_pairs(str(root / "held_out"), 200, seed=1)
    write_shape_folder(str(root / "labelled"), 240, seed=2, classes="colour_shape")
    config = root / "encoder.yaml"
    config.write_text(
        f"""
output: {root / "run"}
datasets:
  - name: shapes
    shards: ["{root / "train"}/*.tar"]
steps: 40
model: {{name: tiny-vit}}
data: {{batch_size: 48, num_workers: 1}}
optim: {{lr: 1.0e-3, warmup_steps: 10}}
eval:
  zero_shot_folder: {root / "labelled"}
  retrieval_shards: ["{root / "held_out"}/*.tar"]
  retrieval_samples: 200
checkpoint: {{every: 20}}
log: {{every: 10}}
"""
    )
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    assert command.run(parser.parse_args(["--config", str(config), "--set", "log.tensorboard=true"])) == 0
    return root / "run"


def test_learns_zero_shot_and_retrieval(run: Path) -> None:
    metrics = read_metrics(str(run))
    final = metrics[40]
    # 24 colour+shape classes: chance is 1/24.
    assert final["zero_shot/classes"] == 24
    assert final["zero_shot/top1_single"] >= 3 * final["zero_shot/chance"]
    assert final["zero_shot/top1_ensemble"] >= 3 * final["zero_shot/chance"]
    # Recall@5 among 200 held-out pairs: chance is 5/200.
    assert final["retrieval/image_to_text_R@5"] >= 4 * 5 / 200
    assert final["retrieval/text_to_image_R@5"] >= 4 * 5 / 200
    assert metrics[40]["loss"] < metrics[10]["loss"]
    assert all(0 < m["logit_scale"] <= 100.0 + 1e-3 for m in metrics.values() if "logit_scale" in m)
    assert (run / "tensorboard").is_dir() and any((run / "tensorboard").iterdir())


def test_checkpoints_are_plain_tensors_and_pruned(run: Path) -> None:
    names = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert names == ["step-00000020.pt", "step-00000040.pt"]
    state = torch.load(run / "checkpoints" / "step-00000040.pt", weights_only=True)
    assert state["step"] == 40 and state["ranks"][0]["loaders"][0]["batches"] > 0


def test_image_tower_export_gives_spatial_features(run: Path) -> None:
    tower, config = load_image_tower(str(run / "export" / "image_tower"))
    images = torch.randn(3, 3, 64, 64)
    features = spatial_features(tower, images)
    # tiny-vit: 64 px in 8 px patches = 8 x 8 tokens of width 64.
    assert features.shape == (3, 64, 64) == (3, config["spatial_tokens"], config["spatial_dim"])
    trained = torch.load(run / "export" / "open_clip" / "open_clip_pytorch_model.bin", weights_only=True)
    assert torch.equal(tower.state_dict()["conv1.weight"], trained["visual.conv1.weight"])


def test_open_clip_loads_the_export_by_name_and_by_folder(run: Path) -> None:
    folder = run / "export" / "open_clip"
    open_clip.add_model_config(str(folder / "tiny-vit.json"))
    by_name = open_clip.create_model("tiny-vit", pretrained=str(folder / "open_clip_pytorch_model.bin")).eval()
    by_folder = open_clip.create_model(f"local-dir:{folder}").eval()
    ours = build_model(storage.read_json(str(run / "config.json"))["model"])
    ours.load_state_dict(torch.load(folder / "open_clip_pytorch_model.bin", weights_only=True))
    tokenizer = open_clip.get_tokenizer(f"local-dir:{folder}")
    images, texts = torch.randn(2, 3, 64, 64), tokenizer(["a red circle", "a blue star on dots"])
    with torch.no_grad():
        expected = ours.eval().encode_image(images)
        assert torch.allclose(by_name.encode_image(images), expected, atol=1e-5)
        assert torch.allclose(by_folder.encode_image(images), expected, atol=1e-5)
        assert torch.allclose(by_folder.encode_text(texts), ours.encode_text(texts), atol=1e-5)

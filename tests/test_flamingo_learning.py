"""Acceptance: after a short CPU run Flamingo reads the images; with the images blanked it cannot.

The task is generated here: drawings of coloured shapes, each followed by text naming
them (``<image>Output: A red circle.<EOC>``), written as real interleaved shards and read
by the real loader. A tiny LM is first taught the language (text only) and then frozen,
as Flamingo freezes a pretrained LM; a tiny random open_clip ViT is the frozen encoder.
Few-shot accuracy over the 24 answers is then compared with chance (1/24).
"""

from __future__ import annotations

import copy
import random

import pytest
import torch
from shapes import ANSWERS, shape_examples, write_shape_shards

from flamboyance.flamingo_model.config import DatasetConfig, TrainConfig
from flamboyance.flamingo_model.data import dataset_loader
from flamboyance.flamingo_model.fewshot import FewShotEvaluator, FewShotExample, render_prompt
from flamboyance.flamingo_model.model import build_flamingo
from flamboyance.flamingo_model.tiny import pretrain_tiny_lm, tiny_flamingo_config, tiny_lm, tiny_tokenizer, tiny_vit
from flamboyance.flamingo_model.train import TrainDataset, train
from flamboyance.pretrain_encoder.checkpoint import CheckpointConfig
from flamboyance.shards.loader.transforms import ImageTransform, ImageTransformConfig

CHANCE = 1 / len(ANSWERS)
TRANSFORM = ImageTransform(ImageTransformConfig(size=32))
CONFIG = tiny_flamingo_config(num_latents=8, dim_head=32)


class Blanked:
    """The control: the same batches with every image replaced by zeros."""

    def __init__(self, loader):
        self.loader = loader

    def __iter__(self):
        for batch in self.loader:
            batch["images"].zero_()
            yield batch


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shapes")
    write_shape_shards(str(folder / "docs"), documents=400, images_per_document=3, seed=5, per_shard=100)
    tokenizer = tiny_tokenizer([f"Output: {answer}" for answer in ANSWERS] * 4)
    rng = random.Random(0)
    texts = [
        render_prompt(
            [FewShotExample(None, rng.choice(ANSWERS)) for _ in range(2)], FewShotExample(None, ""), with_images=False
        ).replace("<image>", "")
        + f" {rng.choice(ANSWERS)}<EOC>"
        for _ in range(2000)
    ]
    torch.manual_seed(0)
    lm = tiny_lm("gpt2", len(tokenizer))
    losses = pretrain_tiny_lm(lm, tokenizer, texts, steps=60)
    assert losses[-1] < 0.6  # it knows the format, not which shape is where
    return folder, tokenizer, lm


def few_shot_accuracy(setup, blank: bool, tmp_path) -> float:
    folder, tokenizer, lm = setup
    torch.manual_seed(0)
    model = build_flamingo(copy.deepcopy(lm), tiny_vit(), tokenizer, CONFIG)
    docs = DatasetConfig(
        "docs",
        [str(folder / "docs" / "*.tar")],
        batch_size=8,
        max_tokens=40,
        max_images=3,
        num_workers=0,
        attend_next_probability=0.0,
    )
    loader = dataset_loader(docs, tokenizer, TRANSFORM, seed=0, rank=0, world_size=1)
    config = TrainConfig(steps=120, lr=3e-3, warmup_steps=5, output=str(tmp_path / "run"), checkpoint=CheckpointConfig(every=10**6))
    train(model, [TrainDataset("docs", 1.0, Blanked(loader) if blank else loader)], config)
    model.eval()
    support = shape_examples(32, TRANSFORM, seed=7, blank=blank)
    queries = shape_examples(48, TRANSFORM, seed=8, blank=blank)
    return FewShotEvaluator(model, tokenizer, support, shots=2).accuracy(queries, ANSWERS)


@pytest.mark.slow
def test_few_shot_accuracy_on_held_out_images_is_at_least_three_times_chance(setup, tmp_path):
    assert few_shot_accuracy(setup, blank=False, tmp_path=tmp_path) >= 3 * CHANCE


@pytest.mark.slow
def test_with_the_images_blanked_the_same_run_stays_near_chance(setup, tmp_path):
    assert few_shot_accuracy(setup, blank=True, tmp_path=tmp_path) < 2 * CHANCE

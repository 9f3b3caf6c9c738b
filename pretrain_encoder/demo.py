"""The encoder part of ``flamboyance demo``: a minute of CPU training on the demo's pairs.

The demo's pairs are drawings of shapes in colours (``shards/synthetic.py``); after a short
run, zero-shot classification of freshly drawn, held-out pictures into the four shapes
shows whether the encoder learnt anything from the captions (chance is 25%).
"""

from __future__ import annotations

import os
from typing import Any

from flamboyance.pretrain_encoder.config import DatasetConfig, EncoderConfig
from flamboyance.shards import storage
from flamboyance.shards.config import load
from flamboyance.shards.synthetic import write_shape_folder


def run_demo_encoder(pairs_dir: str, workdir: str, steps: int = 150, overrides: tuple[str, ...] = ()) -> dict[str, Any]:
    """Train the tiny ViT on the pair shards in ``pairs_dir``; returns the zero-shot metrics on shape classes."""
    from flamboyance.pretrain_encoder.train import train

    shards = [path for path in storage.listdir(pairs_dir) if path.endswith(".tar")]
    if not shards:
        raise FileNotFoundError(f"no pair shards (*.tar) in {pairs_dir}: run the build first")
    labelled = os.path.join(workdir, "encoder-zero-shot")
    if not os.path.isdir(labelled):
        write_shape_folder(labelled, count=200, seed=12345, classes="shape")
    config = load(
        EncoderConfig,
        None,
        [
            f"output={os.path.join(workdir, 'encoder')}",
            f"steps={steps}",
            "data.batch_size=32",
            "data.num_workers=1",
            "optim.lr=0.001",
            "optim.warmup_steps=10",
            "log.every=5",
            "checkpoint.every=50",
            f"eval.zero_shot_folder={labelled}",
            *overrides,
        ],
    )
    config.datasets = [DatasetConfig(name="demo", shards=shards)]
    return train(config)

"""``flamboyance pretrain-encoder``: contrastive pretraining of the image encoder on pair shards.

Single process: ``flamboyance pretrain-encoder --config configs/encoder-tiny.yaml``.
Several GPUs or nodes: ``torchrun --nproc-per-node 8 -m flamboyance.cli pretrain-encoder --config ...``
(every rank runs the same command; torchrun's environment says which rank it is).
Running the same command again resumes from the newest checkpoint in the output folder.
"""

from __future__ import annotations

import argparse
import json

from flamboyance.shards.config import add_arguments as config_arguments

HELP = "CLIP-style contrastive pretraining of the image encoder on pair shards (open_clip)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    config_arguments(parser, "encoder training settings (see configs/encoder-tiny.yaml)", "steps=500")


def run(args: argparse.Namespace) -> int:
    from flamboyance.pretrain_encoder.config import EncoderConfig
    from flamboyance.pretrain_encoder.train import train
    from flamboyance.shards.config import load

    config = load(EncoderConfig, args.config, args.overrides)
    metrics = train(config)
    if metrics:
        print(json.dumps(metrics, indent=2, sort_keys=True))
    return 0

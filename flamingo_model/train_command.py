"""``flamboyance train``: train Flamingo on shard sets; under torchrun, on every rank.

    flamboyance train --config configs/flamingo-tiny.yaml --set steps=100
    torchrun --nproc_per_node 8 -m flamboyance.flamingo_model.train_command --config run.yaml

Running the same command again resumes from the run's latest checkpoint.
"""

from __future__ import annotations

import argparse
import sys

from flamboyance.shards.config import add_arguments as config_arguments

HELP = "train a Flamingo model on interleaved and pair shards (resumable; torchrun for several GPUs)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    config_arguments(parser, "training settings (see configs/flamingo-*.yaml)", "steps=100")


def run(args: argparse.Namespace) -> int:
    import torch
    import torch.distributed as dist

    from flamboyance.flamingo_model.config import TrainConfig
    from flamboyance.flamingo_model.data import training_datasets
    from flamboyance.flamingo_model.parts import load_parts
    from flamboyance.flamingo_model.train import train
    from flamboyance.shards.config import load
    from flamboyance.shards.distributed import init_distributed

    config = load(TrainConfig, args.config, args.overrides)
    rank, world, device = init_distributed()
    try:
        torch.manual_seed(config.seed)
        model, tokenizer, transform = load_parts(config)
        datasets = training_datasets(config, tokenizer, transform)
        train(model, datasets, config, device)
    finally:
        if world > 1:
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":  # the entry point for torchrun: -m flamboyance.flamingo_model.train_command
    parser = argparse.ArgumentParser(description=HELP)
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))

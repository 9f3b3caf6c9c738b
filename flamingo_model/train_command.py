"""``flamboyance train``: train Flamingo on shard sets; under torchrun, on every rank.

    flamboyance train --config configs/flamingo-tiny.yaml --set steps=100
    torchrun --nproc_per_node 8 -m flamingo_model.train_command --config run.yaml

Running the same command again resumes from the run's latest checkpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from shards.config import add_arguments as config_arguments

HELP = "train a Flamingo model on interleaved and pair shards (resumable; torchrun for several GPUs)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    config_arguments(parser, "training settings (see configs/flamingo-*.yaml)", "steps=100")


def run(args: argparse.Namespace) -> int:
    import torch
    import torch.distributed as dist

    from flamingo_model.config import TrainConfig
    from flamingo_model.data import training_datasets
    from flamingo_model.parts import load_parts
    from flamingo_model.train import train
    from shards.config import load

    config = load(TrainConfig, args.config, args.overrides)
    distributed = int(os.environ.get("WORLD_SIZE", 1)) > 1
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if torch.cuda.is_available() else torch.device("cpu")
    if distributed:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    try:
        torch.manual_seed(config.seed)
        model, tokenizer, transform = load_parts(config)
        datasets = training_datasets(config, tokenizer, transform)
        rank = dist.get_rank() if distributed else 0

        def report(record: dict) -> None:
            if rank == 0 and record["step"] % config.log_every == 0:
                print(json.dumps(record), flush=True)

        train(model, datasets, config, device, on_step=report)
    finally:
        if distributed:
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":  # the entry point for torchrun: -m flamingo_model.train_command
    parser = argparse.ArgumentParser(description=HELP)
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))
